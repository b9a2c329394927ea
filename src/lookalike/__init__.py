"""lookalike: how alike are these images?

Pixel and deep-feature similarity (L1, MSE, cosine, NCC) between two images, ResNets to make the features,
and tools for whole collections (index, search, dedup, evaluate, serve).

Importing the package is cheap: torch and friends load only when a name below is first used.

>>> import lookalike
>>> lookalike.list_models()
['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (explicit re-exports, resolved lazily)
_EXPORTS: dict[str, str] = {
    "LookalikeError": "errors",
    "ImageError": "errors",
    "WeightsError": "errors",
    "ShapeError": "errors",
    "DataError": "errors",
    "StoreError": "errors",
    "create_model": "models.build",
    "list_models": "models.info",
    "load_weights": "models.weights",
    "summary": "models.summary",
    "ModelInfo": "models.info",
    "load_image": "images",
    "list_images": "scanning",
    "l1": "metrics",
    "mse": "metrics",
    "cosine": "metrics",
    "ncc": "metrics",
    "pairwise_l1": "metrics",
    "pairwise_mse": "metrics",
    "pairwise_cosine": "metrics",
    "pairwise_ncc": "metrics",
    "Embedder": "features.embedder",
    "compare_images": "compare",
    "Index": "collection.index",
    "index_folder": "collection.sync",
    "find_index": "collection.location",
    "find_duplicates": "dedup.find",
    "move_duplicates": "dedup.moves",
    "undo_moves": "dedup.moves",
    "Evaluation": "evaluate",
}

__all__ = [
    "DataError",
    "Embedder",
    "Evaluation",
    "ImageError",
    "Index",
    "LookalikeError",
    "ModelInfo",
    "ShapeError",
    "StoreError",
    "WeightsError",
    "__version__",
    "compare_images",
    "cosine",
    "create_model",
    "find_duplicates",
    "find_index",
    "index_folder",
    "l1",
    "list_images",
    "list_models",
    "load_image",
    "load_weights",
    "move_duplicates",
    "mse",
    "ncc",
    "pairwise_cosine",
    "pairwise_l1",
    "pairwise_mse",
    "pairwise_ncc",
    "summary",
    "undo_moves",
]

if TYPE_CHECKING:
    from lookalike.collection.index import Index
    from lookalike.collection.location import find_index
    from lookalike.collection.sync import index_folder
    from lookalike.compare import compare as compare_images
    from lookalike.dedup import find_duplicates, move_duplicates, undo_moves
    from lookalike.errors import DataError, ImageError, LookalikeError, ShapeError, StoreError, WeightsError
    from lookalike.evaluate import Evaluation
    from lookalike.features.embedder import Embedder
    from lookalike.images import load_image
    from lookalike.metrics import (
        cosine,
        l1,
        mse,
        ncc,
        pairwise_cosine,
        pairwise_l1,
        pairwise_mse,
        pairwise_ncc,
    )
    from lookalike.models.build import create_model
    from lookalike.models.info import ModelInfo, list_models
    from lookalike.models.summary import summary
    from lookalike.models.weights import load_weights
    from lookalike.scanning import list_images


# exported under another name than in its module (``lookalike.compare`` is the module itself)
_RENAMED = {"compare_images": "compare"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lookalike.{module}"), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
