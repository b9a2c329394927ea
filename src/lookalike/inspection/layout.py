"""What each image of a folder is, from where it lies: its split (``train``, ``val``, ``test``…) and its
label (class), as an ImageFolder says them.

* ``FOLDER/train/cat/1.jpg``, ``FOLDER/test/dog/2.jpg`` — splits, each holding class folders;
* ``FOLDER/cat/1.jpg`` — class folders, no splits (every image one level down, at least two classes);
* anything else — no labels.

Reference folders (``--against``) are splits of their own, named by the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SPLITS", "Layout", "read_layout"]

#: Folder names read as splits (any case).
SPLITS = ("train", "training", "val", "valid", "validation", "dev", "test", "testing", "eval", "holdout")
#: Splits that are trained on: a copy of one of their images elsewhere is that other image's leak.
TRAINING = ("train", "training")


@dataclass(frozen=True)
class Layout:
    """For each path: its split (``None``: the folder has none) and label (``None``: unlabelled)."""

    split: dict[Path, str | None]
    label: dict[Path, str | None]
    kind: str  # "splits", "classes" or "flat"

    def to_dict(self) -> dict[str, object]:
        splits = sorted({s for s in self.split.values() if s is not None})
        labels = sorted({lab for lab in self.label.values() if lab is not None})
        return {"kind": self.kind, "splits": splits, "labels": labels[:100], "label_count": len(labels)}


def _parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        return path.relative_to(root).parts
    except ValueError:
        return path.parts[-2:]


def read_layout(
    root: Path, paths: Sequence[Path], references: Sequence[tuple[Path, Sequence[Path]]] = ()
) -> Layout:
    """The layout of ``paths`` under ``root``, and of each reference folder's paths (a split named after
    the folder, labelled by its own class folders when it has them)."""
    split: dict[Path, str | None] = {}
    label: dict[Path, str | None] = {}
    parts = [_parts(p, root) for p in paths]
    first = {q[0].lower() for q in parts if len(q) > 1}
    has_splits = bool(parts) and bool(first) and first <= set(SPLITS) and all(len(q) >= 2 for q in parts)
    if has_splits:
        kind = "splits"
        for p, q in zip(paths, parts, strict=True):
            split[p] = q[0].lower()
            label[p] = q[1] if len(q) >= 3 else None
    else:
        classes = {q[0] for q in parts if len(q) == 2}
        kind = "classes" if len(classes) >= 2 and all(len(q) == 2 for q in parts) else "flat"
        for p, q in zip(paths, parts, strict=True):
            split[p] = None
            label[p] = q[0] if kind == "classes" else None
    for ref_root, ref_paths in references:
        sub = read_layout(ref_root, ref_paths)
        name = f"against:{ref_root.name}"
        for p in ref_paths:
            split[p] = name
            label[p] = sub.label.get(p)
    return Layout(split, label, kind)
