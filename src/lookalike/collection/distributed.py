"""Embedding on a Ray cluster: :func:`iter_files` is :meth:`Embedder.iter_files` with the decoding and the
network spread over Ray actors, for :func:`lookalike.collection.index_folder` (``lookalike index --ray``).

The driver keeps everything else — listing the folder, deciding what is new by its stat facts (path,
size, mtime), writing the index through the one crash-safe :class:`~lookalike.collection.writer.Writer`
— and reads no image's bytes: only paths travel, in a Ray Data pipeline ``from_items((index, path))`` →
``map_batches`` over a pool of actors, each holding one Embedder rebuilt from the driver's settings
(:class:`EmbedderSpec`: same weights file, checked by fingerprint, same input size, precision and
backend) and running :meth:`Embedder.iter_files` on its batch, so decoding, preprocessing and bad-file
messages are the single-process ones. Results stream back in order as
:class:`~lookalike.features.pipeline.EmbeddedBatch` objects; with ``facts`` the actors also hash each file
and read its image size (what the index stores beside the vector). :func:`hash_files` hashes files on
Ray tasks (the driver's check of touched and possibly renamed files), and a :class:`Session` keeps one
Ray instance for a run's passes.

``address``: ``"auto"`` (or ``"local"``) starts a Ray instance on this machine, one actor per core (or per
GPU); anything else (``"ray://head:10001"``, ``"head:6379"``) connects to a running cluster, where the
weights, the index and the images must be on storage every node reads under the same paths. A Ray
session already running in this process is used as it is. What this module starts it shuts down.

Failures: a bad file is a failure of its batch, as in one process; an actor whose process dies is
restarted by Ray Data and its batch run again (Ray Data's default, without a limit); an error in an actor
(weights a worker cannot read, ...) ends the run with one :class:`LookalikeError`. A driver killed even
with kill -9 leaves what the Writer committed: the next run, with Ray or without, embeds the rest.

Ray is an optional dependency (``pip install 'lookalike[ray]'``), imported here only, on first use.

>>> for batch in iter_files(Embedder("model.pt"), paths, address="auto"):  # doctest: +SKIP
...     print(batch.indices, batch.vectors.shape, batch.failures)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lookalike.collection.facts import file_facts, quiet_sha256
from lookalike.errors import LookalikeError
from lookalike.features import Embedder
from lookalike.features.onnx import ensure_model
from lookalike.features.pipeline import EmbeddedBatch

__all__ = ["RAY_HINT", "EmbedderSpec", "Session", "hash_files", "iter_files"]

RAY_HINT = "pip install 'lookalike[ray]'"
LOCAL = ("auto", "local")
_OBJECT_STORE = 512 * 2**20  # bytes, for a local instance: only paths and vectors go through it
_HASH_BATCH = 32  # files per Ray task of hash_files (3 MB photos: ~0.1 s of hashing each)

#: ``index → (sha256, width, height)`` of files the workers read (``None`` where unreadable)
Facts = dict[int, tuple[str | None, int | None, int | None]]


class _FileEmbedder(Protocol):
    batch_size: int

    def iter_files(self, paths: Sequence[str | os.PathLike[str]]) -> Iterator[Any]: ...


@dataclass(frozen=True)
class EmbedderSpec:
    """What rebuilds an :class:`Embedder` in another process: its constructor's arguments (the model is
    not shipped; ``weights`` is read again, and must give the same ``fingerprint``) and, for the onnx
    backend, the ONNX file the driver uses (``onnx_file``, with the description it was made for)."""

    weights: str
    model: str
    size: int
    precision: str
    backend: str
    batch_size: int
    fingerprint: str
    onnx_file: str | None = None
    onnx_description: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, embedder: Embedder) -> EmbedderSpec:
        """The settings of ``embedder``; its weights must be a file (or a torchvision name), not random."""
        info = embedder.info
        if str(info.fingerprint).startswith("random") or embedder.weights is None:
            raise LookalikeError(
                "random weights exist only in this process; Ray workers cannot rebuild them",
                "pass a weights file that every worker can read",
            )
        weights = os.fspath(embedder.weights)
        if Path(weights).exists():
            weights = str(Path(weights).resolve())  # workers need not share the driver's directory
        onnx_file = description = None
        if embedder.backend == "onnx":
            model = embedder.onnx_model  # exported once here, not by every worker at the same time
            if Path(model.source).is_file():
                onnx_file, description = model.source, dict(model.description)
        return cls(
            weights,
            info.arch,
            info.crop_size,
            embedder.precision,
            embedder.backend,
            embedder.batch_size,
            str(info.fingerprint),
            onnx_file,
            description,
        )

    def build(self, device: str = "cpu", threads: int | None = None) -> Embedder:
        """The Embedder, on ``device``, computing with ``threads`` CPU threads. On a GPU the onnx backend
        (CPU only) gives way to PyTorch in the same precision (float32): the same vectors to rounding."""
        import torch

        if threads is not None and device == "cpu":
            torch.set_num_threads(threads)
        backend: Any = "torch" if device != "cpu" and self.backend == "onnx" else self.backend
        emb = Embedder(
            self.weights,
            model=self.model,
            size=self.size,
            device=device,
            precision=self.precision,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            num_workers=0,  # the actor decodes its own batch; parallelism is the actor pool
            backend=backend,
        )
        if str(emb.info.fingerprint) != self.fingerprint:
            raise LookalikeError(
                f"{self.weights} holds other weights on this worker (fingerprint "
                f"{emb.info.fingerprint}, the driver's is {self.fingerprint})",
                "put the weights on storage every node reads under the same path",
            )
        if emb.backend == "onnx" and self.onnx_file and self.onnx_description:
            # set before first use: the cached property would start ONNX Runtime with a thread per core
            emb.__dict__["onnx_model"] = ensure_model(
                self.onnx_file, self.onnx_description, lambda: emb.model, threads=threads
            )
        return emb


@dataclass(frozen=True)
class _Job:
    """What each actor builds: an Embedder from its spec, or a picklable embedder-like object as is."""

    spec: EmbedderSpec | None
    other: _FileEmbedder | None
    device: str
    threads: int | None
    inspect: bool = False  # also hash each file and read its image size

    def build(self) -> _FileEmbedder:
        if self.spec is not None:
            return self.spec.build(self.device, self.threads)
        assert self.other is not None
        return self.other


class _EmbedActor:
    """One actor of the pool: builds its embedder once, then embeds batch after batch."""

    def __init__(self, job: _Job) -> None:
        self.embedder = job.build()
        self.inspect = job.inspect

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        return _embed_rows(self.embedder, batch, inspect=self.inspect)


def _embed_rows(
    embedder: _FileEmbedder, batch: dict[str, npt.NDArray[Any]], *, inspect: bool = False
) -> dict[str, npt.NDArray[Any]]:
    """One Ray batch (columns ``index``, ``path``) → columns ``index``, ``vector`` (zeros for a failed
    file) and ``error`` (``""`` for a good one), by ``embedder.iter_files``: bad files are failures.
    ``inspect`` adds ``sha`` (``""``: unreadable), ``width`` and ``height`` (-1: unknown) of each file, read
    before it is decoded (so the decoder finds its bytes in the page cache)."""
    paths = [str(p) for p in batch["path"]]
    facts = _inspect_rows(paths) if inspect else {}
    vectors: npt.NDArray[np.float32] | None = None
    errors = [""] * len(paths)
    for part in embedder.iter_files(paths):
        for i, reason in part.failures:
            errors[i] = reason
        if not len(part.indices):  # every file of the part failed
            continue
        got = np.asarray(part.vectors, dtype=np.float32)
        if vectors is None:
            vectors = np.zeros((len(paths), got.shape[1]), dtype=np.float32)
        vectors[list(part.indices)] = got
    if vectors is None:  # nothing in the batch decoded
        vectors = np.zeros((len(paths), int(getattr(embedder, "dim", 1))), dtype=np.float32)
    index = np.asarray(batch["index"], dtype=np.int64)
    return {"index": index, "vector": vectors, "error": np.asarray(errors, dtype=object), **facts}


def _inspect_rows(paths: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """Columns ``sha``, ``width``, ``height`` of ``paths``, as the driver finds them (:func:`file_facts`)."""
    found = [file_facts(Path(p)) for p in paths]
    return {
        "sha": np.asarray([sha or "" for sha, _, _ in found], dtype=object),
        "width": np.asarray([-1 if w is None else w for _, w, _ in found], dtype=np.int64),
        "height": np.asarray([-1 if h is None else h for _, _, h in found], dtype=np.int64),
    }


def _hash_paths(paths: list[str]) -> list[str | None]:
    """One Ray task of :func:`hash_files`: the SHA-256 of each file, ``None`` where it cannot be read."""
    return [quiet_sha256(path) for path in paths]


def _to_batch(
    columns: dict[str, npt.NDArray[Any]], paths: Sequence[str | os.PathLike[str]], facts: Facts | None = None
) -> EmbeddedBatch:
    """Ray's columns back into the driver's :class:`EmbeddedBatch` (indices ascending, failures sorted;
    file names in messages as the caller wrote them); the files' ``facts`` into that dict."""
    import torch

    order = np.argsort(columns["index"], kind="stable")
    index, errors = columns["index"][order], columns["error"][order]
    if facts is not None and "sha" in columns:
        for i, sha, w, h in zip(
            columns["index"], columns["sha"], columns["width"], columns["height"], strict=True
        ):
            facts[int(i)] = (str(sha) or None, None if w < 0 else int(w), None if h < 0 else int(h))
    ok = np.asarray([not e for e in errors], dtype=bool)
    vectors = np.ascontiguousarray(np.asarray(columns["vector"])[order][ok], dtype=np.float32)
    failures = []
    for i, reason in zip(index[~ok], errors[~ok], strict=True):
        path = paths[int(i)]  # the workers read it by its absolute path
        failures.append((int(i), str(reason).replace(str(Path(path).absolute()), os.fspath(path))))
    return EmbeddedBatch([int(i) for i in index[ok]], torch.from_numpy(vectors), failures)


def _worker_failure(exc: BaseException) -> LookalikeError:
    """A Ray error (an actor that could not start, a batch that raised) as one line: the lookalike error
    inside it where there is one (weights not found on a worker, ...), else the last line of Ray's."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("lookalike.errors.")]
    reason = ours[-1].split(": ", 1)[-1] if ours else (lines[-1] if lines else type(exc).__name__)
    return LookalikeError(f"a Ray worker failed: {reason}")


def _import_ray() -> Any:
    try:
        import ray  # type: ignore[import-untyped, unused-ignore]
        import ray.data  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise LookalikeError("Ray is not installed", RAY_HINT) from None
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a cluster that cannot be reached, before any work: Ray must be installed and, for an
    address other than ``auto``/``local``, its head must accept a connection on the address's port
    (``ray://HOST:PORT``, the client server, or ``HOST:PORT``, the GCS). Raises :class:`LookalikeError`
    with one line naming the address."""
    import socket
    from urllib.parse import urlsplit

    _import_ray()
    if address in LOCAL:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise LookalikeError(
            f"--ray {address}: not a cluster address",
            "pass ray://HOST:10001 (the head's client server), HOST:6379 (its GCS), or auto",
        )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LookalikeError(
            f"--ray {address}: cannot reach the Ray cluster ({reason})",
            "check the head's address and port, and that `ray start --head` runs there; nothing was done",
        ) from None


def _connect(ray: Any, address: str) -> bool:
    """Start or join a Ray session unless this process has one; True when this call made it."""
    if ray.is_initialized():
        return False
    # quiet: no "Starting execution of Dataset", "Progress bars disabled", token notes (errors still show)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address in LOCAL:
        cores = os.cpu_count() or 1
        ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=_OBJECT_STORE, **quiet)
    else:
        ray.init(address=address, **quiet)
    return True


def _pool(ray: Any, concurrency: int | None) -> tuple[int, dict[str, Any], str]:
    """Actors, their resources, and their device: one per GPU where the cluster has GPUs, else one per
    CPU, each computing with one thread."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        return concurrency or gpus, {"num_gpus": 1, "num_cpus": 1}, "cuda"
    return concurrency or cpus, {"num_cpus": 1}, "cpu"


class Session:
    """One Ray instance for several passes of a run (:func:`hash_files`, then :func:`iter_files`):
    started (or joined) on first use, shut down by :meth:`close` (or the ``with`` block's end) when this
    session started it; a Ray session already running in this process is used as it is.

    >>> with Session("auto") as session:  # doctest: +SKIP
    ...     shas = hash_files(paths, session=session)
    ...     batches = list(iter_files(embedder, paths, session=session))
    """

    def __init__(self, address: str = "auto") -> None:
        self.address = address
        self._ray: Any = None
        self._started = False

    def ray(self) -> Any:
        """The ``ray`` module, connected."""
        if self._ray is None:
            ray = _import_ray()
            self._started = _connect(ray, self.address)
            self._ray = ray
        return self._ray

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _ordered(ray: Any) -> Iterator[Any]:
    """Ray Data's context with results in the caller's order and no progress bars (restored after); a
    Ray error inside becomes one :class:`LookalikeError`."""
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield context
    except Exception as exc:
        if not type(exc).__module__.startswith("ray."):
            raise
        raise _worker_failure(exc) from exc
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved


def iter_files(
    embedder: Embedder | _FileEmbedder,
    paths: Sequence[str | os.PathLike[str]],
    *,
    address: str = "auto",
    concurrency: int | None = None,
    facts: Facts | None = None,
    session: Session | None = None,
) -> Iterator[EmbeddedBatch]:
    """Embed ``paths`` on Ray: the batches :meth:`Embedder.iter_files` would yield (``indices`` are
    positions in ``paths``, ascending; bad files are ``failures``), computed by a pool of ``concurrency``
    actors (default: one per GPU, else per CPU of the cluster) reached through ``address`` (module doc),
    or through ``session``'s Ray instance (kept after the last batch).

    With ``facts`` (a dict), the actors also read each file's SHA-256 and image size and put them there,
    ``index → (sha256, width, height)``, before its batch is yielded: the driver need not read the file.

    An :class:`Embedder` is rebuilt in each actor from :meth:`EmbedderSpec.of`; any other object with
    ``iter_files`` and ``batch_size`` (a test double) is pickled and used as is. Fewer than two batches'
    worth of paths are embedded here, by ``embedder`` itself: Ray is not started for them (and ``facts``
    stays empty).
    """
    spec = EmbedderSpec.of(embedder) if isinstance(embedder, Embedder) else None
    if len(paths) < 2 * embedder.batch_size:  # not worth a pool's start-up (a retried bad file, ...)
        yield from embedder.iter_files(paths)
        return
    own = session is None
    run = Session(address) if session is None else session
    try:
        ray = run.ray()
        with _ordered(ray):  # batches come back in the caller's order
            size, resources, device = _pool(ray, concurrency)
            if spec is not None and device == "cpu" and spec.precision == "float16":
                raise LookalikeError(
                    "the embedder computes in float16, which the cluster's CPUs cannot",
                    "pass --precision float32, or use a cluster with GPUs",
                )
            threads = 1 if device == "cpu" else None
            job = _Job(spec, None if spec else embedder, device, threads, inspect=facts is not None)
            items = [{"index": i, "path": str(Path(p).absolute())} for i, p in enumerate(paths)]
            data = ray.data.from_items(items).map_batches(
                _EmbedActor,
                fn_constructor_kwargs={"job": job},
                batch_size=embedder.batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=size),
                **resources,
            )
            for columns in data.iter_batches(batch_size=None, batch_format="numpy"):
                yield _to_batch(columns, paths, facts)
    finally:
        if own:
            run.close()


def hash_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    address: str = "auto",
    session: Session | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str | None]:
    """The SHA-256 of each of ``paths`` (``None`` where it cannot be read), computed by Ray tasks of one
    CPU each (:data:`_HASH_BATCH` files a task, two tasks per CPU of the cluster in flight) on
    ``session``'s instance or ``address``'s: the driver reads none of the files. ``progress(done,
    total)`` is told as results come back, in order."""
    from collections import deque

    if not paths:
        return []
    own = session is None
    run = Session(address) if session is None else session
    shas: list[str | None] = []
    try:
        ray = run.ray()
        task = ray.remote(num_cpus=1)(_hash_paths)
        names = [str(Path(p).absolute()) for p in paths]
        starts = iter(range(0, len(names), _HASH_BATCH))
        window = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        flying: deque[Any] = deque()
        for start in starts:
            flying.append(task.remote(names[start : start + _HASH_BATCH]))
            if len(flying) == window:
                break
        while flying:
            shas += ray.get(flying.popleft())
            if (start := next(starts, -1)) >= 0:
                flying.append(task.remote(names[start : start + _HASH_BATCH]))
            if progress:
                progress(len(shas), len(paths))
    except Exception as exc:
        if not type(exc).__module__.startswith("ray."):
            raise
        raise _worker_failure(exc) from exc
    finally:
        if own:
            run.close()
    return shas
