"""Draws docs/inspect.png, the README's picture of ``lookalike inspect --html``: the generated folder with
every kind planted (tests/planted_issues.py), inspected with the shared model's features, the report opened
in headless Chromium.

    python docs/inspect_screenshot.py          # needs ../shared beside the repository, Chromium, Playwright
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from planted_issues import plant  # noqa: E402
from shared_data import WEIGHTS  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        plant(data, per_class=20, per_kind=3)
        report = Path(scratch) / "report.html"
        cmd = [
            sys.executable,
            "-m",
            "lookalike",
            "inspect",
            str(data),
            "--weights",
            str(WEIGHTS),
            "--html",
            str(report),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1100, "height": 1300}).new_page()
            page.goto(report.as_uri())
            out = REPO / "docs" / "inspect.png"
            page.screenshot(path=str(out))
            browser.close()
    print(f"drew {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
