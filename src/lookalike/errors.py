"""The errors lookalike raises on bad input.

Every error a user can cause is a :class:`LookalikeError` whose message is one line that says what is
wrong and what to do. The command line prints that line (no traceback unless ``LOOKALIKE_DEBUG=1``) and
exits with a non-zero code.
"""

from __future__ import annotations


class LookalikeError(Exception):
    """Base class: a problem with the user's input, files or environment, with a one-line message."""


class ImageError(LookalikeError):
    """An image file is missing, unreadable, corrupt, not an image, or too large to decode safely."""


class WeightsError(LookalikeError):
    """Model weights are missing, foreign, truncated, unreachable, or do not fit the model."""


class ShapeError(LookalikeError, ValueError):
    """Tensors that must match in shape do not (the message names both shapes)."""


class DataError(LookalikeError):
    """A dataset is missing, empty or malformed."""


class StoreError(LookalikeError):
    """A collection index is missing, corrupt, or was built with a different model."""
