"""Embedding fidelity: how far reduced precision and JPEG draft decoding move each image's nearest
neighbours (issue 2, part 6; issue 4, part 3).

Score: every image queries all the others by cosine similarity; a variant's score is the mean fraction of
an image's top-10 neighbours under the reference that the variant also ranks in its top 10.

* ``precision`` — the shared ResNet-18 (../shared/models/resnet18-cifar10.pt) on the first ``--n`` CIFAR-10
  training JPEGs of ../shared (classes interleaved: ``--n 1000`` is 100 per class), against float32:
  bf16 everywhere; bf16 with the last stage (layer4) and pooling in float32 (lookalike's policy); bf16
  with layer3-4 in float32; each on the network as built and with BatchNorm folded into the convolutions;
  float16 where a CUDA device is present. Also the lowest float32-vs-variant cosine, and seconds (on a
  CPU without AMX bf16 is emulated and slow: the times say nothing about AMX machines).
* ``draft`` — ``--photos`` benchmark photos (benchmarks/embed.py) at 1024×768 and 2048×1536, embedded at
  224 by ``Embedder`` (float32) with Pillow's draft mode allowed down to 1× or 2× the resize size, or
  off, against the lecture's loop (full decode, float32); with a seeded random ResNet-18 and with a
  "transplanted" one (trained filters, see :func:`transplanted_resnet18`).

Usage::

    python benchmarks/fidelity.py [--study precision,draft] [--n 1000] [--photos 160] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import CIFAR_DIR, CIFAR_WEIGHTS, cifar_paths, machine, overlap

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")


def forward(net: Any, x: torch.Tensor, dtype: torch.dtype | None, reduced_stages: int) -> torch.Tensor:
    """``net`` on ``x`` with the first ``reduced_stages`` stages under autocast to ``dtype``."""
    device = x.device.type
    for k, stage in enumerate(STAGES):
        reduced = dtype is not None and k < reduced_stages
        with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=reduced):
            if stage == "stem":
                x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
            else:
                x = getattr(net, stage)(x if reduced else x.float())
    return torch.flatten(net.avgpool(x.float()), 1)


def precision_study(
    n: int, batch: int, cifar_dir: Path = CIFAR_DIR, weights: str = str(CIFAR_WEIGHTS)
) -> dict[str, Any]:
    from lookalike.features import Embedder
    from lookalike.features.embedder import _fold_batchnorm

    device = "cuda" if torch.cuda.is_available() else "cpu"
    emb = Embedder(weights, device=device, precision="float32")
    x = torch.stack([emb.preprocess(p) for p in cifar_paths(n, cifar_dir)]).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    nets = {"as built": emb.model, "BN folded": _fold_batchnorm(emb.model)}

    def run(net: Any, dtype: torch.dtype | None, stages: int) -> tuple[torch.Tensor, float]:
        t = time.perf_counter()
        with torch.inference_mode():
            v = torch.cat([forward(net, x[i : i + batch], dtype, stages) for i in range(0, len(x), batch)])
        return v.float().cpu(), time.perf_counter() - t

    reference, ref_s = run(nets["as built"], None, 0)
    results: dict[str, Any] = {"n": n, "float32 s": round(ref_s, 1)}
    print(f"precision, {n} CIFAR-10 images; float32: {ref_s:.1f} s", flush=True)
    variants = [("bf16 everywhere", torch.bfloat16, 5), ("bf16, layer4 + pool float32", torch.bfloat16, 4)]
    variants.append(("bf16, layer3-4 + pool float32", torch.bfloat16, 3))
    if device == "cuda":
        variants.append(("float16 everywhere", torch.float16, 5))
    for net_name, net in nets.items():
        for name, dtype, stages in variants:
            v, seconds = run(net, dtype, stages)
            r = {
                "overlap@10": overlap(reference, v),
                "min_cosine": round(float(torch.nn.functional.cosine_similarity(reference, v).min()), 6),
                "seconds": round(seconds, 1),
            }
            results[f"{name} ({net_name})"] = r
            print(f"  {name + ' (' + net_name + ')':48s} {r}", flush=True)
    return results


def transplanted_resnet18() -> torch.nn.Module:
    """A 224-pixel ResNet-18 with trained filters, offline: the shared CIFAR weights with the 3×3 stem
    kernel placed at the centre of the 7×7 stride-2 one (ImageNet weights cannot be downloaded here).
    Its stem has never seen fine detail, so it reacts to resampling more than an ImageNet network would:
    a pessimistic stand-in."""
    from lookalike.models import create_model, load_weights

    state, _ = load_weights(CIFAR_WEIGHTS)
    assert state is not None
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    stem = torch.zeros(64, 3, 7, 7)
    stem[:, :, 2:5, 2:5] = state["conv1.weight"]
    state["conv1.weight"] = stem
    net = create_model("resnet18", num_classes=0)
    net.load_state_dict(state)
    return net.eval()


def draft_study(n: int) -> dict[str, Any]:
    """Pillow draft mode down to 1× or 2× the resize size, or none, against the lecture's full decode."""
    import copy

    import embed
    from embed import imagenet_resnet18, lecture_loop, make_photos
    from lookalike import features

    results: dict[str, Any] = {}
    work = embed.ROOT / ".data" / "embed-run"
    work.mkdir(parents=True, exist_ok=True)
    saved = features.DRAFT_MARGIN
    nets = {"random": imagenet_resnet18("none"), "transplanted": transplanted_resnet18()}
    for size in ((1024, 768), (2048, 1536)):
        embed.PHOTO_SIZE = size
        folder = "embed-photos" if size == (1024, 768) else f"embed-photos-{size[0]}x{size[1]}"
        photos = make_photos(embed.ROOT / ".data" / folder, n)
        for net_name, net in nets.items():
            reference = lecture_loop(net, photos, work / "fidelity.npy", "cpu")
            for margin in (1, 2, None):
                features.DRAFT_MARGIN = margin or 1_000_000  # a draft that never shrinks: draft off
                emb = features.Embedder("none", model="resnet18", device="cpu", precision="float32")
                emb._model = copy.deepcopy(net)
                name = f"{size[0]}×{size[1]}, {net_name} net, draft {f'{margin}× 256' if margin else 'off'}"
                results[name] = {"overlap@10": overlap(reference, emb.embed(photos))}
                print(f"  {name:48s} {results[name]}", flush=True)
    features.DRAFT_MARGIN = saved
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", default="precision,draft", help="comma-separated: precision, draft")
    p.add_argument("--n", type=int, default=1000, help="CIFAR images for the precision study")
    p.add_argument("--photos", type=int, default=256, help="photos of each size for the draft study")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--cifar-dir", type=Path, default=CIFAR_DIR, help="CIFAR-10 class folders of JPEGs")
    p.add_argument("--weights", default=str(CIFAR_WEIGHTS), help="CIFAR-stem weights for the precision study")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    print(json.dumps(results["machine"]), flush=True)
    if "precision" in args.study:
        results["precision"] = precision_study(args.n, args.batch, args.cifar_dir, args.weights)
    if "draft" in args.study:
        results["draft"] = draft_study(args.photos)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
