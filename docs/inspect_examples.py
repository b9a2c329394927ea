"""Draws docs/inspect-cifar-train.png: a random sample of each kind ``lookalike inspect`` found in CIFAR-10's
training split (from its ``--json`` rows), a row per kind, copies beside the file they copy — the picture
the README shows and that was checked by eye.

    lookalike inspect ../shared/datasets/cifar10/train --json cifar-inspect.json
    python docs/inspect_examples.py cifar-inspect.json docs/inspect-cifar-train.png
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIDE = 64
PER_KIND = 8


def main(rows_file: str, out: str) -> None:
    data = json.loads(Path(rows_file).read_text())
    rng = random.Random(0)
    by_kind: dict[str, list[dict]] = {}
    for row in data["findings"]:
        by_kind.setdefault(row["kind"], []).append(row)
    kinds = [k for k, n in data["counts"].items() if n]
    width = 150 + PER_KIND * (2 * SIDE + 12)
    sheet = Image.new("RGB", (width, len(kinds) * (SIDE + 10) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    for r, kind in enumerate(kinds):
        y = 10 + r * (SIDE + 10)
        rows = by_kind[kind]
        draw.text((8, y + SIDE // 2 - 6), f"{kind} ({data['counts'][kind]:,})", fill="black")
        for c, row in enumerate(rng.sample(rows, min(PER_KIND, len(rows)))):
            x = 150 + c * (2 * SIDE + 12)
            other = (
                row.get("other") if row["kind"] != "outlier" else None
            )  # (an outlier's nearest: not drawn)
            for k, path in enumerate(p for p in (row["path"], other) if p):
                with Image.open(path) as img:
                    sheet.paste(
                        img.convert("RGB").resize((SIDE, SIDE), Image.Resampling.NEAREST), (x + k * SIDE, y)
                    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"drew {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
