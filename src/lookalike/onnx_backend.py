"""Moved to :mod:`lookalike.features.onnx` (the onnx backend and export). ``lookalike.onnx_backend``
is the same module object under its old name, so imports and monkeypatches of the old path keep working;
importing it warns (:class:`DeprecationWarning`)."""

from __future__ import annotations

import sys

from lookalike._moved import warn_moved
from lookalike.features import onnx as _onnx
from lookalike.features.onnx import FORMAT as FORMAT
from lookalike.features.onnx import INDEX_MODEL_NAME as INDEX_MODEL_NAME
from lookalike.features.onnx import SAME_MODEL as SAME_MODEL
from lookalike.features.onnx import ModelFileError as ModelFileError
from lookalike.features.onnx import OnnxModel as OnnxModel
from lookalike.features.onnx import cache_dir as cache_dir
from lookalike.features.onnx import cached_path as cached_path
from lookalike.features.onnx import ensure_model as ensure_model
from lookalike.features.onnx import export as export
from lookalike.features.onnx import find_cached as find_cached
from lookalike.features.onnx import find_model as find_model
from lookalike.features.onnx import metadata as metadata
from lookalike.features.onnx import onnxruntime_available as onnxruntime_available
from lookalike.features.onnx import same_model as same_model
from lookalike.features.onnx import write_atomic as write_atomic

warn_moved(__name__, _onnx.__name__)
sys.modules[__name__] = _onnx
