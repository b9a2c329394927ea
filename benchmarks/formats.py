"""The formats people keep (issue 19): decode time per format on 12-megapixel photos, the feature fidelity of
each lossy format against the lossless original, indexing a folder of HEIC photos against the same photos as
JPEG, and ``dedup``'s recall on planted HEIC, AVIF and JPEG XL re-encodes with the keeper it picks.

The photos are scikit-image's bundled ones (astronaut, chelsea, coffee, rocket, …), cropped to 4:3 and
enlarged to 4032×3024 with a little grain (a phone's 12 megapixels), each saved as:

* PNG (the lossless original), JPEG quality 90;
* HEIC quality 60 with a 320-px thumbnail, as phones store (pillow-heif; x265's ``ultrafast`` preset to
  keep the benchmark short: decoding does not depend on the encoder's preset);
* AVIF quality 60 (Pillow's own plugin), JPEG XL quality 85 (pillow-jxl-plugin);
* DNG: a 12-bit Bayer mosaic with a half-size 8-bit preview (``tests/format_files.py``).

Measured:

1. **Decode** — :func:`lookalike.images.load_image` per file, whole and with ``draft=(512, 512)`` (what
   indexing asks for a 256-px model input): the median over the photos, milliseconds.
2. **Fidelity** — the cosine of each copy's feature vector with the PNG's (the shared ResNet-18 at
   ``--size``): the lowest over the photos; target ≥ 0.99. The DNG is embedded as indexing reads it (its
   preview, large enough) and, apart, read whole (LibRaw's demosaic).
3. **Indexing** — ``index_folder`` on a folder of the HEIC photos and on the same photos as JPEG (each photo
   four times; fresh indexes, the same embedder): the embedding phase's seconds and the ratio, at
   ``--size`` and at the weights' own input (32 px for the shared CIFAR-10 model, where a phone's 320-px
   HEIC thumbnail is large enough); target ≤ 1.3×.
4. **Dedup** — ``--planted`` distinct 1600×1200 crops saved as PNG with a HEIC, an AVIF and a JPEG XL copy
   each: recall per format (the copy grouped with its PNG), the keeper (the PNG kept), distinct pairs grouped.

Usage::

    python benchmarks/formats.py --weights ../shared/models/resnet18-cifar10.pt --out formats.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from format_files import dng
from hardware import cpu_info, print_result
from lookalike.formats import pillow_formats
from lookalike.images import load_image

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "cat")
FORMATS = ("png", "jpg", "heic", "avif", "jxl", "dng")
SIZE_12MP = (4032, 3024)


def _sources() -> list[Image.Image]:
    import skimage.data

    out = []
    for name in PHOTOS:
        a = getattr(skimage.data, name)()
        img = Image.fromarray(a).convert("RGB")
        w, h = img.size
        if w / h > 4 / 3:
            nw = round(h * 4 / 3)
            img = img.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
        else:
            nh = round(w * 3 / 4)
            img = img.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
        out.append(img)
    return out


def _grain(img: Image.Image, seed: int, sigma: float = 2.0) -> Image.Image:
    a = np.asarray(img).astype(np.float32) + np.random.default_rng(seed).normal(
        0, sigma, (img.height, img.width, 3)
    )
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def save_all(img: Image.Image, stem: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """``img`` in each format (see the module docstring); returns the paths by format."""
    pillow_formats()
    paths = {}
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "png":
            img.save(path, compress_level=1)
        elif fmt == "jpg":
            img.save(path, quality=90)
        elif fmt == "heic":
            img.save(path, quality=60, thumbnails=[320], enc_params={"preset": "ultrafast"})
        elif fmt == "avif":
            img.save(path, quality=60, speed=8)
        elif fmt == "jxl":
            img.save(path, quality=85, effort=3)
        elif fmt == "dng":
            dng(img, path, preview=img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR))
        paths[fmt] = path
    return paths


def _ms(fn: Any, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def decode(files: list[dict[str, Path]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fmt in FORMATS:
        whole = [_ms(lambda p=f[fmt]: load_image(p)) for f in files]
        draft = [_ms(lambda p=f[fmt]: load_image(p, draft=(512, 512))) for f in files]
        sizes = [f[fmt].stat().st_size for f in files]
        src = load_image(files[0][fmt], draft=(512, 512)).info.get("raw_source")
        out[fmt] = {
            "whole_ms": round(statistics.median(whole), 1),
            "draft_512_ms": round(statistics.median(draft), 1),
            "mean_bytes": round(statistics.mean(sizes)),
            **({"draft_from": src} if src else {}),
        }
        print(f"decode {fmt}: {out[fmt]}", file=sys.stderr)
    return out


def fidelity(files: list[dict[str, Path]], embedder: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ref = np.asarray(embedder.embed([f["png"] for f in files]), dtype=np.float64)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    for fmt in FORMATS[1:]:
        v = np.asarray(embedder.embed([f[fmt] for f in files]), dtype=np.float64)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        cos = (v * ref).sum(axis=1)
        out[fmt] = {"min_cosine": round(float(cos.min()), 5), "mean_cosine": round(float(cos.mean()), 5)}
        print(f"fidelity {fmt}: {out[fmt]}", file=sys.stderr)
    # the DNG read whole is LibRaw's demosaic (its own tone and white balance), not the preview
    v = np.asarray(embedder.embed([load_image(f["dng"]) for f in files]), dtype=np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    cos = (v * ref).sum(axis=1)
    out["dng_demosaic"] = {
        "min_cosine": round(float(cos.min()), 5),
        "mean_cosine": round(float(cos.mean()), 5),
    }
    return out


def indexing(
    files: list[dict[str, Path]], embedders: dict[str, Any], work: Path, copies: int = 4
) -> dict[str, Any]:
    """A folder of the HEIC photos and one of the JPEGs (each photo ``copies`` times, under other names),
    with each embedder: the embedding pass alone (decode + model, the embedder's own workers, after a
    warm-up) and ``index_folder``'s embedding phase (that pass, hashing, storing, and the model's one-off
    ONNX export), in seconds, and their HEIC / JPEG ratios."""
    from lookalike.collection import index_folder

    out: dict[str, Any] = {}
    for label, embedder in embedders.items():
        row: dict[str, Any] = {}
        for fmt in ("jpg", "heic"):
            folder = work / f"index-{label.replace(' ', '')}-{fmt}"
            folder.mkdir()
            for i, f in enumerate(files):
                for c in range(copies):
                    (folder / f"{i}-{c}.{fmt}").symlink_to(f[fmt])
            paths = sorted(folder.iterdir())
            embedder.embed(paths[:2])  # warm-up: workers, kernels
            t = time.perf_counter()
            embedder.embed(paths)
            embed = time.perf_counter() - t
            report = index_folder(folder, embedder)
            row[fmt] = {
                "images": len(paths),
                "embed_seconds": round(embed, 2),
                "images_per_s": round(len(paths) / embed, 2),
                "index_embed_seconds": round(report.embed_seconds, 2),
            }
        row["heic_over_jpeg"] = round(row["heic"]["embed_seconds"] / row["jpg"]["embed_seconds"], 2)
        row["index_heic_over_jpeg"] = round(
            row["heic"]["index_embed_seconds"] / row["jpg"]["index_embed_seconds"], 2
        )
        print(f"index {label}: {row}", file=sys.stderr)
        out[label] = row
    return out


def planted(sources: list[Image.Image], n: int, work: Path, seed: int = 0) -> dict[str, Any]:
    from lookalike.dedup import find_duplicates

    rng = np.random.default_rng(seed)
    folder = work / "planted"
    folder.mkdir()
    for i in range(n):
        src = sources[i % len(sources)]
        big = src.resize((3200, 2400), Image.Resampling.BICUBIC)
        x, y = int(rng.integers(0, 1600)), int(rng.integers(0, 1200))
        crop = _grain(big.crop((x, y, x + 1600, y + 1200)), seed=i)
        save_all(crop, folder / f"{i:03d}", ("png", "heic", "avif", "jxl"))
    t = time.perf_counter()
    result = find_duplicates(folder)
    seconds = time.perf_counter() - t
    group_of = {}
    for g, group in enumerate(result.groups):
        for m in group.paths:
            group_of[m.name] = g
    out: dict[str, Any] = {"pictures": n, "seconds": round(seconds, 1)}
    for fmt in ("heic", "avif", "jxl"):
        found = sum(
            1
            for i in range(n)
            if f"{i:03d}.{fmt}" in group_of and group_of[f"{i:03d}.{fmt}"] == group_of.get(f"{i:03d}.png")
        )
        out[f"recall_{fmt}"] = round(found / n, 3)
    keepers = [Path(g.keeper).name for g in result.groups]
    out["groups"] = len(result.groups)
    out["png_kept"] = sum(k.endswith(".png") for k in keepers)
    out["distinct_pairs_grouped"] = sum(
        1 for g in result.groups for a in g.paths for b in g.paths if a.name < b.name and a.stem != b.stem
    )
    print(f"planted: {out}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--weights", default=str(Path(__file__).parents[2] / "shared/models/resnet18-cifar10.pt")
    )
    parser.add_argument("--size", type=int, default=224, help="model input side for fidelity and indexing")
    parser.add_argument("--photos", type=int, default=len(PHOTOS))
    parser.add_argument("--planted", type=int, default=24)
    parser.add_argument("--parts", default="decode,fidelity,indexing,dedup", help="comma-separated")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from lookalike.features import Embedder

    machine = cpu_info()
    embedder = Embedder(args.weights, size=args.size, device="cpu", precision="float32", num_workers=0)
    native = Embedder(
        args.weights, device="cpu", precision="float32", num_workers=0
    )  # the weights' own input
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = _sources()[: args.photos]
        t = time.perf_counter()
        files = [
            save_all(_grain(s.resize(SIZE_12MP, Image.Resampling.BICUBIC), seed=i), work / f"photo{i}")
            for i, s in enumerate(sources)
        ]
        print(f"wrote {len(files)} photos in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        parts = set(args.parts.split(","))
        result: dict[str, Any] = {
            "machine": machine,
            "photos": len(files),
            "size": list(SIZE_12MP),
            "model_input": args.size,
        }
        if "decode" in parts:
            result["decode"] = decode(files)
        if "fidelity" in parts:
            result["fidelity"] = fidelity(files, embedder)
        if "indexing" in parts:
            models = {f"input {args.size}": embedder, f"input {native.info.crop_size}": native}
            result["indexing"] = indexing(files, models, work)
        if "dedup" in parts:
            result["dedup"] = planted(_sources(), args.planted, work)
    print_result(result, args.out)


if __name__ == "__main__":
    main()
