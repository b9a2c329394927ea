"""Draws docs/inspect.png, the README's picture of ``lookalike inspect --html``: the generated folder with
every kind planted (tests/planted_issues.py), inspected with the shared model's features, the report opened
in headless Chromium.

    python docs/inspect_screenshot.py          # needs ../shared beside the repository, Chromium, Playwright
"""

from __future__ import annotations

from screenshots import WEIGHTS, chromium_page, run_cli, save, scratch

from planted_issues import plant  # from tests/, which importing screenshots put on the path


def main() -> None:
    with scratch() as folder:
        data = folder / "data"
        plant(data, per_class=20, per_kind=3)
        report = folder / "report.html"
        run_cli("inspect", data, "--weights", WEIGHTS, "--html", report)
        with chromium_page(1100, 1300) as page:
            page.goto(report.as_uri())
            save(page, "inspect.png")


if __name__ == "__main__":
    main()
