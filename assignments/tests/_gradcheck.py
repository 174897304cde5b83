"""Checks shared by the public tests: value comparisons and numeric gradient checks.

Gradient check (as in CS231n): for float64 inputs x and a random upstream gradient g, the
objective L(x) = sum(f(x) * g) is differentiated two ways,
  - by your backward:          f(x).backward(g)   ->  x.grad
  - by centred differences:    (L(x + h e_i) - L(x - h e_i)) / (2h),  h = 1e-6,
and the relative error |analytic - numeric| / max(|numeric|, |analytic|, 1e-2), worst element
over the input, must stay below REL_TOL = 1e-6. A correct backward scores about 1e-9.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

import tinytorch as tt

Array = np.ndarray
STEP = 1e-6
REL_TOL = 1e-6
SCALE_FLOOR = 1e-2


@contextmanager
def strict_numerics(where: str) -> Iterator[None]:
    """Inside, any warning and any NumPy overflow, invalid (nan) or divide by zero is a test failure.

    Underflow stays allowed: exp(-1e4) rounding to 0 is exactly what a stable softmax relies on.
    """
    try:
        with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
            warnings.simplefilter("error")
            yield
    except (FloatingPointError, Warning) as exc:
        raise AssertionError(f"{where}: {type(exc).__name__}: {exc} (not numerically stable: never exp a large "
                             f"positive number; subtract the max first)") from None


def _fmt(x: Any) -> str:
    return f"{float(x):.6g}"


def _where_worst(diff: Array) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.ndim else ()


def shapes(*arrays: Any) -> str:
    """'(2, 3) and (3,)': the shapes of the inputs, for messages."""
    return " and ".join(str(np.shape(getattr(a, "data", a))) for a in arrays)


def values_of(x: Any, where: str) -> Array:
    """The array inside a Tensor result, with a clear message if the result is not a Tensor."""
    if not isinstance(x, tt.Tensor):
        raise AssertionError(f"{where}: expected a tinytorch Tensor, got {type(x).__name__}")
    return np.asarray(x.data)


def assert_close(got: Any, expected: Any, where: str, rtol: float = 1e-5, atol: float = 1e-7,
                 dtype: Optional[Any] = None) -> None:
    """Shape, optional dtype and values within tolerance; the message names the worst element.

    where: "Module 01 · mul forward, inputs (2, 3) and (3,)" — module, function and inputs.
    """
    g = np.asarray(got.data if isinstance(got, tt.Tensor) else got)
    e = np.asarray(expected.data if isinstance(expected, tt.Tensor) else expected)
    if g.shape != e.shape:
        raise AssertionError(f"{where}: result has shape {g.shape}, expected {e.shape}")
    if dtype is not None and g.dtype != np.dtype(dtype):
        raise AssertionError(f"{where}: result has dtype {g.dtype}, expected {np.dtype(dtype)}")
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(g64 - e64)
    same = (np.isnan(g64) & np.isnan(e64)) | (np.isinf(e64) & (g64 == e64))
    diff = np.nan_to_num(np.where(same, 0.0, diff), nan=np.inf)
    bad = diff > atol + rtol * np.abs(np.nan_to_num(e64, posinf=0.0, neginf=0.0))
    if bad.any():
        at = _where_worst(np.where(bad, diff, -1.0))
        raise AssertionError(f"{where}: off by {diff[at]:.1e} at {at}: expected {_fmt(e64[at])}, got {_fmt(g64[at])}")


def check_gradients(fn: Callable[[], Any], inputs: Sequence[Any], where: str,
                    names: Optional[Sequence[str]] = None, rng: Optional[np.random.Generator] = None,
                    tol: float = REL_TOL) -> None:
    """Compare the gradients your backward gives `inputs` with centred differences.

    fn: computes the output Tensor from `inputs` (float64 Tensors with requires_grad=True;
        the check perturbs their .data in place, so fn must read them each time it runs).
    where: "Module 06 · mul backward" — named in every message, with the input shapes.
    names: how to call each input in messages ("input 0", "weight", ...).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    names = list(names) if names is not None else [f"input {i}" for i in range(len(inputs))]
    where = f"{where}, inputs {shapes(*inputs)}"
    for t in inputs:
        t.grad = None
    out = fn()
    upstream = rng.standard_normal(values_of(out, where).shape)
    out.backward(upstream)
    for name, t in zip(names, inputs):
        analytic = t.grad
        if analytic is None:
            raise AssertionError(f"{where}: {name} got no gradient (.grad is None): did backward reach it?")
        analytic = np.asarray(analytic)
        if analytic.shape != t.data.shape:
            raise AssertionError(f"{where}: gradient of {name} has shape {analytic.shape}, expected the input's "
                                 f"shape {t.data.shape} (reduce broadcast axes back)")
        if analytic.dtype != t.data.dtype:
            raise AssertionError(f"{where}: gradient of {name} has dtype {analytic.dtype}, expected the input's "
                                 f"dtype {t.data.dtype}")
        numeric = _numeric_gradient(fn, t.data, upstream)
        diff = np.abs(analytic - numeric)
        scale = max(float(np.max(np.abs(numeric), initial=0.0)), float(np.max(np.abs(analytic), initial=0.0)),
                    SCALE_FLOOR)
        error = float(np.max(diff, initial=0.0)) / scale
        if not np.isfinite(error) or error > tol:
            at = _where_worst(np.nan_to_num(diff, nan=np.inf))
            raise AssertionError(f"{where}: gradient of {name} off by {diff[at]:.1e} at {at}: expected "
                                 f"{_fmt(numeric[at])}, got {_fmt(analytic[at])} (relative error {error:.1e} > {tol:.0e})")


def _numeric_gradient(fn: Callable[[], Any], data: Array, upstream: Array) -> Array:
    grad = np.zeros(data.shape, dtype=np.float64)
    flat = data.reshape(-1)
    if not np.shares_memory(flat, data):
        raise AssertionError("gradient check: input data must be contiguous")
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + STEP
        with tt.no_grad():
            plus = float(np.sum(values_of(fn(), "gradient check") * upstream))
        flat[i] = saved - STEP
        with tt.no_grad():
            minus = float(np.sum(values_of(fn(), "gradient check") * upstream))
        flat[i] = saved
        grad.reshape(-1)[i] = (plus - minus) / (2 * STEP)
    return grad


def leaf(x: Array) -> "tt.Tensor":
    """A float64 leaf Tensor that requires grad (a private copy of x)."""
    return tt.Tensor(np.array(x, dtype=np.float64), requires_grad=True)
