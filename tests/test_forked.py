"""Work in forked worker processes: results in order, the parent's state seen without pickling, one BLAS
thread a worker, workers ended when the caller stops."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pytest

from lookalike.forked import ENV, forked_map, processes_for

forks = pytest.mark.skipif(not processes_for(10**6, 1), reason="forks on Linux with two cores or more")


@forks
def test_results_come_in_the_items_order() -> None:
    items = list(range(-50, 50))
    assert list(forked_map(lambda x: x * x, items, processes=2, chunk=7)) == [x * x for x in items]


@forks
def test_the_function_and_what_it_holds_are_inherited_not_pickled() -> None:
    lock = threading.Lock()  # (a lock cannot be pickled)
    state = {"offset": 1000}
    assert list(forked_map(lambda x: x + state["offset"] + lock.locked(), [1, 2], processes=2)) == [
        1001,
        1002,
    ]


@forks
def test_maps_started_at_once_from_two_threads_each_run_their_own_function() -> None:
    started = threading.Barrier(2)
    got: dict[str, list[int]] = {}

    def run(name: str, fn: Callable[[int], int]) -> None:
        results = forked_map(fn, list(range(40)), processes=2, chunk=4)
        started.wait()  # (both maps made, neither forked yet: the second made must not steal the first's)
        got[name] = list(results)

    threads = [
        threading.Thread(target=run, args=("double", lambda x: 2 * x)),
        threading.Thread(target=run, args=("negate", lambda x: -x)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {"double": [2 * x for x in range(40)], "negate": [-x for x in range(40)]}


@forks
def test_each_worker_runs_one_blas_thread() -> None:
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((4, 4)) @ np.ones((4, 4))  # (numpy's BLAS loaded before the fork)
    threads = list(forked_map(lambda _: [p["num_threads"] for p in threadpool_info()], [0, 1], processes=2))
    assert all(n == [1] * len(n) and n for n in threads)


@forks
def test_stopping_early_ends_the_workers() -> None:
    results = forked_map(lambda x: x, list(range(1000)), processes=2, chunk=1)
    assert next(results) == 0
    results.close()
    assert multiprocessing.active_children() == []


def test_few_items_or_the_switch_keep_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    assert processes_for(10, least=100) == 0
    monkeypatch.setenv(ENV, "0")
    assert processes_for(10**6, least=1) == 0
