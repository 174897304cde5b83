"""Hidden tests, Module 02 — Activations: ReLU, Sigmoid, Tanh and Softmax.

Forward values need Modules 01 and 02; the two backward tests are titled "(needs Module 06)"
because the activations' backward rules are written in Module 06.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, returned, rng_for
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
        import numpy as np
        return {"relu": np.array(tt.ReLU()(tt.Tensor(x.copy())).data, copy=True),
                "relu.forward": np.array(tt.ReLU().forward(tt.Tensor(x.copy())).data, copy=True),
                "tanh": np.array(tt.Tanh()(tt.Tensor(x.copy())).data, copy=True)}

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
        import numpy as np
        return {"out": np.array(tt.Sigmoid()(tt.Tensor(x.copy())).data, copy=True)}

    out = values_of(probe(sigmoid_forward, x=x), "02", "Sigmoid forward")
    assert_close(out["out"], 1.0 / (1.0 + np.exp(-x)), where=f"{M} · Sigmoid forward: x (3, 6)", rtol=1e-12, atol=1e-15)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_softmax_forward_along_each_dim() -> None:
    """Softmax forward along dim -1 (default), 0 and 1 of a 3-D input: slices sum to 1"""
    rng = rng_for("test_softmax_forward_along_each_dim")
    x2, x3 = rng.normal(scale=3.0, size=(4, 5)), rng.normal(size=(2, 3, 4))

    def softmax_dims(tt, x2, x3):
        import numpy as np

        def run(module, x):
            return np.array(module(tt.Tensor(x.copy())).data, copy=True)

        return {"default": run(tt.Softmax(), x2), "dim=0": run(tt.Softmax(dim=0), x2),
                "3-D dim=1": run(tt.Softmax(dim=1), x3), "3-D dim=-1": run(tt.Softmax(-1), x3)}

    out = values_of(probe(softmax_dims, x2=x2, x3=x3), "02", "Softmax forward")
    expected = {"default": softmax(x2, -1), "dim=0": softmax(x2, 0), "3-D dim=1": softmax(x3, 1),
                "3-D dim=-1": softmax(x3, -1)}
    for case, value in expected.items():
        assert_close(out[case], value, where=f"{M} · Softmax forward, {case}: x {value.shape}", rtol=1e-10, atol=1e-15)


STABLE_X = np.array([[1e4, -1e4, 0.0, 50.0, -50.0], [-1e4, 1e4, 1e4, 1.0, -3.0],
                     [-1e4, -1e4 + 1, -1e4, -1e4, -1e4]])


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("name", ["Sigmoid", "Softmax"])
def test_activation_is_stable_at_magnitude_1e4(name: str) -> None:
    """Sigmoid / Softmax at inputs of magnitude 1e4, float64 and float32: finite, correct, no overflow warnings"""
    x = STABLE_X
    forms = {"Sigmoid": {"Sigmoid()": lambda v: sigmoid(v)},
             "Softmax": {"Softmax()": lambda v: softmax(v, -1), "Softmax(dim=0)": lambda v: softmax(v, 0)}}[name]

    def stable(tt, x, name):
        import warnings
        import numpy as np
        modules = {"Sigmoid": {"Sigmoid()": lambda: tt.Sigmoid()},
                   "Softmax": {"Softmax()": lambda: tt.Softmax(), "Softmax(dim=0)": lambda: tt.Softmax(dim=0)}}[name]
        out = {}
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            for dtype in ("float64", "float32"):
                for form, make in modules.items():
                    out[f"{form} {dtype}"] = np.array(make()(tt.Tensor(x.astype(dtype))).data, copy=True)
        out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        return out

    out = values_of(probe(stable, x=x, name=name), "02", f"{name} at |x| = 1e4")
    assert not out["warnings"], f"{M} · {name} forward at |x| = 1e4: NumPy warned: {out['warnings'][:3]}"
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-6)):
        for form, f in forms.items():
            got = np.asarray(out[f"{form} {dtype}"])
            where = f"{M} · {form} forward at |x| = 1e4 ({dtype}), x {x.shape}"
            assert np.all(np.isfinite(got)), f"{where}: got non-finite values {got}"
            assert_close(got, f(x), where=where, rtol=tol, atol=tol)


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


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_activation_backward_matches_numeric_gradient() -> None:
    """Activation backward (needs Module 06): ReLU (0 at x = 0), Sigmoid, Tanh, Softmax vs numeric"""
    rng = rng_for("test_activation_backward_matches_numeric_gradient")
    x = rng.normal(scale=2.0, size=(4, 5))
    x[np.abs(x) < 1e-3] = 0.5
    x[1, 1] = x[2, 3] = 0.0                       # ReLU's derivative at exactly 0 is 0
    g = rng.normal(size=(4, 5))

    def activation_grads(tt, x, g):
        import numpy as np
        out = {}
        mods = {"ReLU": tt.ReLU(), "Sigmoid": tt.Sigmoid(), "Tanh": tt.Tanh(), "Softmax": tt.Softmax(),
                "Softmax(dim=0)": tt.Softmax(dim=0)}
        for name, mod in mods.items():
            t = tt.Tensor(x.copy(), requires_grad=True)
            try:
                mod(t).backward(g.copy())
                out[name] = None if t.grad is None else np.array(t.grad, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[name] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(activation_grads, x=x, g=g), "02", "activation backward")
    where = f"{M} · ReLU backward (x (4, 5), zeros at (1, 1) and (2, 3))"
    assert_close(returned(out["ReLU"], where), g * (x > 0), where=where)
    for name, f in {"Sigmoid": sigmoid, "Tanh": np.tanh, "Softmax": lambda v: softmax(v, -1),
                    "Softmax(dim=0)": lambda v: softmax(v, 0)}.items():
        (expected,) = numeric_grads(f, [x], g)
        where = f"{M} · {name} backward: x (4, 5)"
        assert_grad_close(returned(out[name], where), expected, where=where)


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("name", ["Sigmoid", "Softmax"])
def test_activation_backward_is_finite_at_magnitude_1e4(name: str) -> None:
    """Sigmoid / Softmax backward at |x| = 1e4 (needs Module 06): exact finite gradients, no warnings"""
    x = np.array([[1e4, -1e4, 0.0, 2.0], [-1e4, 1e4, 1e4, -1.0]])
    g = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.25, -0.5, 3.0]])

    def stable_grad(tt, x, g, name):
        import warnings
        import numpy as np
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            t = tt.Tensor(x.copy(), requires_grad=True)
            getattr(tt, name)()(t).backward(g.copy())
        return {"grad": None if t.grad is None else np.array(t.grad, copy=True),
                "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}

    out = values_of(probe(stable_grad, x=x, g=g, name=name), "02", f"{name} backward at |x| = 1e4")
    assert not out["warnings"], f"{M} · {name} backward at |x| = 1e4: NumPy warned: {out['warnings'][:3]}"
    s, p = sigmoid(x), softmax(x, -1)
    expected = {"Sigmoid": g * s * (1 - s), "Softmax": p * (g - (g * p).sum(axis=-1, keepdims=True))}[name]
    assert_close(out["grad"], expected, where=f"{M} · {name} backward at |x| = 1e4, x (2, 4)", rtol=1e-9, atol=1e-12)
