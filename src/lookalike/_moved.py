"""The warning of a module that moved: its old path still imports, and says where it lives now."""

from __future__ import annotations

import warnings

__all__ = ["warn_moved"]


def warn_moved(old: str, new: str) -> None:
    """Warn (:class:`DeprecationWarning`) that module ``old`` is now ``new``. Called by the old module as it
    is imported, the warning names the line that imported it: 1 is here, 2 the old module, 3 its importer
    (:func:`warnings.warn` steps over the import machinery's own frames)."""
    warnings.warn(
        f"{old} is deprecated and will be removed; import {new} instead", DeprecationWarning, stacklevel=3
    )
