"""``dedup`` as a user runs it: where its deep-feature candidates come from."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dedup_support import duplicates_tree, pattern, snapshot
from lookalike.cli import app

Invoke = Callable[..., tuple[int, str]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five distinct images and a copy of one."""
    folder = tmp_path_factory.mktemp("dedup") / "photos"
    folder.mkdir()
    for i in range(5):
        y, x = np.mgrid[0:24, 0:24] / 24
        c = np.random.default_rng(i).uniform(0, 255, 3)
        img = np.stack([c[0] * x, c[1] * y, c[2] * (1 - x) * y], axis=-1)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i}.png")
    (folder / "copy.png").write_bytes((folder / "3.png").read_bytes())
    return folder


def groups(out: str) -> list[set[str]]:
    return [{Path(m["path"]).name for m in g["members"]} for g in json.loads(out)["groups"]]


def test_pixels_alone_without_weights(folder: Path) -> None:
    result = CliRunner().invoke(app, ["dedup", str(folder), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]


def test_weights_without_an_index_embed(folder: Path) -> None:
    result = CliRunner().invoke(app, ["dedup", str(folder), "--weights", "none", "--json", "-"])
    assert result.exit_code == 0, result.output
    assert "feature vectors from" not in result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]


def test_mistakes_are_one_line(folder: Path, tmp_path: Path, invoke: Invoke) -> None:
    for args, message in [
        ((), "pass a FOLDER to check"),
        ((tmp_path / "nope",), "no such folder"),
        ((folder / "0.png",), "is a file, not a folder"),
        (("--undo", tmp_path / "log.jsonl", "--move-to", tmp_path), "cannot be combined"),
    ]:
        code, out = invoke("dedup", *args)
        assert code == 1 and out.startswith("error: ") and message in out and out.count("\n") == 1, out


def test_an_up_to_date_index_lends_its_vectors(folder: Path, weights: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    built = CliRunner().invoke(app, ["index", str(folder), "--weights", str(weights), "--index", str(index)])
    assert built.exit_code == 0, built.output
    args = ["dedup", str(folder), "--weights", str(weights), "--json", "-"]
    result = CliRunner().invoke(app, args)  # the index is not where dedup looks: embedded
    assert result.exit_code == 0 and "feature vectors from" not in result.output, result.output
    shutil.copytree(index, folder / ".lookalike")
    try:
        result = CliRunner().invoke(app, args)
    finally:
        shutil.rmtree(folder / ".lookalike")
    assert result.exit_code == 0, result.output
    assert "feature vectors from" in result.output
    assert groups(result.stdout) == [{"3.png", "copy.png"}]


# ----------------------------------------------------------------------------------------------------------
# groups, moves and undo through the command line


def test_cli_lists_groups_and_changes_nothing(tmp_path: Path, invoke: Invoke) -> None:
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    code, out = invoke("dedup", photos)
    assert code == 0, out
    assert "3 group(s) · 3 duplicate(s)" in out and "keep" in out and "resized" in out
    assert "nothing was changed" in out
    assert snapshot(photos) == before


def test_cli_table_shows_the_largest_groups_and_counts_the_rest(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.cli import dedup as dedup_cli

    monkeypatch.setattr(dedup_cli, "TABLE_GROUPS", 1)
    code, out = invoke("dedup", duplicates_tree(tmp_path))
    assert code == 0, out
    assert "… and 2 more group(s) of 2 duplicate(s), not shown: --json FILE lists every group" in out
    assert "3 group(s) · 3 duplicate(s)" in out


def test_cli_json_move_and_undo(tmp_path: Path, invoke: Invoke) -> None:
    photos = duplicates_tree(tmp_path)
    before = snapshot(photos)
    result = CliRunner().invoke(app, ["dedup", str(photos), "--json", "-"])  # stdout alone: the JSON
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["groups"]) == 3 and data["duplicates"] == 3 and data["move_log"] is None
    assert all(g["members"][0]["keeper"] and g["members"][0]["path"] == g["keeper"] for g in data["groups"])
    code, out = invoke("dedup", photos, "--json", tmp_path / "groups.json", "--move-to", tmp_path / "dups")
    assert code == 0, out
    assert json.loads((tmp_path / "groups.json").read_text())["duplicates"] == 3
    log = next((tmp_path / "dups").glob("lookalike-dedup-*.jsonl"))
    assert "lookalike dedup --undo" in out and log.name in out
    assert len(snapshot(photos)) == len(before) - 3
    code, out = invoke("dedup", "--undo", log)
    assert code == 0 and "restored 3 file(s)" in out
    assert snapshot(photos) == before


def test_cli_errors_are_one_line(tmp_path: Path, invoke: Invoke) -> None:
    (tmp_path / "one.png").write_bytes(b"")
    for args in (
        ("dedup", tmp_path / "missing"),
        ("dedup", tmp_path / "one.png"),
        ("dedup",),
        ("dedup", "--undo", tmp_path / "missing.jsonl"),
        ("dedup", tmp_path, "--min-ncc", "2"),
    ):
        code, out = invoke(*args)
        assert code == 1 and out.startswith("error:") and len(out.strip().splitlines()) == 1, out
        assert "Traceback" not in out


def test_cli_unreadable_files_and_strict(tmp_path: Path, invoke: Invoke) -> None:
    pattern(40).save(tmp_path / "a.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, out = invoke("dedup", tmp_path)
    assert code == 0 and "1 unreadable" in out and "broken.jpg" in out
    code, out = invoke("dedup", tmp_path, "--strict")
    assert code == 1 and "--strict" in out


def test_cli_help_has_an_example(invoke: Invoke) -> None:
    code, out = invoke("dedup", "--help")
    assert code == 0 and "Example" in out and "--move-to" in out and "--undo" in out


def test_heic_avif_and_jpeg_xl_copies_are_re_encodes_of_the_png_it_keeps(
    tmp_path: Path, invoke: Invoke
) -> None:
    from format_files import photo, save

    folder = tmp_path / "phone"
    folder.mkdir()
    for i in range(3):
        original = photo(320, 240, seed=20 + i)
        save(original, folder / f"{i}-original.png")
        for ext in (".heic", ".avif", ".jxl"):
            save(original, folder / f"{i}-copy{ext}", quality=80)
    code, out = invoke("dedup", folder, "--json", "-")
    assert code == 0, out
    found = json.loads(out)
    assert sorted(map(sorted, groups(out))) == [
        sorted(f"{i}-{name}" for name in ("original.png", "copy.heic", "copy.avif", "copy.jxl"))
        for i in range(3)
    ]
    assert {Path(g["keeper"]).name for g in found["groups"]} == {f"{i}-original.png" for i in range(3)}


@pytest.mark.parametrize("columns", [80, 120])
def test_the_table_shows_every_name_whole_at_any_width(tmp_path: Path, invoke: Invoke, columns: int) -> None:
    folder = tmp_path / "holidays-2026" / "day-one"
    folder.mkdir(parents=True)
    keeper = folder / "IMG_20260714_101530_original.png"
    copy = folder / "IMG_20260714_101530_edited [1].jpg"
    pattern(7).save(keeper)
    pattern(7).save(copy, quality=90)
    code, out = invoke("dedup", tmp_path, env={"COLUMNS": str(columns)})
    assert code == 0, out
    assert "…" not in out and all(len(line) <= columns for line in out.splitlines()), out
    cells = "".join(line.split("│")[2].strip() for line in out.splitlines() if line.count("│") >= 5)
    # the File column's wrapped lines joined: both paths, whole (in the keeper's order)
    assert cells in (f"{keeper}{copy}", f"{copy}{keeper}"), out
    assert ("SSIM" in out) == (columns >= 110)  # narrow: names and relations first, the scores in --json


# ----------------------------------------------------------------------------------------------------------
# --exclude


def three_and_a_copy(folder: Path) -> Path:
    """a.png, b.png, c.png (unrelated pictures) and copy.png, a byte copy of a.png."""
    folder.mkdir(parents=True)
    for seed, name in enumerate("abc", start=1):
        pattern(seed).save(folder / f"{name}.png")
    shutil.copyfile(folder / "a.png", folder / "copy.png")
    return folder


def test_an_excluded_copy_is_not_grouped_and_is_counted(tmp_path: Path) -> None:
    photos = three_and_a_copy(tmp_path / "photos")
    result = CliRunner().invoke(app, ["dedup", str(photos), "--json", "-"])
    assert result.exit_code == 0 and groups(result.stdout) == [{"a.png", "copy.png"}], result.output
    result = CliRunner().invoke(app, ["dedup", str(photos), "--exclude", "copy.png", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["groups"] == [] and data["images"] == 3
    assert data["skipped"]["excluded"] == 1 and data["skipped"]["total"] == 1
    assert data["settings"]["exclude"] == ["copy.png"]


def test_an_excluded_folder_is_left_out_of_the_folder_and_the_references(
    tmp_path: Path, invoke: Invoke
) -> None:
    checked, refs = tmp_path / "test", tmp_path / "train"
    (checked / "old").mkdir(parents=True)
    (refs / "old").mkdir(parents=True)
    pattern(1).save(checked / "a.png")
    pattern(1).save(checked / "old" / "a-again.png")  # a duplicate of a.png, but under old/
    pattern(2).save(checked / "b.png")
    pattern(2).save(refs / "old" / "b.png")  # a reference copy of b.png, but under old/
    pattern(3).save(refs / "c.png")
    code, out = invoke("dedup", checked)
    assert code == 0 and "1 group(s)" in out, out
    code, out = invoke("dedup", checked, "--exclude", "old")
    assert code == 0 and "0 group(s)" in out and "1 folder excluded by pattern" in out, out
    code, out = invoke("dedup", checked, "--against", refs)
    assert code == 0 and "1 group(s)" in out, out
    code, out = invoke("dedup", checked, "--against", refs, "--exclude", "old/**")  # a path from each root
    assert code == 0 and "0 group(s)" in out and "2 folders excluded by pattern" in out, out


def test_an_index_lends_no_vector_of_an_excluded_file(weights: Path, tmp_path: Path) -> None:
    photos = three_and_a_copy(tmp_path / "photos")
    built = CliRunner().invoke(app, ["index", str(photos), "--weights", str(weights)])
    assert built.exit_code == 0, built.output
    args = ["dedup", str(photos), "--weights", str(weights), "--json", "-"]
    result = CliRunner().invoke(app, [*args, "--exclude", "copy.*"])
    assert result.exit_code == 0, result.output
    assert "feature vectors from" in result.output  # the index's, less the excluded file's
    data = json.loads(result.stdout)
    assert data["groups"] == [] and data["images"] == 3 and data["skipped"]["excluded"] == 1
    result = CliRunner().invoke(app, [*args, "--exclude", "a.png"])
    assert result.exit_code == 0 and "feature vectors from" in result.output, result.output
    assert json.loads(result.stdout)["groups"] == []


def test_an_empty_exclude_pattern_is_one_line(folder: Path, invoke: Invoke) -> None:
    code, out = invoke("dedup", folder, "--exclude", "", "--weights", "no-such-weights.pt")
    assert code == 1 and out.count("\n") == 1, out
    assert out.startswith("error: exclude pattern '' is empty; give each --exclude pattern a glob"), out


def test_not_duplicates_is_remembered_listed_in_the_json_and_forgotten(
    tmp_path: Path, invoke: Invoke
) -> None:
    photos = duplicates_tree(tmp_path)
    one, dup = photos / "x" / "one.png", photos / "x" / "dup.png"
    before = snapshot(photos)
    result = CliRunner().invoke(
        app, ["dedup", str(photos), "--not-duplicates", str(one), str(dup), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the note goes to stderr: stdout stays JSON
    assert data["duplicates"] == 2 and {Path(p).name for p in data["ignored"][0].values()} == {
        "one.png",
        "dup.png",
    }
    assert "remembered" in result.stderr
    code, out = invoke("dedup", photos)  # remembered for the next runs (in the folder's index folder)
    assert code == 0 and "2 group(s)" in out and "1 pair(s) kept apart as marked not duplicates" in out
    assert (photos / ".lookalike" / "decisions.db").is_file()
    code, out = invoke("dedup", photos, "--no-decisions")
    assert code == 0 and "3 group(s)" in out
    moved = photos / "renamed.png"
    dup.rename(moved)  # a decision follows the content
    code, out = invoke("dedup", photos)
    assert code == 0 and "2 group(s)" in out
    moved.rename(dup)
    code, out = invoke("dedup", photos, "--forget", dup, one)
    assert code == 0 and "forgotten" in out and "3 group(s)" in out
    code, out = invoke("dedup", photos, "--forget", dup, one)
    assert code == 0 and "nothing to forget" in out
    assert {k: v for k, v in snapshot(photos).items() if not k.startswith(".lookalike/")} == before
    code, out = invoke("dedup", photos, "--not-duplicates", one, photos / "missing.png")
    assert code == 1 and "missing.png: no such file" in out and len(out.strip().splitlines()) == 1
