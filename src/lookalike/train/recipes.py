"""Training recipes: the model and every hyperparameter in one block (:class:`Recipe`), the two named
recipes (:data:`SEED`, :data:`FAST`) and the learning-rate schedule.

>>> get_recipe("fast", epochs=40, lr=None).epochs
40
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from lookalike.data import FlipMode
from lookalike.errors import LookalikeError, WeightsError
from lookalike.models import check_model_name


@dataclass(frozen=True)
class Recipe:
    """A training recipe: the model and every hyperparameter, in one block. See :data:`SEED`, :data:`FAST`."""

    name: str
    # --- model --------------------------------------------------------------------------------------------
    arch: str = "resnet18"  # torchvision ResNet depth: resnet18/34/50/101/152
    cifar_stem: bool = True  # 3×3 stride-1 first conv and no max-pool: 32×32 stays 32×32 into layer1
    zero_init_residual: bool = False  # each residual branch's last BN starts at γ = 0 (block = identity)
    # --- data ---------------------------------------------------------------------------------------------
    loader: Literal["dataloader", "device"] = "device"  # per-image CPU transforms / uint8 batches on device
    crop_pad: int = 0  # pixels: random translate by up to ±crop_pad (crop of the reflect-padded image)
    flip: FlipMode = "none"  # horizontal flip: none, random (p = ½) or alternate (airbench)
    # --- optimisation -------------------------------------------------------------------------------------
    epochs: int = 20  # passes over the training split
    batch_size: int = 512  # images per optimizer step, all processes together
    optimizer: Literal["adam", "sgd"] = "sgd"
    lr: float = 0.4  # peak learning rate per step at lr_batch images per step (the loss is the batch mean)
    lr_batch: int | None = None  # linear scaling: step lr = lr × batch / lr_batch (None: lr as is)
    momentum: float = 0.9  # SGD momentum (Adam: β1 stays at its default 0.9)
    nesterov: bool = True  # SGD only
    weight_decay: float = 0.0  # L2 coefficient added to the gradient of conv and linear weights
    decay_norm_and_bias: bool = False  # also apply weight decay to BatchNorm γ/β and biases
    schedule: Literal["constant", "onecycle"] = "constant"  # onecycle: linear 0 → lr → 0 over all steps
    warmup: float = 0.0  # fraction of all steps spent rising to lr (onecycle only)
    label_smoothing: float = 0.0  # weight of the uniform target in the cross-entropy, in [0, 1)
    # --- arithmetic ---------------------------------------------------------------------------------------
    precision: str = "float32"  # auto: bf16 autocast on CUDA and CPUs with hardware bf16, float32 elsewhere
    channels_last: bool = False  # NHWC activations (faster convolutions on tensor cores and oneDNN)
    # --- evaluation ---------------------------------------------------------------------------------------
    tta: bool = False  # test-time augmentation: average the logits of each image and its mirror image

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The lecture's baseline, unchanged (on an H100: about 8,300 images/s and 68 % test accuracy after 5
#: epochs, with per-image CPU transforms).
SEED = Recipe(
    name="seed",
    cifar_stem=False,  # torchvision resnet18 as is: 7×7 stride-2 stem and max-pool (32×32 → 8×8 at layer1)
    loader="dataloader",  # ToTensor + Normalize per image on the CPU
    epochs=5,
    batch_size=512,
    optimizer="adam",
    lr=1e-3,  # Adam, constant
    schedule="constant",
    precision="float32",
)

#: The fast recipe. Every choice follows published fast-CIFAR work (Page's DAWNBench ResNet, airbench);
#: their effect on this data is measured by benchmarks/train_cifar10.py on a GPU, not here.
FAST = Recipe(
    name="fast",
    cifar_stem=True,  # 15× the arithmetic of the 7×7 stem at 32×32, and most of the accuracy
    zero_init_residual=True,  # Goyal et al. 2017: every block starts as the identity; stabler at high lr
    loader="device",  # no CPU work per step: the whole split lives on the device as uint8
    crop_pad=4,  # the standard CIFAR translate; reflect padding keeps borders natural (airbench)
    flip="alternate",  # airbench: each image is seen both ways every 2 epochs; helps most in short runs
    epochs=20,
    batch_size=512,
    optimizer="sgd",  # with Nesterov momentum 0.9
    lr=0.4,  # peak, per 512 images; Page's ResNet schedule (0.4 at batch 512, mean loss)
    lr_batch=512,  # other batch sizes scale the lr linearly (Goyal et al. 2017)
    weight_decay=5e-4,  # on conv/linear weights only (decay_norm_and_bias=False)
    schedule="onecycle",
    warmup=0.2,  # 20 % of steps up, 80 % down to 0
    label_smoothing=0.2,
    precision="auto",  # bf16 autocast on CUDA (and CPUs with hardware bf16), float32 otherwise
    channels_last=True,
    tta=True,  # flip TTA at evaluation: +0.3–0.5 % at no training cost
)

RECIPES: dict[str, Recipe] = {"seed": SEED, "fast": FAST}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """A recipe by name (``seed`` or ``fast``) with some fields replaced; ``None`` overrides are ignored.

    >>> get_recipe("fast", epochs=40, lr=None).epochs
    40
    """
    try:
        base = RECIPES[name]
    except KeyError:
        raise LookalikeError(f"unknown recipe {name!r}", f"choose one of: {', '.join(RECIPES)}") from None
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise LookalikeError(
            f"unknown recipe field(s) {', '.join(unknown)}", f"known: {', '.join(sorted(known))}"
        )
    recipe = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    _check_recipe(recipe)
    return recipe


def _check_recipe(r: Recipe) -> None:
    try:
        check_model_name(r.arch)
    except WeightsError as exc:
        raise LookalikeError(str(exc)) from None
    if r.epochs < 1:
        raise LookalikeError(f"epochs={r.epochs} must be at least 1", "pass a positive `epochs`")
    if r.batch_size < 1:
        raise LookalikeError(f"batch_size={r.batch_size} must be at least 1", "pass a positive `batch_size`")
    if not r.lr > 0:
        raise LookalikeError(f"lr={r.lr} must be positive", "pass a positive `lr`")
    if not 0 <= r.label_smoothing < 1:
        raise LookalikeError(
            f"label smoothing {r.label_smoothing} must be in [0, 1)", "pass a `label_smoothing` in [0, 1)"
        )


def lr_factor(step: int, total: int, recipe: Recipe) -> float:
    """Learning-rate multiplier at optimizer ``step`` (0-based) of ``total``: 1 for ``constant``; for
    ``onecycle`` linear from 1/warmup_steps up to 1 at the last warm-up step, then linear down, reaching 0
    one step after the last."""
    if recipe.schedule == "constant":
        return 1.0
    warm = max(1, round(total * recipe.warmup))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / (total - warm + 1))
