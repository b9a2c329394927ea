"""Sample photos for trying lookalike offline: scikit-image's bundled images plus edited copies.

The edits are the lecture's test cases for pixel metrics: a horizontal flip, a shift and a recolouring
keep the object but move or change every pixel; another photo is a different object.

>>> from lookalike.samples import write_samples
>>> paths = write_samples("samples")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.errors import LookalikeError

# scikit-image data functions whose files ship inside the wheel (no download needed)
_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def write_samples(folder: str | os.PathLike[str]) -> list[Path]:
    """Write the sample photos and edited copies of ``chelsea`` (a cat) as PNG files; return their paths."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        import skimage.data
    except ImportError:
        raise LookalikeError("sample photos need scikit-image: pip install 'lookalike[samples]'") from None
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(img: Image.Image, name: str) -> None:
        path = out / f"{name}.png"
        img.save(path)
        written.append(path)

    for name in _PHOTOS:
        save(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"), name)
    cat = Image.fromarray(skimage.data.chelsea()).convert("RGB")  # type: ignore[no-untyped-call]
    save(ImageOps.mirror(cat), "chelsea-flipped")
    arr = np.asarray(cat)
    save(Image.fromarray(np.roll(arr, arr.shape[1] // 8, axis=1)), "chelsea-shifted")
    save(Image.fromarray(np.ascontiguousarray(arr[:, :, ::-1])), "chelsea-recoloured")
    save(ImageOps.autocontrast(cat.convert("L")).convert("RGB"), "chelsea-gray")
    return written
