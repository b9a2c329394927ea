"""The errors lookalike raises on bad input.

Every error a user can cause is a :class:`LookalikeError`: a one-line ``message`` that says what is wrong
and an optional ``hint`` that says what to do. Hints name the *library's* parameters in backticks
(```rebuild=True```, ```max_upload```); the command line shows the same hint with its own flags
(``--rebuild``, ``--max-upload``, see :func:`hint_for_cli`), so a Python user never reads about flags
and a shell user never reads about keyword arguments. The command line prints the line (no traceback
unless ``LOOKALIKE_DEBUG=1``) and exits with a non-zero code.

>>> str(StoreError("the index at idx was built with other weights", hint="pass `rebuild=True`"))
'the index at idx was built with other weights; pass `rebuild=True`'
>>> flags = {"rebuild": "--rebuild", "max_upload": "--max-upload"}
>>> hint_for_cli("pass `rebuild=True` or a larger `max_upload`", flags)
'pass --rebuild or a larger --max-upload'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "DataError",
    "ImageError",
    "LookalikeError",
    "ShapeError",
    "StoreError",
    "WeightsError",
    "hint_for_cli",
]


class LookalikeError(Exception):
    """Base class: a problem with the user's input, files or environment.

    ``message`` says what is wrong, ``hint`` (optional) what to do about it; ``str()`` joins them with
    ``"; "`` so that ``raise``/``print`` show one line.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message if hint is None else f"{message}; {hint}")
        self.message = message
        self.hint = hint


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


_PARAM = re.compile(r"`([a-z_][a-z0-9_]*)(?:=([^`]*))?`")


def hint_for_cli(hint: str, flags: Mapping[str, str]) -> str:
    """``hint`` with each backticked parameter the command knows written as its flag.

    ```rebuild=True``` becomes ``--rebuild`` (a boolean flag), ```size=64``` becomes ``--size 64`` and
    ```max_upload``` becomes ``--max-upload``; parameters the command lacks keep their Python spelling.
    """

    def flag(m: re.Match[str]) -> str:
        name, value = m[1], m[2]
        opt = flags.get(name)
        if opt is None:
            return m[0]
        if value is None or value == "True":
            return opt
        return f"{opt} {value.strip(chr(39) + chr(34))}"

    return _PARAM.sub(flag, hint)
