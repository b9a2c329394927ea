"""Similarity metrics between tensors: L1, MSE, cosine similarity and normalized cross-correlation.

Every metric reads its inputs as flat vectors of their elements:

* ``l1``     = Σ|a−b|  (a sum, not a mean; lower is more alike)
* ``mse``    = mean (a−b)²  (lower is more alike)
* ``cosine`` = a·b / (‖a‖‖b‖)  (in [−1, 1]; higher is more alike)
* ``ncc``    = Σ(a−ā)(b−b̄) / √(Σ(a−ā)² · Σ(b−b̄)²)  (Pearson's r, in [−1, 1]; higher is more alike)

Each comes in three forms:

* one-to-one — ``l1(a, b)`` with ``a.shape == b.shape`` gives a 0-d tensor;
* one-to-many — ``l1(a, b)`` with ``b.shape == (N, *a.shape)`` gives ``N`` values, ``a`` against each
  ``b[i]``;
* pairwise — ``pairwise_l1(A, B)`` with ``A`` of shape ``(N, *S)`` and ``B`` of ``(M, *S)`` gives ``(N, M)``.

Any other pair of shapes raises :class:`~lookalike.errors.ShapeError` naming both.

Inputs are torch tensors, NumPy arrays or nested sequences, of any real dtype. Integers and bools (uint8
images) become floats *before* anything is subtracted, so 100 − 102 is −2, never 254. Results are float32,
or float64 when an input is float64, and live on the inputs' device (which must be the same for both; no
tensor is moved). Sums are accumulated in float64 on every device that has it (all but Apple's MPS), so
results match a float64 NumPy reference to float32 rounding whatever the input dtype. Pairwise MSE avoids
the cancellation of ‖a‖² + ‖b‖² − 2a·b: pairs that are near-duplicates are recomputed from their
differences. Memory stays bounded: rows are processed in chunks of about 4 M elements (pairwise also
holds ``B`` as float64: 49 MB for 2000 × 3072).

Conventions for degenerate input (never a silent NaN):

* no elements per item (e.g. ``l1([], [])``) — :class:`ValueError`; zero *items* is fine and gives an empty
  result (one-to-many with ``N = 0``, pairwise with ``N`` or ``M = 0``);
* NaN or inf anywhere in the input — :class:`ValueError`;
* ``cosine`` with an all-zero vector — 0.0 (scikit-learn's convention: no direction, no similarity);
* ``ncc`` where a side is constant — 0.0 (a constant signal has no variation to correlate);
* a result too large for its dtype (an MSE of float64 inputs past ~1e154, or an L1 sum past float32's
  3e38 for float32 output) — :class:`ValueError`;
* inputs on two devices — :class:`ValueError`;
* complex input — :class:`TypeError`.

>>> import torch
>>> a = torch.tensor([100, 105, 98, 110], dtype=torch.uint8)
>>> b = torch.tensor([102, 107, 97, 108], dtype=torch.uint8)
>>> l1(a, b), mse(a, b)
(tensor(7.), tensor(3.2500))
>>> pairwise_cosine(torch.eye(2), torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
tensor([[1.0000, 0.7071, 0.0000],
        [0.0000, 0.7071, 0.0000]])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from lookalike.errors import ShapeError

if TYPE_CHECKING:
    import torch

    _Rows = Callable[[torch.Tensor], torch.Tensor]
    _Pair = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
else:

    class _Torch:
        """``torch``, imported on first use: the registry and the NumPy forms (:attr:`Metric.numpy`) work
        without it, which keeps ``lookalike compare`` on the torch-free path."""

        def __getattr__(self, name: str) -> Any:
            import torch as module

            globals()["torch"] = module  # later look-ups go straight to the module
            return getattr(module, name)

    torch = _Torch()

__all__ = [
    "METRICS",
    "SEARCH_METRICS",
    "Metric",
    "SearchMetric",
    "TensorLike",
    "centred_unit_rows",
    "cosine",
    "cosine_numpy",
    "get_metric",
    "l1",
    "l1_numpy",
    "mse",
    "mse_numpy",
    "ncc",
    "ncc_numpy",
    "pairwise_cosine",
    "pairwise_l1",
    "pairwise_mse",
    "pairwise_ncc",
]

TensorLike: TypeAlias = "torch.Tensor | npt.ArrayLike"
F = TypeVar("F", np.float32, np.float64)

SearchMetric = Literal["cosine", "l2", "l1", "mse", "ncc"]
"""The metrics a collection can be searched by: the four of :data:`METRICS` plus L2 (a FAISS distance)."""
SEARCH_METRICS: tuple[str, ...] = get_args(SearchMetric)

# Temporaries are bounded by chunks of about this many elements (32 MiB in float64).
_CHUNK_ELEMS = 1 << 22
# Pairwise MSE: ‖x‖² + ‖y‖² − 2x·y in float64 loses about eps·D·(‖x‖² + ‖y‖²) to cancellation; pairs whose
# result falls below this fraction of ‖x‖² + ‖y‖² are recomputed from their differences.
_NEAR_DUPLICATE = 1e-5


# ----------------------------------------------------------------------------------------------------------
# Input handling


def _as_tensor(x: TensorLike, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    else:
        if isinstance(x, np.ndarray) and not x.flags.writeable:
            x = x.copy()  # torch warns about read-only arrays (np.asarray of a PIL image is one)
        t = torch.as_tensor(x)
    if t.is_complex():
        raise TypeError(f"{name} is complex ({t.dtype}); metrics need real-valued input")
    return t


def _check_devices(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.device != b.device:
        first, second = names.split(",")
        raise ValueError(
            f"{first} is on {a.device} and {second} on {b.device}; move both to one device first"
        )


def _out_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    return torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32


def _acc_dtype(device: torch.device) -> torch.dtype:
    """float64 wherever the device has it: every CPU and CUDA GPU; Apple's MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _all_finite(t: torch.Tensor) -> bool:
    lo, hi = torch.aminmax(t)  # NaN and ±inf reach the extremes; a fifth of the cost of isfinite().all()
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def _to_acc(t: torch.Tensor, acc: torch.dtype, name: str) -> torch.Tensor:
    if t.is_floating_point() and t.numel() > 0 and not _all_finite(t):
        raise ValueError(
            f"input {name} contains NaN or inf; the metrics are undefined for it "
            "(drop or fill those values first)"
        )
    return t.to(acc)


def _no_elements(kind: str, shape: tuple[int, ...]) -> ValueError:
    return ValueError(f"{kind}: items of shape {shape} have no elements to compare")


def _finish(out: torch.Tensor, dtype: torch.dtype, kind: str) -> torch.Tensor:
    res = out.to(dtype)
    if not bool(torch.isfinite(res).all()):
        raise ValueError(f"{kind}: the result overflows {dtype}; rescale the inputs (e.g. pixels to [0, 1])")
    return res


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


# ----------------------------------------------------------------------------------------------------------
# Row transforms and kernels; rows are (n, D) in the accumulation dtype


def _scaled(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their largest magnitude, so that squares neither overflow nor underflow."""
    return x / x.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length 1; an all-zero row stays zero (so its cosine with anything is 0)."""
    x = _scaled(x)
    norm: torch.Tensor = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return x / norm.clamp_min(torch.finfo(x.dtype).tiny)


def _centred_unit(x: torch.Tensor) -> torch.Tensor:
    """Rows minus their mean, scaled to length 1; a constant row becomes exactly zero (so its ncc is 0)."""
    x = _scaled(x)
    constant = (x == x[:, :1]).all(-1, keepdim=True)  # exactly zero by test, not left to rounding
    return _unit((x - x.mean(-1, keepdim=True)).masked_fill(constant, 0.0))


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _l1_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y - x).abs().sum(-1)


def _mse_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y - x).square().mean(-1)


def _dot_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y @ x[0]).clamp(-1.0, 1.0)


def _l1_matrix(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, y, p=1.0)


def _dot_matrix(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T).clamp(-1.0, 1.0)


def _mse_matrix(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    d = x.shape[1]
    if x.dtype != torch.float64:  # float32 cancellation is too coarse to repair: take differences throughout
        return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square() / d
    xx, yy = x.square().sum(1), y.square().sum(1)
    out = torch.addmm(yy[None, :], x, y.T, alpha=-2.0).add_(xx[:, None])
    near = (out <= _NEAR_DUPLICATE * (xx[:, None] + yy[None, :])).nonzero()
    for pairs in torch.split(near, max(1, _CHUNK_ELEMS // d)):
        i, j = pairs.unbind(1)
        out[i, j] = (x[i] - y[j]).square().sum(1)
    return out / d  # a negative value is below the threshold, so it was recomputed


# ----------------------------------------------------------------------------------------------------------
# The two drivers


def _one_to_many(kind: str, prep: _Rows, rows: _Pair, a: TensorLike, b: TensorLike) -> torch.Tensor:
    ta, tb = _as_tensor(a, "a"), _as_tensor(b, "b")
    _check_devices(ta, tb, "a,b")
    if ta.shape == tb.shape:
        many = False
    elif tb.dim() == ta.dim() + 1 and tb.shape[1:] == ta.shape:
        many = True
    else:
        many_shape = "(N" + "".join(f", {s}" for s in ta.shape) + ")"
        hint = "; to compare many with one, swap the arguments" if ta.shape[1:] == tb.shape else ""
        raise ShapeError(
            f"{kind}: a has shape {_shape(ta)} and b has shape {_shape(tb)}; expected the same "
            f"shape (one-to-one) or b of shape {many_shape} (one-to-many){hint}"
        )
    d = ta.numel()
    if d == 0:
        raise _no_elements(kind, _shape(ta))
    acc = _acc_dtype(ta.device)
    x = prep(_to_acc(ta.reshape(1, d), acc, "a"))
    yrows = tb.reshape(-1, d)
    step = max(1, _CHUNK_ELEMS // d)
    parts = [rows(x, prep(_to_acc(yrows[i : i + step], acc, "b"))) for i in range(0, yrows.shape[0], step)]
    out = torch.cat(parts) if parts else x.new_zeros(0)
    res = _finish(out, _out_dtype(ta, tb), kind)
    return res if many else res.reshape(())


def _pairwise(kind: str, prep: _Rows, matrix: _Pair, a: TensorLike, b: TensorLike) -> torch.Tensor:
    ta, tb = _as_tensor(a, "A"), _as_tensor(b, "B")
    _check_devices(ta, tb, "A,B")
    if ta.dim() == 0 or tb.dim() == 0 or ta.shape[1:] != tb.shape[1:]:
        raise ShapeError(
            f"{kind}: A has shape {_shape(ta)} and B has shape {_shape(tb)}; expected A of shape "
            "(N, *S) and B of shape (M, *S) with the same item shape S"
        )
    d = math.prod(ta.shape[1:])
    if d == 0:
        raise _no_elements(kind, _shape(ta)[1:])
    n, m = ta.shape[0], tb.shape[0]
    acc = _acc_dtype(ta.device)
    y = prep(_to_acc(tb.reshape(m, d), acc, "B"))
    xrows = ta.reshape(n, d)
    out = torch.empty(n, m, dtype=_out_dtype(ta, tb), device=ta.device)
    step = max(1, _CHUNK_ELEMS // max(m, d))
    for i in range(0, n, step):
        x = prep(_to_acc(xrows[i : i + step], acc, "A"))
        out[i : i + step] = _finish(matrix(x, y), out.dtype, kind)
    return out


# ----------------------------------------------------------------------------------------------------------
# Public metrics


def l1(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """L1 distance Σ|a−b| (a sum over all elements); ``b`` may hold N items shaped like ``a``.

    >>> l1([5, 8, 4, 2], [3, 7, 10, 6])
    tensor(13.)
    >>> l1([1.0, 2.0], [[1.0, 2.0], [0.0, 0.0]])
    tensor([0., 3.])
    """
    return _one_to_many("l1", _identity, _l1_rows, a, b)


def mse(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Mean squared error mean (a−b)²; ``b`` may hold N items shaped like ``a``.

    >>> mse([1, 2, 4, 5], [1.2, 2.4, 3.4, 5.6])
    tensor(0.2300)
    """
    return _one_to_many("mse", _identity, _mse_rows, a, b)


def cosine(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Cosine similarity a·b / (‖a‖‖b‖), 0.0 when either is all zeros; ``b`` may hold N items like ``a``.

    >>> cosine([1, 2, 3, 4], [5, 6, 7, 8])
    tensor(0.9689)
    >>> cosine([1.0, 0.0], [[2.0, 0.0], [0.0, 0.0]])
    tensor([1., 0.])
    """
    return _one_to_many("cosine", _unit, _dot_rows, a, b)


def ncc(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Normalized cross-correlation (Pearson's r), 0.0 when either side is constant; ``b`` may hold N items.

    >>> ncc([1, 2, 4, 9], [4, 3, 1, 2])
    tensor(-0.5804)
    >>> ncc([1, 2, 3], [[2, 4, 6], [5, 5, 5]])
    tensor([1., 0.])
    """
    return _one_to_many("ncc", _centred_unit, _dot_rows, a, b)


def pairwise_l1(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """L1 distances between every item of ``a`` (N, *S) and every item of ``b`` (M, *S): an (N, M) matrix.

    >>> pairwise_l1([[0, 0], [1, 1]], [[1, 1], [2, 0], [0, 0]])
    tensor([[2., 2., 0.],
            [0., 2., 2.]])
    """
    return _pairwise("pairwise_l1", _identity, _l1_matrix, a, b)


def pairwise_mse(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """MSE between every item of ``a`` (N, *S) and every item of ``b`` (M, *S): an (N, M) matrix.

    >>> pairwise_mse([[0, 0], [1, 1]], [[1, 1], [2, 0]])
    tensor([[1., 2.],
            [0., 1.]])
    """
    return _pairwise("pairwise_mse", _identity, _mse_matrix, a, b)


def pairwise_cosine(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Cosine similarity of every item of ``a`` (N, *S) with every item of ``b`` (M, *S): (N, M).

    >>> pairwise_cosine([[1, 0], [0, 0]], [[3, 0], [1, 1]])
    tensor([[1.0000, 0.7071],
            [0.0000, 0.0000]])
    """
    return _pairwise("pairwise_cosine", _unit, _dot_matrix, a, b)


def pairwise_ncc(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Normalized cross-correlation of every item of ``a`` (N, *S) with every item of ``b`` (M, *S).

    >>> pairwise_ncc([[1, 2, 3], [7, 7, 7]], [[3, 2, 1], [2, 4, 7]])
    tensor([[-1.0000,  0.9934],
            [ 0.0000,  0.0000]])
    """
    return _pairwise("pairwise_ncc", _centred_unit, _dot_matrix, a, b)


# ----------------------------------------------------------------------------------------------------------
# NumPy one-to-one forms: the same definitions and conventions, in float64, for the torch-free path


def _numpy_pair(kind: str, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    x, y = np.asarray(a), np.asarray(b)
    if np.iscomplexobj(x) or np.iscomplexobj(y):
        raise TypeError(f"{kind}: complex input; metrics need real-valued input")
    if x.shape != y.shape:
        raise ShapeError(f"{kind}: a has shape {x.shape} and b has shape {y.shape}; expected the same shape")
    if x.size == 0:
        raise _no_elements(kind, x.shape)
    out = tuple(v.astype(np.float64).ravel() for v in (x, y))
    for name, v in zip("ab", out, strict=True):
        if not np.isfinite(v).all():
            raise ValueError(
                f"input {name} contains NaN or inf; the metrics are undefined for it "
                "(drop or fill those values first)"
            )
    return out


def _numpy_unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = float(np.abs(v).max())
    if top == 0.0:
        return np.zeros_like(v)
    v = v / top
    unit: npt.NDArray[np.float64] = v / np.linalg.norm(v)
    return unit


def l1_numpy(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """:func:`l1` of two arrays of one shape, in NumPy (float64): no torch.

    >>> l1_numpy([5, 8, 4, 2], [3, 7, 10, 6])
    13.0
    """
    x, y = _numpy_pair("l1", a, b)
    return float(np.abs(y - x).sum())


def mse_numpy(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """:func:`mse` of two arrays of one shape, in NumPy (float64): no torch."""
    x, y = _numpy_pair("mse", a, b)
    return float(np.square(y - x).mean())


def cosine_numpy(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """:func:`cosine` of two arrays of one shape, in NumPy (float64; 0.0 for an all-zero side): no torch."""
    x, y = _numpy_pair("cosine", a, b)
    return float(np.clip(_numpy_unit(x) @ _numpy_unit(y), -1.0, 1.0))


def ncc_numpy(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """:func:`ncc` of two arrays of one shape, in NumPy (float64; 0.0 for a constant side): no torch."""
    x, y = _numpy_pair("ncc", a, b)
    return float(np.clip(centred_unit_rows(x) @ centred_unit_rows(y), -1.0, 1.0))


def centred_unit_rows(x: npt.NDArray[F]) -> npt.NDArray[F]:
    """Rows (last axis) minus their mean, scaled to length 1, in NumPy and in ``x``'s dtype; a constant
    row becomes exactly zero (so its NCC with anything is 0): the NCC of two rows is the dot product of
    theirs. The one definition behind :func:`ncc`'s NumPy forms and the near-duplicate check.

    >>> centred_unit_rows(np.array([[1.0, 3.0], [2.0, 2.0]]))
    array([[-0.70710678,  0.70710678],
           [ 0.        ,  0.        ]])
    """
    top = np.abs(x).max(-1, keepdims=True)
    x = x / np.maximum(top, np.finfo(x.dtype).tiny)  # no overflow in the squares
    centred = x - x.mean(-1, keepdims=True)
    constant = (x == x[..., :1]).all(-1, keepdims=True)  # exactly zero by test, not left to rounding
    norm = np.linalg.norm(centred, axis=-1, keepdims=True)
    out: npt.NDArray[F] = np.where(constant, 0.0, centred / np.maximum(norm, np.finfo(x.dtype).tiny)).astype(
        x.dtype, copy=False
    )
    return out


# ----------------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Metric:
    """A metric by name: its one-to-one/one-to-many function, its pairwise form, which way is better, and
    its NumPy one-to-one form (a float, no torch)."""

    name: str
    label: str
    fn: Callable[[TensorLike, TensorLike], torch.Tensor]
    pairwise: Callable[[TensorLike, TensorLike], torch.Tensor]
    higher_is_better: bool
    numpy: Callable[[npt.ArrayLike, npt.ArrayLike], float]


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("l1", "L1 distance", l1, pairwise_l1, higher_is_better=False, numpy=l1_numpy),
        Metric("mse", "MSE", mse, pairwise_mse, higher_is_better=False, numpy=mse_numpy),
        Metric(
            "cosine", "Cosine similarity", cosine, pairwise_cosine, higher_is_better=True, numpy=cosine_numpy
        ),
        Metric(
            "ncc", "Normalized cross-correlation", ncc, pairwise_ncc, higher_is_better=True, numpy=ncc_numpy
        ),
    )
}


def get_metric(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (any case), else a ``ValueError`` listing the valid names.

    >>> get_metric("NCC").label
    'Normalized cross-correlation'
    """
    metric = METRICS.get(name.lower())
    if metric is None:
        raise ValueError(f"unknown metric {name!r}; choose one of: {', '.join(METRICS)}")
    return metric
