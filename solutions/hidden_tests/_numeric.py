"""Helpers shared by the hidden tests: per-test seeds, centred-difference gradients, probe cases.

Everything here runs in the trusted test process on plain NumPy; student code never does.

    rng = rng_for("test_mul_backward")                  # fixed seed derived from the name
    ga, gb = numeric_grads(lambda a, b: a * b, [a, b], upstream)
    assert_grad_close(out["ga"], ga, where="Module 06 · Mul backward: gradient of a (4, 3)")
    value = returned(out["a / b"], where="Module 01 · Tensor arithmetic: a / b")   # fails if that case raised
"""
from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np

from grader.testing import assert_close

Array = np.ndarray

GRAD_RTOL = 1e-6   # relative error allowed between an analytic gradient and the numeric one (float64)
EPS = 1e-6         # centred-difference step


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded from `name` (the test's name): fixed per test, different across tests."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def numeric_grads(f: Callable[..., Array], inputs: Sequence[Array], upstream: Array,
                  eps: float = EPS) -> list[Array]:
    """Gradients of sum(f(*inputs) * upstream) w.r.t. each input, by centred differences in float64.

    f: plain NumPy arrays -> an array of upstream's shape; inputs: arrays of any shapes;
    returns one array per input, of that input's shape.
    """
    xs = [np.array(x, dtype=np.float64) for x in inputs]
    up = np.asarray(upstream, dtype=np.float64)
    grads = []
    for x in xs:
        grad = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = x[i]
            x[i] = old + eps
            plus = np.sum(np.asarray(f(*xs)) * up)
            x[i] = old - eps
            minus = np.sum(np.asarray(f(*xs)) * up)
            x[i] = old
            grad[i] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def assert_grad_close(got: object, numeric: Array, *, where: str, rtol: float = GRAD_RTOL) -> None:
    """An analytic gradient matches a numeric one: error within rtol of max(1, the largest |gradient|)."""
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(numeric)))) if numeric.size else 1.0
    assert_close(got, numeric, where=where, rtol=rtol, atol=rtol * scale)


def returned(value: object, where: str) -> object:
    """A probe case's value, or a failure naming the case when the probe recorded that it raised.

    Probes that run several cases report a case that raised as {"raised": "TypeError: ..."},
    so one broken op does not hide which op it was (NotImplementedError still propagates).
    """
    if isinstance(value, dict) and set(value) == {"raised"}:
        raise AssertionError(f"{where}: raised {value['raised']}")
    return value
