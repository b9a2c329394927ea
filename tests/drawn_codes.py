"""Codes (issue 18): QR-like codes (25×25 modules, 10 px each, 4-module quiet zone) with random data, and
EAN-13 barcodes of consecutive article numbers (the last digit and the check digit differ); and the check
that no two codes are turned or mirrored copies of each other (:func:`orientation_clashes`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from drawing import Drawn, font

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def qr_modules(rng: random.Random, n: int = 25) -> np.ndarray:
    """An ``n``×``n`` QR-like grid (True = dark): random data around three finder squares, their light
    separators, the timing rows and an alignment square."""
    import numpy as np

    m = np.random.default_rng(rng.getrandbits(64)).random((n, n)) < 0.5
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        m[max(r - 1, 0) : r + 8, max(c - 1, 0) : c + 8] = False  # the finder and its separator
        m[r : r + 7, c : c + 7] = True
        m[r + 1 : r + 6, c + 1 : c + 6] = False
        m[r + 2 : r + 5, c + 2 : c + 5] = True
    m[6, 8 : n - 8] = m[8 : n - 8, 6] = np.arange(8, n - 8) % 2 == 0
    a = n - 7
    m[a - 2 : a + 3, a - 2 : a + 3] = True
    m[a - 1 : a + 2, a - 1 : a + 2] = False
    m[a, a] = m[n - 8, 8] = True
    return m


def qr_image(modules: np.ndarray, px: int = 10, quiet: int = 4) -> Image.Image:
    """The grid drawn black on white, ``px`` pixels a module, inside a ``quiet``-module white margin."""
    import numpy as np
    from PIL import Image

    grid = np.pad(modules, quiet)
    a = np.where(np.kron(grid, np.ones((px, px), bool)), 0, 255).astype(np.uint8)
    return Image.fromarray(a).convert("RGB")


EAN_L = (
    "0001101",
    "0011001",
    "0010011",
    "0111101",
    "0100011",
    "0110001",
    "0101111",
    "0111011",
    "0110111",
    "0001011",
)
EAN_FIRST = (
    "LLLLLL",
    "LLGLGG",
    "LLGGLG",
    "LLGGGL",
    "LGLLGG",
    "LGGLLG",
    "LGGGLL",
    "LGLGLG",
    "LGLGGL",
    "LGGLGL",
)


def ean13(number: str) -> tuple[str, str]:
    """The 13 digits (with the check digit) and the 95 modules of the EAN-13 code of 12-digit ``number``."""
    d = [int(c) for c in number]
    check = (10 - sum(v * (3 if i % 2 else 1) for i, v in enumerate(d)) % 10) % 10
    digits = number + str(check)
    right = ["".join("1" if b == "0" else "0" for b in code) for code in EAN_L]
    left = "".join(
        EAN_L[int(c)] if p == "L" else right[int(c)][::-1]
        for c, p in zip(digits[1:7], EAN_FIRST[int(digits[0])], strict=True)
    )
    return digits, "101" + left + "01010" + "".join(right[int(c)] for c in digits[7:]) + "101"


def ean_image(number: str, module: int = 5) -> Image.Image:
    """An EAN-13 barcode of 12-digit ``number`` as printed on a label: bars, longer guards, the digits."""
    from PIL import Image, ImageDraw

    digits, modules = ean13(number)
    x0, top, height = 11 * module, 24, 230
    img = Image.new("RGB", ((11 + 95 + 7) * module, top + height + 70), "white")
    d = ImageDraw.Draw(img)
    guards = {*range(3), *range(45, 50), *range(92, 95)}
    for i, bit in enumerate(modules):
        if bit == "1":
            h = height + (24 if i in guards else 0)
            d.rectangle((x0 + i * module, top, x0 + (i + 1) * module - 1, top + h), fill="black")
    f = font("DejaVuSansMono.ttf", 36)
    y = top + height + 4
    d.text((x0 - 4 * module, y), digits[0], fill="black", font=f, anchor="ra")
    d.text((x0 + 24 * module, y), digits[1:7], fill="black", font=f, anchor="ma")
    d.text((x0 + 71 * module, y), digits[7:], fill="black", font=f, anchor="ma")
    return img


def orientations(a: np.ndarray) -> list[np.ndarray]:
    """The eight orientations of an array (rows first): turned 0–3 quarter turns, unmirrored and mirrored."""
    import numpy as np

    return [np.rot90(b, k) for b in (a, a[:, ::-1]) for k in range(4)]


def orientation_clashes(images: Sequence[Any], min_apart: int = 1) -> list[tuple[int, int]]:
    """Pairs (i, j) of ``images`` (PIL images or arrays) where an orientation of j — including j itself —
    differs from i in fewer than ``min_apart`` pixels (or grid modules). Empty when all are distinct."""
    import numpy as np

    arrays = [np.asarray(im) for im in images]
    clashes = []
    for i, a in enumerate(arrays):
        for j in range(i):
            for b in orientations(arrays[j]):
                if (
                    b.shape == a.shape
                    and int((b != a).reshape(a.shape[0], a.shape[1], -1).any(-1).sum()) < min_apart
                ):
                    clashes.append((j, i))
                    break
    return clashes


def draw(rng: random.Random, per_family: int = 6) -> list[Drawn]:
    """``per_family`` QR-like codes with random data and ``per_family`` EAN-13 barcodes of consecutive
    article numbers. No code is another turned or mirrored: asserted. The barcodes differ in the last digit
    and the check digit only (their bars and printed digits): one spot group (``article number``)."""
    grids = [qr_modules(rng) for _ in range(per_family)]
    clashes = orientation_clashes(grids, min_apart=60)  # random data: ~250 of the 625 modules differ
    assert not clashes, f"QR-like codes too close to an orientation of another: {clashes}"
    base = f"4{rng.randint(10**9, 10**10 - 1)}{rng.randint(0, 9)}"[:11] + "0"
    eans = [ean_image(f"{int(base) + k:012d}") for k in range(per_family)]
    assert not orientation_clashes(eans), "an EAN-13 code equals a turned or mirrored other"
    out = [Drawn("code-qr", qr_image(g), "random data") for g in grids]
    out += [
        Drawn("code-ean", img, f"article number {int(base) + k:012d}", "article number")
        for k, img in enumerate(eans)
    ]
    return out


def codes(rng: random.Random, per_family: int = 6) -> list[tuple[str, Image.Image, str]]:
    """The codes of :func:`draw` as (family, image, note)."""
    return [d.triple for d in draw(rng, per_family)]
