"""What in an image folder will hurt a model trained on it: copies across splits (leaks), copies under
another label (conflicts), duplicates, outliers and bad shots — :func:`inspect_folder`.

One pass over the pixels: the files are read once, by :func:`lookalike.dedup.find_duplicates`, which also
measures each picture's statistics as it decodes it (:mod:`.stats`). The copies come from its groups, with
the same verification and the same keeper (:mod:`.copies`); what each file is (split, label) from where it
lies (:mod:`.layout`); outliers from feature vectors (:mod:`.outliers`): an index's stored vectors when the
folder has an up-to-date one, else those of the ``embedder`` given, else none (the report says so).

>>> report = inspect_folder("cifar10/")  # doctest: +SKIP
>>> report.counts()["leak"]  # doctest: +SKIP
172
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.collection.index import Index
from lookalike.collection.location import find_index
from lookalike.dedup import Strictness, find_duplicates, verify_pair
from lookalike.dedup.results import Member
from lookalike.errors import ImageError, LookalikeError
from lookalike.inspection.copies import copy_findings
from lookalike.inspection.findings import KINDS, Finding, InspectReport
from lookalike.inspection.layout import Layout, read_layout
from lookalike.inspection.outliers import outlier_findings
from lookalike.inspection.stats import ImageStats, measure_many, stat_findings, stat_outliers
from lookalike.scanning import Skipped, scan_images

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lookalike.features import Embedder

__all__ = ["KINDS", "Finding", "InspectReport", "Layout", "inspect_folder"]

#: Findings that explain why an image's features are far from the others': it is not also an outlier.
EXPLAINING = ("leak", "label_conflict", "exact_duplicates", "near_duplicates", "blurry", "dark", "light",
              "low_information", "odd_size", "odd_aspect_ratio")  # fmt: skip
#: ``progress(stage, done, total)``: "reading", "verifying", "confirming", "embedding", "outliers".
Progress = Callable[[str, int, int], None]


def _peak_memory() -> int:
    """Peak resident memory of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _index_vectors(
    folder: Path, paths: Sequence[Path]
) -> tuple[list[Path], npt.NDArray[np.float32], Path] | None:
    """The stored vectors of those of ``paths`` that the folder's index holds unchanged (same size and
    time), with their paths and the index's location; ``None`` without an index that can be read."""
    import numpy as np

    try:
        idx = Index.open(find_index(folder))
    except LookalikeError:
        return None
    with idx:
        entries, found = [], []
        for p in paths:
            e = idx.entry(p)
            if e is None or e.status != "ok" or e.vector is None:
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) == (e.size, e.mtime_ns):
                entries.append(e)
                found.append(p)
        if not entries:
            return None
        return found, np.asarray(idx.vectors(entries), np.float32), idx.location


def _strictly_alike(pairs: Sequence[tuple[Path, Member]], progress: Progress | None = None) -> list[bool]:
    """For each ``(keeper, copy)`` pair, whether it passes dedup's strict checks (what a leak or a label
    conflict must pass): at once when the scores dedup recorded for the copy already meet them, else by
    :func:`~lookalike.dedup.verify_pair` (another alignment may)."""
    strict = Strictness.named("strict")
    out = []
    for i, (keeper, copy) in enumerate(pairs):
        try:
            out.append(copy.within(strict) or verify_pair(keeper, copy.path, strictness=strict).duplicate)
        except ImageError:
            out.append(False)
        if progress and (i % 256 == 255 or i == len(pairs) - 1):
            progress("confirming", i + 1, len(pairs))
    return out


def _embed(
    embedder: Embedder, paths: Sequence[Path], progress: Progress | None
) -> tuple[list[Path], npt.NDArray[np.float32]]:
    import numpy as np

    vectors = np.zeros((len(paths), embedder.dim), np.float32)
    ok = np.zeros(len(paths), bool)
    done = 0
    for batch in embedder.iter_files(paths):
        vectors[batch.indices] = np.asarray(batch.vectors, dtype=np.float32)
        ok[batch.indices] = True
        done += len(batch.indices) + len(batch.failures)
        if progress:
            progress("embedding", done, len(paths))
    return [p for p, good in zip(paths, ok, strict=True) if good], vectors[ok]


def inspect_folder(
    folder: str | os.PathLike[str],
    *,
    against: Sequence[str | os.PathLike[str]] = (),
    embedder: Embedder | None = None,
    use_index: bool = True,
    strictness: str = "normal",
    exclude: Sequence[str] = (),
    progress: Progress | None = None,
    paths: Sequence[Path] | None = None,
    vectors: tuple[Sequence[Path], npt.ArrayLike] | None = None,
) -> InspectReport:
    """Inspect the images of ``folder`` (sub-folders included): every finding of :data:`KINDS`.

    ``against`` are reference folders (a training set, say): a copy there makes a ``leak`` of the file here;
    their own files get no findings. A folder laid out as ``train/``, ``val/``, ``test/`` (each with class
    folders) or as class folders is read as such (:mod:`lookalike.inspection.layout`): copies across splits
    are leaks, copies under two labels conflicts. Outliers need feature vectors: the folder's index lends
    them for the files it holds unchanged (``use_index``), else ``embedder`` makes them, else outliers are
    left out and a note says so. ``strictness`` is dedup's (:data:`lookalike.dedup.STRICTNESS`). ``paths``
    inspects those files of ``folder`` instead of listing it, and ``vectors`` (paths and one row each) gives
    the feature vectors (an index's, say) instead of looking for them.
    """
    started = time.perf_counter()
    root = Path(folder)
    if not root.is_dir():
        raise LookalikeError(f"{folder}: no such folder; pass a folder of images")
    skipped = Skipped()
    if paths is None:
        scan = scan_images(root, exclude=exclude)
        skipped.add(scan.skipped)
        files = scan.paths
    else:
        files = list(paths)
    references: list[tuple[Path, list[Path]]] = []
    for ref in against:
        ref_root = Path(ref)
        if not ref_root.is_dir():
            raise LookalikeError(f"--against {ref}: no such folder; pass a folder of reference images")
        ref_scan = scan_images(ref_root, exclude=exclude)
        skipped.add(ref_scan.skipped)
        taken = {p.absolute() for p in files}
        references.append((ref_root, [p for p in ref_scan.paths if p.absolute() not in taken]))
    layout = read_layout(root, files, references)
    everything = files + [p for _, ref_paths in references for p in ref_paths]
    result = find_duplicates(everything, strictness=strictness, measure=measure_many, progress=progress)
    inspected = set(files)
    readable = [p for p in files if p in result.measured]
    notes: list[str] = []
    stats: list[ImageStats] = [result.measured[p] for p in readable]
    findings, kind_notes = stat_findings(readable, stats)
    notes += kind_notes
    blank = {f.path for f in findings if f.kind == "low_information"}
    copies, unconfirmed = copy_findings(
        result, layout, inspected, blank, lambda pairs: _strictly_alike(pairs, progress)
    )
    findings += copies
    if unconfirmed:
        notes.append(
            f"{unconfirmed:,} look-alike pair(s) across splits or labels did not pass the strict check: "
            "not reported as leaks or conflicts"
        )
    explained = {p for f in findings if f.kind in EXPLAINING for p in (f.path, f.other) if p is not None}
    odd = _outliers(root, readable, layout, embedder, use_index, progress, notes, explained, vectors)
    seen = {f.path for f in odd}
    findings += odd + [f for f in stat_outliers(readable, stats, explained) if f.path not in seen]
    rank = {k: i for i, k in enumerate(KINDS)}
    findings.sort(key=lambda f: (rank[f.kind], -f.score, str(f.path)))
    notes += skipped.lines()
    layout_out: dict[str, Any] = layout.to_dict()
    layout_out["against"] = [str(r) for r, _ in references]
    return InspectReport(
        root,
        len(readable),
        findings,
        layout_out,
        notes,
        [(p, r) for p, r in result.failures if p in inspected],
        time.perf_counter() - started,
        _peak_memory(),
    )


def _outliers(
    root: Path,
    paths: list[Path],
    layout: Layout,
    embedder: Embedder | None,
    use_index: bool,
    progress: Progress | None,
    notes: list[str],
    explained: set[Path],
    given: tuple[Sequence[Path], npt.ArrayLike] | None = None,
) -> list[Finding]:
    """The outlier findings, from the vectors given, the index's or the embedder's; a note when there are
    none."""
    import numpy as np

    stored = _index_vectors(root, paths) if use_index and embedder is None and given is None else None
    if given is not None:
        row = {p: i for i, p in enumerate(given[0])}
        readable = set(paths)
        with_vectors = [p for p in given[0] if p in readable]
        vectors = np.asarray(given[1], np.float32)[[row[p] for p in with_vectors]]
    elif stored is not None:
        with_vectors, vectors, location = stored
        if len(with_vectors) < len(paths):
            notes.append(
                f"outlier: {len(paths) - len(with_vectors):,} image(s) not in the index {location} as they "
                "are now were left out; run `lookalike index` to include them"
            )
    elif embedder is not None:
        with_vectors, vectors = _embed(embedder, paths, progress)
    else:
        notes.append(
            "outlier: only the pictures' statistics weighed (no feature vectors): index the folder first "
            "(`lookalike index`), or pass --weights"
        )
        return []
    if progress:
        progress("outliers", 0, len(with_vectors))
    labels = [layout.label.get(p) for p in with_vectors]
    found = outlier_findings(with_vectors, vectors, labels if any(labels) else None, explained)
    if progress:
        progress("outliers", len(with_vectors), len(with_vectors))
    return found
