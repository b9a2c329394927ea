"""The folders the README's `lookalike dedup` examples run on, drawn by the test generators (no downloads).

``copies/`` — two receipts of one shop whose totals differ in one digit, two charts of one style, two chat
screenshots whose clocks differ in one digit, two photos (scikit-image's, when installed), and the copies
people make of one of
each: a JPEG at quality 30, a scan (a small turn, blur, noise), a quarter turn, a letterbox, a crop keeping
77% of the area, a brightened copy, a mirror image, a half turn.

``train/`` and ``test/`` — for ``--against``: ``test/`` holds a 25% copy of a ``train/`` chart, a turned
scan of a ``train/`` receipt, and a chat screenshot that is in neither.

Usage::

    python docs/dedup_examples.py /tmp/dedup-demo
    lookalike dedup /tmp/dedup-demo/copies
    lookalike dedup /tmp/dedup-demo/test --against /tmp/dedup-demo/train
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import drawn_charts  # noqa: E402
import drawn_chats  # noqa: E402
import drawn_documents  # noqa: E402
import drawn_photos  # noqa: E402
import planted_edits  # noqa: E402

#: The originals' files are older than their copies (the keeper rule's last tie-break is capture time).
ORIGINAL_TIME = 1_600_000_000


def _save(img: object, path: Path) -> Path:
    img.save(path)  # type: ignore[attr-defined]
    os.utime(path, (ORIGINAL_TIME, ORIGINAL_TIME))
    return path


def _copy(name: str, edit: str, img: object, folder: Path, rng: random.Random) -> Path:
    copy, fmt, options = planted_edits.apply(edit, img, rng)  # type: ignore[arg-type]
    return planted_edits.save(copy, folder / f"{name}-{edit}", fmt, options)


def build(out: Path) -> None:
    rng = random.Random(0)
    receipts = drawn_documents.documents(random.Random(0), per_family=2)[:2]  # one shop, one digit apart
    charts = drawn_charts.charts(random.Random(1), per_family=2)[:2]
    # one app: a conversation, another, the first with one digit of the clock changed
    chats = drawn_chats.chats(random.Random(2), per_family=4)[:3]
    photos = drawn_photos.photos(random.Random(3), names=("chelsea", "coffee"))[:2]

    copies = out / "copies"
    copies.mkdir(parents=True, exist_ok=True)
    plan = [
        ("receipt", receipts, ("jpeg30", "scan", "rot90", "letterbox")),
        ("chart", charts, ("crop75", "mirror")),
        ("chat", [chats[0], chats[2]], ("bright",)),
        ("photo", photos, ("rot180", "small")),
    ]
    for name, family, edits in plan:
        for i, (_, img, _) in enumerate(family):
            _save(img, copies / f"{name}-{'ab'[i]}.png")
        for edit in edits:
            _copy(f"{name}-a", edit, family[0][1], copies, rng)

    train, test = out / "train", out / "test"
    train.mkdir(exist_ok=True)
    test.mkdir(exist_ok=True)
    _save(receipts[0][1], train / "receipt.png")
    _save(charts[0][1], train / "chart.png")
    _save(chats[0][1], train / "chat.png")
    _copy("chart", "small", charts[0][1], test, rng)
    scan = _copy("receipt", "scan", receipts[0][1], test, rng)
    from PIL import Image

    with Image.open(scan) as opened:
        opened.transpose(Image.Transpose.ROTATE_270).save(test / "receipt-scan-turned.jpg", quality=90)
    scan.unlink()
    _save(chats[1][1], test / "another-chat.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="the folder to make copies/, train/ and test/ in")
    build(ap.parse_args().out)


if __name__ == "__main__":
    main()
