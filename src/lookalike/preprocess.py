"""Moved to :mod:`lookalike.features.transforms_numpy` (the NumPy twin of the torch preprocessing).
``lookalike.preprocess`` is the same module object under its old name, so old imports keep working;
importing it warns (:class:`DeprecationWarning`)."""

from __future__ import annotations

import sys

from lookalike._moved import warn_moved
from lookalike.features import transforms_numpy as _twin
from lookalike.features.transforms_numpy import geometry as geometry
from lookalike.features.transforms_numpy import normalize as normalize

warn_moved(__name__, _twin.__name__)
sys.modules[__name__] = _twin
