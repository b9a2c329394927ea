"""Pictures and folders for the near-duplicate tests: patterns, variants, snapshots of a tree."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = ("copy", "jpeg", "resize", "flip", "crop")


def pattern(seed: int, size: tuple[int, int] = (96, 96)) -> Image.Image:
    """A smooth random colour picture (a 6×6 grid blown up): distinct seeds give unrelated pictures."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(cells).resize(size, Image.Resampling.BICUBIC)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: relative path → (sha256, mtime in ns)."""
    return {
        p.relative_to(folder).as_posix(): (sha(p), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


Box = tuple[int, int, int, int]


def slight_crop(width: int, height: int) -> Box:
    """30×31 of 32×32 at an offset (90.8% of the area), scaled to other sizes."""
    return 1, 0, 1 + round(width * 30 / 32), round(height * 31 / 32)


def make_variant(src: Path, kind: str, dst: Path, crop: Callable[[int, int], Box] = slight_crop) -> None:
    """Write the ``kind`` variant of ``src`` (one of KINDS) to ``dst``: the same bytes, JPEG at quality 50,
    half the size, mirrored, or the box ``crop(width, height)`` of it. (benchmarks/dedup.py plants its
    variants with it too, with random crops.)"""
    with Image.open(src) as opened:
        img = opened.convert("RGB")
    if kind == "copy":
        shutil.copyfile(src, dst)
    elif kind == "jpeg":
        img.save(dst, quality=50)
    elif kind == "resize":
        img.resize((img.width // 2, img.height // 2), Image.Resampling.BICUBIC).save(dst)
    elif kind == "flip":
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dst)
    else:
        img.crop(crop(img.width, img.height)).save(dst)


def duplicates_tree(root: Path) -> Path:
    """photos/ with three groups across sub-folders; two duplicates are both called dup.png."""
    photos = root / "photos"
    for sub in ("x", "y"):
        (photos / sub).mkdir(parents=True)
    pattern(30, (128, 128)).save(photos / "x" / "one.png")
    pattern(30, (64, 64)).save(photos / "x" / "dup.png")
    pattern(31, (128, 128)).save(photos / "y" / "two.png")
    pattern(31, (64, 64)).save(photos / "y" / "dup.png")
    pattern(32, (128, 128)).save(photos / "three.png")
    pattern(32).save(photos / "three small.png")  # a space in the name
    pattern(33).save(photos / "alone.png")
    return photos
