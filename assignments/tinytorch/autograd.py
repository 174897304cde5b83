# tinytorch/autograd.py: your file to complete for Module 06. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 06 — Autograd: reverse-mode differentiation.

Every differentiable op records, on the Tensor it returns, its parents and a *backward rule*
from this file. A rule receives the upstream gradient `grad` (the shape of the op's output)
plus the arrays the op saved, and returns a tuple with one gradient per parent: a NumPy array
of the parent's shape, or of a shape that broadcasting made from it (the engine sums those
axes away with `unbroadcast`), or `None` for a parent that needs no gradient.

`backward(root, grad)` walks the graph in reverse topological order, without recursion, and
accumulates (`+=`) into `.grad` of every leaf that requires grad. It checks every rule it
calls: a wrong number of gradients, a gradient that is not an array, or one whose shape cannot
be its parent's raises `BackwardRuleError` naming the rule, e.g.
    Module 06 · transpose backward: gradient for input 0 has shape (4, 3), expected (3, 4)
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

Array = np.ndarray
Shape = tuple[int, ...]
Axes = Optional[tuple[int, ...]]
Grads = tuple[Optional[Array], ...]

_grad_enabled: bool = True


class BackwardRuleError(RuntimeError):
    """A backward rule (or `unbroadcast`) broke the engine's rules. The message names the module,
    the rule and the values, so a bug shows where it is made, not as a wrong `.grad` far away."""


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


def sums_to(grad_shape: Shape, shape: Shape) -> bool:
    """True when summing broadcast axes can turn a gradient of `grad_shape` into one of `shape`:
    grad_shape is `shape` with leading axes added and size-1 axes stretched, as in broadcasting.
    (4, 3) -> (3,) and (4, 3) -> (4, 1) are True; (4, 3) -> (3, 4) and (3,) -> (4, 3) are False.
    """
    extra = len(grad_shape) - len(shape)
    if extra < 0:
        return False
    for have, want in zip(grad_shape[extra:], shape):
        if have != want and want != 1:
            return False
    return True


def unbroadcast(grad: Array, shape: Shape) -> Array:
    """Sum `grad` back down to `shape`: the adjoint of NumPy broadcasting.

    grad: (*broadcast_shape) -> (*shape). Sum away the leading axes broadcasting added, then
    sum (keepdims) every axis where `shape` has size 1 but `grad` does not. Only sums: if what
    remains is not `shape`, BackwardRuleError names both shapes (never reshape it into place).
    Example: grad (4, 3) with shape (3,) -> grad.sum(axis=0); shape (4, 1) -> sum(axis=1, keepdims).
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad                                   # nothing was broadcast
    given = grad.shape
    # TODO(Module 06): set grad to grad summed over the leading extra axes, then over the axes where shape has 1 (keepdims=True)
    raise NotImplementedError("Module 06: unbroadcast")
    if grad.shape != shape:
        raise BackwardRuleError(f"Module 06 · unbroadcast: cannot sum a gradient of shape {given} down to shape "
                                f"{shape}: summing its broadcast axes leaves shape {grad.shape}")
    return grad


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
def rule_name(rule: Callable[..., Any]) -> str:
    """How messages name a backward rule: transpose_backward -> "transpose backward"."""
    return str(getattr(rule, "__name__", type(rule).__name__)).replace("_", " ").strip()


def check_count(rule: Callable[..., Any], grads: Any, inputs: int) -> Grads:
    """`grads` as a tuple of `inputs` gradients (a list is fine), else BackwardRuleError naming the rule."""
    if not isinstance(grads, (tuple, list)):
        hint = ": write `return (g,)` for an op with one input" if isinstance(grads, np.ndarray) else ""
        raise BackwardRuleError(f"Module 06 · {rule_name(rule)}: returned a {type(grads).__name__}, expected a tuple "
                                f"with one gradient per input ({inputs}){hint}")
    if len(grads) != inputs:
        raise BackwardRuleError(f"Module 06 · {rule_name(rule)}: returned {len(grads)} gradient"
                                f"{'' if len(grads) == 1 else 's'}, expected {inputs} (one per input, "
                                f"None for an input that needs no gradient)")
    return tuple(grads)


def check_gradient(rule: Callable[..., Any], index: int, grad: Any, shape: Shape) -> Array:
    """`grad`, the rule's gradient for input `index`, as an array of `shape` (summing broadcast
    axes with `unbroadcast`), or BackwardRuleError naming the rule, the input and both shapes.
    """
    if not isinstance(grad, np.ndarray):
        if not isinstance(grad, np.generic):          # NumPy scalars (0-d results) are fine
            raise BackwardRuleError(f"Module 06 · {rule_name(rule)}: gradient for input {index} is a "
                                    f"{type(grad).__name__}, expected a NumPy array")
        grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    if not sums_to(grad.shape, shape):
        raise BackwardRuleError(f"Module 06 · {rule_name(rule)}: gradient for input {index} has shape "
                                f"{grad.shape}, expected {shape}")
    summed = unbroadcast(grad, shape)
    if getattr(summed, "shape", None) != shape:
        raise BackwardRuleError(f"Module 06 · unbroadcast: returned shape {np.shape(summed)} for a gradient "
                                f"of shape {grad.shape}, expected {shape}")
    return summed if isinstance(summed, np.ndarray) else np.asarray(summed)


def topological_order(root: "Tensor") -> list["Tensor"]:
    """Every tensor `root` depends on through tensors that require grad, each once, every
    tensor after all of its parents (so `root` comes last).

    A node's graph links are `node._parents` (a tuple whose entries are Tensors or None;
    follow only those that require grad) and `node._rule` (None for a leaf). Use an explicit
    stack, not recursion: a chain 10,000 ops deep must work.
    """
    # TODO(Module 06): explicit stack of (node, parents_done) pairs: push a node's parents, append the node when popped again; skip nodes already seen
    raise NotImplementedError("Module 06: topological order")


def accumulate_grad(leaf: "Tensor", grad: Array) -> None:
    """Add `grad` (the leaf's shape) into `leaf.grad`.

    The first time (`leaf.grad is None`) store a fresh array of the leaf's dtype (a copy: `grad`
    may be read-only or shared with another tensor); afterwards add in place with `+=`, so two
    backward calls sum their gradients.
    """
    # TODO(Module 06): first time: leaf.grad = np.array(grad, dtype=leaf.data.dtype), a copy; afterwards leaf.grad += grad
    raise NotImplementedError("Module 06: accumulate leaf grad")


def backward(root: "Tensor", grad: Array) -> None:
    """Propagate `grad` (root's shape) from `root` to every leaf that requires grad.

    Visits `topological_order(root)` from `root` back to the leaves, holding each node's total
    gradient in `totals` (keyed by id(node)). At a leaf it calls `accumulate_grad`; at an op it
    calls the op's rule, checks the count (`check_count`) and each parent's gradient
    (`check_gradient`, which also sums broadcast axes away), and adds it to the parent's total.
    Intermediate tensors keep `grad is None`.
    """
    totals: dict[int, Array] = {id(root): grad}
    for node in reversed(topological_order(root)):
        g = totals.pop(id(node), None)
        if g is None:
            continue                                  # no gradient reached this node
        if node._rule is None:
            accumulate_grad(node, g)
            continue
        parents = node._parents
        grads = node._rule(g, *node._saved)
        if type(grads) is not tuple or len(grads) != len(parents):
            grads = check_count(node._rule, grads, len(parents))
        for index, parent in enumerate(parents):
            parent_grad = grads[index]
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue                              # a constant, or an input that needs no gradient
            if type(parent_grad) is not np.ndarray or parent_grad.shape != parent.data.shape:
                parent_grad = check_gradient(node._rule, index, parent_grad, parent.data.shape)
            # TODO(Module 06): totals[id(parent)] is parent_grad the first time, else old total + parent_grad (never += into an array you were given)
            raise NotImplementedError("Module 06: sum gradients per node")
    if totals:
        raise BackwardRuleError(f"Module 06 · topological order: {len(totals)} tensor(s) got a gradient after they were "
                                f"visited, or were not in the order; list every tensor that requires grad once, "
                                f"after all of its parents")
