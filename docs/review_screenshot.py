"""Draws docs/review.png, the README's picture of reviewing duplicates in ``lookalike serve``: the sample
photos of ``lookalike samples`` with a few copies made the way people make them, indexed with the shared
model, served with ``--move-to``, and the page opened in headless Chromium on the Duplicates view with one
copy under review (swipe view).

    python docs/review_screenshot.py            # needs ../shared beside the repository, Chromium, Playwright
"""

from __future__ import annotations

from PIL import Image
from screenshots import WEIGHTS, chromium_page, run_cli, save, scratch

from web_support import TOKEN, serve  # from tests/, which importing screenshots put on the path


def main() -> None:
    with scratch() as folder:
        photos = folder / "photos"
        run_cli("samples", photos)
        with Image.open(photos / "coffee.png") as img:
            img.convert("RGB").save(photos / "coffee from chat.jpg", quality=30)
            w, h = img.size
            img.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(photos / "coffee cropped.png")
        with Image.open(photos / "rocket.png") as img:
            img.convert("RGB").resize((img.width // 2, img.height // 2)).save(
                photos / "rocket small.jpg", quality=85
            )
        run_cli("index", photos, "--weights", WEIGHTS)
        dest = folder / "duplicates"
        with serve(photos / ".lookalike", "--move-to", str(dest)) as url, chromium_page(1280, 1350) as page:
            page.goto(url + f"?token={TOKEN}#/duplicates")
            page.click("#dup-start")
            group = page.locator(".group").filter(has_text="coffee cropped.png")
            group.locator(".tile", has_text="coffee cropped.png").locator("[data-action=review]").click()
            page.locator("#review .review-tabs [data-mode=swipe]").click()
            page.locator("#review input[aria-label='Swipe position']").fill("55")
            page.wait_for_function("() => [...document.querySelectorAll('img')].every(i => i.complete)")
            save(page, "review.png")


if __name__ == "__main__":
    main()
