"""Hidden tests, Module 02 — Activations: ReLU, Sigmoid, Tanh and Softmax.

Forward values need Modules 01 and 02; the two backward tests are titled "(needs Module 06)"
because the activations' backward rules are written in Module 06.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, rng_for
from grader.testing import assert_close, probe, values_of

M = "Module 02"


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float64 without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.points(1.5)
@pytest.mark.visibility("visible")
def test_relu_and_tanh_forward_match_numpy() -> None:
    """ReLU and Tanh forward values, zeros and negatives included"""
    rng = rng_for("test_relu_and_tanh_forward_match_numpy")
    x = rng.normal(scale=2.0, size=(4, 5))
    x[0, :3] = [0.0, -0.0, 1e-12]

    def relu_tanh(tt, x):
        t = tt.Tensor(x)
        return {"relu": tt.ReLU()(t).data, "relu.forward": tt.ReLU().forward(t).data, "tanh": tt.Tanh()(t).data}

    out = values_of(probe(relu_tanh, x=x), "02", "ReLU / Tanh forward")
    assert_close(out["relu"], np.maximum(x, 0), where=f"{M} · ReLU forward: x (4, 5)", rtol=0, atol=0)
    assert_close(out["relu.forward"], np.maximum(x, 0), where=f"{M} · ReLU.forward: x (4, 5)", rtol=0, atol=0)
    assert_close(out["tanh"], np.tanh(x), where=f"{M} · Tanh forward: x (4, 5)", rtol=1e-12, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_sigmoid_forward_matches_the_logistic_function() -> None:
    """Sigmoid forward values on moderate inputs: 1 / (1 + exp(-x))"""
    rng = rng_for("test_sigmoid_forward_matches_the_logistic_function")
    x = rng.uniform(-8, 8, size=(3, 6))
    x[0, 0] = 0.0

    def sigmoid_forward(tt, x):
        return {"out": tt.Sigmoid()(tt.Tensor(x)).data}

    out = values_of(probe(sigmoid_forward, x=x), "02", "Sigmoid forward")
    assert_close(out["out"], 1.0 / (1.0 + np.exp(-x)), where=f"{M} · Sigmoid forward: x (3, 6)", rtol=1e-12, atol=1e-15)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_softmax_forward_along_each_dim() -> None:
    """Softmax forward along dim -1 (default), 0 and 1 of a 3-D input: slices sum to 1"""
    rng = rng_for("test_softmax_forward_along_each_dim")
    x2, x3 = rng.normal(scale=3.0, size=(4, 5)), rng.normal(size=(2, 3, 4))

    def softmax_dims(tt, x2, x3):
        return {"default": tt.Softmax()(tt.Tensor(x2)).data, "dim=0": tt.Softmax(dim=0)(tt.Tensor(x2)).data,
                "3-D dim=1": tt.Softmax(dim=1)(tt.Tensor(x3)).data, "3-D dim=-1": tt.Softmax(-1)(tt.Tensor(x3)).data}

    out = values_of(probe(softmax_dims, x2=x2, x3=x3), "02", "Softmax forward")
    expected = {"default": softmax(x2, -1), "dim=0": softmax(x2, 0), "3-D dim=1": softmax(x3, 1),
                "3-D dim=-1": softmax(x3, -1)}
    for case, value in expected.items():
        assert_close(out[case], value, where=f"{M} · Softmax forward, {case}: x {value.shape}", rtol=1e-10, atol=1e-15)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_sigmoid_and_softmax_are_stable_at_magnitude_1e4() -> None:
    """Sigmoid and Softmax at inputs of magnitude 1e4: finite, correct, and no overflow warnings"""
    x = np.array([[1e4, -1e4, 0.0, 50.0, -50.0], [-1e4, 1e4, 1e4, 1.0, -3.0], [-1e4, -1e4 + 1, -1e4, -1e4, -1e4]])

    def stable(tt, x):
        import warnings
        import numpy as np
        out = {}
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            for dtype in ("float64", "float32"):
                t = tt.Tensor(x.astype(dtype))
                out[f"sigmoid {dtype}"] = tt.Sigmoid()(t).data
                out[f"softmax {dtype}"] = tt.Softmax()(t).data
                out[f"softmax dim=0 {dtype}"] = tt.Softmax(dim=0)(t).data
        out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        return out

    out = values_of(probe(stable, x=x), "02", "stability at 1e4")
    assert not out["warnings"], f"{M} · Sigmoid / Softmax at |x| = 1e4: NumPy warned: {out['warnings'][:3]}"
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-6)):
        for name, expected in (("sigmoid", sigmoid(x)), ("softmax", softmax(x, -1)), ("softmax dim=0", softmax(x, 0))):
            got = np.asarray(out[f"{name} {dtype}"])
            assert np.all(np.isfinite(got)), f"{M} · {name} at |x| = 1e4 ({dtype}): got non-finite values {got}"
            assert_close(got, expected, where=f"{M} · {name} forward at |x| = 1e4 ({dtype})", rtol=tol, atol=tol)


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_activations_preserve_dtype() -> None:
    """Activations return float32 for float32 input and float64 for float64"""
    x = np.linspace(-3, 3, 12).reshape(3, 4)

    def activation_dtypes(tt, x):
        out = {}
        for dtype in ("float32", "float64"):
            t = tt.Tensor(x.astype(dtype))
            for name in ("ReLU", "Sigmoid", "Tanh", "Softmax"):
                out[f"{name} {dtype}"] = str(getattr(tt, name)()(t).dtype)
        return out

    out = values_of(probe(activation_dtypes, x=x), "02", "activation dtypes")
    for key, got in out.items():
        name, dtype = key.split()
        assert got == dtype, f"{M} · {name} forward: {dtype} input gave a {got} output"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_activation_backward_matches_numeric_gradient() -> None:
    """Activation backward (needs Module 06): ReLU (0 at x = 0), Sigmoid, Tanh, Softmax vs numeric"""
    rng = rng_for("test_activation_backward_matches_numeric_gradient")
    x = rng.normal(scale=2.0, size=(4, 5))
    x[np.abs(x) < 1e-3] = 0.5
    x[1, 1] = x[2, 3] = 0.0                       # ReLU's derivative at exactly 0 is 0
    g = rng.normal(size=(4, 5))

    def activation_grads(tt, x, g):
        out = {}
        mods = {"ReLU": tt.ReLU(), "Sigmoid": tt.Sigmoid(), "Tanh": tt.Tanh(), "Softmax": tt.Softmax(),
                "Softmax(dim=0)": tt.Softmax(dim=0)}
        for name, mod in mods.items():
            t = tt.Tensor(x.copy(), requires_grad=True)
            mod(t).backward(g)
            out[name] = t.grad
        return out

    out = values_of(probe(activation_grads, x=x, g=g), "02", "activation backward")
    assert_close(out["ReLU"], g * (x > 0), where=f"{M} · ReLU backward (x (4, 5), zeros at (1, 1) and (2, 3))")
    for name, f in {"Sigmoid": sigmoid, "Tanh": np.tanh, "Softmax": lambda v: softmax(v, -1),
                    "Softmax(dim=0)": lambda v: softmax(v, 0)}.items():
        (expected,) = numeric_grads(f, [x], g)
        assert_grad_close(out[name], expected, where=f"{M} · {name} backward: x (4, 5)")


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_sigmoid_and_softmax_backward_are_finite_at_magnitude_1e4() -> None:
    """Sigmoid and Softmax backward at |x| = 1e4 (needs Module 06): finite gradients, no warnings"""
    x = np.array([[1e4, -1e4, 0.0, 2.0], [-1e4, 1e4, 1e4, -1.0]])
    g = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.25, -0.5, 3.0]])

    def stable_grads(tt, x, g):
        import warnings
        import numpy as np
        out = {}
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            for name in ("Sigmoid", "Softmax"):
                t = tt.Tensor(x.copy(), requires_grad=True)
                getattr(tt, name)()(t).backward(g)
                out[name] = t.grad
        out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        return out

    out = values_of(probe(stable_grads, x=x, g=g), "02", "backward stability at 1e4")
    assert not out["warnings"], f"{M} · Sigmoid / Softmax backward at |x| = 1e4: NumPy warned: {out['warnings'][:3]}"
    s = sigmoid(x)
    p = softmax(x, -1)
    expected = {"Sigmoid": g * s * (1 - s), "Softmax": p * (g - (g * p).sum(axis=-1, keepdims=True))}
    for name, value in expected.items():
        assert_close(out[name], value, where=f"{M} · {name} backward at |x| = 1e4", rtol=1e-9, atol=1e-12)
