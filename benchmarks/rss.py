"""The memory a benchmark's own process holds, as Linux's ``/proc/self/status`` says it: a line now
(:func:`status_kib`: ``VmRSS`` resident now, ``VmHWM`` the peak since exec, ``RssAnon`` the anonymous part),
and the largest seen while a stage runs (:class:`RssSampler`, phase by phase)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TypeVar

S = TypeVar("S", bound="_Sampler")

STATUS = Path("/proc/self/status")


def _status(keys: tuple[str, ...]) -> dict[str, int]:
    """The lines ``keys`` of /proc/self/status in KiB, from one reading."""
    out = {}
    for line in STATUS.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            out[key] = int(value.split()[0])
    return out


def status_kib(key: str = "VmRSS") -> int:
    """The line ``key`` of /proc/self/status in KiB."""
    found = _status((key,))
    if key not in found:
        raise RuntimeError(f"no {key} in {STATUS}")
    return found[key]


class _Sampler:
    """A thread calling :meth:`sample` every ``every`` seconds while the ``with`` block runs."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RssSampler(_Sampler):
    """The largest of each line ``keys`` of /proc/self/status (KiB) seen in each phase, by a thread reading
    it every ``every`` seconds while the ``with`` block runs; set :attr:`phase` as the work moves on."""

    def __init__(self, keys: tuple[str, ...] = ("VmRSS",), *, every: float = 0.05, phase: str = "") -> None:
        super().__init__(every)
        self.keys = keys
        self.phase = phase
        self.peaks: dict[str, dict[str, int]] = {}  # phase -> key -> KiB

    def sample(self) -> None:
        seen = self.peaks.setdefault(self.phase, {})
        for key, kib in _status(self.keys).items():
            seen[key] = max(seen.get(key, 0), kib)

    def peak(self, key: str = "VmRSS") -> int:
        """The largest ``key`` seen in any phase (KiB)."""
        return max((seen.get(key, 0) for seen in self.peaks.values()), default=0)


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux's /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return out


def tree_pss_kib(pid: int) -> int:
    """The proportional set size (KiB) of ``pid`` and its descendants together: each page shared among
    them (a fork's copy-on-write pages) counted once, split between its sharers — the memory the process
    tree holds, where the sum of their RSS would count shared pages once a process."""
    total = 0
    for p in _descendants(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:  # (gone in the meantime)
            continue
    return total


class TreeSampler(_Sampler):
    """The largest :func:`tree_pss_kib` of process ``pid`` seen by a thread every ``every`` seconds while
    the ``with`` block runs (:attr:`peak`, KiB): the memory of a command that forks workers."""

    def __init__(self, pid: int, *, every: float = 0.2) -> None:
        super().__init__(every)
        self.pid, self.peak = pid, 0

    def sample(self) -> None:
        self.peak = max(self.peak, tree_pss_kib(self.pid))
