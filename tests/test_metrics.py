"""Tests for lookalike.metrics: hand-worked values, dtypes, float64 references, forms and degenerate input."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch

from lookalike import metrics
from lookalike.errors import ShapeError
from lookalike.metrics import (
    METRICS,
    cosine,
    get_metric,
    l1,
    mse,
    ncc,
    pairwise_cosine,
    pairwise_l1,
    pairwise_mse,
    pairwise_ncc,
)

NAMES = ("l1", "mse", "cosine", "ncc")
ONE = {"l1": l1, "mse": mse, "cosine": cosine, "ncc": ncc}
PAIR = {"l1": pairwise_l1, "mse": pairwise_mse, "cosine": pairwise_cosine, "ncc": pairwise_ncc}


def _ref(name: str, a: np.ndarray, b: np.ndarray) -> float:
    """Independent float64 NumPy reference on flattened items."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if name == "l1":
        return float(np.abs(x - y).sum())
    if name == "mse":
        return float(((x - y) ** 2).mean())
    if name == "cosine":
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
    return float(np.corrcoef(x, y)[0, 1])


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-6, atol: float = 0.0) -> None:
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=rtol, atol=atol)


def _rng_float32(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Hand-worked values


@pytest.mark.parametrize(
    ("fn", "a", "b", "exact", "quoted"),
    [
        (mse, [1, 2, 4, 5], [1.2, 2.4, 3.4, 5.6], 0.23, 0.23),
        (mse, [100, 105, 98, 110], [102, 107, 97, 108], 3.25, 3.25),
        (l1, [100, 105, 98, 110], [102, 107, 97, 108], 7.0, 7.0),
        (l1, [5, 8, 4, 2], [3, 7, 10, 6], 13.0, 13.0),
        (cosine, [1, 2, 3, 4], [5, 6, 7, 8], 70 / math.sqrt(30 * 174), 0.9689),
        (cosine, [3, 2, 4, 6], [9, 3, 2, 6], 77 / math.sqrt(65 * 130), 0.8377),  # exactly 0.837650 (rounded)
        (ncc, [1, 2, 4, 9], [4, 3, 1, 2], -8 / (math.sqrt(38) * math.sqrt(5)), -0.5804),
    ],
)
def test_hand_worked(
    fn: Callable[..., torch.Tensor], a: list[float], b: list[float], exact: float, quoted: float
) -> None:
    out = fn(a, b)
    assert out.shape == ()
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(exact, rel=1e-6)
    assert abs(float(out) - quoted) <= 1e-4  # the value as quoted to 4 decimals


# ----------------------------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("name", NAMES)
def test_uint8_has_no_wraparound(name: str) -> None:
    a, b = [100, 105, 98, 110], [102, 107, 97, 108]
    as_u8 = ONE[name](np.array(a, np.uint8), torch.tensor(b, dtype=torch.uint8))
    as_float = ONE[name](np.array(a, np.float64), np.array(b, np.float64))
    assert as_u8.dtype == torch.float32
    assert float(as_u8) == pytest.approx(float(as_float), rel=1e-6)
    assert float(as_u8) == pytest.approx(_ref(name, np.array(a), np.array(b)), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_images_one_to_many_and_pairwise(name: str) -> None:
    rng = np.random.default_rng(1)
    xs = rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    ys = rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)
    xs_f, ys_f = xs.astype(np.float32), ys.astype(np.float32)
    np.testing.assert_allclose(PAIR[name](xs, ys).numpy(), PAIR[name](xs_f, ys_f).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ONE[name](xs[0], ys).numpy(), ONE[name](xs_f[0], ys_f).numpy(), rtol=1e-6)
    want = [[_ref(name, xs_f[i], ys_f[j]) for j in range(5)] for i in range(4)]
    np.testing.assert_allclose(
        PAIR[name](torch.from_numpy(xs), torch.from_numpy(ys)).numpy(), want, rtol=1e-6
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.float32])
def test_low_precision_and_integer_inputs_give_float32(name: str, dtype: torch.dtype) -> None:
    a = torch.tensor([100, 105, 98, 110], dtype=dtype)  # integers below 256 are exact in every dtype here
    b = torch.tensor([102, 107, 97, 108], dtype=dtype)
    want = _ref(name, a.double().numpy(), b.double().numpy())
    out = ONE[name](a, b)
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(want, rel=1e-6)
    pair = PAIR[name](a[None].repeat(2, 1), b[None])
    assert pair.dtype == torch.float32
    np.testing.assert_allclose(pair.numpy(), [[want], [want]], rtol=1e-6)


def test_bfloat16_random_matches_float32_of_same_values() -> None:
    a = torch.from_numpy(_rng_float32(3, 16, 16, seed=2)).bfloat16()
    b = torch.from_numpy(_rng_float32(4, 3, 16, 16, seed=3)).half()
    for name in NAMES:
        np.testing.assert_allclose(
            ONE[name](a, b).numpy(), ONE[name](a.float(), b.float()).numpy(), rtol=1e-6
        )


@pytest.mark.parametrize("name", NAMES)
def test_bool_inputs(name: str) -> None:
    a, b = [True, False, True, True], [True, True, False, True]
    assert float(ONE[name](a, b)) == pytest.approx(_ref(name, np.array(a), np.array(b)), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_float64_in_float64_out(name: str) -> None:
    a, b = _rng_float32(50, seed=4).astype(np.float64), _rng_float32(3, 50, seed=5).astype(np.float64)
    one = ONE[name](a, b[0])
    assert one.dtype == torch.float64
    assert float(one) == pytest.approx(_ref(name, a, b[0]), rel=1e-12)
    assert ONE[name](a, b).dtype == torch.float64
    assert PAIR[name](b, b).dtype == torch.float64
    mixed = ONE[name](torch.from_numpy(a).float(), torch.from_numpy(b[0]))  # float32 with float64
    assert mixed.dtype == torch.float64


def test_python_sequences_and_numpy_follow_torch_as_tensor() -> None:
    assert l1([1.5, 2.0], [1.0, 1.0]).dtype == torch.float32  # Python floats -> torch's default float32
    assert l1(np.array([1.5, 2.0]), np.array([1.0, 1.0])).dtype == torch.float64


def test_read_only_numpy_array_is_accepted_silently() -> None:
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    a.flags.writeable = False  # np.asarray(PIL image) gives such arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(l1(a, a)) == 0.0
        assert pairwise_mse(a, a).shape == (3, 3)


# ----------------------------------------------------------------------------------------------------------
# Agreement with float64 references, and the forms agree with each other


@pytest.mark.parametrize("name", NAMES)
def test_random_float32_matches_float64_reference(name: str) -> None:
    a, ys = _rng_float32(3, 32, 32, seed=6), _rng_float32(5, 3, 32, 32, seed=7)
    assert float(ONE[name](a, ys[0])) == pytest.approx(_ref(name, a, ys[0]), rel=1e-6, abs=0)
    np.testing.assert_allclose(ONE[name](a, ys).numpy(), [_ref(name, a, b) for b in ys], rtol=1e-6, atol=0)
    xs = _rng_float32(4, 3, 32, 32, seed=8) + 0.5
    want = [[_ref(name, x, y) for y in ys] for x in xs]
    np.testing.assert_allclose(PAIR[name](xs, ys).numpy(), want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_one_to_many_and_pairwise_equal_loops_of_one_to_one(name: str) -> None:
    xs, ys = torch.from_numpy(_rng_float32(3, 7, 9, seed=9)), torch.from_numpy(_rng_float32(4, 7, 9, seed=10))
    many = ONE[name](xs[1], ys)
    assert many.shape == (4,)
    _close(many, torch.stack([ONE[name](xs[1], b) for b in ys]), rtol=1e-6, atol=0)
    pair = PAIR[name](xs, ys)
    assert pair.shape == (3, 4)
    loop = torch.stack([torch.stack([ONE[name](x, y) for y in ys]) for x in xs])
    _close(pair, loop, rtol=1e-6, atol=0)


def test_near_duplicate_pairwise_mse_is_accurate() -> None:
    rng = np.random.default_rng(11)
    xs = rng.random((5, 3072), dtype=np.float32)
    ys = (xs + 1e-3 * rng.standard_normal((5, 3072))).astype(np.float32)
    want = ((xs.astype(np.float64)[:, None] - ys.astype(np.float64)[None]) ** 2).mean(-1)
    np.testing.assert_allclose(pairwise_mse(xs, ys).numpy(), want, rtol=1e-4, atol=0)


def test_pairwise_mse_mixes_nearly_identical_and_far_pairs_accurately() -> None:
    # pairs 1e-6 apart cancel catastrophically in ‖a‖² + ‖b‖² − 2a·b, even in float64
    rng = np.random.default_rng(12)
    xs = rng.random((4, 3072), dtype=np.float32)
    near = (xs + 1e-6 * rng.standard_normal((4, 3072))).astype(np.float32)
    ys = np.concatenate([near, rng.random((3, 3072), dtype=np.float32), xs[:1]])
    want = ((xs.astype(np.float64)[:, None] - ys.astype(np.float64)[None]) ** 2).mean(-1)
    got = pairwise_mse(xs, ys).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert got[0, -1] == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_self_comparison(name: str) -> None:
    xs = torch.from_numpy(_rng_float32(6, 40, seed=13))
    diag = PAIR[name](xs, xs).diagonal()
    if name in ("l1", "mse"):
        assert bool((diag == 0).all())
    else:
        _close(diag, torch.ones(6), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_chunked_results_equal_unchunked(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    xs = np.concatenate([_rng_float32(5, 30, seed=14), _rng_float32(2, 30, seed=14)])  # with exact duplicates
    ys = _rng_float32(6, 30, seed=15)
    whole_pair, whole_many = PAIR[name](xs, ys), ONE[name](xs[0], ys)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMS", 40)  # one row per chunk
    _close(PAIR[name](xs, ys), whole_pair, rtol=1e-6, atol=0)
    _close(ONE[name](xs[0], ys), whole_many, rtol=1e-6, atol=0)
    assert float(PAIR[name](xs, xs)[0, 5]) == float(PAIR[name](xs, xs)[0, 0])


@pytest.mark.parametrize("noise", [1e-3, 4e-3])
def test_float32_accumulation_path_keeps_pairwise_mse_accurate(
    noise: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # devices without float64 (Apple MPS) accumulate in float32, where ‖a‖² + ‖b‖² − 2a·b is off by ~1e-2
    # relative at noise 4e-3; the result must still come from the differences
    monkeypatch.setattr(metrics, "_acc_dtype", lambda device: torch.float32)
    rng = np.random.default_rng(16)
    xs = rng.random((3, 3072), dtype=np.float32)
    ys = (xs + noise * rng.standard_normal((3, 3072))).astype(np.float32)
    want = ((xs.astype(np.float64)[:, None] - ys.astype(np.float64)[None]) ** 2).mean(-1)
    np.testing.assert_allclose(pairwise_mse(xs, ys).numpy(), want, rtol=1e-4, atol=0)
    assert pairwise_cosine(xs, xs).dtype == torch.float32


@pytest.mark.parametrize("name", ["cosine", "ncc"])
def test_similarities_stay_within_minus_one_and_one(name: str) -> None:
    xs = torch.from_numpy(
        _rng_float32(200, 37, seed=22)
    ).double()  # float64: rounding is not hidden by a cast
    for ys in (xs, -xs):
        pair = PAIR[name](xs, ys)
        assert bool((pair.abs() <= 1).all())
        assert all(bool((ONE[name](x, ys).abs() <= 1).all()) for x in xs)


# ----------------------------------------------------------------------------------------------------------
# Degenerate input


@pytest.mark.parametrize("name", NAMES)
def test_empty_items_raise(name: str) -> None:
    with pytest.raises(ValueError, match="no elements"):
        ONE[name]([], [])
    with pytest.raises(ValueError, match="no elements"):
        ONE[name](torch.zeros(0), torch.zeros(3, 0))
    with pytest.raises(ValueError, match="no elements"):
        PAIR[name](torch.zeros(2, 0), torch.zeros(3, 0))


@pytest.mark.parametrize("name", NAMES)
def test_zero_items_give_empty_results(name: str) -> None:
    assert ONE[name](torch.ones(4), torch.ones(0, 4)).shape == (0,)
    assert PAIR[name](torch.ones(0, 4), torch.ones(3, 4)).shape == (0, 3)
    assert PAIR[name](torch.ones(2, 4), torch.ones(0, 4)).shape == (2, 0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_raises(name: str, bad: float) -> None:
    x = torch.tensor([1.0, 2.0, 3.0])
    y = torch.tensor([1.0, bad, 3.0])
    for a, b in ((x, y), (y, x)):
        with pytest.raises(ValueError, match="NaN or inf"):
            ONE[name](a, b)
    with pytest.raises(ValueError, match="NaN or inf"):
        ONE[name](x, torch.stack([x, y]))
    with pytest.raises(ValueError, match="NaN or inf"):
        PAIR[name](torch.stack([x, x]), y[None])
    with pytest.raises(ValueError, match="NaN or inf"):
        PAIR[name](y[None].half(), x[None])


def test_cosine_with_zero_vector_is_zero() -> None:
    z, x = torch.zeros(5), torch.arange(1.0, 6.0)
    assert float(cosine(z, x)) == 0.0
    assert float(cosine(x, z)) == 0.0
    assert float(cosine(z, z)) == 0.0
    assert cosine(x, torch.stack([z, x])).tolist() == [0.0, pytest.approx(1.0)]
    assert cosine(z, torch.stack([z, x])).tolist() == [0.0, 0.0]
    pair = pairwise_cosine(torch.stack([z, x]), torch.stack([x, z]))
    assert pair.tolist() == [[0.0, 0.0], [pytest.approx(1.0), 0.0]]


@pytest.mark.parametrize("value", [0.0, 0.1, 1 / 3, -7.25, 1e-7, 255.0])
def test_ncc_with_constant_side_is_zero(value: float) -> None:
    c = torch.full((1000,), value, dtype=torch.float64)
    x = torch.from_numpy(_rng_float32(1000, seed=17)).double()
    assert float(ncc(c, x)) == 0.0
    assert float(ncc(x, c)) == 0.0
    assert float(ncc(c, c)) == 0.0
    assert ncc(x, torch.stack([c, x])).tolist() == [0.0, pytest.approx(1.0)]
    pair = pairwise_ncc(torch.stack([c, x]), torch.stack([x, c]))
    assert pair.tolist() == [[0.0, 0.0], [pytest.approx(1.0), 0.0]]
    assert float(ncc(np.full(4, 200, np.uint8), np.array([1, 2, 3, 4], np.uint8))) == 0.0


def test_extreme_magnitudes_do_not_overflow_or_underflow() -> None:
    v = torch.tensor([1.0, 2.0, 3.0, 5.0])
    w = torch.tensor([2.0, 1.0, 4.0, 4.0])
    want_cos, want_ncc = float(cosine(v, w)), float(ncc(v, w))
    for scale, dtype in ((1e-30, torch.float32), (1e-42, torch.float32), (1e200, torch.float64),
                         (1e-300, torch.float64)):  # fmt: skip
        a, b = (v.double() * scale).to(dtype), (w.double() * scale).to(dtype)
        assert float(cosine(a, b)) == pytest.approx(want_cos, rel=1e-2 if scale == 1e-42 else 1e-6)
        assert float(pairwise_ncc(a[None], b[None])) == pytest.approx(
            want_ncc, rel=1e-2 if scale == 1e-42 else 1e-6
        )


def test_overflowing_result_raises() -> None:
    with pytest.raises(ValueError, match="overflows"):
        l1(torch.tensor([1e308], dtype=torch.float64), torch.tensor([-1e308], dtype=torch.float64))
    with pytest.raises(ValueError, match="overflows"):  # fine in float64, too large for the float32 result
        l1(torch.tensor([3e38, 3e38]), torch.tensor([-3e38, -3e38]))
    with pytest.raises(ValueError, match="overflows"):
        pairwise_mse(
            torch.tensor([[1e200]], dtype=torch.float64), torch.tensor([[-1e200]], dtype=torch.float64)
        )


def test_complex_input_raises() -> None:
    with pytest.raises(TypeError, match="complex"):
        l1(torch.ones(3, dtype=torch.complex64), torch.ones(3))


# ----------------------------------------------------------------------------------------------------------
# Shapes and devices


@pytest.mark.parametrize("name", NAMES)
def test_shape_mismatch_names_both_shapes(name: str) -> None:
    with pytest.raises(ShapeError, match=r"\(3,\).*\(4,\).*one-to-one.*\(N, 3\).*one-to-many"):
        ONE[name](torch.ones(3), torch.ones(4))
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(2, 4\)"):
        ONE[name](torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ShapeError, match=r"\(5, 2, 3\).*\(2, 3\).*swap the arguments"):
        ONE[name](torch.ones(5, 2, 3), torch.ones(2, 3))
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        PAIR[name](torch.ones(2, 3), torch.ones(4, 5))
    with pytest.raises(ShapeError, match=r"\(\).*\(4, 1\)"):
        PAIR[name](torch.tensor(1.0), torch.ones(4, 1))


def test_shape_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        l1([1, 2], [1, 2, 3])


def test_items_of_any_shape_are_flattened() -> None:
    xs = torch.from_numpy(_rng_float32(2, 3, 4, 5, seed=18))
    ys = torch.from_numpy(_rng_float32(3, 3, 4, 5, seed=19))
    _close(pairwise_ncc(xs, ys), pairwise_ncc(xs.reshape(2, -1), ys.reshape(3, -1)))
    _close(mse(xs[0], ys), mse(xs[0].flatten(), ys.reshape(3, -1)))


def test_different_devices_raise() -> None:
    with pytest.raises(ValueError, match="one device"):
        l1(torch.ones(3, device="meta"), torch.ones(3))
    with pytest.raises(ValueError, match="one device"):
        pairwise_cosine(torch.ones(2, 3), torch.ones(2, 3, device="meta"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_results_stay_on_device_and_match_cpu(name: str) -> None:
    xs, ys = torch.from_numpy(_rng_float32(4, 300, seed=20)), torch.from_numpy(_rng_float32(5, 300, seed=21))
    pair = PAIR[name](xs.cuda(), ys.cuda())
    assert pair.device.type == "cuda"
    _close(pair.cpu(), PAIR[name](xs, ys), rtol=1e-6, atol=0)
    _close(ONE[name](xs[0].cuda(), ys.cuda()).cpu(), ONE[name](xs[0], ys), rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------------------------------------
# Registry


def test_registry() -> None:
    assert list(METRICS) == ["l1", "mse", "cosine", "ncc"]
    assert [m.label for m in METRICS.values()] == [
        "L1 distance",
        "MSE",
        "Cosine similarity",
        "Normalized cross-correlation",
    ]
    assert [m.higher_is_better for m in METRICS.values()] == [False, False, True, True]
    for name in NAMES:
        assert METRICS[name].name == name
        assert METRICS[name].fn is ONE[name]
        assert METRICS[name].pairwise is PAIR[name]
    assert get_metric("Cosine") is METRICS["cosine"]


def test_registry_is_frozen() -> None:
    with pytest.raises(AttributeError):
        METRICS["l1"].name = "other"  # type: ignore[misc]


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'ssim'.*l1, mse, cosine, ncc"):
        get_metric("ssim")


# ---------------------------------------------------------------------------------- NumPy forms (torch-free)


@pytest.mark.parametrize("name", ["l1", "mse", "cosine", "ncc"])
def test_numpy_forms_agree_with_the_torch_forms(name: str) -> None:
    rng = np.random.default_rng(0)
    metric = METRICS[name]
    cases = [
        (rng.normal(size=(3, 8, 8)).astype(np.float32), rng.normal(size=(3, 8, 8)).astype(np.float32)),
        (rng.integers(0, 256, 50, dtype=np.uint8), rng.integers(0, 256, 50, dtype=np.uint8)),  # no wrap
        (np.zeros(5), rng.normal(size=5)),  # cosine 0 by convention
        (np.full(5, 3.0), rng.normal(size=5)),  # ncc 0 by convention
        (rng.normal(size=512) * 1e-30, rng.normal(size=512) * 1e-30),  # tiny: no underflow to NaN
    ]
    for a, b in cases:
        got, want = metric.numpy(a, b), float(metric.fn(a, b))
        assert isinstance(got, float)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), (name, a.dtype)


def test_numpy_forms_reject_what_the_torch_forms_reject() -> None:
    metric = METRICS["cosine"]
    with pytest.raises(ShapeError, match=r"cosine: a has shape \(3,\) and b has shape \(4,\)"):
        metric.numpy(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="input b contains NaN or inf"):
        metric.numpy(np.ones(3), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="no elements"):
        metric.numpy(np.ones(0), np.ones(0))
    with pytest.raises(TypeError, match="complex"):
        metric.numpy(np.ones(2, complex), np.ones(2))


def test_centred_unit_rows_is_the_ncc_of_every_numpy_path() -> None:
    """One definition: dot products of centred unit rows are ncc's values, and a constant row is
    exactly zero in float32 too (0.1 has no exact float32 mean, so rounding alone would leave noise)."""
    from lookalike.metrics import centred_unit_rows

    rng = np.random.default_rng(0)
    x = rng.random((5, 48)).astype(np.float32)
    x[3] = np.float32(0.1)
    u = centred_unit_rows(x)
    assert u.dtype == np.float32
    assert not u[3].any()
    expected = ncc(torch.from_numpy(x[0]), torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(u @ u[0], expected, atol=1e-6)
    assert metrics.ncc_numpy(x[1], x[2]) == pytest.approx(float(u[1] @ u[2]), abs=1e-6)
