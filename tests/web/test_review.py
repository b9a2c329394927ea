"""Acting on duplicates from the page (:mod:`lookalike.web.review` and its routes): a keeper chosen by
hand, pairs marked not duplicates, moves into the configured folder and their undo — the files on disk
checked byte for byte after each step, decisions still in force after a restart, and every change
refused to a read-only server or outside the move folder."""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from dedup_support import snapshot
from lookalike.errors import LookalikeError
from lookalike.web.app import create_app
from web_support import TestClient, needs_shared, one_line

PLANTED = {
    "cat/0000.jpg",
    "copies/cat-copy.jpg",
    "copies/cat-mirrored.png",
    "copies/cat-large.png",
    "cat.ppm",
}


@pytest.fixture()
def photos(site: Path, tmp_path: Path) -> Path:
    """A copy of the generated collection, index included (the tests move its files)."""
    target = tmp_path / "photos"
    shutil.copytree(site.parent, target, symlinks=True)
    return target


@pytest.fixture()
def dest(tmp_path: Path) -> Path:
    """The folder the server moves duplicates into (not there yet)."""
    return tmp_path / "duplicates"


@contextmanager
def opened(photos: Path, **options: Any) -> Iterator[tuple[TestClient, Any]]:
    """The app over ``photos``' index (with ``options``), a client, and the duplicates computed."""
    application = create_app(photos / ".lookalike", warm=False, **options)
    try:
        client = TestClient(application, base_url="http://127.0.0.1:8000")
        client.post("/api/duplicates")
        application.state.collection.duplicates.wait(120)
        yield client, application
    finally:
        application.state.collection.close()


def pictures(folder: Path) -> dict[str, tuple[str, int]]:
    """The files of ``folder`` outside its index: relative path → (sha256, mtime in ns)."""
    return {k: v for k, v in snapshot(folder).items() if not k.startswith(".lookalike/")}


def planted(client: TestClient) -> dict[str, Any]:
    d = client.get("/api/duplicates").json()
    assert d["state"] == "done", d
    found = [g for g in d["groups"] if {m["path"] for m in g["members"]} & {"cat/0000.jpg", "cat.ppm"}]
    assert len(found) == 1, d["groups"]
    return {**found[0], "version": d["version"]}


def by_path(group: dict[str, Any], key: str = "members") -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in group[key]}


def wait_moves(client: TestClient, application: Any) -> dict[str, Any]:
    application.state.lookalike.review.moves.wait(60)
    status = client.get("/api/moves").json()
    assert status["state"] == "done", status
    return status


@needs_shared
def test_review_keeper_not_duplicates_move_and_undo_checked_on_disk(photos: Path, dest: Path) -> None:
    before = pictures(photos)
    with opened(photos, move_to=dest) as (c, app):
        g = planted(c)
        assert {m["path"] for m in g["members"]} == PLANTED and g["keeper"] == by_path(g)[
            "copies/cat-large.png"
        ]["id"]
        assert all(m["sha256"] and len(m["sha256"]) == 64 for m in g["members"])
        # one group in detail, and a member aligned with its keeper: same size, and a difference map
        assert c.get(f"/api/duplicates/groups/{g['id']}").json()["members"] == g["members"]
        mirrored = by_path(g)["copies/cat-mirrored.png"]
        views = {v: c.get(f"/api/duplicates/groups/{g['id']}/members/{mirrored['id']}/{v}") for v in
                 ("keeper", "member", "difference")}  # fmt: skip
        assert [r.headers["content-type"] for r in views.values()] == [
            "image/jpeg",
            "image/jpeg",
            "image/png",
        ]
        sizes = {v: Image.open(io.BytesIO(r.content)).size for v, r in views.items()}
        assert len(set(sizes.values())) == 1, sizes
        # the mirror image, turned back, lines up with the keeper
        k = np.asarray(Image.open(io.BytesIO(views["keeper"].content)).convert("L"), np.float32)
        m = np.asarray(Image.open(io.BytesIO(views["member"].content)).convert("L"), np.float32)
        assert np.abs(k - m).mean() < 12, np.abs(k - m).mean()
        unturned = np.asarray(
            Image.open(io.BytesIO(views["member"].content)).convert("L").transpose(0), np.float32
        )
        assert np.abs(k - unturned).mean() > 2 * np.abs(k - m).mean()  # (it was turned back indeed)
        assert pictures(photos) == before  # looking changes nothing

        # 1. keep the original JPEG instead: the others are checked against it and stay in the group
        original = by_path(g)["cat/0000.jpg"]
        chosen = c.post(
            f"/api/duplicates/groups/{g['id']}/keeper", json={"id": original["id"], "version": g["version"]}
        )
        assert chosen.status_code == 200, chosen.text
        cg = chosen.json()
        assert cg["members"][0]["path"] == "cat/0000.jpg" and cg["chosen"]
        assert cg["kept_because"] == "chosen as the keeper in a review"
        assert {m["path"] for m in cg["members"]} | {m["path"] for m in cg["stays"]} == PLANTED
        assert planted(c)["members"][0]["path"] == "cat/0000.jpg"  # the list shows it too
        assert pictures(photos) == before

        # 2. the mirror image is not a duplicate (say the user wants both): set apart, listed, by content
        mark = c.post("/api/decisions", json={"a": original["id"], "b": mirrored["id"]})
        assert mark.status_code == 200 and mark.json()["kind"] == "distinct"
        g2 = planted(c)
        assert "copies/cat-mirrored.png" not in by_path(g2) and "copies/cat-mirrored.png" in by_path(
            g2, "apart"
        )
        listed = c.get("/api/decisions").json()["decisions"]
        assert {d["kind"] for d in listed} == {"distinct", "keep"}
        assert pictures(photos) == before

        # 3. move the rest: only the group's duplicates go, byte for byte, into the configured folder
        moving = c.post("/api/moves", json={"groups": [g["id"]], "version": g["version"]})
        assert moving.status_code == 202, moving.text
        status = wait_moves(c, app)
        assert status["kind"] == "move" and status["done"] == status["total"] == 3
        after = pictures(photos)
        gone = set(before) - set(after)
        assert gone == {"copies/cat-copy.jpg", "copies/cat-large.png", "cat.ppm"}
        assert {k: v for k, v in before.items() if k not in gone} == after  # nothing else changed
        moved = snapshot(dest)
        for rel in gone:
            assert moved[rel] == before[rel]  # same bytes and times
        log = status["log"]
        assert [entry["name"] for entry in status["logs"]] == [log]
        assert all(g3["id"] != g["id"] for g3 in c.get("/api/duplicates").json()["groups"])  # resolved
        assert c.get("/api/duplicates").json()["resolved"] >= 1

        # 4. undo from the page: everything back where it was
        undone = c.post("/api/moves/undo", json={"log": log})
        assert undone.status_code == 202, undone.text
        assert wait_moves(c, app)["restored"] == 3
        assert pictures(photos) == before
        assert {m["path"] for m in planted(c)["members"]} == PLANTED - {"copies/cat-mirrored.png"}

    # 5. a restart: the decisions hold (the keeper chosen, the pair kept apart), computed afresh
    with opened(photos, move_to=dest) as (c, app):
        g = planted(c)
        assert g["members"][0]["path"] == "cat/0000.jpg" and g["chosen"]
        assert g["kept_because"] == "chosen as the keeper in a review"
        assert "copies/cat-mirrored.png" not in by_path(g)
        # take the decision back: the groups are computed again, the mirror image a duplicate again
        distinct = next(d for d in c.get("/api/decisions").json()["decisions"] if d["kind"] == "distinct")
        forgot = c.post("/api/decisions/forget", json={"a": distinct["a"], "b": distinct["b"]})
        assert forgot.status_code == 200 and all(d["kind"] != "distinct" for d in forgot.json()["decisions"])
        app.state.collection.duplicates.wait(120)
        g = planted(c)
        assert g["members"][0]["path"] == "cat/0000.jpg" and {m["path"] for m in g["members"]} == PLANTED


@needs_shared
def test_moves_made_in_the_page_undo_on_the_command_line_and_back(photos: Path, dest: Path) -> None:
    from typer.testing import CliRunner

    from lookalike.cli import app as cli

    before = pictures(photos)
    with opened(photos, move_to=dest) as (c, app):
        g = planted(c)
        assert c.post("/api/moves", json={"groups": None}).status_code == 202
        log = wait_moves(c, app)["log"]
        assert set(pictures(photos)) < set(before)
        result = CliRunner().invoke(cli, ["dedup", "--undo", str(dest / log)])
        assert result.exit_code == 0, result.output
        assert pictures(photos) == before
        # the other way round: the command line moves into the same folder, the page undoes it
        result = CliRunner().invoke(cli, ["dedup", str(photos), "--move-to", str(dest)])
        assert result.exit_code == 0, result.output
        assert set(pictures(photos)) < set(before)
        logs = c.get("/api/moves").json()["logs"]
        cli_log = next(entry["name"] for entry in logs if entry["name"] != log)
        assert c.post("/api/moves/undo", json={"log": cli_log}).status_code == 202
        wait_moves(c, app)
        assert pictures(photos) == before
        assert g["id"] >= 0


@needs_shared
def test_a_read_only_server_refuses_every_change_and_changes_nothing(photos: Path, dest: Path) -> None:
    before = pictures(photos)
    with opened(photos, move_to=dest, read_only=True) as (c, _):
        g = planted(c)
        ids = [m["id"] for m in g["members"]]
        changes = [
            ("/api/decisions", {"a": ids[0], "b": ids[1]}),
            ("/api/decisions/forget", {"a": "a" * 64, "b": "b" * 64}),
            (f"/api/duplicates/groups/{g['id']}/keeper", {"id": ids[1]}),
            ("/api/moves", {"groups": None}),
            ("/api/moves/undo", {"log": "lookalike-dedup-20250101-000000.jsonl"}),
        ]
        for path, body in changes:
            refused = c.post(path, json=body)
            assert refused.status_code == 403 and "read-only" in one_line(refused), (path, refused.text)
        assert c.get("/api/duplicates").json()["read_only"] is True
        assert c.get("/api/search", params={"id": ids[0], "k": 3}).status_code == 200  # still searches
        assert c.post("/api/compare", params={"a": ids[0], "b": ids[1]}).status_code == 200
    assert pictures(photos) == before and not dest.exists()
    assert not (photos / ".lookalike" / "decisions.db").exists()


@needs_shared
def test_without_a_move_folder_the_page_moves_nothing(photos: Path) -> None:
    before = pictures(photos)
    with opened(photos) as (c, _):
        assert c.get("/api/duplicates").json()["can_move"] is False
        refused = c.post("/api/moves", json={"groups": None})
        assert refused.status_code == 409 and "--move-to" in one_line(refused)
    assert pictures(photos) == before


@needs_shared
def test_moves_never_leave_the_move_folder(photos: Path, dest: Path, tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="inside the indexed folder"):
        create_app(photos / ".lookalike", warm=False, move_to=photos / "dups")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest.mkdir()
    (dest / "copies").symlink_to(elsewhere)  # a link inside the folder out of it
    before = pictures(photos)
    with opened(photos, move_to=dest) as (c, _):
        g = planted(c)
        refused = c.post("/api/moves", json={"groups": [g["id"]]})
        assert refused.status_code == 403 and "symbolic link" in one_line(refused)
        assert pictures(photos) == before and not any(elsewhere.iterdir())
        (dest / "copies").unlink()
        # a log name is a name in the folder, never a path
        for name in ("../photos/x.jsonl", "/etc/passwd", "lookalike-dedup-x.jsonl", "..%2Fx.jsonl"):
            r = c.post("/api/moves/undo", json={"log": name})
            assert r.status_code == 404, (name, r.status_code)
        # a log that names files outside the two folders is refused whole
        forged = dest / "lookalike-dedup-forged.jsonl"
        header = {"format": "lookalike-dedup-moves", "version": 1, "files": 1}
        outside = tmp_path / "outside-file.txt"
        outside.write_text("mine")
        line = {"source": str(tmp_path / "anywhere.txt"), "target": str(outside)}
        forged.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
        r = c.post("/api/moves/undo", json={"log": forged.name})
        assert (
            r.status_code == 403
            and outside.read_text() == "mine"
            and not (tmp_path / "anywhere.txt").exists()
        )
        # groups and images are named by number only; unknown ones are refused
        assert c.post("/api/moves", json={"groups": [10_000]}).status_code == 404
        assert c.post("/api/moves", json={"groups": ["../x"]}).status_code == 422
    assert pictures(photos) == before


@needs_shared
def test_a_page_move_while_index_runs_leaves_the_index_consistent(photos: Path, dest: Path) -> None:
    from lookalike.collection import Index, index_folder
    from lookalike.features import Embedder
    from web_support import WEIGHTS

    for i in range(40):  # more to index meanwhile
        shutil.copyfile(sorted((photos / "dog").iterdir())[i % 8], photos / f"extra-{i:02d}.jpg")
        with Image.open(photos / f"extra-{i:02d}.jpg") as img:
            img.rotate(i * 7 + 3).save(photos / f"extra-{i:02d}.jpg", quality=90)
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    with opened(photos, move_to=dest) as (c, app):
        errors: list[BaseException] = []

        def index() -> None:
            try:
                index_folder(photos, embedder)
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=index)
        worker.start()
        assert c.post("/api/moves", json={"groups": None}).status_code == 202
        wait_moves(c, app)
        worker.join(120)
        assert not errors, errors
    index_folder(photos, embedder)  # the next run catches up with the moves
    idx = Index.open(photos / ".lookalike")
    try:
        on_disk = {
            p.relative_to(photos).as_posix()
            for p in photos.rglob("*")
            if p.is_file() and ".lookalike" not in p.parts
        }
        indexed = {e.path for e in idx.entries("ok")}
        assert indexed <= on_disk and not indexed & set(snapshot(dest))
        assert idx.search(photos / "copies" / "cat-large.png", k=3).hits  # the keeper stayed
    finally:
        idx.close()
