"""Pictures and the copies people make of them, for the keeper tests (tests/dedup/test_keeper.py,
tests/dedup/test_quality.py): a photo, a page, a chart, and brightened, scanned, framed copies."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

import hard_negatives as hn
from lookalike.dedup.keeper import KeeperFacts, parse_keep, rank
from lookalike.dedup.quality import read_quality

SMALL_PAGE = hn.PageLayout((620, 877), "DejaVuSerif.ttf", 14, 60, 40, 22)
OLD, NEW = 1_500_000_000.0, 1_700_000_000.0  # file times: originals are usually older than their copies


def photo() -> Image.Image:
    data = pytest.importorskip("skimage.data")
    return Image.fromarray(data.astronaut())


def page() -> Image.Image:
    drawn: Image.Image = hn.page(SMALL_PAGE, random.Random(3))
    return drawn


def chart() -> Image.Image:
    """A few flat bars and labels: PNG stores it in far fewer bytes than even a quality-30 JPEG."""
    img = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(img)
    for i, v in enumerate((120, 200, 90, 240, 160)):
        draw.rectangle((40 + i * 70, 270 - v, 90 + i * 70, 270), fill=(40, 90, 200))
        draw.text((50 + i * 70, 276), f"q{i + 1}", fill="black")
    draw.line((30, 270, 380, 270), fill="black", width=2)
    return img


def brighter(img: Image.Image, factor: float = 1.12) -> Image.Image:
    a = np.asarray(img, dtype=np.float32) * factor
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def scanned(img: Image.Image) -> Image.Image:
    """Printed and scanned: turned 0.6°, blurred, a little noise (saved by the caller)."""
    turned = img.rotate(0.6, Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    a = np.asarray(turned.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float64)
    noisy = a + np.random.default_rng(0).normal(0.0, 3.0, a.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def framed(img: Image.Image, side: float) -> tuple[Image.Image, float]:
    """``img`` with a black border ``side`` of its width and height wide all round, and its content share."""
    bw, bh = round(img.width * side), round(img.height * side)
    out = Image.new("RGB", (img.width + 2 * bw, img.height + 2 * bh))
    out.paste(img, (bw, bh))
    return out, img.width * img.height / (out.width * out.height)


def drawn_smaller(img: Image.Image, scale: float) -> tuple[Image.Image, float]:
    """``img`` drawn at ``scale`` of each side into a white frame of its own size, and its content share."""
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    out = Image.new("RGB", img.size, "white")
    out.paste(small, ((img.width - small.width) // 2, (img.height - small.height) // 2))
    return out, small.width * small.height / (img.width * img.height)


def save(img: Image.Image, path: Path, mtime: float = NEW, **kw: Any) -> Path:
    img.save(path, **kw)
    os.utime(path, (mtime, mtime))
    return path


def facts(path: Path, content: float = 1.0) -> KeeperFacts:
    with Image.open(path) as img:
        width, height = img.size
    st = path.stat()
    return KeeperFacts(path, width, height, st.st_size, st.st_mtime, content, read_quality(path))


def keeper(*members: KeeperFacts, policy: str = "quality") -> Path:
    return members[rank(members, parse_keep(policy))[0]].path
