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
    ### BEGIN SOLUTION 06 | unbroadcast | sum over the leading extra axes, then over axes where shape has 1 (keepdims=True)
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if ones:
        grad = grad.sum(axis=ones, keepdims=True)
    return grad.reshape(shape)
    ### END SOLUTION


# ---------------------------------------------------------------- backward rules of Module 01 ops
def add_backward(grad: Array) -> Grads:
    """out = a + b. Returns (d out/d a · grad, d out/d b · grad), each of out's shape."""
    ### BEGIN SOLUTION 06 | add backward | addition passes the gradient unchanged to both inputs
    return grad, grad
    ### END SOLUTION


def sub_backward(grad: Array) -> Grads:
    """out = a - b. Returns (grad for a, grad for b)."""
    ### BEGIN SOLUTION 06 | sub backward | a gets grad, b gets -grad
    return grad, -grad
    ### END SOLUTION


def mul_backward(grad: Array, a: Array, b: Array) -> Grads:
    """out = a * b (broadcast). Returns (grad * b, grad * a)."""
    ### BEGIN SOLUTION 06 | mul backward | d(a*b)/da = b and d(a*b)/db = a, times grad
    return grad * b, grad * a
    ### END SOLUTION


def div_backward(grad: Array, a: Array, b: Array) -> Grads:
    """out = a / b. Returns (grad / b, -grad * a / b**2)."""
    ### BEGIN SOLUTION 06 | div backward | d(a/b)/da = 1/b and d(a/b)/db = -a/b**2, times grad
    return grad / b, -grad * a / (b * b)
    ### END SOLUTION


def neg_backward(grad: Array) -> Grads:
    """out = -a. Returns (-grad,)."""
    ### BEGIN SOLUTION 06 | neg backward | the gradient of -a is -grad
    return (-grad,)
    ### END SOLUTION


def pow_backward(grad: Array, a: Array, p: float) -> Grads:
    """out = a ** p for a scalar p. Returns (grad * p * a ** (p - 1),)."""
    ### BEGIN SOLUTION 06 | pow backward | d(a**p)/da = p * a**(p-1), times grad
    return (grad * (p * a ** (p - 1)),)
    ### END SOLUTION


def matmul_backward(grad: Array, a: Array, b: Array, need_a: bool, need_b: bool) -> Grads:
    """out = a @ b with a: (..., N, K), b: (..., K, M), grad: (..., N, M).

    Returns (grad @ b^T: (..., N, K), a^T @ grad: (..., K, M)), transposing the last two axes;
    return None for an input that needs no gradient (need_a / need_b False): skipping it
    saves a whole matrix product per step for the input batch. 1-D inputs are treated as
    a row (a) or a column (b) vector.
    """
    ### BEGIN SOLUTION 06 | matmul backward | grad_a = grad @ b.T and grad_b = a.T @ grad (swap the last two axes)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = grad
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    grad_a = grad_b = None
    if need_a:
        grad_a = g2 @ np.swapaxes(b2, -1, -2)
        if a.ndim == 1:
            grad_a = grad_a[..., 0, :]
    if need_b:
        grad_b = np.swapaxes(a2, -1, -2) @ g2
        if b.ndim == 1:
            grad_b = grad_b[..., 0]
    return grad_a, grad_b
    ### END SOLUTION


def sum_backward(grad: Array, shape: Shape, axis: Axes, keepdims: bool) -> Grads:
    """out = a.sum(axis, keepdims). Every summed element gets the gradient of its sum.

    grad: out's shape -> (a's shape,). Restore the reduced axes (np.expand_dims) unless
    keepdims, then np.broadcast_to(shape).
    """
    ### BEGIN SOLUTION 06 | sum backward | re-insert the reduced axes, then broadcast grad to the input shape
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return (np.broadcast_to(grad, shape),)
    ### END SOLUTION


def mean_backward(grad: Array, shape: Shape, axis: Axes, keepdims: bool) -> Grads:
    """out = a.mean(axis, keepdims): like sum's, divided by the number of averaged elements."""
    ### BEGIN SOLUTION 06 | mean backward | sum's gradient divided by the count of averaged elements
    count = int(np.prod(shape)) if axis is None else int(np.prod([shape[i] for i in axis]))
    (g,) = sum_backward(grad, shape, axis, keepdims)
    return (g / count,)
    ### END SOLUTION


def max_backward(grad: Array, a: Array, axis: Axes, keepdims: bool) -> Grads:
    """out = a.max(axis, keepdims). The gradient goes to one maximal element per reduced slice.

    grad: out's shape -> (a's shape,), zero everywhere except at the argmax positions.
    """
    ### BEGIN SOLUTION 06 | max backward | route grad to one argmax element per slice (np.argmax), zeros elsewhere
    axes = tuple(range(a.ndim)) if axis is None else axis
    kept = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, kept + list(axes))
    flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
    winner = np.argmax(flat, axis=-1)
    mask = np.zeros(flat.shape, dtype=a.dtype)
    np.put_along_axis(mask, winner[..., None], 1, axis=-1)
    mask = mask.reshape(moved.shape)
    mask = np.transpose(mask, np.argsort(kept + list(axes)))
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    elif axis is None and not keepdims:
        grad = np.reshape(grad, (1,) * a.ndim)
    return (mask * grad,)
    ### END SOLUTION


def reshape_backward(grad: Array, shape: Shape) -> Grads:
    """out = a.reshape(...): reshape grad back to a's shape."""
    ### BEGIN SOLUTION 06 | reshape backward | reshape grad back to the input's shape
    return (grad.reshape(shape),)
    ### END SOLUTION


def transpose_backward(grad: Array, axes: tuple[int, ...]) -> Grads:
    """out = a.transpose(axes): apply the inverse permutation (np.argsort(axes)) to grad."""
    ### BEGIN SOLUTION 06 | transpose backward | transpose grad with the inverse permutation np.argsort(axes)
    return (np.transpose(grad, np.argsort(axes)),)
    ### END SOLUTION


def getitem_backward(grad: Array, shape: Shape, dtype: np.dtype, index: object) -> Grads:
    """out = a[index]: scatter grad into zeros of a's shape; repeated indices add (np.add.at)."""
    ### BEGIN SOLUTION 06 | getitem backward | zeros of the input shape, then np.add.at(zeros, index, grad)
    full = np.zeros(shape, dtype=dtype)
    np.add.at(full, index, grad)
    return (full,)
    ### END SOLUTION


def exp_backward(grad: Array, out: Array) -> Grads:
    """out = exp(a): d out/d a = out."""
    ### BEGIN SOLUTION 06 | exp backward | the derivative of exp is exp itself: grad * out
    return (grad * out,)
    ### END SOLUTION


def log_backward(grad: Array, a: Array) -> Grads:
    """out = log(a): d out/d a = 1 / a."""
    ### BEGIN SOLUTION 06 | log backward | the derivative of log(a) is 1/a
    return (grad / a,)
    ### END SOLUTION


# --------------------------------------------------- backward rules of Modules 02 and 04 (fused ops)
def relu_backward(grad: Array, a: Array) -> Grads:
    """out = max(a, 0): passes grad where a > 0; the derivative at exactly 0 is 0."""
    ### BEGIN SOLUTION 06 | ReLU backward | grad where a > 0 (strictly), 0 elsewhere
    return (grad * (a > 0),)
    ### END SOLUTION


def sigmoid_backward(grad: Array, out: Array) -> Grads:
    """out = sigmoid(a): d out/d a = out * (1 - out)."""
    ### BEGIN SOLUTION 06 | Sigmoid backward | grad * out * (1 - out)
    return (grad * out * (1 - out),)
    ### END SOLUTION


def tanh_backward(grad: Array, out: Array) -> Grads:
    """out = tanh(a): d out/d a = 1 - out**2."""
    ### BEGIN SOLUTION 06 | Tanh backward | grad * (1 - out**2)
    return (grad * (1 - out * out),)
    ### END SOLUTION


def softmax_backward(grad: Array, out: Array, axis: int) -> Grads:
    """out = softmax(a, axis): grad_a = out * (grad - sum(grad * out, axis, keepdims=True))."""
    ### BEGIN SOLUTION 06 | Softmax backward | out * (grad - (grad * out).sum(axis, keepdims=True))
    return (out * (grad - (grad * out).sum(axis=axis, keepdims=True)),)
    ### END SOLUTION


def log_softmax_backward(grad: Array, out: Array, axis: int) -> Grads:
    """out = log_softmax(a, axis): grad_a = grad - exp(out) * sum(grad, axis, keepdims=True)."""
    ### BEGIN SOLUTION 06 | log_softmax backward | grad - exp(out) * grad.sum(axis, keepdims=True)
    return (grad - np.exp(out) * grad.sum(axis=axis, keepdims=True),)
    ### END SOLUTION


def cross_entropy_backward(grad: Array, probs: Array, targets: Array) -> Grads:
    """loss = mean_i -log softmax(logits)_i[t_i], logits: (N, C), probs = softmax(logits).

    Returns (grad * (probs - one_hot(targets)) / N, None): the targets get no gradient.
    """
    ### BEGIN SOLUTION 06 | CrossEntropy backward | (probs - one_hot(targets)) / N, times the scalar grad
    n = probs.shape[0]
    g = probs.copy()
    g[np.arange(n), targets] -= 1
    g *= grad / n
    return g, None
    ### END SOLUTION


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
    ### BEGIN SOLUTION 06 | backward pass | iterative DFS for a topological order, then walk it in reverse summing gradients per node
    order: list["Tensor"] = []
    seen: set[int] = set()
    stack: list[tuple["Tensor", bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent is not None and parent.requires_grad and id(parent) not in seen:
                stack.append((parent, False))

    grads: dict[int, Array] = {id(root): grad}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._rule is None:
            if node.grad is None:
                node.grad = np.array(g, dtype=node.data.dtype, copy=True)
            else:
                node.grad += g
            continue
        parent_grads: Sequence[Optional[Array]] = node._rule(g, *node._saved)
        for parent, pg in zip(node._parents, parent_grads):
            if parent is None or pg is None or not parent.requires_grad:
                continue
            pg = unbroadcast(np.asarray(pg), parent.data.shape)
            key = id(parent)
            grads[key] = grads[key] + pg if key in grads else pg
    ### END SOLUTION
