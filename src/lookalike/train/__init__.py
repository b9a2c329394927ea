"""Training ResNets on labelled images: two recipes, one loop, checkpoints that load as ``weights``.

Measured result: not yet on a GPU; ``benchmarks/train_cifar10.py`` measures both recipes (H100 targets:
≥ 92.0 % held-out accuracy within 20 s of training, ≥ 93.0 % within 60 s, ``fast`` ≥ 7× ``seed`` images/s)
and ``benchmarks/RESULTS.md`` holds every run, with its machine. On a 2-core CPU both recipes run
correctly and slowly (tens of images per second); speeds are only compared on a GPU.

Recipes (all hyperparameters in :class:`Recipe`, one commented block with units):

* ``seed`` — the lecture's demo, kept as the baseline: torchvision resnet18 as is (7×7 stem), ``fc`` →
  ``Linear(512, classes)``, ``ToTensor`` + ``Normalize`` per image on the CPU in a DataLoader, batch 512,
  shuffled, Adam at 1e-3, cross-entropy, no augmentation, float32.
* ``fast`` (default) — a ResNet-18 with the CIFAR stem (11.2 M parameters), the training split resident on
  the device as uint8, per-image random translate (reflect pad 4) and alternating flip in one batched gather
  on the device, bf16 autocast + channels_last (float32 on CPUs without hardware bf16), SGD-Nesterov with
  a one-cycle (linear up, linear down to 0) schedule, label smoothing 0.2, no weight decay on BatchNorm and
  biases, zero-initialised residual branches, flip test-time augmentation; ``torch.compile`` on request.

:func:`train` runs a recipe and writes ``runs/<name>/``: ``model.pt`` (weights + :class:`ModelInfo` +
recipe, metrics, versions; loads with :func:`lookalike.load_weights` and as any ``weights``), ``last.pt``
(optimizer and schedule state for :func:`resume`), ``metrics.csv``, ``metrics.json``, ``curves.png`` and
``confusion.png``. Under ``torchrun`` it trains with DistributedDataParallel; only rank 0 prints and writes.

The modules: :mod:`~lookalike.train.recipes` (hyperparameters, lr schedule), :mod:`~lookalike.train.config`
(settings and data), :mod:`~lookalike.train.reporting` (progress), :mod:`~lookalike.train.distributed`,
:mod:`~lookalike.train.build` (model, optimizer, batches), :mod:`~lookalike.train.loop` (the epochs),
:mod:`~lookalike.train.state` (a process's state, the result), :mod:`~lookalike.train.checkpoints` (the run
folder) and :mod:`~lookalike.train.scoring` (classifier accuracy, :func:`evaluate_checkpoint`).

>>> from lookalike.train import TrainConfig, get_recipe, train
>>> config = TrainConfig(data="cifar10/train", val_split=0.1)
>>> result = train(config, get_recipe("fast", epochs=20))  # doctest: +SKIP
>>> result.val_acc  # doctest: +SKIP
0.93
"""

from __future__ import annotations

from lookalike.models import ModelInfo as ModelInfo  # named here before the split
from lookalike.train.checkpoints import read_train_state, versions
from lookalike.train.config import PreparedData, TrainConfig, prepare_data
from lookalike.train.distributed import weights_digest
from lookalike.train.loop import resume, train
from lookalike.train.recipes import FAST, RECIPES, SEED, Recipe, get_recipe, lr_factor
from lookalike.train.reporting import Reporter, RichReporter, format_epoch
from lookalike.train.scoring import (
    ClassifierEvaluation,
    confusion_matrix,
    evaluate_checkpoint,
    per_class,
    predict,
)
from lookalike.train.state import (
    CHECKPOINT_NAME,
    STATE_NAME,
    TRAIN_STATE_FORMAT,
    TRAIN_STATE_VERSION,
    TrainResult,
)

#: The classifier evaluation's name before retrieval's :class:`lookalike.evaluate.Evaluation` took it.
Evaluation = ClassifierEvaluation

__all__ = [
    "CHECKPOINT_NAME",
    "FAST",
    "RECIPES",
    "SEED",
    "STATE_NAME",
    "TRAIN_STATE_FORMAT",
    "TRAIN_STATE_VERSION",
    "ClassifierEvaluation",
    "Evaluation",
    "PreparedData",
    "Recipe",
    "Reporter",
    "RichReporter",
    "TrainConfig",
    "TrainResult",
    "confusion_matrix",
    "evaluate_checkpoint",
    "format_epoch",
    "get_recipe",
    "lr_factor",
    "per_class",
    "predict",
    "prepare_data",
    "read_train_state",
    "resume",
    "train",
    "versions",
    "weights_digest",
]
