"""The eight orientations (lookalike.dedup.orientation): the group's arithmetic, the names people use, the
agreement of arrays, Pillow images and boxes, and the canonical orientation shared by every turned copy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dedup_support import pattern
from lookalike.dedup.orientation import (
    ALL,
    IDENTITY,
    MIRROR,
    ROTATE_90,
    ROTATE_180,
    ROTATE_270,
    canonical,
    oriented,
)

PROBE = np.arange(12, dtype=np.uint8).reshape(3, 4)


def test_eight_distinct_orientations_that_compose_and_invert_as_a_group() -> None:
    results = {o.apply(PROBE).tobytes() + bytes(o.apply(PROBE).shape) for o in ALL}
    assert len(results) == 8
    for a in ALL:
        assert np.array_equal(a.inverse.apply(a.apply(PROBE)), PROBE)
        for b in ALL:
            assert np.array_equal(a.then(b).apply(PROBE), b.apply(a.apply(PROBE)))
    assert ROTATE_90.then(ROTATE_90) == ROTATE_180 and ROTATE_90.inverse == ROTATE_270
    assert MIRROR.then(MIRROR) == IDENTITY


def test_arrays_and_pillow_images_turn_alike() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    for o in ALL:
        assert np.array_equal(np.asarray(o.apply_image(img)), o.apply(rgb)), o
    # Pillow's names: ROTATE_90 is counter-clockwise, TRANSPOSE mirrors and turns 90° counter-clockwise
    assert np.array_equal(np.asarray(img.transpose(Image.Transpose.ROTATE_90)), ROTATE_90.apply(rgb))
    transposed = np.asarray(img.transpose(Image.Transpose.TRANSPOSE))
    assert [str(o) for o in ALL if np.array_equal(o.apply(rgb), transposed)] == [
        "mirrored and rotated 90° counter-clockwise"
    ]


def test_names_say_what_people_say() -> None:
    assert [str(o) for o in ALL] == [
        "as is",
        "rotated 90° counter-clockwise",
        "rotated 180°",
        "rotated 90° clockwise",
        "mirrored",
        "mirrored and rotated 90° counter-clockwise",
        "mirrored and rotated 180°",
        "mirrored and rotated 90° clockwise",
    ]
    assert ROTATE_270.to_dict() == {"mirror": False, "rotate": 270}


def test_a_box_lands_where_its_pixels_do() -> None:
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:9] = True
    box = (3 / 20, 2 / 10, 9 / 20, 5 / 10)
    for o in ALL:
        turned = o.apply(mask)
        ys, xs = np.nonzero(turned)
        h, w = turned.shape
        found = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
        assert np.allclose(found, o.apply_box(box)), o


def test_every_turned_copy_shares_the_canonical_form() -> None:
    pictures = np.stack([np.asarray(pattern(seed, (32, 32)), np.float32).mean(-1) for seed in range(40)])
    best, plausible = canonical(pictures)
    forms = [ALL[b].apply(p) for b, p in zip(best, pictures, strict=True)]
    for o in ALL:
        turned = np.ascontiguousarray(oriented(pictures, o))
        best_t, plausible_t = canonical(turned)
        for i in range(len(pictures)):
            if not plausible[i].all():  # a clear trend: the very same canonical form
                assert np.allclose(ALL[best_t[i]].apply(turned[i]), forms[i]), (o, i)
        assert plausible_t.sum() == plausible.sum()  # as many plausible orientations, however turned


@pytest.mark.parametrize("level", [0.2, 0.8])
def test_a_flat_picture_has_every_orientation_plausible(level: float) -> None:
    _, plausible = canonical(np.full((1, 32, 32), level, np.float32))
    assert plausible.all()
