"""Module 02 — Activations: ReLU, Sigmoid, Tanh, Softmax. Values, stability, gradients.

The gradient checks use the backward rules you write in Module 06 (autograd.py): until then
they are skipped.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close, check_gradients, leaf, strict_numerics

ACTIVATIONS = {"ReLU": tt.ReLU, "Sigmoid": tt.Sigmoid, "Tanh": tt.Tanh, "Softmax": tt.Softmax}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))      # an overflow-free way to write 1 / (1 + exp(-x))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)


def _away_from_zero(x: np.ndarray) -> np.ndarray:
    """Keep values at least 0.1 away from ReLU's kink so the centred differences are exact."""
    return np.sign(x) * (np.abs(x) + 0.1)


def test_relu_keeps_positives_and_zeroes_the_rest():
    """ReLU(x) = max(x, 0), elementwise"""
    x = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]], dtype=np.float32)
    assert_close(tt.ReLU()(tt.Tensor(x)), np.maximum(x, 0), "Module 02 · ReLU forward, input (2, 3)", dtype=np.float32)


def test_sigmoid_matches_its_formula(rng):
    """Sigmoid(x) = 1 / (1 + exp(-x))"""
    x = rng.standard_normal((3, 4)) * 3
    assert_close(tt.Sigmoid()(tt.Tensor(x)), _sigmoid(x), "Module 02 · Sigmoid forward, input (3, 4)", dtype=np.float64)


def test_tanh_matches_numpy(rng):
    """Tanh(x) equals np.tanh(x)"""
    x = rng.standard_normal((3, 4)) * 3
    assert_close(tt.Tanh()(tt.Tensor(x)), np.tanh(x), "Module 02 · Tanh forward, input (3, 4)", dtype=np.float64)


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_slices_sum_to_one_along_dim(dim, rng):
    """Softmax(dim) matches NumPy and each slice along dim sums to 1"""
    x = rng.standard_normal((2, 3, 4))
    got = tt.Softmax(dim=dim)(tt.Tensor(x))
    assert_close(got, _softmax(x, dim), f"Module 02 · Softmax forward, input (2, 3, 4), dim={dim}", dtype=np.float64)
    assert_close(got.data.sum(axis=dim), np.ones(np.delete(x.shape, dim % 3)),
                 f"Module 02 · Softmax forward, input (2, 3, 4), dim={dim}: sums along dim")


def test_softmax_default_dim_is_the_last_axis(rng):
    """Softmax() normalises over the last axis"""
    x = rng.standard_normal((3, 5)).astype(np.float32)
    assert_close(tt.Softmax()(tt.Tensor(x)), _softmax(x, -1), "Module 02 · Softmax forward, input (3, 5), default dim",
                 dtype=np.float32)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_keep_float32_and_shape(name, rng):
    """Every activation keeps a float32 input float32, and keeps its shape"""
    x = rng.standard_normal((2, 5)).astype(np.float32)
    out = ACTIVATIONS[name]()(tt.Tensor(x))
    assert isinstance(out, tt.Tensor), f"Module 02 · {name} forward: expected a Tensor, got {type(out).__name__}"
    assert out.shape == (2, 5) and out.dtype == np.float32, \
        f"Module 02 · {name} forward, input (2, 5) float32: got shape {out.shape}, dtype {out.dtype}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_are_stable_at_1e4(dtype):
    """Sigmoid and Softmax give finite values with no overflow warning for inputs of ±1e4"""
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=dtype)
    with strict_numerics(f"Module 02 · Sigmoid forward at ±1e4, input (2, 3) {np.dtype(dtype)}"):
        sig = tt.Sigmoid()(tt.Tensor(x))
    with strict_numerics(f"Module 02 · Softmax forward at ±1e4, input (2, 3) {np.dtype(dtype)}"):
        soft = tt.Softmax()(tt.Tensor(x))
    assert_close(sig, [[1.0, 0.0, 0.5], [0.0, 0.0, 1.0]], f"Module 02 · Sigmoid forward at ±1e4, input (2, 3) {np.dtype(dtype)}")
    assert_close(soft, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], f"Module 02 · Softmax forward at ±1e4, input (2, 3) {np.dtype(dtype)}")


def test_call_runs_forward(rng):
    """Calling an activation is the same as calling its forward"""
    x = tt.Tensor(rng.standard_normal((2, 3)))
    for name, cls in sorted(ACTIVATIONS.items()):
        module = cls()
        assert_close(module(x), module.forward(x).data, f"Module 02 · {name}: module(x) vs module.forward(x), input (2, 3)")


def test_relu_derivative_at_zero_is_zero():
    """ReLU's gradient is 1 where x > 0 and 0 elsewhere, including at exactly 0"""
    x = leaf(np.array([-1.0, 0.0, 2.0, 0.0]))
    tt.ReLU()(x).sum().backward()
    assert_close(x.grad, [0.0, 0.0, 1.0, 0.0], "Module 06 · ReLU backward, input (4,) = [-1, 0, 2, 0]")


@pytest.mark.parametrize("name, dim", [("ReLU", None), ("Sigmoid", None), ("Tanh", None), ("Softmax", -1), ("Softmax", 0)])
def test_activation_gradients_match_centred_differences(name, dim, rng):
    """Gradient check: each activation's backward against centred differences"""
    x = rng.standard_normal((3, 4)) * 2
    x = leaf(_away_from_zero(x) if name == "ReLU" else x)
    module = ACTIVATIONS[name](dim=dim) if dim is not None else ACTIVATIONS[name]()
    label = f"Module 06 · {name} backward" + (f" (dim={dim})" if dim is not None else "")
    check_gradients(lambda: module(x), [x], label, rng=rng)


def test_sigmoid_and_softmax_gradients_are_finite_at_1e4():
    """Gradients of Sigmoid and Softmax stay finite (and tiny) for inputs of ±1e4"""
    x = leaf(np.array([[1e4, -1e4, 0.0]]))
    with strict_numerics("Module 02 · Sigmoid forward or Module 06 · Sigmoid backward at ±1e4, input (1, 3)"):
        tt.Sigmoid()(x).sum().backward()
        assert_close(x.grad, [[0.0, 0.0, 0.25]], "Module 06 · Sigmoid backward at ±1e4, input (1, 3)")
    x.grad = None
    with strict_numerics("Module 02 · Softmax forward or Module 06 · Softmax backward at ±1e4, input (1, 3)"):
        (tt.Softmax()(x) * tt.Tensor(np.array([[1.0, 2.0, 3.0]]))).sum().backward()
        assert_close(x.grad, [[0.0, 0.0, 0.0]], "Module 06 · Softmax backward at ±1e4, input (1, 3)")
