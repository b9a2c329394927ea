"""``outlier``: an image far from everything else in feature space, or, in a labelled folder, far from its
own class — and that no other finding explains (a dark, light, blurred, near-blank, odd-sized or odd-shaped
picture, whose features are off for that reason, or a copy, mislabelled or not, is reported as that).

* **Folder test** — the distance of an image is one minus the mean cosine similarity of its ``k`` nearest
  other images (FAISS, exact; copies of it — cosine ≥ 0.995 — left out, so that two copies of an odd
  picture do not hide each other); an outlier lies past the folder's median by more than
  :data:`SPREADS` robust standard deviations (median absolute deviation × 1.4826) and by at least
  :data:`MIN_GAP`.
* **Class test** — in each class of at least :data:`MIN_CLASS` images, the distance of an image to the
  class's mean direction; an outlier lies past the class's median by more than :data:`CLASS_SPREADS`
  robust standard deviations (a text page filed under "bird" is far from the birds) *and* nearer the mean
  direction of another such class than its own. A class is seldom one cluster: a car seen from behind
  among cars seen from the side lies far from the class's mean, yet nearer it than any other class's, and
  is no outlier (measured on the planted folder of ``benchmarks/inspect_planted.py``, three seeds: every
  plain photo past the class line was nearest its own class, every planted page, chart and noise image
  nearest another).

The evidence says which test it failed, its distance and the line, and the nearest image with its label.
A third test, on the pictures' own statistics rather than features, is
:func:`lookalike.inspection.stats.stat_outliers`.
How well this works depends on the features: a model trained on the folder's own kind of pictures maps
everything into its classes (see benchmarks/RESULTS.md, "Inspect").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.inspection.findings import Finding

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["outlier_findings"]

K = 10
SPREADS = 6.0
CLASS_SPREADS = 8.0
MIN_GAP = 0.08
MIN_CLASS = 8
COPY_COSINE = 0.995


def _robust_line(values: npt.NDArray[np.float32], spreads: float, gap: float) -> float:
    import numpy as np

    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    return median + max(spreads * spread, gap)


def _knn(unit: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Each row's distance to its ``k`` nearest other rows (copies left out), and its nearest row."""
    import faiss
    import numpy as np

    n = len(unit)
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    sims, nn = index.search(unit, min(n, k + 5))
    dist = np.zeros(n, np.float32)
    nearest = np.full(n, -1, np.int64)
    for i in range(n):
        keep = (nn[i] != i) & (nn[i] >= 0) & (sims[i] < COPY_COSINE)
        s, j = sims[i][keep][:k], nn[i][keep][:k]
        if len(s):
            dist[i], nearest[i] = 1.0 - float(s.mean()), int(j[0])
    return dist, nearest


def outlier_findings(
    paths: Sequence[Path],
    vectors: npt.ArrayLike,
    labels: Sequence[str | None] | None = None,
    explained: Collection[Path] = (),
) -> list[Finding]:
    """The outliers among ``paths`` (one feature vector each, in order), leaving out those in
    ``explained``; ``labels`` (one per path) adds the class test."""
    import numpy as np

    feats = np.asarray(vectors, dtype=np.float32)
    n = len(paths)
    if n < K + 2:
        return []
    unit = np.ascontiguousarray(feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12))
    dist, nearest = _knn(unit, K)
    line = _robust_line(dist, SPREADS, MIN_GAP)
    found: dict[int, Finding] = {}

    def add(i: int, d: float, line: float, test: str, nearest_class: str | None = None) -> None:
        j = int(nearest[i])
        evidence = {"distance": round(d, 4), "threshold": round(line, 4), "test": test}
        if nearest_class is not None:
            evidence["nearest_class"] = nearest_class
        if labels is not None:
            evidence["label"] = labels[i]
            evidence["nearest_label"] = labels[j] if j >= 0 else None
        score = round(min(1.0, 0.5 + (d - line) / max(line, 1e-6) / 2), 4)
        found[i] = Finding(paths[i], "outlier", score, evidence, paths[j] if j >= 0 else None)

    for far in np.flatnonzero(dist > line).tolist():
        add(int(far), float(dist[far]), line, "far from every image")
    if labels is not None:
        by_label: dict[str, list[int]] = {}
        for row, lab in enumerate(labels):
            if lab is not None:
                by_label.setdefault(lab, []).append(row)
        classes = [(lab, np.asarray(m)) for lab, m in sorted(by_label.items()) if len(m) >= MIN_CLASS]
        centres = np.stack([unit[idx].mean(axis=0) for _, idx in classes]) if classes else unit[:0]
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        for c, (lab, idx) in enumerate(classes):
            d_all = 1.0 - unit[idx] @ centres.T  # each member's distance to every class's mean direction
            d_class = d_all[:, c].astype(np.float32)
            class_line = _robust_line(d_class, CLASS_SPREADS, MIN_GAP)
            for f in np.flatnonzero(d_class > class_line).tolist():
                member = int(idx[f])
                other = int(np.argmin(d_all[f]))
                if member not in found and other != c:
                    add(member, float(d_class[f]), class_line, f"far from its class {lab}", classes[other][0])
    skip = set(explained)
    out = [f for f in found.values() if f.path not in skip]
    return sorted(out, key=lambda f: -f.score)
