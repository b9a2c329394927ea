"""Python work on every core: a map over items in forked worker processes.

Decoding a 1 KB JPEG, measuring a 32-px picture or checking a pair of thumbnails is mostly Python and
NumPy calls on tiny arrays: threads only contend for the GIL (CIFAR-10 reads at 0.48 ms a file in one
thread, 0.58 ms in two), so such work runs on one core. :func:`forked_map` runs it in forked processes
instead: the function and all it reads (a :class:`~lookalike.dedup.judge.Judge`, say) are inherited by
the fork, not pickled; only the items and the results travel. Fork exists on Linux only among the
systems we run on (macOS forks unsafely, Windows not at all): elsewhere, or on one core, or for a few
items, :func:`processes_for` says 0 and callers keep to their own thread.

>>> list(forked_map(abs, [-1, 2, -3], processes=2, chunk=2))  # doctest: +SKIP
[1, 2, 3]
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

__all__ = ["forked_map", "processes_for"]

T = TypeVar("T")
R = TypeVar("R")

#: Set to ``0`` to keep all work in the calling process (debugging, profiling, a host that forbids fork).
ENV = "LOOKALIKE_FORK"

_task: Callable[[Any], Any] | None = None  # what a worker runs: set in the worker, by _start_worker


def processes_for(items: int, least: int) -> int:
    """Worker processes for ``items`` pieces of work: one a core, or 0 (stay in this process) with one
    core, under ``least`` items (forking costs more than it saves), off Linux, or with
    ``LOOKALIKE_FORK=0``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or items < least or not sys.platform.startswith("linux") or os.environ.get(ENV) == "0":
        return 0
    return cores


def _start_worker(fn: Callable[[Any], Any]) -> None:
    """In each worker: ``fn`` is what it runs (handed over by the fork, not pickled, and set here, in the
    worker, so that maps started at once from two threads keep their own); Ctrl-C is left to the parent
    (it ends the pool); the BLAS and OpenMP thread pools get one thread — the workers already fill every
    core, and OpenBLAS's waiting threads spin: with two a worker on 2 cores, checking CIFAR-10's pairs took
    2.8× as long a pair as in one process."""
    from threadpoolctl import threadpool_limits

    global _task
    _task = fn
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


def _run(chunk: Sequence[Any]) -> list[Any]:
    assert _task is not None
    return [_task(x) for x in chunk]


def forked_map(
    fn: Callable[[T], R], items: Sequence[T], *, processes: int, chunk: int = 64
) -> Generator[R, None, None]:
    """``fn`` over ``items`` in ``processes`` forked workers, ``chunk`` items at a time, the results in
    order. ``fn`` sees the process as it was at the fork; what it changes there stays there. Stopping the
    iteration early (a progress callback that raises) ends the workers."""
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    # the objects alive at the fork out of the garbage collector's sight: its passes would touch every
    # one of them in each worker, copying the whole heap page by page
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(processes, initializer=_start_worker, initargs=(fn,)) as pool:
            for results in pool.imap(_run, chunks):
                yield from results
    finally:
        gc.unfreeze()
