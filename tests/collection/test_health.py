"""An index's health (lookalike.collection.health) as `lookalike info` shows it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from collection.storage_support import (
    PixelEmbedder,
    cli,
    photos,
)
from lookalike.collection import Index, index_folder

# ----------------------------------------------------------------------------------------------------------
# Health


def test_info_reports_health(tmp_path: Path) -> None:
    folder = photos(tmp_path / "photos", 30)
    location = folder / ".lookalike"
    index_folder(folder, PixelEmbedder())
    code, out, _ = cli("info", folder, "--json")
    h = json.loads(out)["health"]
    assert code == 0 and h["catalogue"] == "ok" and h["command"] is None
    assert h["vectors"] == {"committed": 30, "present": 30, "lost": 0, "file": True}
    assert h["copy"]["images"] == 30 and h["search"] == {"state": "current", "pending": 0, "dead": 0}
    code, _, err = cli("index", folder, "--repair")
    assert code == 0 and "checked the catalogue and every stored vector: nothing was lost" in err, err

    with Index.open(location) as idx, idx.writer() as w:  # rows committed after the structure was saved
        w.put([idx.entry("0001.png")], np.ones((1, PixelEmbedder.dim), dtype=np.float32))  # type: ignore[list-item]
    code, out, _ = cli("info", folder)
    assert code == 0
    assert "search structure: stale (1 vectors not in it yet, 1 unused" in out, out
    assert "last good copy: 30 images" in out and "vectors: 31 of 31 rows present, all present" in out


# ----------------------------------------------------------------------------------------------------------
