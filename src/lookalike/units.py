"""Amounts of bytes, read and written one way everywhere (K, M, G, T are powers of 1024).

>>> parse_bytes("1.5G")
1610612736
>>> format_bytes(20 * 1024**2)
'20 MB'
>>> format_bytes(parse_bytes(format_bytes(3_500_000))) == format_bytes(3_500_000)
True
"""

from __future__ import annotations

import re

from lookalike.errors import LookalikeError

__all__ = ["format_bytes", "parse_bytes"]

_UNITS = ("B", "KB", "MB", "GB", "TB")


def parse_bytes(text: str, *, where: str = "memory", error: type[LookalikeError] = LookalikeError) -> int:
    """``"4G"``, ``"512MiB"``, ``"20 MB"``, ``"1000000"`` → bytes.

    ``where`` names the setting in the message of the ``error`` raised for text that is no amount.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    value = float(m[1]) * 1024 ** " KMGT".index(m[2] or " ") if m else 0.0
    if value < 1:
        raise error(f"{where}={text!r} is not an amount of bytes", "write it like 4G, 512M or 1000000")
    return int(value)


def format_bytes(n: float) -> str:
    """``20971520`` → ``20 MB``: three significant digits in the largest unit below 1024 of it."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
