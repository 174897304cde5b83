"""The grader's own NumPy forward pass for the Milestone 03 MLPs: trusted evaluation of weights.

    params = check_parameters(arrays, arch)            # float64 copies, or BadParameters
    m = measure(params, x_train, y_train, x_test, y_test)
    m.train_loss, m.test_accuracy

params, in `parameters()` order: W1 (D, H), b1 (H,), W2 (H, 10), b2 (10,)  (tinytorch's layout).
x: (N, D) float32 in [0, 1] from `recipe.prepare` (or a `recipe.Prepared`) -> logits (N, 10).

Both the scripts' criteria table (`cli.py`) and the grade (`score.py`) measure with this file,
so what a student sees locally is what the grader computes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from grader.milestones.m03.recipe import Architecture, Images

Array = np.ndarray

BATCH_ROWS = 4096       # images per product in `logits`: 4096 x 784 float64 is 26 MB


class BadParameters(ValueError):
    """The returned parameters do not describe the milestone's model."""


@dataclass(frozen=True)
class Measurement:
    """What the grader measures of one trained model."""

    train_loss: float       # mean cross-entropy of the final model over the whole training split
    test_accuracy: float    # fraction of the held-out test images classified correctly


def check_parameters(params: Sequence[Array], arch: Architecture) -> list[Array]:
    """Validate count, shapes, dtype kind and finiteness; return float64 copies."""
    expected = arch.shapes
    if len(params) != len(expected):
        raise BadParameters(f"the trained model has {len(params)} parameter tensors, expected {len(expected)} "
                            f"({arch.describe()})")
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


def logits(params: Sequence[Array], x: Images) -> Array:
    """relu(x @ W1 + b1) @ W2 + b2, in float64: x (N, D) -> (N, C).

    Computed BATCH_ROWS rows at a time, so only one batch of x is ever held in float64: all
    60,000 MNIST images at once took 376 MB more (a graded run peaked near 740 MB, against
    Gradescope's default of 768 MB). Each row of a product depends only on its own row of x,
    so the logits equal the unbatched ones (bit for bit with OpenBLAS, checked on MNIST; a BLAS
    that blocks rows differently may round the last bit differently).
    """
    w1, b1, w2, b2 = params
    out = np.empty((len(x), w2.shape[1]), dtype=np.float64)
    for begin in range(0, len(x), BATCH_ROWS):
        hidden = np.maximum(x[begin:begin + BATCH_ROWS].astype(np.float64) @ w1 + b1, 0.0)
        out[begin:begin + BATCH_ROWS] = hidden @ w2 + b2
    return out


def cross_entropy(z: Array, labels: Array) -> float:
    """Mean negative log-likelihood of integer labels under softmax(z), computed stably."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(labels)), labels]))


def accuracy(z: Array, labels: Array) -> float:
    """Fraction of rows of z: (N, C) whose argmax equals labels: (N,)."""
    return float(np.mean(np.argmax(z, axis=1) == labels))


def measure(params: Sequence[Array], x_train: Images, y_train: Array, x_test: Images, y_test: Array) -> Measurement:
    """The final training loss over (x_train, y_train) and the accuracy on (x_test, y_test)
    of the MLP `params` (checked by `check_parameters`)."""
    return Measurement(train_loss=cross_entropy(logits(params, x_train), y_train),
                       test_accuracy=accuracy(logits(params, x_test), y_test))
