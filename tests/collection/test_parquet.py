"""Parquet export and import (lookalike.collection.parquet): the columns and metadata a reader sees, a
round trip that equals its source, incremental and crash-safe imports, refusals and bad files in one line,
and the two commands (lookalike.cli.transfer) on a throwaway app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from collection.index_support import ROOT, assert_consistent, picture, rows, vectors, write_images  # noqa: E402
from lookalike.collection import Index, export_parquet, import_parquet, index_folder  # noqa: E402
from lookalike.collection import parquet as parquet_module  # noqa: E402
from lookalike.collection import writer as writer_module  # noqa: E402
from lookalike.collection.store import write_lock  # noqa: E402
from lookalike.errors import LookalikeError, StoreError  # noqa: E402
from pixel_embedder import PixelEmbedder  # noqa: E402

COUNT = 18


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An index of 18 pictures in two folders and one file that is not an image (a failed row)."""
    folder = tmp_path / "photos"
    write_images(folder, [f"{i:02d}.png" for i in range(COUNT - 3)] + [f"sub/ü {i}.png" for i in range(3)])
    (folder / "broken.png").write_bytes(b"not a picture")
    report = index_folder(folder, PixelEmbedder())
    assert report.images == COUNT and len(report.failed) == 1
    return folder / ".lookalike"


def ok_rows(location: Path) -> dict[str, tuple[Any, ...]]:
    return {path: row for path, row in rows(location).items() if row[5] == "ok"}


def one_line(exc: pytest.ExceptionInfo[LookalikeError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 400, text
    return text


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


# ----------------------------------------------------------------------------------------------------------
# Export


def test_export_columns_types_values_and_metadata(source: Path, tmp_path: Path) -> None:
    report = export_parquet(source, tmp_path / "emb", rows_per_file=5)
    assert [f.name for f in report.files] == [f"part-0000{i}.parquet" for i in range(4)]
    assert (report.rows, report.dim) == (COUNT, PixelEmbedder.dim)
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == [f.name for f in report.files]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    table = pq.read_table(tmp_path / "emb")
    dim = PixelEmbedder.dim
    want = {
        "path": pa.string(),
        "size": pa.int64(),
        "mtime_ns": pa.int64(),
        "sha256": pa.string(),
        "width": pa.int32(),
        "height": pa.int32(),
        "vector": pa.list_(pa.float32(), dim),
    }
    assert {f.name: f.type for f in table.schema} == want
    data = table.to_pydict()
    stored = ok_rows(source)
    assert data["path"] == sorted(stored)  # path order; the failed file is not exported
    for i, path in enumerate(data["path"]):
        size, mtime, sha, width, height, *_ = stored[path]
        got = (data["size"][i], data["mtime_ns"][i], data["sha256"][i], data["width"][i], data["height"][i])
        assert got == (size, mtime, sha, width, height)
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    exported = flat.reshape(-1, dim)
    original = vectors(source)
    assert same_bits(exported, np.stack([original[p] for p in data["path"]]))
    with Index.open(source) as idx:
        made_by, root = idx.made_by, str(idx.root.absolute())
    for f in report.files:
        meta = {k.decode(): v.decode() for k, v in pq.read_metadata(f).metadata.items()}
        assert meta["lookalike.format"] == "lookalike-embeddings"
        assert meta["lookalike.version"] == "1"
        assert json.loads(meta["lookalike.embedder"]) == made_by
        assert (meta["lookalike.dim"], meta["lookalike.root"]) == (str(dim), root)


def test_export_to_one_file_replaces_a_previous_export(source: Path, tmp_path: Path) -> None:
    one = export_parquet(source, tmp_path / "all.parquet")
    assert one.files == [tmp_path / "all.parquet"] and pq.read_table(one.files[0]).num_rows == COUNT
    export_parquet(source, tmp_path / "emb", rows_per_file=2)
    again = export_parquet(source, tmp_path / "emb", rows_per_file=10)  # fewer parts: none left over
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert pq.read_table(tmp_path / "emb").num_rows == again.rows == COUNT
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(StoreError) as exc:
        export_parquet(source, tmp_path / "mine")
    assert "not an export" in one_line(exc)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_export_of_an_empty_index_is_one_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    index_folder(tmp_path / "empty", PixelEmbedder())
    report = export_parquet(tmp_path / "empty" / ".lookalike", tmp_path / "emb")
    assert report.rows == 0 and len(report.files) == 1
    table = pq.read_table(report.files[0])
    assert table.num_rows == 0 and table.schema.field("vector").type.list_size == PixelEmbedder.dim


# ----------------------------------------------------------------------------------------------------------
# Import


def search_all(location: Path) -> list[list[tuple[str, float]]]:
    with Index.open(location) as idx:
        paths = [e.path for e in idx.entries()]
        return [[(h.relpath, h.score) for h in idx.search(p, k=5).hits] for p in paths]


def files_of(location: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in location.iterdir() if p.name.startswith(("vectors-", "search-"))}


def test_round_trip_equals_the_source_and_reimport_writes_nothing(source: Path, tmp_path: Path) -> None:
    export_parquet(source, tmp_path / "emb", rows_per_file=4)
    copy = tmp_path / "copy"
    report = import_parquet(tmp_path / "emb", copy, root=source.parent)
    assert (report.created, report.new, report.changed, report.unchanged) == (True, COUNT, 0, 0)
    assert report.images == COUNT and report.files == 5
    assert ok_rows(copy) == ok_rows(source)
    va, vb = vectors(source), vectors(copy)
    assert va.keys() == vb.keys() and all(same_bits(va[p], vb[p]) for p in va)
    assert search_all(copy) == search_all(source)
    with Index.open(source) as a, Index.open(copy) as b:
        assert a.made_by == b.made_by and b.root == source.parent
    assert_consistent(copy)
    before = files_of(copy)
    with Index.open(copy) as idx:
        count = idx.meta()["vectors_count"]
    again = import_parquet(tmp_path / "emb", copy)
    assert (again.created, again.new, again.changed, again.unchanged) == (False, 0, 0, COUNT)
    with Index.open(copy) as idx:
        assert idx.meta()["vectors_count"] == count
    assert files_of(copy) == before  # the same vectors and search files, not written again


def test_changed_files_are_replaced(source: Path, tmp_path: Path) -> None:
    export_parquet(source, tmp_path / "emb")
    copy = tmp_path / "copy"
    import_parquet(tmp_path / "emb", copy, root=source.parent)
    picture(999).save(source.parent / "03.png")
    index_folder(source.parent, PixelEmbedder())
    export_parquet(source, tmp_path / "emb")
    report = import_parquet(tmp_path / "emb", copy)
    assert (report.new, report.changed, report.unchanged) == (0, 1, COUNT - 1)
    assert ok_rows(copy) == ok_rows(source)
    assert same_bits(vectors(copy)["03.png"], vectors(source)["03.png"])
    assert_consistent(copy)


def other_index(tmp_path: Path, **change: Any) -> Path:
    """An empty index whose vectors were made by the pixel embedder with ``change``."""
    location = tmp_path / "other"
    made_by = {**PixelEmbedder().describe(), **change}
    with write_lock(location):
        Index.create(location, root=tmp_path, embedder=made_by).close()
    return location


@pytest.mark.parametrize(
    ("change", "differ"),
    [
        ({"model": "resnet18"}, "model differ"),
        ({"fingerprint": "sha256:0123"}, "fingerprint differ"),
        ({"dim": 512}, "dim differ"),
        ({"mean": [0.5, 0.5, 0.5]}, "mean differ"),
    ],
)
def test_import_refuses_vectors_of_another_model(
    source: Path, tmp_path: Path, change: dict[str, Any], differ: str
) -> None:
    export_parquet(source, tmp_path / "emb")
    location = other_index(tmp_path, **change)
    with pytest.raises(StoreError) as exc:
        import_parquet(tmp_path / "emb", location)
    text = one_line(exc)
    assert differ in text and "holds vectors made by" in text and "`location`" in text
    with Index.open(location) as idx:
        assert idx.count == 0


def test_vectors_made_elsewhere(source: Path, tmp_path: Path) -> None:
    """A Spark-like file: vectors as list<double>, no metadata, no width or height; `made_by` says what
    made them."""
    table = pq.read_table(export_parquet(source, tmp_path / "emb.parquet").files[0])
    doubles = table.column("vector").cast(pa.list_(pa.float64()))
    plain = pa.table({"path": table["path"], "size": table["size"], "mtime_ns": table["mtime_ns"],
                      "sha256": table["sha256"], "vector": doubles})  # fmt: skip
    pq.write_table(plain, tmp_path / "spark.parquet")
    with pytest.raises(StoreError) as exc:
        import_parquet(tmp_path / "spark.parquet", tmp_path / "copy", root=source.parent)
    assert "does not say what made its vectors" in one_line(exc)
    with Index.open(source) as idx:
        made_by = idx.made_by
    report = import_parquet(
        tmp_path / "spark.parquet", tmp_path / "copy", root=source.parent, made_by=made_by
    )
    assert report.new == COUNT
    va, vb = vectors(source), vectors(tmp_path / "copy")
    assert all(same_bits(va[p], vb[p]) for p in va)
    assert {r[3:5] for r in rows(tmp_path / "copy").values()} == {(None, None)}


# ----------------------------------------------------------------------------------------------------------
# Crash safety


def assert_whole_rows(copy: Path, source: Path) -> int:
    """Every row the interrupted import left is whole: its vector and stat equal the source's."""
    va, vb = vectors(source), vectors(copy)
    want = ok_rows(source)
    for path, row in ok_rows(copy).items():
        assert row == want[path]
        assert same_bits(vb[path], va[path])
    return len(vb)


def test_import_stopped_between_batches_is_finished_by_the_next(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_parquet(source, tmp_path / "emb", rows_per_file=7)
    monkeypatch.setattr(writer_module, "_FLUSH_ROWS", 4)
    monkeypatch.setattr(parquet_module, "_IMPORT_BATCH", 3)
    flush, calls = writer_module.Writer.flush, []

    def failing(self: Any) -> None:
        flush(self)
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stopped")

    monkeypatch.setattr(writer_module.Writer, "flush", failing)
    copy = tmp_path / "copy"
    with pytest.raises(RuntimeError, match="stopped"):
        import_parquet(tmp_path / "emb", copy, root=source.parent)
    assert 0 < assert_whole_rows(copy, source) < COUNT
    monkeypatch.setattr(writer_module.Writer, "flush", flush)
    report = import_parquet(tmp_path / "emb", copy)
    assert report.new + report.unchanged == COUNT and report.new > 0
    assert ok_rows(copy) == ok_rows(source) and assert_whole_rows(copy, source) == COUNT
    assert_consistent(copy)


CHILD = r"""
import os, signal, sys
from lookalike.collection import parquet, store, writer

writer._FLUSH_ROWS = 4
parquet._IMPORT_BATCH = 3
nth, calls, fsync = int(sys.argv[3]), [], store.fsync

def patched(fd):  # killed right after the nth fsync of vectors: written, their rows not committed
    fsync(fd)
    calls.append(1)
    if len(calls) == nth:
        os.kill(os.getpid(), signal.SIGKILL)

store.fsync = patched
parquet.import_parquet(sys.argv[1], sys.argv[2], root=sys.argv[4])
sys.exit(3)  # reaching this line means the kill point was never hit
"""


def test_import_killed_mid_way_is_finished_by_the_next(source: Path, tmp_path: Path) -> None:
    export_parquet(source, tmp_path / "emb", rows_per_file=7)
    copy = tmp_path / "copy"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "emb"), str(copy), "4", str(source.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert 0 < assert_whole_rows(copy, source) < COUNT
    report = import_parquet(tmp_path / "emb", copy)
    assert report.new + report.unchanged == COUNT and report.unchanged > 0
    assert ok_rows(copy) == ok_rows(source)
    assert_consistent(copy)


# ----------------------------------------------------------------------------------------------------------
# Bad input: one line each


def written(tmp_path: Path, table: Any, name: str = "bad.parquet") -> Path:
    pq.write_table(table, tmp_path / name)
    return tmp_path / name


def broken(source: Path, tmp_path: Path, how: str) -> Path:
    """The export of ``source`` spoiled in one way."""
    table = pq.read_table(export_parquet(source, tmp_path / "emb.parquet").files[0])
    meta, dim = table.schema.metadata, PixelEmbedder.dim
    vecs = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, dim).copy()
    if how == "text":
        (tmp_path / "bad.parquet").write_text("path,vector\na.png,1 2 3\n")
        return tmp_path / "bad.parquet"
    if how == "missing":
        return written(tmp_path, table.drop_columns(["sha256", "mtime_ns"]))
    if how in ("nan", "infinite"):
        vecs[4, 7] = np.nan if how == "nan" else np.inf
        vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), dim)
    elif how == "ints":
        vector = pa.array([[1, 2]] * len(vecs), pa.list_(pa.int32()))
    elif how == "short":
        vector = pa.array(
            [list(v) if i != 5 else list(v[:-1]) for i, v in enumerate(vecs)], pa.list_(pa.float32())
        )
    elif how == "null":
        vector = pa.array([None if i == 2 else list(v) for i, v in enumerate(vecs)], pa.list_(pa.float32()))
    elif how == "dim":
        vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs[:, :-2].ravel()), dim - 2)
    else:  # "path"
        paths = ["../escape.png" if i == 1 else p for i, p in enumerate(table.column("path").to_pylist())]
        table = table.set_column(0, "path", pa.array(paths))
        return written(tmp_path, table.replace_schema_metadata(meta))
    table = table.set_column(table.schema.get_field_index("vector"), "vector", vector)
    return written(tmp_path, table.replace_schema_metadata(meta))


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("text", "is not a readable Parquet file"),
        ("missing", "lacks the columns mtime_ns, sha256"),
        ("ints", "the column vector is list<element: int32>, not a list of floats"),
        ("short", "row 5 (05.png) has a vector of 431 values, but the index's have 432"),
        ("dim", "row 0 (00.png) has a vector of 430 values"),
        ("null", "row 2 (02.png) has no vector"),
        ("nan", "row 4 (04.png) has a vector holding NaN"),
        ("infinite", "row 4 (04.png) has a vector holding NaN, infinity"),
        ("path", "row 1 (../escape.png) has no path relative to the indexed folder"),
    ],
)
def test_bad_files_are_one_line(source: Path, tmp_path: Path, how: str, says: str) -> None:
    bad = broken(source, tmp_path, how)
    with pytest.raises(StoreError) as exc:
        import_parquet(bad, tmp_path / "copy", root=source.parent)
    assert says in one_line(exc)


def test_missing_sources_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as exc:
        import_parquet(tmp_path / "nowhere", tmp_path / "copy")
    assert "no such file or folder" in one_line(exc)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    with pytest.raises(StoreError) as exc:
        import_parquet(tmp_path / "empty", tmp_path / "copy")
    assert "holds no .parquet files" in one_line(exc)


def test_without_pyarrow_one_line_says_what_to_install(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for call in (lambda: export_parquet(source, tmp_path / "emb"), lambda: import_parquet(tmp_path, source)):
        with pytest.raises(LookalikeError) as exc:
            call()
        assert "pip install 'lookalike[parquet]'" in one_line(exc)


# ----------------------------------------------------------------------------------------------------------
# The commands, on a throwaway app (the lead registers them in lookalike.cli)


def cli(*args: str | Path) -> tuple[int, str, str]:
    import typer
    from typer.testing import CliRunner

    from lookalike.cli.render import Group, flow
    from lookalike.cli.transfer import export_cmd, import_cmd

    app = typer.Typer(cls=Group, pretty_exceptions_enable=False, rich_markup_mode="rich")
    app.command("export", help=flow(export_cmd.__doc__))(export_cmd)
    app.command("import", help=flow(import_cmd.__doc__))(import_cmd)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_commands(source: Path, tmp_path: Path) -> None:
    code, out, _ = cli("export", source.parent, tmp_path / "emb", "--rows-per-file", "10", "--json")
    assert code == 0 and json.loads(out)["rows"] == COUNT and len(json.loads(out)["files"]) == 2
    code, out, _ = cli("export", source, tmp_path / "emb.parquet")
    assert code == 0 and f"{COUNT:,} images" in out and "1 file" in out
    code, out, _ = cli("import", tmp_path / "emb", "--index", tmp_path / "copy", "--root", source.parent)
    assert code == 0 and "created" in out and f"new {COUNT}" in out, out
    code, out, _ = cli("import", tmp_path / "emb.parquet", "--index", tmp_path / "copy", "--json")
    assert code == 0 and json.loads(out)["unchanged"] == COUNT
    code, _, err = cli("import", tmp_path / "emb.parquet")
    assert code == 1 and "pass --index DIR" in err
    code, _, err = cli("import", tmp_path / "emb", "--index", other_index(tmp_path, model="resnet50"))
    assert code == 1 and "model differ" in err and "pass another --index" in " ".join(err.split()), err
    for command in ("export", "import"):
        code, out, _ = cli(command, "--help")
        assert code == 0 and "Example" in out
