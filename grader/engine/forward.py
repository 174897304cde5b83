"""The grader's own NumPy forward pass for the milestone MLPs: trusted evaluation of weights.

params, in `parameters()` order: W1 (D, H), b1 (H,), W2 (H, 10), b2 (10,)  (tinytorch's layout).
x: (N, D) float32 in [0, 1] -> logits (N, 10).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

Array = np.ndarray


class BadParameters(ValueError):
    """The returned parameters do not describe the milestone's model."""


@dataclass(frozen=True)
class Architecture:
    inputs: int      # 64 or 784
    hidden: int      # 32 or 128
    classes: int = 10

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [(self.inputs, self.hidden), (self.hidden,), (self.hidden, self.classes), (self.classes,)]

    @property
    def parameter_count(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes)


def check_parameters(params: Sequence[Array], arch: Architecture) -> list[Array]:
    """Validate count, shapes, dtype kind and finiteness; return float64 copies."""
    expected = arch.shapes
    if len(params) != len(expected):
        raise BadParameters(f"the trained model has {len(params)} parameter tensors, expected {len(expected)} "
                            f"(Linear({arch.inputs}, {arch.hidden}), ReLU, Linear({arch.hidden}, {arch.classes}))")
    out = []
    for i, (p, shape) in enumerate(zip(params, expected)):
        p = np.asarray(p)
        if p.shape != shape:
            raise BadParameters(f"parameter {i} has shape {p.shape}, expected {shape} "
                                f"(weights are (in_features, out_features))")
        if p.dtype.kind != "f":
            raise BadParameters(f"parameter {i} has dtype {p.dtype}, expected a floating dtype")
        if not np.all(np.isfinite(p)):
            raise BadParameters(f"parameter {i} {shape} contains NaN or inf: training diverged")
        out.append(p.astype(np.float64))
    return out


def logits(params: Sequence[Array], x: Array) -> Array:
    """relu(x @ W1 + b1) @ W2 + b2, in float64."""
    w1, b1, w2, b2 = params
    hidden = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
    return hidden @ w2 + b2


def cross_entropy(z: Array, labels: Array) -> float:
    """Mean negative log-likelihood of integer labels under softmax(z), computed stably."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(labels)), labels]))


def accuracy(z: Array, labels: Array) -> float:
    return float(np.mean(np.argmax(z, axis=1) == labels))
