"""Module 06 — Autograd: backward rules of every Tensor op, and the backward pass itself.

Gradient checks compare your backward with centred differences (see _gradcheck.py).
The engine checks every rule it calls: a rule that returns the wrong number of gradients, or
one whose shape cannot be its input's, fails with BackwardRuleError naming the rule, e.g.
`Module 06 · transpose backward: gradient for input 0 has shape (3, 2), expected (2, 3)`.
Activation, loss and layer gradients are checked in test_02, test_04 and test_03.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close, check_gradients, leaf

Shape = tuple[int, ...]


def _any(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.standard_normal(shape)


def _positive(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


def _away_from_zero(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def _distinct(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Values at least 0.08 apart, so a small nudge never changes which one is the maximum."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(0, 0.02, shape)) - n * 0.05


# One table for every op: (test id, stub name, function of the input tensors, input shapes, input kind)
OPS = [
    ("add", "add backward", lambda a, b: a + b, [(2, 3), (2, 3)], _any),
    ("add-broadcast-row", "add backward", lambda a, b: a + b, [(2, 3), (3,)], _any),
    ("add-broadcast-column", "add backward", lambda a, b: a + b, [(2, 1), (2, 3)], _any),
    ("add-broadcast-leading-and-size-1-axes", "add backward", lambda a, b: a + b, [(2, 3, 4), (3, 1)], _any),
    ("sub", "sub backward", lambda a, b: a - b, [(2, 3), (2, 3)], _any),
    ("sub-broadcast", "sub backward", lambda a, b: a - b, [(4, 1, 3), (2, 1)], _any),
    ("mul", "mul backward", lambda a, b: a * b, [(2, 3), (2, 3)], _any),
    ("mul-broadcast", "mul backward", lambda a, b: a * b, [(2, 3), (2, 1)], _any),
    ("mul-broadcast-both-inputs", "mul backward", lambda a, b: a * b, [(4, 1), (1, 3)], _any),
    ("div", "div backward", lambda a, b: a / b, [(2, 3), (2, 3)], _away_from_zero),
    ("div-broadcast", "div backward", lambda a, b: a / b, [(3,), (2, 3)], _away_from_zero),
    ("scalars-on-both-sides", "add/sub/mul/div backward", lambda a: (2.0 - a) * 3.0 / (1.5 + a) - a / 4.0, [(2, 3)], _positive),
    ("neg", "neg backward", lambda a: -a, [(2, 3)], _any),
    ("pow-2", "pow backward", lambda a: a ** 2, [(2, 3)], _any),
    ("pow-0.5", "pow backward", lambda a: a ** 0.5, [(2, 3)], _positive),
    ("pow-minus-1.5", "pow backward", lambda a: a ** -1.5, [(2, 3)], _positive),
    ("matmul", "matmul backward", lambda a, b: a @ b, [(2, 3), (3, 4)], _any),
    ("sum-all", "sum backward", lambda a: a.sum(), [(2, 3)], _any),
    ("sum-axis", "sum backward", lambda a: a.sum(axis=1), [(2, 3, 4)], _any),
    ("sum-axes-keepdims", "sum backward", lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 4)], _any),
    ("mean-all", "mean backward", lambda a: a.mean(), [(2, 3)], _any),
    ("mean-axis-keepdims", "mean backward", lambda a: a.mean(axis=-1, keepdims=True), [(2, 3, 4)], _any),
    ("mean-axes", "mean backward", lambda a: a.mean(axis=(0, 1)), [(2, 3, 4)], _any),
    ("max-all", "max backward", lambda a: a.max(), [(3, 4)], _distinct),
    ("max-axis", "max backward", lambda a: a.max(axis=0), [(3, 4)], _distinct),
    ("max-axes-keepdims", "max backward", lambda a: a.max(axis=(0, 2), keepdims=True), [(2, 3, 4)], _distinct),
    ("reshape", "reshape backward", lambda a: a.reshape(3, -1), [(2, 6)], _any),
    ("transpose", "transpose backward", lambda a: a.T, [(2, 3)], _any),
    ("getitem-slice", "getitem backward", lambda a: a[1:, ::2], [(3, 4)], _any),
    ("getitem-repeated-indices", "getitem backward", lambda a: a[np.array([0, 2, 0, 0])], [(3, 4)], _any),
    ("getitem-rows-and-cols", "getitem backward", lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])], [(2, 3)], _any),
    ("exp", "exp backward", lambda a: a.exp(), [(2, 3)], _any),
    ("log", "log backward", lambda a: a.log(), [(2, 3)], _positive),
]


@pytest.mark.parametrize("stub, fn, input_shapes, kind", [op[1:] for op in OPS], ids=[op[0] for op in OPS])
def test_op_gradient_matches_centred_differences(stub, fn, input_shapes, kind, rng):
    """Gradient check: each Tensor op's backward against centred differences"""
    inputs = [leaf(kind(rng, shape)) for shape in input_shapes]
    check_gradients(lambda: fn(*inputs), inputs, f"Module 06 · {stub}", rng=rng)


def test_broadcast_add_reduces_grad_to_input_shape():
    """(2, 3) + (3,) and (2, 3) + (2, 1): each gradient has its input's shape, summed over broadcast axes"""
    a, row, col = leaf(np.ones((2, 3))), leaf(np.ones(3)), leaf(np.ones((2, 1)))
    ((a + row) * 2 + col).sum().backward()
    assert_close(a.grad, np.full((2, 3), 2.0), "Module 06 · add backward, inputs (2, 3) and (3,): gradient of input 0")
    assert_close(row.grad, np.full(3, 4.0), "Module 06 · unbroadcast, inputs (2, 3) and (3,): gradient of input 1")
    assert_close(col.grad, np.full((2, 1), 3.0), "Module 06 · unbroadcast, inputs (2, 3) and (2, 1): gradient of input 1")


def test_tensor_used_twice_receives_the_sum():
    """A tensor used twice receives the sum of both gradients: d(a*a + a)/da = 2a + 1"""
    x = np.array([1.0, -2.0, 3.0])
    a = leaf(x)
    (a * a + a).sum().backward()
    assert_close(a.grad, 2 * x + 1, "Module 06 · backward pass, a * a + a with a (3,): gradient of a")


def test_shared_intermediate_gets_its_total_gradient_first():
    """b = 2a used by two branches of c = b*b + b: dc/da = 2 * (2b + 1)"""
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    a = leaf(x)
    b = a * 2
    (b * b + b).sum().backward()
    assert_close(a.grad, 2 * (2 * (2 * x) + 1), "Module 06 · backward pass, b = 2a; b*b + b with a (2, 2): gradient of a "
                                                "(visit nodes in reverse topological order)")


def test_grad_accumulates_across_two_backward_calls():
    """Calling backward twice adds the gradients (+=); it does not overwrite them"""
    a = leaf(np.array([1.0, 2.0]))
    (a * 3).sum().backward()
    (a * 3).sum().backward()
    assert_close(a.grad, [6.0, 6.0], "Module 06 · backward pass, two calls of (3a).sum().backward(): gradient of a")


def test_deep_chain_of_10000_ops_backpropagates():
    """A chain 10,000 ops deep works (no recursion limit) and gives (1.0001)**10000"""
    a = leaf(np.array([1.0]))
    y = a
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(a.grad, [1.0001 ** 10_000], "Module 06 · backward pass through 10,000 mul ops, a (1,): gradient of a",
                 rtol=1e-9)


def test_backward_on_non_scalar_output_needs_grad_argument():
    """backward() needs grad= for an output of more than one element; with grad= it works"""
    a = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = a * 2
    with pytest.raises(RuntimeError):
        out.backward()
    out.backward(np.array([[1.0, 0.0], [0.5, 2.0]]))
    assert_close(a.grad, [[2.0, 0.0], [1.0, 4.0]], "Module 06 · backward pass, (2a).backward(grad) with a (2, 2): gradient of a")
    a.grad = None
    a.sum(axis=1, keepdims=True)[0:1].backward()                      # shape (1, 1): one element, no grad= needed
    assert_close(a.grad, [[1.0, 1.0], [0.0, 0.0]], "Module 06 · backward pass, one-element (1, 1) output with a (2, 2): gradient of a")
    with pytest.raises(RuntimeError):
        tt.Tensor(np.ones(2)).sum().backward()


def test_only_leaves_get_grad():
    """Only leaf tensors with requires_grad receive .grad; intermediates and constants keep None"""
    a, b = leaf(np.array([1.0, 2.0])), leaf(np.array([3.0, 4.0]))
    c = tt.Tensor(np.array([5.0, 6.0]))
    h = a * b
    (h * c).sum().backward()
    assert_close(a.grad, [15.0, 24.0], "Module 06 · backward pass, (a*b*c).sum() with (2,) inputs: gradient of a")
    assert_close(b.grad, [5.0, 12.0], "Module 06 · backward pass, (a*b*c).sum() with (2,) inputs: gradient of b")
    assert h.grad is None, "Module 06 · backward pass: the intermediate h = a*b got a .grad; only leaves should"
    assert c.grad is None, "Module 06 · backward pass: c (requires_grad=False) got a .grad"


def test_grad_has_the_input_dtype(rng):
    """.grad has the dtype of its tensor: float32 stays float32"""
    a = tt.Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    b = tt.Tensor(rng.standard_normal((3,)).astype(np.float32), requires_grad=True)
    ((a * b).exp().sum(axis=0) @ tt.Tensor(np.ones((3, 2), dtype=np.float32))).sum().backward()
    for name, t in [("a", a), ("b", b)]:
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == np.float32, \
            f"Module 06 · backward pass, float32 inputs (2, 3) and (3,): gradient of {name} is " \
            f"{None if t.grad is None else (t.grad.shape, t.grad.dtype)}, expected {t.shape} float32"


def test_detach_shares_data_and_cuts_the_graph():
    """detach() shares the data but is a constant: no gradient flows through it"""
    a = leaf(np.array([1.0, 2.0, 3.0]))
    d = a.detach()
    assert not d.requires_grad and np.shares_memory(d.data, a.data), "Module 06 · detach: must share data and not require grad"
    (a * d).sum().backward()
    assert_close(a.grad, [1.0, 2.0, 3.0], "Module 06 · backward pass, (a * a.detach()).sum(): gradient of a (only one path)")


def test_no_grad_records_no_graph():
    """Inside tt.no_grad() results do not require grad; outside they do again"""
    a = leaf(np.array([1.0, 2.0]))
    with tt.no_grad():
        inside = (a * 2).sum()
    outside = (a * 2).sum()
    assert not inside.requires_grad, "Module 06 · no_grad: a result computed inside no_grad() requires grad"
    assert outside.requires_grad, "Module 06 · no_grad: after the block, results must require grad again"
    with pytest.raises(RuntimeError):
        inside.backward()
    outside.backward()
    assert_close(a.grad, [2.0, 2.0], "Module 06 · backward pass after no_grad, (2a).sum(): gradient of a")


def test_getitem_with_repeated_indices_adds_up():
    """a[[0, 0, 2]].sum() gives index 0 a gradient of 2"""
    a = leaf(np.array([1.0, 2.0, 3.0, 4.0]))
    a[np.array([0, 0, 2])].sum().backward()
    assert_close(a.grad, [2.0, 0.0, 1.0, 0.0], "Module 06 · getitem backward, a (4,) indexed by [0, 0, 2]: gradient of a")


def test_max_gradient_goes_to_the_maximal_element():
    """max routes the gradient to the largest element of each slice"""
    a = leaf(np.array([[1.0, 5.0, 3.0], [7.0, 2.0, 4.0]]))
    a.max(axis=1).sum().backward()
    assert_close(a.grad, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "Module 06 · max backward, a (2, 3), axis=1: gradient of a")
