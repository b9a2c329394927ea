"""Recipes: the two the issue describes, the one-cycle schedule, bad hyperparameters named as parameters."""

from __future__ import annotations

import itertools

import pytest

from lookalike.errors import LookalikeError
from lookalike.train import FAST, SEED, get_recipe, lr_factor


def test_recipes_are_the_ones_the_issue_describes() -> None:
    assert (SEED.arch, SEED.cifar_stem, SEED.optimizer, SEED.lr, SEED.batch_size) == (
        "resnet18",
        False,
        "adam",
        1e-3,
        512,
    )
    assert (SEED.loader, SEED.crop_pad, SEED.flip, SEED.label_smoothing, SEED.precision) == (
        "dataloader",
        0,
        "none",
        0.0,
        "float32",
    )
    assert SEED.schedule == "constant" and not SEED.tta and not SEED.channels_last
    assert (FAST.arch, FAST.cifar_stem, FAST.loader, FAST.optimizer, FAST.nesterov) == (
        "resnet18",
        True,
        "device",
        "sgd",
        True,
    )
    assert FAST.schedule == "onecycle" and FAST.label_smoothing > 0 and FAST.tta and FAST.crop_pad == 4
    assert FAST.precision == "auto" and FAST.channels_last
    assert get_recipe("fast", epochs=3, lr=None).epochs == 3
    from lookalike.errors import LookalikeError

    with pytest.raises(LookalikeError, match="unknown recipe"):
        get_recipe("slow")


def test_onecycle_rises_to_the_peak_and_falls_to_zero() -> None:
    factors = [lr_factor(s, 100, FAST) for s in range(100)]
    peak = factors.index(max(factors))
    assert max(factors) == 1.0 and peak == round(100 * FAST.warmup) - 1
    assert all(a < b for a, b in itertools.pairwise(factors[: peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(factors[peak:]))
    assert 0 < factors[-1] <= 0.02
    assert {lr_factor(s, 100, SEED) for s in range(100)} == {1.0}


@pytest.mark.parametrize(
    ("field", "value", "message", "hint"),
    [
        ("epochs", 0, "epochs=0 must be at least 1", "pass a positive `epochs`"),
        ("batch_size", 0, "batch_size=0 must be at least 1", "pass a positive `batch_size`"),
        ("lr", 0.0, "lr=0.0 must be positive", "pass a positive `lr`"),
        (
            "label_smoothing",
            1.0,
            "label smoothing 1.0 must be in [0, 1)",
            "pass a `label_smoothing` in [0, 1)",
        ),
    ],
)
def test_bad_hyperparameters_name_the_parameter(field: str, value: object, message: str, hint: str) -> None:
    with pytest.raises(LookalikeError) as info:
        get_recipe("fast", **{field: value})
    assert (info.value.message, info.value.hint) == (message, hint)
