"""A labelled image folder with planted problems of every kind ``lookalike inspect`` reports, and the truth.

``train/CLASS/`` and ``test/CLASS/`` hold real CIFAR-10 images (from ``../shared``) enlarged to sizes
between 96 and 224 px (a photo folder of mixed sizes, not only 32 px). Then ``per_kind`` files of each kind
are planted, each made from an image of the folder (or drawn, for outliers):

* ``exact_duplicates`` — a byte copy beside its original; ``near_duplicates`` — a JPEG-40 re-encode at 80%
  size beside it; ``leak`` — a copy of a training image in ``test/`` (JPEG 60); ``label_conflict`` — a copy
  of a training image under another class of ``train/``;
* ``outlier`` — a page of text, a bar chart, or colour noise, filed under a class;
* ``blurry`` (Gaussian blur of 2.5% of the side), ``dark`` (brightness × 0.12), ``light`` (washed out to
  0.82–1), ``low_information`` (one flat colour with faint noise), ``grayscale``, ``odd_size`` (1,600 px or
  24 px), ``odd_aspect_ratio`` (a 4:1 strip) — each replacing an image of the folder.

Every file grey to the last level is ``grayscale`` too (CIFAR-10 has grey photos, and a planted file made
from one stays grey), except a washed-out one (``light`` says it); a darkened one is if its photo was.

:func:`plant` returns ``{path: kinds}`` for the planted files; every other file should have no finding.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from lookalike.inspection.findings import KINDS
from lookalike.inspection.stats import STAT_KINDS
from shared_data import CIFAR

__all__ = ["CLASSES", "KINDS", "pairs_of", "plant"]

CLASSES = ("airplane", "automobile", "bird", "cat", "ship", "truck")


def _enlarged(src: Path, rng: random.Random) -> Image.Image:
    side = rng.choice((96, 128, 160, 192, 224))
    with Image.open(src) as img:
        return img.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)


def _text_page(rng: random.Random, size: int = 200) -> Image.Image:
    img = Image.new("RGB", (size, size), (250, 250, 250))
    d = ImageDraw.Draw(img)
    for y in range(12, size - 12, 11):
        x = 10
        while x < size - 20:
            w = rng.randint(8, 30)
            d.rectangle((x, y, min(size - 10, x + w), y + 5), fill=(30, 30, 30))
            x += w + 6
    return img


def _chart(rng: random.Random, size: int = 200) -> Image.Image:
    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.line((20, size - 20, size - 10, size - 20), fill=(0, 0, 0), width=2)
    d.line((20, 10, 20, size - 20), fill=(0, 0, 0), width=2)
    for i in range(6):
        h = rng.randint(20, size - 40)
        d.rectangle((30 + i * 26, size - 20 - h, 48 + i * 26, size - 21), fill=(40, 90, 200))
    return img


def _noise(rng: random.Random, size: int = 200) -> Image.Image:
    a = np.random.default_rng(rng.randint(0, 10**6)).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(a)


def plant(root: Path, *, seed: int = 0, per_class: int = 30, per_kind: int = 4) -> dict[Path, set[str]]:
    """Build the folder under ``root`` and return the planted files with their kinds."""
    rng = random.Random(seed)
    files: dict[str, list[Path]] = {}
    for split, n in (("train", per_class), ("test", per_class // 3)):
        for cls in CLASSES:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            sources = sorted((CIFAR / cls).iterdir())
            offset = 0 if split == "train" else 500
            for src in sources[offset : offset + n]:
                target = folder / (src.stem + ".png")
                _enlarged(src, rng).save(target)
                files.setdefault(f"{split}/{cls}", []).append(target)
    truth: dict[Path, set[str]] = {}
    train = [p for k, v in sorted(files.items()) if k.startswith("train/") for p in v]
    used: set[Path] = set()

    def pick() -> Path:
        while True:
            p = rng.choice(train)
            if p not in used:
                used.add(p)
                return p

    for i in range(per_kind):
        src = pick()
        shutil.copyfile(src, src.with_name(f"{src.stem}-copy.png"))
        truth[src.with_name(f"{src.stem}-copy.png")] = {"exact_duplicates"}
        src = pick()
        with Image.open(src) as img:
            small = img.resize((round(img.width * 0.8), round(img.height * 0.8)), Image.Resampling.LANCZOS)
            small.save(src.with_name(f"{src.stem}-q40.jpg"), quality=40)
        truth[src.with_name(f"{src.stem}-q40.jpg")] = {"near_duplicates"}
        src = pick()
        cls = src.parent.name
        with Image.open(src) as img:
            img.save(root / "test" / cls / f"leaked-{i}.jpg", quality=60)
        truth[root / "test" / cls / f"leaked-{i}.jpg"] = {"leak"}
        src = pick()
        other = rng.choice([c for c in CLASSES if c != src.parent.name])
        conflict = root / "train" / other / f"conflict-{i}-{src.parent.name}-{src.stem}.png"
        shutil.copyfile(src, conflict)
        truth[conflict] = {"label_conflict"}
        maker = (_text_page, _chart, _noise)[i % 3]
        path = root / "train" / rng.choice(CLASSES) / f"outlier-{i}.png"
        maker(rng).save(path)
        truth[path] = {"outlier"}
        for kind in STAT_KINDS:
            src = pick()
            with Image.open(src) as opened:
                img = opened.convert("RGB")
            dark_from_grey = kind == "dark" and _grey(img)
            if kind == "blurry":
                img = img.filter(ImageFilter.GaussianBlur(img.width * 0.025))
            elif kind == "dark":
                img = ImageEnhance.Brightness(img).enhance(0.12)
            elif kind == "light":
                a = np.asarray(img, np.float32) / 255
                img = Image.fromarray((255 * (0.82 + 0.18 * a)).astype(np.uint8))
            elif kind == "low_information":
                colour = np.asarray(img, np.float32).mean(axis=(0, 1))
                a = colour + np.random.default_rng(i).normal(0, 1.5, (img.height, img.width, 3))
                img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
            elif kind == "grayscale":
                img = img.convert("L").convert("RGB")
            elif kind == "odd_size":
                side = 1600 if i % 2 == 0 else 24
                img = img.resize((side, side), Image.Resampling.BICUBIC)
            else:
                img = img.resize((img.width * 2, img.height // 2), Image.Resampling.BICUBIC)
            target = src.with_name(f"{src.stem}-{kind}.png")
            img.save(target)
            src.unlink()
            truth[target] = {kind} | ({"grayscale"} if dark_from_grey else set())
    # CIFAR-10 has a few photos in grey, and a text page is grey: grayscale, and so is whatever was made
    # from a grey photo (blurred, resized, copied; darkened: judged above, on the photo it was made from,
    # as brightness × 0.12 leaves a pale colour photo's channels within 2 levels), except a washed-out one
    # (said as light)
    for split in ("train", "test"):
        for path in sorted(p for p in (root / split).rglob("*") if p.suffix in (".png", ".jpg")):
            if not truth.get(path, set()) & {"light", "dark"}:
                with Image.open(path) as img:
                    if _grey(img):
                        truth[path] = truth.get(path, set()) | {"grayscale"}
    return truth


def _grey(img: Image.Image) -> bool:
    """Grey to the last level: no two channels of a pixel more than 2 levels apart."""
    a = np.asarray(img.convert("RGB"), np.int16)
    return int(np.abs(a - a[..., :1]).max()) <= 2


def pairs_of(truth: dict[Path, set[str]]) -> dict[Path, Path]:
    """For each planted duplicate or label conflict, the file it was made from: a finding on either
    file of the pair counts (which of two files of the same bytes is the copy is a matter of naming)."""
    out = {}
    for path, kinds in truth.items():
        if kinds & {"exact_duplicates", "near_duplicates"}:
            stem = path.stem.rsplit("-", 1)[0]
            out[path] = path.with_name(stem + ".png")
        elif "label_conflict" in kinds:  # conflict-I-CLASS-STEM.png, a copy of train/CLASS/STEM.png
            _, _, cls, stem = path.stem.split("-", 3)
            out[path] = path.parents[1] / cls / f"{stem}.png"
    return out
