"""The ResNet family: builders, weights with the metadata that decides preprocessing, and stage tables.

ResNets come from torchvision; this module adds what torchvision leaves to the caller:

* :func:`create_model` — one factory for resnet18/34/50/101/152, with ``num_classes=0`` meaning "give me
  the embedding" (the classifier becomes ``Identity``) and ``cifar_stem=True`` for 32×32 inputs.
* :func:`load_weights` — torchvision's weight enums, local state dicts (any dtype, CIFAR or ImageNet stem
  detected from the tensors) and lookalike checkpoints, each returned with a :class:`ModelInfo` that says
  how inputs must be preprocessed. Nothing else in lookalike guesses preprocessing.
* :func:`summary` — the ResNet paper's stage table computed from the real model, with torchsummary-style
  size totals and mult-adds.

>>> from lookalike.models import create_model
>>> net = create_model("resnet50", num_classes=0)
>>> net.fc
Identity()
"""

from __future__ import annotations

from lookalike.models.build import create_model, load_state, model_info
from lookalike.models.info import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR_INPUT_SIZE,
    MODEL_NAMES,
    ModelInfo,
    check_model_name,
    infer_architecture,
    list_models,
    random_info,
)
from lookalike.models.summary import ModelSummary, StageRow, summary
from lookalike.models.weights import file_fingerprint, load_weights, save_checkpoint, torchvision_info

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR_INPUT_SIZE",
    "MODEL_NAMES",
    "ModelInfo",
    "ModelSummary",
    "StageRow",
    "check_model_name",
    "create_model",
    "file_fingerprint",
    "infer_architecture",
    "list_models",
    "load_state",
    "load_weights",
    "model_info",
    "random_info",
    "save_checkpoint",
    "summary",
    "torchvision_info",
]
