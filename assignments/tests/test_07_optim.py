"""Module 07 — Optimizers: SGD (momentum, weight decay) and Adam, PyTorch's updates exactly.

These tests set `.grad` by hand (the gradient of sum(p ** 2) is 2p), so they need only Module 01.
Expected values were worked out by hand from the update rules in optim.py's docstrings.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close


def _param(values: tuple[float, ...] = (1.0, -2.0), dtype: type = np.float64) -> tt.Tensor:
    return tt.Tensor(np.array(values, dtype=dtype), requires_grad=True)


def _run(optimizer: tt.Optimizer, p: tt.Tensor, steps: int) -> list[np.ndarray]:
    """Take `steps` steps on sum(p ** 2) and return p after each one."""
    trace = []
    for _ in range(steps):
        p.grad = 2 * p.data
        optimizer.step()
        trace.append(p.data.copy())
    return trace


# p starts at [1, -2]; with grad 2p, lr 0.1: plain SGD multiplies p by 0.8 each step.
SGD_CASES = {
    "plain": (dict(lr=0.1), [[0.8, -1.6], [0.64, -1.28], [0.512, -1.024]]),
    # v1 = g1 = [2, -4]; v2 = 0.9 v1 + g2 = [3.4, -6.8]; v3 = 0.9 v2 + g3 = [3.98, -7.96]
    "momentum": (dict(lr=0.1, momentum=0.9), [[0.8, -1.6], [0.46, -0.92], [0.062, -0.124]]),
    # g = 2p + 0.5p = 2.5p, so p shrinks by 0.75 each step
    "weight-decay": (dict(lr=0.1, weight_decay=0.5), [[0.75, -1.5], [0.5625, -1.125], [0.421875, -0.84375]]),
    # g = 2.1p; v1 = [2.1, -4.2]; v2 = 0.5 v1 + 2.1 * [0.79, -1.58] = [2.709, -5.418]
    "momentum-and-weight-decay": (dict(lr=0.1, momentum=0.5, weight_decay=0.1),
                                  [[0.79, -1.58], [0.5191, -1.0382], [0.274639, -0.549278]]),
}

ADAM_CASES = {
    # step 1: m_hat = g and v_hat = g**2, so p moves by lr * g / (|g| + eps), about 0.1
    "defaults": (dict(lr=0.1), [[0.9000000005, -1.90000000025], [0.8004122286917927, -1.800166486115701],
                                [0.7015862729460302, -1.700623392046465]]),
    "betas-0.5-0.9-eps-1e-3": (dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3),
                               [[0.9000499750124937, -1.900024993751562], [0.8017189029067473, -1.8008035977427432],
                                [0.7061339210145576, -1.7028041017715303]]),
}


@pytest.mark.parametrize("case", sorted(SGD_CASES))
def test_sgd_three_steps_match_hand_computation(case):
    """SGD: three steps on sum(p**2) land where PyTorch's update rule says"""
    kwargs, expected = SGD_CASES[case]
    p = _param()
    for step, (got, want) in enumerate(zip(_run(tt.SGD([p], **kwargs), p, 3), expected), start=1):
        assert_close(got, want, f"Module 07 · SGD.step ({', '.join(f'{k}={v}' for k, v in kwargs.items())}), p (2,), step {step}",
                     rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", sorted(ADAM_CASES))
def test_adam_three_steps_match_hand_computation(case):
    """Adam: three steps on sum(p**2) land where PyTorch's update rule says"""
    kwargs, expected = ADAM_CASES[case]
    p = _param()
    for step, (got, want) in enumerate(zip(_run(tt.Adam([p], **kwargs), p, 3), expected), start=1):
        assert_close(got, want, f"Module 07 · Adam.step ({', '.join(f'{k}={v}' for k, v in kwargs.items())}), p (2,), step {step}",
                     rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_every_entry_by_about_lr():
    """Adam's bias correction: the first step moves each entry by about lr, whatever its gradient's size"""
    p = _param((1.0, 1.0, 1.0))
    optimizer = tt.Adam([p], lr=0.01)
    p.grad = np.array([1e-3, 1.0, -1e3])
    optimizer.step()
    assert_close(p.data, [0.99, 0.99, 1.01], "Module 07 · Adam.step (lr=0.01), first step with grad [1e-3, 1, -1e3]",
                 rtol=1e-6)


@pytest.mark.parametrize("name", ["SGD-momentum", "Adam"])
def test_optimizer_state_is_kept_per_parameter(name):
    """Two parameters in one optimizer move exactly as if each had its own optimizer"""
    make = {"SGD-momentum": lambda ps: tt.SGD(ps, lr=0.1, momentum=0.9), "Adam": lambda ps: tt.Adam(ps, lr=0.1)}[name]
    a, b = _param((1.0, -2.0)), _param((0.5, 3.0, -1.0))
    alone_a, alone_b = _param((1.0, -2.0)), _param((0.5, 3.0, -1.0))
    together, solo_a, solo_b = make([a, b]), make([alone_a]), make([alone_b])
    for step in range(1, 4):
        for p in (a, b, alone_a, alone_b):
            p.grad = 2 * p.data
        for optimizer in (together, solo_a, solo_b):
            optimizer.step()
        assert_close(a.data, alone_a.data, f"Module 07 · {name} step {step}: parameter 0 of two", rtol=1e-12)
        assert_close(b.data, alone_b.data, f"Module 07 · {name} step {step}: parameter 1 of two", rtol=1e-12)


def test_step_updates_the_data_in_place():
    """step() changes p.data in place: the very same array, now updated"""
    array = np.array([1.0, -2.0])
    p = tt.Tensor(array, requires_grad=True)
    for optimizer in (tt.SGD([p], lr=0.1, momentum=0.9), tt.Adam([p], lr=0.1)):
        before = array.copy()
        p.grad = np.ones(2)
        optimizer.step()
        assert p.data is array and not np.array_equal(array, before), \
            f"Module 07 · {type(optimizer).__name__}.step: update p.data in place (p.data -= ...), not by making a new array"


@pytest.mark.parametrize("name", ["SGD", "SGD-momentum", "Adam"])
def test_step_skips_parameters_without_grad(name):
    """A parameter whose .grad is None is left alone; it gets a normal first step later"""
    a, b = _param(), _param((3.0, 4.0))
    make = {"SGD": lambda ps: tt.SGD(ps, lr=0.1), "SGD-momentum": lambda ps: tt.SGD(ps, lr=0.1, momentum=0.9),
            "Adam": lambda ps: tt.Adam(ps, lr=0.1)}[name]
    optimizer = make([a, b])
    a.grad = 2 * a.data
    optimizer.step()
    assert_close(b.data, [3.0, 4.0], f"Module 07 · {name} step: parameter 1 had grad None and must not move")
    fresh = _param((3.0, 4.0))
    reference = make([fresh])
    b.grad, fresh.grad = 2 * b.data, 2 * fresh.data
    optimizer.step()
    reference.step()
    assert_close(b.data, fresh.data, f"Module 07 · {name} step: a parameter's first real step must be a first step "
                                     f"(its state starts when it first has a grad)", rtol=1e-12)


def test_zero_grad_sets_every_grad_to_none():
    """zero_grad() sets .grad of every parameter to None"""
    params = [_param(), _param((3.0,))]
    for optimizer in (tt.SGD(params, lr=0.1), tt.Adam(params)):
        for p in params:
            p.grad = np.ones_like(p.data)
        optimizer.zero_grad()
        left = [i for i, p in enumerate(params) if p.grad is not None]
        assert not left, f"Module 07 · {type(optimizer).__name__}.zero_grad: parameters {left} still have a gradient"


def test_float32_parameters_stay_float32():
    """Updates keep a float32 parameter float32"""
    p = _param(dtype=np.float32)
    for optimizer in (tt.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), tt.Adam([p], lr=0.1)):
        _run(optimizer, p, 2)
        assert p.data.dtype == np.float32, f"Module 07 · {type(optimizer).__name__}.step: p became {p.data.dtype}, expected float32"


def test_invalid_arguments_raise_value_error():
    """lr <= 0, an empty parameter list, or a tensor without requires_grad is a ValueError"""
    p = _param()
    _run(tt.SGD([p], lr=0.5), p, 1)
    assert_close(p.data, [0.0, 0.0], "Module 07 · SGD.step (lr=0.5) on sum(p**2) from [1, -2]")
    constant = tt.Tensor(np.ones(2))
    for cls in (tt.SGD, tt.Adam):
        for args in (dict(params=[p], lr=0.0), dict(params=[p], lr=-1.0), dict(params=[], lr=0.1),
                     dict(params=[p, constant], lr=0.1)):
            with pytest.raises(ValueError):
                cls(**args)
