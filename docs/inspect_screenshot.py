"""Draws docs/inspect.png, the README's picture of ``lookalike inspect --html``: the generated folder with
every kind planted (tests/planted_issues.py), inspected with the shared model's features, the report opened
in headless Chromium.

    python docs/inspect_screenshot.py          # needs ../shared beside the repository, Chromium, Playwright
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from screenshots import chromium_page, run_cli, save

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from planted_issues import plant  # noqa: E402
from shared_data import WEIGHTS  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        plant(data, per_class=20, per_kind=3)
        report = Path(scratch) / "report.html"
        run_cli("inspect", data, "--weights", WEIGHTS, "--html", report)
        with chromium_page(1100, 1300) as page:
            page.goto(report.as_uri())
            save(page, "inspect.png")


if __name__ == "__main__":
    main()
