"""``lookalike serve``: a local web page and JSON API over one index.

:func:`create_app` builds the FastAPI application (needs the ``web`` extra:
``pip install 'lookalike[web]'``); the command line runs it with uvicorn. Importing this package is cheap:
FastAPI loads only when :func:`create_app` is first used.

>>> from lookalike.web import create_app  # doctest: +SKIP
>>> app = create_app("photos/.lookalike")  # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from lookalike.web.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from lookalike.web.app import create_app

        return create_app
    raise AttributeError(f"module 'lookalike.web' has no attribute {name!r}")
