"""The inspection router: the job started on request, its progress, then the findings with the ids and
thumbnails of both files of a copy, kept per index version."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install 'lookalike[web]'")

from web_support import TestClient, needs_shared


@needs_shared
def test_inspect_runs_on_request_and_lists_findings_with_both_files(client: TestClient, web: Any) -> None:
    assert client.get("/api/inspect").json()["state"] == "idle"
    started = client.post("/api/inspect")
    assert started.status_code == 202 and started.json()["state"] in ("working", "done")
    web.state.collection.inspection.wait(120)
    done = client.get("/api/inspect").json()
    assert done["state"] == "done" and done["images"] == 84 and done["error"] is None
    assert done["counts"]["exact_duplicates"] >= 1 and done["counts"]["near_duplicates"] >= 2
    exact = next(f for f in done["findings"] if f["kind"] == "exact_duplicates")
    assert {exact["path"], exact["other_path"]} == {"cat/0000.jpg", "copies/cat-copy.jpg"}
    assert exact["thumb"].startswith(f"/api/images/{exact['id']}/thumb") and exact["other_thumb"]
    # the index lent its vectors: outliers were looked for
    assert not any(n.startswith("outlier: only the pictures") for n in done["notes"])
    assert client.get("/api/inspect", params={"limit": 0}).json()["findings"] == []
    again = client.post("/api/inspect").json()  # cached for this index version
    assert again["state"] == "done" and again["started"] == done["started"]
