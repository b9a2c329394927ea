"""Index (lookalike.collection.index) through the command line (index, search, info, contact sheets, clear
errors) and its stored vectors reused for unchanged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from collection.index_support import SIZE, invoke, invoke_json, picture, runner, write_images
from lookalike.cli import app
from lookalike.collection import Index, index_folder
from lookalike.features import Embedder

# Contact sheets and the command line


def test_cli_index_search_info_and_contact_sheets(tmp_path: Path, weights: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"cat {i}.png" for i in range(5)] + ["<dog>&.png"])
    code, out = invoke("index", folder, "--weights", weights, "--size", str(SIZE))
    assert code == 0, out
    assert "created" in out and "new 6" in out and "images/s" in out and "Flat" in out
    (folder / "cat 5.png").write_bytes((folder / "cat 4.png").read_bytes())
    code, out = invoke("index", folder)  # an update: the index's own weights and size
    assert code == 0, out
    assert "updated" in out and "new 1" in out and "unchanged 6" in out
    (folder / "cat 5.png").unlink()
    code, out = invoke("index", folder)
    assert code == 0 and "removed 1" in out, out
    html, png = tmp_path / "out" / "sheet.html", tmp_path / "sheet.png"
    code, out = invoke("search", folder / "cat 0.png", "-k", "5", "--html", html, "--png", png)
    assert code == 0, out
    assert "Rank" in out and "cosine ↑" in out and "Path" in out
    page = html.read_text()
    assert page.count("data:image/jpeg;base64,") == 6  # the query and five hits, embedded
    assert "http" not in page and 'src="/' not in page  # nothing to fetch: works offline
    code, data = invoke_json("search", folder / "cat 0.png", "-k", "5")
    hits = data["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5] and "cat 0.png" not in [h["relpath"] for h in hits]
    for h in hits:
        assert f"#{h['rank']} · {h['score']:.4f}" in page
    assert "&lt;dog&gt;&amp;.png" in page and "<dog>" not in page
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width > 400
    code, data = invoke_json("search", folder / "cat 1.png", "--metric", "ncc", "-k", "2")
    assert data["metric"] == "ncc" and data["candidates"] == 100 and len(data["hits"]) == 2
    code, out = invoke("info", folder)
    assert code == 0 and "6 searchable" in out and "resnet18" in out and "Flat" in out and "On disk" in out
    code, info = invoke_json("info", folder / ".lookalike")
    assert info["images"] == 6 and info["dim"] == 512 and info["search"]["kind"] == "flat"
    assert info["preprocessing"]["crop_size"] == SIZE and info["disk_bytes"]["total"] > 0


def test_cli_clear_errors(tmp_path: Path, weights: Path) -> None:
    picture(0).save(tmp_path / "q.png")
    code, out = invoke("search", tmp_path / "q.png")
    assert code == 1 and "no lookalike index" in out and "--index DIR" in out and "Traceback" not in out
    code, out = invoke("info", tmp_path)
    assert code == 1 and "no lookalike index" in out
    code, out = invoke("index", tmp_path / "missing", "--weights", weights)
    assert code == 1 and "no such folder" in out
    write_images(tmp_path / "p", ["a.png"])
    invoke("index", tmp_path / "p", "--weights", weights, "--size", str(SIZE))
    code, out = invoke("index", tmp_path / "p", "--weights", weights, "--size", "24")
    assert code == 1 and "--rebuild" in out and len(out.strip().splitlines()) == 1
    code, out = invoke("search", tmp_path / "p" / "a.png", "--metric", "hamming")
    assert code == 1 and "unknown metric" in out


@pytest.mark.parametrize("command", ["index", "search", "info"])
def test_cli_help_has_an_example(command: str) -> None:
    code, out = invoke(command, "--help")
    assert code == 0 and "Example" in out


# ----------------------------------------------------------------------------------------------------------
# Reuse of stored vectors (lookalike dedup --weights)


def test_current_vectors_only_for_unchanged_files_and_the_same_model(
    tmp_path: Path, embedder: Embedder, random_embedder: Embedder
) -> None:
    folder = tmp_path / "photos"
    paths = write_images(folder, [f"{i}.png" for i in range(4)])
    index_folder(folder, embedder)
    with Index.open(folder / ".lookalike") as idx:
        stored = idx.current_vectors(paths, embedder)
        assert stored is not None and stored.shape == (4, 512)
        fresh = embedder.embed(paths).numpy()
        np.testing.assert_allclose(stored, fresh, rtol=1e-4, atol=1e-5)
        assert idx.current_vectors(paths, random_embedder) is None  # other weights
        assert idx.current_vectors([*paths, tmp_path / "elsewhere.png"], embedder) is None  # not indexed
    (folder / "empty.jpg").write_bytes(b"")  # unreadable: indexed as failed, a zero row
    index_folder(folder, embedder)
    with Index.open(folder / ".lookalike") as idx:
        with_failed = idx.current_vectors([*paths, folder / "empty.jpg"], embedder)
        assert with_failed is not None and with_failed.shape == (5, 512)
        np.testing.assert_array_equal(with_failed[:4], stored)
        assert not with_failed[4].any()
        picture(9).save(paths[2])  # changed since indexing
        os.utime(paths[2], ns=(1, 1))
        assert idx.current_vectors(paths, embedder) is None


def test_cli_dedup_reuses_an_up_to_date_index(tmp_path: Path, weights: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, [f"{i}.png" for i in range(5)])
    (folder / "copy.png").write_bytes((folder / "3.png").read_bytes())
    code, out = invoke("index", folder, "--weights", weights)
    assert code == 0, out

    def dedup() -> tuple[str, list[set[str]]]:
        result = runner.invoke(app, ["dedup", str(folder), "--weights", str(weights), "--json", "-"])
        assert result.exit_code == 0, result.output
        groups = json.loads(result.stdout)["groups"]
        return result.output, [{Path(m["path"]).name for m in g["members"]} for g in groups]

    out, groups = dedup()
    assert "feature vectors from" in out and groups == [{"3.png", "copy.png"}]
    picture(7).save(folder / "4.png")  # the index is now behind: embed instead
    out, groups = dedup()
    assert "feature vectors from" not in out and groups == [{"3.png", "copy.png"}]
