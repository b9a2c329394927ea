"""``lookalike serve`` in a real browser: headless Chromium (Debian's, driven by Playwright) against the
server started as a user starts it, on 127.0.0.1. Uploads an image, sees its look-alikes, clicks through
to a second search (and a third, by keyboard), opens the compare view, finds the duplicates, reads the
index overview, and saves the screenshot the README shows.

``LOOKALIKE_SCREENSHOT=docs/serve.png pytest tests/web/test_browser.py`` also copies the screenshot there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from web_support import AUTH, TOKEN, make_collection, needs_shared, serve

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
expect = sync_api.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_shared,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium on PATH (apt-get install chromium)"),
]
ALL_LOADED = "() => [...document.querySelectorAll('#results img')].every(i => i.complete)"
# thumbnails that did not load: only the link out of the indexed folder, which is never served
BROKEN = "() => [...document.querySelectorAll('#results .tile.broken .path')].map(e => e.textContent)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_upload_click_through_compare_and_duplicates_in_chromium(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    expect.set_options(timeout=30_000)  # a loaded 2-core machine embeds slowly; assertions still hold
    base = tmp_path_factory.mktemp("browser")
    location = make_collection(base, phone=True)  # 86 images, one of them a HEIC
    query = sorted((location.parent / "horse").iterdir())[5]
    shots = base / "screenshots"
    shots.mkdir()
    with serve(location) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(30_000)
            elsewhere: list[str] = []
            problems: list[str] = []

            def only_this_server(route: Any) -> None:
                if route.request.url.startswith(url):
                    route.continue_()
                else:  # the page must work without any other host: no CDN, no fonts, nothing
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", only_this_server)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            refused: list[tuple[int, str]] = []
            page.on("response", lambda r: refused.append((r.status, r.url)) if r.status >= 400 else None)
            assert httpx.get(url + "api/info").status_code == 401  # no token, no answer
            link = httpx.get(url + "api/images", params={"q": "link-out"}, headers=AUTH).json()["images"][0][
                "id"
            ]

            page.goto(url + f"?token={TOKEN}")  # as printed: the page keeps the token in a cookie
            expect(page).to_have_url(url)  # and takes it out of the address bar
            expect(page.locator("#summary")).to_contain_text("86 images")
            expect(page.locator("#gallery .tile")).to_have_count(24)
            page.wait_for_function(ALL_LOADED.replace("#results", "#gallery"))

            results = _upload(page, query, shots)
            third_path = _click_through(page, results, shots)
            _compare(page, results, third_path, shots)
            _duplicates(page, shots)
            _phone_photo(page, url)
            _inspect(page)
            _overview(page)

            assert not elsewhere, f"the page asked other hosts: {elsewhere}"
            # the only refusal allowed: the thumbnail of the link out of the folder, if it was shown
            assert {(s, urlsplit(u).path) for s, u in refused} <= {(403, f"/api/images/{link}/thumb")}, (
                refused
            )
            problems = [p for p in problems if not (refused and p.startswith("Failed to load resource"))]
            assert not problems, f"errors in the browser console: {problems}"
        finally:
            browser.close()
    target = os.environ.get("LOOKALIKE_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "serve.png", target)


# The journey, step by step: each step starts where the previous one left the page.


def _upload(page: Any, query: Path, shots: Path) -> Any:
    # 1. upload an image (once the model is loaded): its look-alikes, the embedding time apart
    expect(page.locator("#drop")).to_have_attribute("data-ready", "true", timeout=120_000)
    page.set_input_files("#file", str(query))
    results = page.locator("#results .tile")
    expect(results).to_have_count(12)
    expect(page.locator("#query .eyebrow")).to_have_text("Your image")
    expect(page.locator("#query .query-name")).to_have_text(query.name)
    expect(page.get_by_test_id("embed-time")).to_contain_text(re.compile(r"embedded in [\d.]+ ms"))
    expect(page.get_by_test_id("search-time")).to_contain_text("searched in")
    top = results.first
    expect(top.locator(".path")).to_have_text(f"horse/{query.name}")  # itself, indexed
    expect(top.locator(".score")).to_have_text(re.compile(r"^1\.000|^0\.99"))
    expect(top.get_by_test_id("copy-badge")).to_have_text("same picture")  # the uploaded file itself
    expect(page.locator("#results .copy-badge")).to_have_count(1)  # and no other horse
    page.wait_for_function(ALL_LOADED)
    assert set(page.evaluate(BROKEN)) <= {"link-out.jpg"}
    page.screenshot(path=str(shots / "serve.png"))
    return results


def _click_through(page: Any, results: Any, shots: Path) -> str:
    # 2. click a result: a second search, from that indexed image
    second = results.nth(1)
    second_path = second.locator(".path").inner_text()
    second.locator(".tile-main").click()
    expect(page).to_have_url(re.compile(r"#/search\?id=\d+&k=12&metric=cosine$"))
    expect(page.locator("#query .eyebrow")).to_have_text("Indexed image")
    expect(page.locator("#query .query-name")).to_have_text(second_path)
    expect(results).to_have_count(12)
    expect(results.locator(".path", has_text=re.compile(f"^{re.escape(second_path)}$"))).to_have_count(0)

    # 3. the keyboard does the same: focus a result and press Enter; then fewer results
    third = page.locator("#results .tile-main").nth(2)
    third_path = results.nth(2).locator(".path").inner_text()
    third.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#query .query-name")).to_have_text(third_path)
    page.select_option("#k", "24")
    expect(results).to_have_count(24)
    page.select_option("#k", "12")
    expect(results).to_have_count(12)
    page.wait_for_function(ALL_LOADED)
    assert set(page.evaluate(BROKEN)) <= {"link-out.jpg"}
    page.screenshot(path=str(shots / "click-through.png"))
    return third_path


def _compare(page: Any, results: Any, third_path: str, shots: Path) -> None:
    # 4. compare the query with a result: two images side by side and the lecture's table
    hit = results.nth(0)
    hit_path = hit.locator(".path").inner_text()
    hit.hover()
    hit.locator(".tile-compare").click()
    expect(page).to_have_url(re.compile(r"#/compare\?a=\d+&b=\d+$"))
    table = page.get_by_test_id("compare-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    for row, name in enumerate(("L1", "MSE", "Cosine", "NCC")):
        cells = table.locator("tbody tr").nth(row)
        expect(cells.locator("th")).to_have_text(name)
        expect(cells.locator("td").nth(0)).to_have_text(re.compile(r"^-?[\d.,]+(e-?\d+)?$"))
        expect(cells.locator("td").nth(1)).to_have_text(re.compile(r"^-?[\d.,]+(e-?\d+)?$"))
    expect(page.locator("#slot-a .slot-name")).to_have_text(third_path)
    expect(page.locator("#slot-b .slot-name")).to_have_text(hit_path)
    expect(page.locator("#slot-a img")).to_be_visible()
    expect(page.locator("#slot-b img")).to_be_visible()
    page.screenshot(path=str(shots / "compare.png"))


def _duplicates(page: Any, shots: Path) -> None:
    # 5. duplicates on demand: the planted group with its keeper
    page.click("a[data-view=duplicates]")
    expect(page.locator("#dup-status")).to_contain_text("Not computed yet")
    page.click("#dup-start")
    group = page.locator(".group").filter(has_text="cat-large.png")
    expect(group).to_have_count(1)
    expect(group.locator(".tile.keeper .path")).to_have_text("copies/cat-large.png")
    expect(group.locator(".badge.keep")).to_have_count(1)
    expect(page.locator("#dup-status")).to_contain_text("duplicate(s) among 85 images")
    page.screenshot(path=str(shots / "duplicates.png"))


def _phone_photo(page: Any, url: str) -> None:
    # 6. a HEIC photo, which Chromium cannot decode, is shown through the server's JPEG thumbnail and
    # preview, and sits in the planted group behind the lossless original
    group = page.locator(".group").filter(has_text="cat-phone.heic")
    expect(group).to_have_count(1)
    expect(group.locator(".tile.keeper .path")).to_have_text("copies/cat-large.png")
    heic = group.locator(".tile", has_text="cat-phone.heic").locator("img")
    expect(heic).to_have_count(1)
    heic.scroll_into_view_if_needed()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=heic.element_handle())
    found = httpx.get(url + "api/images", params={"q": "cat-phone"}, headers=AUTH).json()["images"][0]["id"]
    full = httpx.get(url + f"api/images/{found}/full", headers=AUTH)
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"


def _inspect(page: Any) -> None:
    # 7. the inspection: counts per kind, and the planted copies shown beside their originals
    page.click("a[data-view=inspect]")
    expect(page.locator("#inspect-status")).to_contain_text("Not inspected yet")
    page.click("#inspect-start")
    expect(page.locator("#inspect-status")).to_contain_text("images inspected in")
    expect(page.locator("#inspect-counts [data-kind=exact_duplicates] b")).not_to_have_text("0")
    exact = page.locator("#kind-exact_duplicates .tile.finding")
    expect(exact.first.locator(".other .path")).to_contain_text("~ ")
    expect(page.locator("#kind-near_duplicates .tile.finding")).not_to_have_count(0)


def _overview(page: Any) -> None:
    # 8. the index overview, with the file the scan passed over
    page.click("a[data-view=index]")
    expect(page.locator("#info")).to_contain_text("86 searchable")
    expect(page.locator("#info")).to_contain_text("1 file of unknown type skipped (.txt 1)")
    expect(page.locator("#info")).to_contain_text("HEIC")
    expect(page.locator("#info")).to_contain_text("resnet18 (CIFAR stem), 512-d features")
    expect(page.locator("#info")).to_contain_text("Flat")


def _pictures(folder: Path) -> dict[str, tuple[str, int]]:
    """The files of ``folder`` outside its index: relative path → (sha256, mtime in ns)."""
    from dedup_support import snapshot

    return {k: v for k, v in snapshot(folder).items() if not k.startswith(".lookalike/")}


def test_review_a_group_keep_another_file_mark_a_pair_move_and_undo_in_chromium(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    expect.set_options(timeout=30_000)
    base = tmp_path_factory.mktemp("review")
    location = make_collection(base)
    photos = location.parent
    dest = base / "duplicates"
    before = _pictures(photos)
    moved = {"copies/cat-copy.jpg", "copies/cat-large.png", "cat.ppm"}
    with serve(location, "--move-to", str(dest)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url + f"?token={TOKEN}#/duplicates")
            expect(page.locator("#dup-mode")).to_contain_text("--move-to")
            page.click("#dup-start")
            group = page.locator(".group").filter(has_text="cat-large.png")
            expect(group.locator(".tile.keeper .path")).to_have_text("copies/cat-large.png")

            # 1. review the mirror image against the keeper: side by side, swipe, overlay, difference
            mirrored = group.locator(".tile", has_text="cat-mirrored.png")
            mirrored.locator("[data-action=review]").click()
            review = page.locator("#review")
            expect(review).to_be_visible()
            expect(review.locator(".review-full")).to_have_count(2)
            for mode in ("swipe", "overlay", "difference"):
                review.locator(f".review-tabs [data-mode={mode}]").click()
                expect(review.locator(f".review-mode[data-mode={mode}]")).to_be_visible()
            diff = review.get_by_test_id("difference")
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=diff.element_handle())
            review.locator(".review-tabs [data-mode=swipe]").click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('#review img')].every(i => i.complete)"
            )
            review.screenshot(path=str(base / "review.png"))
            assert _pictures(photos) == before

            # 2. keep the original JPEG instead (one click): the group now keeps it
            group.locator(".tile", has_text="cat/0000.jpg").locator("[data-action=keep]").click()
            group = page.locator(".group").filter(has_text="cat/0000.jpg")
            expect(group.locator(".tile.keeper .path")).to_have_text("cat/0000.jpg")
            expect(group.locator(".why")).to_have_text("keeper chosen by you")
            assert _pictures(photos) == before

            # 3. the mirror image is not a duplicate: set apart, with an undo
            group.locator(".tile", has_text="cat-mirrored.png").locator("[data-action=distinct]").click()
            expect(group.locator(".tile.apart .path")).to_have_text("copies/cat-mirrored.png")
            expect(group.locator(".tile.apart [data-action=forget]")).to_have_count(1)
            assert _pictures(photos) == before

            # 4. move the rest of the group, then undo it
            group.locator("[data-action=move-group]").click()
            expect(page.get_by_test_id("move-status")).to_contain_text("Moved 3 file(s)")
            after = _pictures(photos)
            assert set(before) - set(after) == moved
            assert all(_pictures(dest)[rel] == before[rel] for rel in moved)  # same bytes, same times
            expect(page.locator(".group").filter(has_text="cat/0000.jpg")).to_have_count(0)  # resolved
            page.locator("#moves [data-action=undo]").first.click()
            expect(page.get_by_test_id("move-status")).to_contain_text("Put back 3 file(s)")
            assert _pictures(photos) == before
            assert not problems, problems
        finally:
            browser.close()

    # 5. after a restart the decisions hold: the chosen keeper keeps, the pair stays apart
    with serve(location, "--move-to", str(dest)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.goto(url + f"?token={TOKEN}#/duplicates")
            page.click("#dup-start")
            group = page.locator(".group").filter(has_text="cat/0000.jpg")
            expect(group.locator(".tile.keeper .path")).to_have_text("cat/0000.jpg")
            expect(group.locator(".path", has_text="cat-mirrored.png")).to_have_count(0)
        finally:
            browser.close()
    assert _pictures(photos) == before
    target = os.environ.get("LOOKALIKE_REVIEW_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / "review.png", target)
