# tinytorch/optim.py: your file to complete for Module 07. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 07 — Optimizers: SGD (with momentum and weight decay) and Adam, as PyTorch defines them.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad(); loss.backward(); opt.step()

Updates happen in place on `p.data`; a parameter whose `.grad` is None is skipped.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Holds the parameter list; checks it is non-empty and that every entry requires grad."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = list(params)
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {lr}")
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list (did the model define its layers?)")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a Tensor with requires_grad=True")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None."""
        # TODO(Module 07): p.grad = None for every parameter
        raise NotImplementedError("Module 07: Optimizer.zero_grad")

    def step(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define step()")


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's update exactly, per parameter p with gradient grad:

        g = grad + weight_decay * p
        v = momentum * v + g        (the first step sets v = g; only when momentum != 0)
        p -= lr * v                 (p -= lr * g when momentum == 0)
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got {momentum} and {weight_decay}")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.velocity: list[Optional[np.ndarray]] = [None] * len(self.params)

    def step(self) -> None:
        # TODO(Module 07): per parameter: g = grad + wd*p; v = g on the first step, else v = momentum*v + g; p.data -= lr * v (in place)
        raise NotImplementedError("Module 07: SGD.step")


class Adam(Optimizer):
    """Adam, PyTorch's update exactly, with step count t (from 1) per parameter:

        m = b1 * m + (1 - b1) * g          v = b2 * v + (1 - b2) * g**2
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1) or eps < 0:
            raise ValueError(f"Adam: betas must be in [0, 1) and eps >= 0, got betas={betas}, eps={eps}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.m: list[Optional[np.ndarray]] = [None] * len(self.params)
        self.v: list[Optional[np.ndarray]] = [None] * len(self.params)
        self.t: list[int] = [0] * len(self.params)

    def step(self) -> None:
        # TODO(Module 07): update m, v and t per parameter, then apply the bias-corrected step in place on p.data
        raise NotImplementedError("Module 07: Adam.step")
