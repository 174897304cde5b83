# tinytorch/activations.py: your file to complete for Module 02. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 02 — Activations: the nonlinearities between layers.

Each is a parameter-free `Module`: `ReLU()(x)` calls `forward(x)`. Forward values are
computed here; their backward rules live in `autograd.py` (Module 06).
Sigmoid and Softmax must stay finite, without overflow warnings, for inputs up to ±1e4.
"""
from __future__ import annotations

import numpy as np

from . import autograd as ag
from .layers import Module
from .tensor import Tensor, make_result


class ReLU(Module):
    """ReLU(x) = max(x, 0), elementwise. x: (*) -> (*)."""

    def forward(self, x: Tensor) -> Tensor:
        # TODO(Module 02): np.maximum(x, 0) keeps positives and zeroes the rest
        raise NotImplementedError("Module 02: ReLU forward")
        return make_result(out, (x,), ag.relu_backward, x.data)


class Sigmoid(Module):
    """Sigmoid(x) = 1 / (1 + exp(-x)), elementwise. x: (*) -> (*), values in [0, 1].

    Stable form: with z = exp(-|x|) (never overflows), sigmoid = 1/(1+z) where x >= 0
    and z/(1+z) where x < 0.
    """

    def forward(self, x: Tensor) -> Tensor:
        # TODO(Module 02): z = exp(-|x|); use 1/(1+z) for x >= 0 and z/(1+z) for x < 0
        raise NotImplementedError("Module 02: Sigmoid forward")
        return make_result(out, (x,), ag.sigmoid_backward, out)


class Tanh(Module):
    """Tanh(x) = (e^x - e^-x) / (e^x + e^-x), elementwise. x: (*) -> (*), values in [-1, 1]."""

    def forward(self, x: Tensor) -> Tensor:
        # TODO(Module 02): np.tanh is already stable
        raise NotImplementedError("Module 02: Tanh forward")
        return make_result(out, (x,), ag.tanh_backward, out)


class Softmax(Module):
    """Softmax(x)_i = exp(x_i) / sum_j exp(x_j) along `dim`. x: (*) -> (*), each slice sums to 1.

    Stable form: subtract the max along `dim` first (the result is unchanged, exp cannot overflow).
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        axis = self.dim % max(x.ndim, 1)
        # TODO(Module 02): e = exp(x - x.max(dim, keepdims=True)); divide by e.sum(dim, keepdims=True)
        raise NotImplementedError("Module 02: Softmax forward")
        return make_result(out, (x,), ag.softmax_backward, out, axis)
