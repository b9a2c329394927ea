"""Sample photos for trying lookalike offline: scikit-image's bundled images plus edited copies.

The edits are the lecture's test cases for pixel metrics: a horizontal flip, a shift and a recolouring
keep the object but move or change every pixel; another photo is a different object.

With ``cifar`` (a CIFAR-10 folder such as ``../shared/datasets/cifar10/train``), the first ``per_class``
images of each class are copied beside them into ``FOLDER/<class>/``; with ``broken``, an empty file and a
truncated one are added — the README tour's folder of images people keep, damage included.

>>> from lookalike.samples import write_samples
>>> paths = write_samples("samples")  # doctest: +SKIP
>>> paths = write_samples("photos", cifar="../shared/datasets/cifar10/train", broken=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.errors import LookalikeError

# scikit-image data functions whose files ship inside the wheel (no download needed)
_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def write_samples(
    folder: str | os.PathLike[str],
    *,
    cifar: str | os.PathLike[str] | None = None,
    per_class: int = 100,
    broken: bool = False,
) -> list[Path]:
    """Write the sample photos and edited copies of ``chelsea`` (a cat) as PNG files, and (see the module
    docstring) CIFAR-10 images and broken files; return their paths, sorted."""
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
    if cifar is not None:
        written += _copy_cifar(Path(cifar), out, per_class)
    if broken:
        empty, cut = out / "empty.jpg", out / "cut off.png"
        empty.write_bytes(b"")
        whole = (out / "coffee.png").read_bytes()
        cut.write_bytes(whole[: len(whole) // 3])  # as after an interrupted copy
        written += [empty, cut]
    return sorted(written)


def _copy_cifar(source: Path, out: Path, per_class: int) -> list[Path]:
    """The first ``per_class`` images of each class folder of ``source``, copied into ``out/<class>/``."""
    import shutil

    if per_class < 1:
        raise LookalikeError(f"per_class {per_class} must be at least 1, e.g. 100")
    classes = sorted(p for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    if not classes:
        raise LookalikeError(
            f"{source} holds no class folders; pass a CIFAR-10 folder such as "
            "../shared/datasets/cifar10/train"
        )
    copied = []
    for folder in classes:
        (out / folder.name).mkdir(exist_ok=True)
        for image in sorted(p for p in folder.iterdir() if p.is_file())[:per_class]:
            target = out / folder.name / image.name
            shutil.copyfile(image, target)
            copied.append(target)
    return copied
