"""The duplicates router: the job started on request, its progress, the groups with keepers, kept per
index version and dropped when the index changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from lookalike.web.app import create_app
from lookalike.web.collection import Collection
from lookalike.web.routes import duplicates
from lookalike.web.state import AppState
from web_support import TestClient, bare_app, needs_shared


@needs_shared
def test_duplicates_are_computed_on_request_and_kept_per_index_version(client: TestClient, web: Any) -> None:
    collection: Collection = web.state.collection
    assert client.get("/api/duplicates").json()["state"] == "idle"
    started = client.post("/api/duplicates")
    assert started.status_code == 202 and started.json()["state"] in ("working", "done")
    collection.duplicates.wait(60)
    done = client.get("/api/duplicates").json()
    assert done["state"] == "done" and done["images"] == 84  # the link out of the folder is not read
    assert done["seconds"] > 0 and done["error"] is None
    groups = {frozenset(m["path"] for m in g["members"]): g for g in done["groups"]}
    planted = frozenset(
        {"cat/0000.jpg", "copies/cat-copy.jpg", "copies/cat-mirrored.png", "copies/cat-large.png", "cat.ppm"}
    )
    assert planted in groups, list(groups)
    group = groups[planted]
    keeper = group["members"][0]
    assert keeper["keeper"] and keeper["path"] == "copies/cat-large.png"  # the most pixels
    assert group["keeper"] == keeper["id"] and keeper["thumb"].startswith(f"/api/images/{keeper['id']}/")
    kinds = {m["path"]: m["kind"] for m in group["members"][1:]}
    assert "mirrored" in kinds["copies/cat-mirrored.png"]
    assert all(not m["keeper"] for m in group["members"][1:])
    # both checks' scores: each member passed the fine check against the keeper itself
    assert all(m["ssim"] >= 0.8 and 0 <= m["colour"] <= 0.06 for m in group["members"][1:])
    # cached: asking again does not start another run
    again = client.post("/api/duplicates").json()
    assert again["state"] == "done" and again["started"] == done["started"]


@needs_shared
def test_duplicates_result_is_dropped_when_the_index_changes(tmp_path: Path) -> None:
    from lookalike.collection import index_folder
    from lookalike.features import Embedder
    from web_support import CIFAR, WEIGHTS

    folder = tmp_path / "few"
    folder.mkdir()
    for src in sorted((CIFAR / "frog").iterdir())[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    embedder = Embedder(WEIGHTS, num_workers=0, device="cpu", precision="float32")
    location = index_folder(folder, embedder).location
    application = create_app(location, warm=False)
    try:
        c = TestClient(application)
        c.post("/api/duplicates")
        application.state.collection.duplicates.wait(60)
        first = c.get("/api/duplicates").json()
        assert first["state"] == "done" and first["images"] == 3
        (folder / "copy.jpg").write_bytes(sorted(folder.glob("*.jpg"))[0].read_bytes())
        index_folder(folder, embedder)
        changed = c.get("/api/duplicates").json()
        assert changed["state"] == "idle" and changed["version"] != first["version"]
        assert c.get("/api/info").json()["images"] == 4
        c.post("/api/duplicates")
        application.state.collection.duplicates.wait(60)
        second = c.get("/api/duplicates").json()
        assert second["state"] == "done" and second["images"] == 4 and len(second["groups"]) == 1
    finally:
        application.state.collection.close()


class _Job:
    """A duplicates job that never runs: its status is idle, and each start is counted."""

    def __init__(self) -> None:
        self.starts = 0

    def status(self) -> dict[str, Any]:
        return {"state": "idle", "version": "v1", "stage": None, "done": None, "total": None, "started": None,
                "seconds": None, "error": None, "result": None, "ids": {}}  # fmt: skip

    def start(self) -> bool:
        self.starts += 1
        return True


class _JobOnly:
    root = Path("/nowhere")
    decisions = None  # no result: the review decisions are never read

    def __init__(self) -> None:
        self.duplicates = _Job()


def test_the_duplicates_router_alone_shows_and_starts_the_job_of_its_state() -> None:
    collection = _JobOnly()
    c = TestClient(bare_app(duplicates.router, state=AppState(collection, upload_limit=1)))
    idle = c.get("/api/duplicates").json()
    assert idle["state"] == "idle" and idle["groups"] == [] and idle["images"] is None
    assert collection.duplicates.starts == 0
    started = c.post("/api/duplicates")
    assert started.status_code == 202 and collection.duplicates.starts == 1
    assert c.get("/api/info").status_code == 404  # only this router is mounted
