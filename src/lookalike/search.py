"""Moved to :mod:`lookalike.collection.ann` (the search structures, FAISS). ``lookalike.search`` is the same
module object under its old name, so imports and monkeypatches of the old path keep working; importing it
warns (:class:`DeprecationWarning`)."""

from __future__ import annotations

import sys

from lookalike._moved import warn_moved
from lookalike.collection import ann as _ann
from lookalike.collection.ann import ArraySource as ArraySource
from lookalike.collection.ann import Structure as Structure
from lookalike.collection.ann import build as build
from lookalike.collection.ann import unit as unit
from lookalike.collection.plan import choose_structure as choose_structure
from lookalike.collection.plan import default_memory_budget as default_memory_budget

warn_moved(__name__, _ann.__name__)
sys.modules[__name__] = _ann
