"""Photos: CIFAR-10 airplanes, birds and ships on a plain sky or sea (issue 9, from ``../shared``), and
scikit-image's bundled photos with crops of some of them that keep 36% of the area (issue 18)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


def plain_background(path: Path, *, ring: int = 4, max_std: float = 12.0) -> bool:
    """Whether a CIFAR-10 image's outer ``ring`` pixels are nearly one colour (a plain sky or sea)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        a = np.asarray(img.convert("RGB"), dtype=np.float32)
    mask = np.ones(a.shape[:2], bool)
    mask[ring:-ring, ring:-ring] = False
    return bool(a[mask].std(0).max() <= max_std)


def sky_photos(cifar: Path, n: int, rng: random.Random) -> list[Path]:
    """``n`` CIFAR-10 airplanes, birds and ships whose background is plain (see :func:`plain_background`)."""
    found: list[Path] = []
    for cls in ("airplane", "bird", "ship"):
        files = sorted((cifar / cls).glob("*.jpg"))
        rng.shuffle(files)
        kept = [p for p in files[: n * 6] if plain_background(p)]
        found += kept[: (n + 2) // 3]
    return found[:n]


# ------------------------------------------------------------------------------------------------------------
# photos (issue 18): scikit-image's bundled photos, and crops keeping 36% of some of them

PHOTO_NAMES = (
    "astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "immunohistochemistry",
    "hubble_deep_field", "retina", "moon", "stereo_motorcycle", "clock",
)  # fmt: skip
# ("cat" is chelsea again, and the right half of stereo_motorcycle its left: neither is used)
PHOTO_CROPPED = ("astronaut", "coffee", "rocket", "hubble_deep_field")


def photos(rng: random.Random, names: Sequence[str] = PHOTO_NAMES) -> list[tuple[str, Image.Image, str]]:
    """The scikit-image photos among ``names`` that load here (none without scikit-image), then two crops of
    each of :data:`PHOTO_CROPPED`, 60% of each side (36% of the area) at two different corners, as
    (family, image, note). Two corners' crops share at most a third of their area."""
    import numpy as np
    from PIL import Image

    try:
        import skimage.data
    except ImportError:
        return []
    out = []
    for name in names:
        try:
            a = getattr(skimage.data, name)()
        except Exception:  # not bundled in this version, or needs a download
            continue
        a = np.asarray(a[0] if isinstance(a, tuple) else a)
        a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., :3]
        img = Image.fromarray(a.astype(np.uint8))
        out.append((f"photo-{name}", img, "the whole photo"))
        if name in PHOTO_CROPPED:
            cw, ch = round(img.width * 0.6), round(img.height * 0.6)
            for x, y in rng.sample([(0, 0), (1, 0), (0, 1), (1, 1)], 2):
                box = (
                    x * (img.width - cw),
                    y * (img.height - ch),
                    x * (img.width - cw) + cw,
                    y * (img.height - ch) + ch,
                )
                out.append((f"photo-{name}", img.crop(box), f"crop {box} of the whole photo"))
    return out
