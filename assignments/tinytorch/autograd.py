# tinytorch/autograd.py: your file to complete for Module 06. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 06 — Autograd: reverse-mode differentiation.

Every differentiable op records, on the Tensor it returns, its parents and a *backward rule*
from this file. A rule receives the upstream gradient `grad` (the shape of the op's output)
plus the arrays the op saved, and returns one gradient per parent, each the shape of the
op's output *before* broadcasting is undone (the engine calls `unbroadcast`), or `None` for
a parent that needs no gradient.

`backward(root, grad)` walks the graph in reverse topological order, without recursion, and
accumulates (`+=`) into `.grad` of every leaf that requires grad.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

Array = np.ndarray
Shape = tuple[int, ...]
Axes = Optional[tuple[int, ...]]
Grads = tuple[Optional[Array], ...]

_grad_enabled: bool = True


def is_grad_enabled() -> bool:
    """True unless inside `with no_grad():`."""
    return _grad_enabled


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: ops inside record no graph and return tensors with requires_grad False."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad: Array, shape: Shape) -> Array:
    """Sum `grad` back down to `shape`: the adjoint of NumPy broadcasting.

    grad: (*broadcast_shape) -> (*shape). Sum away the leading axes broadcasting added, then
    sum (keepdims) every axis where `shape` has size 1 but `grad` does not.
    Example: grad (4, 3) with shape (3,) -> grad.sum(axis=0); shape (4, 1) -> sum(axis=1, keepdims).
    """
    # TODO(Module 06): sum over the leading extra axes, then over axes where shape has 1 (keepdims=True)
    raise NotImplementedError("Module 06: unbroadcast")


# ---------------------------------------------------------------- backward rules of Module 01 ops
def add_backward(grad: Array) -> Grads:
    """out = a + b. Returns (d out/d a · grad, d out/d b · grad), each of out's shape."""
    # TODO(Module 06): addition passes the gradient unchanged to both inputs
    raise NotImplementedError("Module 06: add backward")


def sub_backward(grad: Array) -> Grads:
    """out = a - b. Returns (grad for a, grad for b)."""
    # TODO(Module 06): a gets grad, b gets -grad
    raise NotImplementedError("Module 06: sub backward")


def mul_backward(grad: Array, a: Array, b: Array) -> Grads:
    """out = a * b (broadcast). Returns (grad * b, grad * a)."""
    # TODO(Module 06): d(a*b)/da = b and d(a*b)/db = a, times grad
    raise NotImplementedError("Module 06: mul backward")


def div_backward(grad: Array, a: Array, b: Array) -> Grads:
    """out = a / b. Returns (grad / b, -grad * a / b**2)."""
    # TODO(Module 06): d(a/b)/da = 1/b and d(a/b)/db = -a/b**2, times grad
    raise NotImplementedError("Module 06: div backward")


def neg_backward(grad: Array) -> Grads:
    """out = -a. Returns (-grad,)."""
    # TODO(Module 06): the gradient of -a is -grad
    raise NotImplementedError("Module 06: neg backward")


def pow_backward(grad: Array, a: Array, p: float) -> Grads:
    """out = a ** p for a scalar p. Returns (grad * p * a ** (p - 1),)."""
    # TODO(Module 06): d(a**p)/da = p * a**(p-1), times grad
    raise NotImplementedError("Module 06: pow backward")


def matmul_backward(grad: Array, a: Array, b: Array, need_a: bool, need_b: bool) -> Grads:
    """out = a @ b with a: (..., N, K), b: (..., K, M), grad: (..., N, M).

    Returns (grad @ b^T: (..., N, K), a^T @ grad: (..., K, M)), transposing the last two axes;
    return None for an input that needs no gradient (need_a / need_b False): skipping it
    saves a whole matrix product per step for the input batch. 1-D inputs are treated as
    a row (a) or a column (b) vector.
    """
    # TODO(Module 06): grad_a = grad @ b.T and grad_b = a.T @ grad (swap the last two axes)
    raise NotImplementedError("Module 06: matmul backward")


def sum_backward(grad: Array, shape: Shape, axis: Axes, keepdims: bool) -> Grads:
    """out = a.sum(axis, keepdims). Every summed element gets the gradient of its sum.

    grad: out's shape -> (a's shape,). Restore the reduced axes (np.expand_dims) unless
    keepdims, then np.broadcast_to(shape).
    """
    # TODO(Module 06): re-insert the reduced axes, then broadcast grad to the input shape
    raise NotImplementedError("Module 06: sum backward")


def mean_backward(grad: Array, shape: Shape, axis: Axes, keepdims: bool) -> Grads:
    """out = a.mean(axis, keepdims): like sum's, divided by the number of averaged elements."""
    # TODO(Module 06): sum's gradient divided by the count of averaged elements
    raise NotImplementedError("Module 06: mean backward")


def max_backward(grad: Array, a: Array, axis: Axes, keepdims: bool) -> Grads:
    """out = a.max(axis, keepdims). The gradient goes to one maximal element per reduced slice.

    grad: out's shape -> (a's shape,), zero everywhere except at the argmax positions.
    """
    # TODO(Module 06): route grad to one argmax element per slice (np.argmax), zeros elsewhere
    raise NotImplementedError("Module 06: max backward")


def reshape_backward(grad: Array, shape: Shape) -> Grads:
    """out = a.reshape(...): reshape grad back to a's shape."""
    # TODO(Module 06): reshape grad back to the input's shape
    raise NotImplementedError("Module 06: reshape backward")


def transpose_backward(grad: Array, axes: tuple[int, ...]) -> Grads:
    """out = a.transpose(axes): apply the inverse permutation (np.argsort(axes)) to grad."""
    # TODO(Module 06): transpose grad with the inverse permutation np.argsort(axes)
    raise NotImplementedError("Module 06: transpose backward")


def getitem_backward(grad: Array, shape: Shape, dtype: np.dtype, index: object) -> Grads:
    """out = a[index]: scatter grad into zeros of a's shape; repeated indices add (np.add.at)."""
    # TODO(Module 06): zeros of the input shape, then np.add.at(zeros, index, grad)
    raise NotImplementedError("Module 06: getitem backward")


def exp_backward(grad: Array, out: Array) -> Grads:
    """out = exp(a): d out/d a = out."""
    # TODO(Module 06): the derivative of exp is exp itself: grad * out
    raise NotImplementedError("Module 06: exp backward")


def log_backward(grad: Array, a: Array) -> Grads:
    """out = log(a): d out/d a = 1 / a."""
    # TODO(Module 06): the derivative of log(a) is 1/a
    raise NotImplementedError("Module 06: log backward")


# --------------------------------------------------- backward rules of Modules 02 and 04 (fused ops)
def relu_backward(grad: Array, a: Array) -> Grads:
    """out = max(a, 0): passes grad where a > 0; the derivative at exactly 0 is 0."""
    # TODO(Module 06): grad where a > 0 (strictly), 0 elsewhere
    raise NotImplementedError("Module 06: ReLU backward")


def sigmoid_backward(grad: Array, out: Array) -> Grads:
    """out = sigmoid(a): d out/d a = out * (1 - out)."""
    # TODO(Module 06): grad * out * (1 - out)
    raise NotImplementedError("Module 06: Sigmoid backward")


def tanh_backward(grad: Array, out: Array) -> Grads:
    """out = tanh(a): d out/d a = 1 - out**2."""
    # TODO(Module 06): grad * (1 - out**2)
    raise NotImplementedError("Module 06: Tanh backward")


def softmax_backward(grad: Array, out: Array, axis: int) -> Grads:
    """out = softmax(a, axis): grad_a = out * (grad - sum(grad * out, axis, keepdims=True))."""
    # TODO(Module 06): out * (grad - (grad * out).sum(axis, keepdims=True))
    raise NotImplementedError("Module 06: Softmax backward")


def log_softmax_backward(grad: Array, out: Array, axis: int) -> Grads:
    """out = log_softmax(a, axis): grad_a = grad - exp(out) * sum(grad, axis, keepdims=True)."""
    # TODO(Module 06): grad - exp(out) * grad.sum(axis, keepdims=True)
    raise NotImplementedError("Module 06: log_softmax backward")


def cross_entropy_backward(grad: Array, probs: Array, targets: Array) -> Grads:
    """loss = mean_i -log softmax(logits)_i[t_i], logits: (N, C), probs = softmax(logits).

    Returns (grad * (probs - one_hot(targets)) / N, None): the targets get no gradient.
    """
    # TODO(Module 06): (probs - one_hot(targets)) / N, times the scalar grad
    raise NotImplementedError("Module 06: CrossEntropy backward")


# ------------------------------------------------------------------------------------ the engine
def backward(root: "Tensor", grad: Array) -> None:
    """Propagate `grad` (root's shape) from `root` to every leaf that requires grad.

    1. Order the graph topologically with an explicit stack (no recursion: a chain 10,000
       ops deep must work). A node's graph links are `node._parents` (a tuple whose entries
       are Tensors or None) and `node._rule` (None for a leaf).
    2. Visit nodes from `root` back to the leaves, holding each node's total gradient in a
       dict keyed by id(node). For a non-leaf call `node._rule(g, *node._saved)`; for each
       parent that is a Tensor with requires_grad and a non-None gradient, `unbroadcast` it
       to the parent's shape and add it to the parent's total.
    3. At a leaf that requires grad, accumulate: `.grad` becomes a fresh array of the leaf's
       dtype the first time, and `+=` afterwards. Intermediate tensors keep `grad is None`.
    """
    # TODO(Module 06): iterative DFS for a topological order, then walk it in reverse summing gradients per node
    raise NotImplementedError("Module 06: backward pass")
