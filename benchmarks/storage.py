"""What an index that survives its disk costs (issue 13): the catalogue checks and copies that
``lookalike index`` adds to every run, at 1,000,000 rows.

Every run of ``lookalike index`` now checks the catalogue (SQLite's ``quick_check``) before it starts and,
when the run changed the index, saves a consistent copy of it (``index.db.good``, SQLite's online backup
API, fsynced and renamed). ``--repair`` runs ``integrity_check`` instead. This script builds a catalogue of
``--rows`` rows as ``lookalike index`` writes them (through :meth:`lookalike.collection.Index.writer`, 8-d
vectors: the catalogue's cost does not depend on the vectors' size), then times each step, best of
``--repeat``, and restoring the copy after 4 KB of the live catalogue were overwritten.

Usage::

    python benchmarks/storage.py                  # 1M rows
    python benchmarks/storage.py --rows 100000 --out storage.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.collection import Entry, Index, recovery


def best(repeat: int, step: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--dir", type=Path, help="where to build it (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        location = Path(tmp) / "idx"
        made_by = {"model": "bench", "dim": 8, "precision": "float32", "fingerprint": "bench"}
        started = time.perf_counter()
        with Index.create(location, root=tmp, embedder=made_by) as idx, idx.writer() as w:
            step = 50_000
            for start in range(0, args.rows, step):
                n = min(step, args.rows - start)
                entries = [
                    Entry(
                        f"photos/{i // 1000:04d}/{i:07d}.jpg", 4000 + i % 997, 10**18 + i, f"{i:064x}", 32, 32
                    )
                    for i in range(start, start + n)
                ]
                w.put(entries, np.ones((n, 8), dtype=np.float32))
        write_s = time.perf_counter() - started
        db = location / "index.db"
        result: dict[str, Any] = {
            "rows": args.rows,
            "catalogue_mb": round(db.stat().st_size / 1e6, 1),
            "write_s": round(write_s, 2),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        }
        result["quick_check_s"] = round(best(args.repeat, lambda: recovery.check_catalogue(db)), 3)
        result["integrity_check_s"] = round(
            best(args.repeat, lambda: recovery.check_catalogue(db, full=True)), 3
        )
        with Index.open(location) as idx:
            result["save_copy_s"] = round(
                best(args.repeat, lambda: recovery.save_copy(idx.store, location)), 3
            )
        size = db.stat().st_size
        with db.open("r+b") as f:
            f.seek(size // 2 - size // 2 % 4096)
            f.write(os.urandom(4096))
        started = time.perf_counter()
        line = recovery.recover(location)
        result["restore_s"] = round(time.perf_counter() - started, 3)
        result["restored"] = line
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
