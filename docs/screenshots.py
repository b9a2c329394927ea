"""What the scripts that draw the README's pictures share (``inspect_screenshot.py``,
``review_screenshot.py``): the tests' helpers (importing this module puts tests/ on the path) and their
model weights, a scratch folder, lookalike's command line, a page in headless Chromium through Playwright,
and its picture saved in docs/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))
from shared_data import WEIGHTS  # noqa: E402  (the model the tests use, in ../shared)

__all__ = ["WEIGHTS", "chromium_page", "run_cli", "save", "scratch"]


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder for the picture's data, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def run_cli(*args: str | Path) -> None:
    """``lookalike ARGS`` with this Python, its output kept back; a failure raises."""
    subprocess.run([sys.executable, "-m", "lookalike", *map(str, args)], check=True, capture_output=True)


@contextmanager
def chromium_page(width: int, height: int) -> Iterator[Page]:
    """A page ``width`` × ``height`` CSS pixels large in headless Chromium: the system's where there is one,
    else Playwright's own."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser.new_context(viewport={"width": width, "height": height}).new_page()
        finally:
            browser.close()


def save(page: Page, name: str) -> None:
    """Save what ``page`` shows as docs/``name``, and say so."""
    page.screenshot(path=str(DOCS / name))
    print(f"drew docs/{name}")
