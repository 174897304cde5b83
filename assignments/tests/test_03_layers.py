"""Module 03 — Layers: Module, Linear, Sequential, Flatten.

The gradient checks use Module 06's backward rules: until then they are skipped.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close, check_gradients, leaf


def _as_float64(layer: tt.Linear) -> tt.Linear:
    """Give a Linear float64 parameters (private copies) for a gradient check."""
    layer.weight = leaf(layer.weight.data)
    if layer.bias is not None:
        layer.bias = leaf(layer.bias.data)
    return layer


def test_linear_weight_layout_is_in_features_by_out_features():
    """Linear(4, 3) has weight (4, 3) and bias (3,), float32 tensors that require grad"""
    layer = tt.Linear(4, 3)
    for name, t, shape in [("weight", layer.weight, (4, 3)), ("bias", layer.bias, (3,))]:
        assert isinstance(t, tt.Tensor), f"Module 03 · Linear init: .{name} should be a Tensor, got {type(t).__name__}"
        assert t.shape == shape, f"Module 03 · Linear(4, 3) init: .{name} has shape {t.shape}, expected {shape} (in, out layout)"
        assert t.dtype == np.float32, f"Module 03 · Linear(4, 3) init: .{name} has dtype {t.dtype}, expected float32"
        assert t.requires_grad, f"Module 03 · Linear(4, 3) init: .{name} must have requires_grad=True"
    assert tt.Linear(4, 3, bias=False).bias is None, "Module 03 · Linear(4, 3, bias=False) init: .bias should be None"


def test_linear_init_is_uniform_within_one_over_sqrt_fan_in():
    """Linear(100, 50) draws weight and bias from U(-0.1, 0.1)"""
    layer = tt.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    for name, values in [("weight", layer.weight.data), ("bias", layer.bias.data)]:
        worst = float(np.abs(values).max())
        assert worst <= bound + 1e-7, f"Module 03 · Linear(100, 50) init: |{name}| reaches {worst:.4f} > 1/sqrt(100) = 0.1"
        assert worst > 0.8 * bound, f"Module 03 · Linear(100, 50) init: |{name}| only reaches {worst:.4f}; expected U(-0.1, 0.1)"
    mean, std = float(layer.weight.data.mean()), float(layer.weight.data.std())
    assert abs(mean) < 0.01 and abs(std - bound / np.sqrt(3)) < 0.005, \
        f"Module 03 · Linear(100, 50) init: weight mean {mean:.4f}, std {std:.4f}; U(-0.1, 0.1) has mean 0, std 0.0577"


def test_linear_init_is_reproducible_with_manual_seed():
    """tt.manual_seed makes Linear initialisation reproducible"""
    tt.manual_seed(123)
    first = tt.Linear(5, 4)
    second = tt.Linear(5, 4)
    tt.manual_seed(123)
    again = tt.Linear(5, 4)
    assert np.array_equal(first.weight.data, again.weight.data) and np.array_equal(first.bias.data, again.bias.data), \
        "Module 03 · Linear init: the same manual_seed must give the same parameters (draw from tinytorch's generator)"
    assert not np.array_equal(first.weight.data, second.weight.data), \
        "Module 03 · Linear init: two layers made one after the other got the same weight"


def test_linear_computes_x_times_weight_plus_bias(rng):
    """Linear(x) = x @ weight + bias, (N, in) -> (N, out)"""
    layer = tt.Linear(4, 3)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,), \
        f"Module 03 · Linear(4, 3).__init__: weight {layer.weight.shape} and bias {layer.bias.shape}, expected (4, 3) and (3,)"
    x = rng.standard_normal((5, 4)).astype(np.float32)
    expected = x @ layer.weight.data + layer.bias.data
    assert_close(layer(tt.Tensor(x)), expected, "Module 03 · Linear forward, x (5, 4), weight (4, 3)", dtype=np.float32)
    plain = tt.Linear(4, 3, bias=False)
    assert_close(plain(tt.Tensor(x)), x @ plain.weight.data, "Module 03 · Linear forward without bias, x (5, 4)")


def test_linear_rejects_input_with_the_wrong_feature_count(rng):
    """Linear(4, 3) refuses an input whose last axis is not 4"""
    layer = tt.Linear(4, 3)
    assert layer(tt.Tensor(rng.standard_normal((2, 4)))).shape == (2, 3), "Module 03 · Linear forward: (2, 4) -> (2, 3)"
    with pytest.raises(ValueError):
        layer(tt.Tensor(rng.standard_normal((2, 3))))


class _TwoLayers(tt.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = tt.Linear(3, 4)
        self.scale = tt.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
        self.constant = tt.Tensor(np.ones(4, dtype=np.float32))          # no requires_grad: not a parameter
        self.blocks = [tt.ReLU(), tt.Linear(4, 2)]
        self.same_scale = self.scale                                       # listed once

    def forward(self, x: tt.Tensor) -> tt.Tensor:
        return self.blocks[1](self.blocks[0](self.first(x) * self.scale))


def test_parameters_in_attribute_order_each_once():
    """parameters() lists weight then bias, in attribute order, recursing, each tensor once"""
    model = _TwoLayers()
    expected = [model.first.weight, model.first.bias, model.scale, model.blocks[1].weight, model.blocks[1].bias]
    names = ["first.weight", "first.bias", "scale", "blocks[1].weight", "blocks[1].bias"]
    got = model.parameters()
    assert isinstance(got, list), f"Module 03 · Module.parameters: expected a list, got a {type(got).__name__}"
    assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected)), \
        f"Module 03 · Module.parameters: expected the tensors {names} (in this order, each once), got {len(got)} tensors " \
        f"of shapes {[tuple(p.shape) for p in got]}"
    layer = tt.Linear(2, 2)
    got = layer.parameters()
    assert isinstance(got, list), f"Module 03 · Linear.parameters(): expected a list, got a {type(got).__name__}"
    assert len(got) == 2 and got[0] is layer.weight and got[1] is layer.bias, \
        "Module 03 · Linear.parameters(): expected [weight, bias]"


def test_sequential_runs_its_modules_in_order_and_indexes_them(rng):
    """Sequential(a, b, c)(x) == c(b(a(x))); len() and [i] give its modules"""
    first, act, second = tt.Linear(4, 3), tt.Tanh(), tt.Linear(3, 2)
    model = tt.Sequential(first, act, second)
    x = tt.Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    assert_close(model(x), second(act(first(x))).data, "Module 03 · Sequential forward, x (5, 4): Linear(4, 3), Tanh, Linear(3, 2)")
    assert len(model) == 3 and model[0] is first and model[2] is second, "Module 03 · Sequential: len() or [i] is wrong"
    params = model.parameters()
    assert isinstance(params, list), f"Module 03 · Sequential.parameters(): expected a list, got a {type(params).__name__}"
    assert len(params) == 4 and params[0] is first.weight and params[3] is second.bias, \
        "Module 03 · Sequential.parameters(): expected [first.weight, first.bias, second.weight, second.bias]"


def test_flatten_merges_all_but_the_first_axis(rng):
    """Flatten: (N, d1, d2) -> (N, d1*d2)"""
    x = rng.standard_normal((2, 3, 4))
    assert_close(tt.Flatten()(tt.Tensor(x)), x.reshape(2, 12), "Module 03 · Flatten forward, input (2, 3, 4)")


def test_train_and_eval_set_training_recursively():
    """eval() and train() set .training on the module and every sub-module, and return it"""
    inner = tt.Sequential(tt.Linear(2, 2), tt.ReLU())
    model = tt.Sequential(inner, tt.Linear(2, 1))
    modules = [model, inner, inner[0], inner[1], model[1]]
    assert model.eval() is model, "Module 03 · Module.eval should return the module itself"
    off = [i for i, m in enumerate(modules) if m.training is not False]
    assert not off, f"Module 03 · Module.eval: training is still True on sub-modules {off} (0 = the model itself)"
    assert model.train() is model, "Module 03 · Module.train should return the module itself"
    on = [i for i, m in enumerate(modules) if m.training is not True]
    assert not on, f"Module 03 · Module.train: training is not True on sub-modules {on} (0 = the model itself)"


def test_zero_grad_clears_every_parameter_gradient():
    """Module.zero_grad() sets .grad of every parameter to None"""
    model = tt.Sequential(tt.Linear(3, 2), tt.ReLU(), tt.Linear(2, 1))
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    model.zero_grad()
    left = [i for i, p in enumerate(model.parameters()) if p.grad is not None]
    assert not left, f"Module 03 · Module.zero_grad: parameters {left} still have a gradient"


def test_linear_gradients_match_centred_differences(rng):
    """Gradient check: Linear's input, weight and bias gradients"""
    layer = _as_float64(tt.Linear(4, 3))
    x = leaf(rng.standard_normal((5, 4)))
    check_gradients(lambda: layer(x), [x, layer.weight, layer.bias],
                    "Module 03 · Linear (its backward comes from matmul and add backward, Module 06)",
                    names=["x", "weight", "bias"], rng=rng)


def test_mlp_gradients_match_centred_differences(rng):
    """Gradient check: a two-layer MLP with Tanh, through Sequential and Flatten"""
    model = tt.Sequential(tt.Flatten(), _as_float64(tt.Linear(6, 4)), tt.Tanh(), _as_float64(tt.Linear(4, 2)))
    x = leaf(rng.standard_normal((3, 2, 3)))
    params = [model[1].weight, model[1].bias, model[3].weight, model[3].bias]
    check_gradients(lambda: model(x), [x, *params], "Module 03 · Sequential(Flatten, Linear(6, 4), Tanh, Linear(4, 2))",
                    names=["x", "layer 1 weight", "layer 1 bias", "layer 2 weight", "layer 2 bias"], rng=rng)
