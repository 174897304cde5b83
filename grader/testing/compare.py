"""Array comparisons whose messages name the place, both shapes and the worst element.

Numbers in messages are shown with 6 significant digits, or with as many more (up to full
`repr` precision) as it takes for "expected" and "got" to differ on screen:

    >>> show_pair(0.1, 0.10000004)
    ('0.1', '0.10000004')
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

SHORT_DIGITS = 6    # significant digits when they already tell the two numbers apart
LONG_DIGITS = 16    # beyond this, repr(): the shortest text that round-trips, so two floats always differ


def _number(x: Any, digits: int) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{digits}g}"
    return str(x)


def show(x: Any) -> str:
    """One number as a message shows it: 6 significant digits for floats, str() for the rest."""
    return _number(x, SHORT_DIGITS)


def show_pair(expected: Any, got: Any) -> tuple[str, str]:
    """`expected` and `got` as text, with the fewest digits (from 6 up to repr precision) at
    which they differ on screen; numbers that are equal print with 6 digits."""
    if not (isinstance(expected, (float, np.floating)) or isinstance(got, (float, np.floating))):
        return str(expected), str(got)
    try:
        e, g = float(expected), float(got)
    except (TypeError, ValueError):
        return str(expected), str(got)
    if e == g or (np.isnan(e) and np.isnan(g)):
        return _number(e, SHORT_DIGITS), _number(g, SHORT_DIGITS)
    for digits in range(SHORT_DIGITS, LONG_DIGITS + 1):
        pair = _number(e, digits), _number(g, digits)
        if pair[0] != pair[1]:
            return pair
    return repr(e), repr(g)


def assert_close(got: Any, expected: Any, *, where: str, rtol: float = 1e-5, atol: float = 1e-7,
                 dtype: Optional[np.dtype] = None) -> None:
    """Assert `got` matches `expected` in shape (and dtype when given) and within tolerances.

    The message says where ("Module 06 · Mul backward: gradient of input 1"), the shapes and
    the worst element: "off by 3e-02 at (1, 0): expected 0.41, got 0.82".
    """
    if got is None:
        raise AssertionError(f"{where}: got None, expected an array of shape {np.shape(expected)}")
    g = np.asarray(got)
    e = np.asarray(expected)
    if g.shape != e.shape:
        raise AssertionError(f"{where}: shape {g.shape}, expected {e.shape}")
    if dtype is not None and g.dtype != np.dtype(dtype):
        raise AssertionError(f"{where}: dtype {g.dtype}, expected {np.dtype(dtype)}")
    if g.dtype.kind not in "biuf":
        raise AssertionError(f"{where}: dtype {g.dtype} is not numeric")
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    bad_nan = np.isnan(g64) != np.isnan(e64)
    err = np.where(np.isnan(g64) & np.isnan(e64), 0.0, np.abs(g64 - e64))
    err = np.where(bad_nan, np.inf, err)
    err = np.nan_to_num(err, nan=np.inf)
    excess = err - (atol + rtol * np.abs(np.nan_to_num(e64)))
    if g.size == 0 or not np.any(excess > 0):
        return
    idx = np.unravel_index(int(np.argmax(excess)), g.shape) if g.ndim else ()
    at = f" at {tuple(int(i) for i in idx)}" if g.ndim else ""
    shown_e, shown_g = show_pair(e64[idx], g64[idx])
    raise AssertionError(f"{where}: off by {show(err[idx])}{at}: expected {shown_e}, got {shown_g} "
                         f"({int(np.sum(excess > 0))} of {g.size} elements outside rtol={rtol:g}, atol={atol:g})")


def assert_equal_array(got: Any, expected: Any, *, where: str) -> None:
    """Exact equality (shape, values and dtype kind): for labels, indices and integer data."""
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise AssertionError(f"{where}: shape {g.shape}, expected {e.shape}")
    if g.dtype.kind != e.dtype.kind:
        raise AssertionError(f"{where}: dtype {g.dtype}, expected a {e.dtype.kind!r}-kind dtype like {e.dtype}")
    if not np.array_equal(g, e):
        diff = np.argwhere(g != e)
        first = tuple(int(i) for i in diff[0]) if len(diff) else ()
        shown_e, shown_g = show_pair(e[first], g[first]) if len(diff) else (str(e), str(g))
        raise AssertionError(f"{where}: {len(diff)} of {g.size} elements differ; first at {first}: "
                             f"expected {shown_e}, got {shown_g}")
