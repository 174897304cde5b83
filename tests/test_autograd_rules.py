"""The autograd engine checks every backward rule it calls (Module 06).

Each case copies the reference tinytorch to a temporary folder, plants one bug a student could
make in a backward rule, `unbroadcast` or the topological order, imports the copy under a
unique package name, and asserts that `backward()` raises BackwardRuleError naming the module,
the rule and both shapes (or counts), instead of leaving a wrong `.grad` behind. The same graph
on the unplanted reference must run without error, so each case can fail only by its plant.
The reference's broadcasting gradients are checked against sums written out by hand.
"""
from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "solutions" / "tinytorch"
_serial = itertools.count()


class Plant(NamedTuple):
    """Replace `old` (a line of the reference's autograd.py, stripped) by `new` (same indentation)."""
    old: str
    new: str


def _import_copy(package: Path) -> ModuleType:
    """Import the tinytorch in `package` under a fresh name, so it never meets the real one."""
    name = f"tinytorch_rules_{next(_serial)}"
    spec = importlib.util.spec_from_file_location(name, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        _forget(name)
        raise
    return module


def _forget(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[Callable[..., ModuleType]]:
    """planted(*plants) -> a tinytorch copy with those edits to autograd.py (none: the reference)."""
    names: list[str] = []

    def make(*plants: Plant) -> ModuleType:
        package = tmp_path / f"copy{len(names)}" / "tinytorch"
        shutil.copytree(REFERENCE, package, ignore=shutil.ignore_patterns("__pycache__"))
        source = package / "autograd.py"
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        for plant in plants:
            where = [i for i, line in enumerate(lines) if line.strip() == plant.old]
            assert len(where) == 1, f"the reference's autograd.py has {len(where)} lines {plant.old!r}, expected 1"
            line = lines[where[0]]
            indent = line[: len(line) - len(line.lstrip())]
            lines[where[0]] = "".join(f"{indent}{part}\n" for part in plant.new.splitlines())
        source.write_text("".join(lines), encoding="utf-8")
        module = _import_copy(package)
        names.append(module.__name__)
        return module

    yield make
    for name in names:
        _forget(name)


def _leaf(tt: ModuleType, shape: tuple[int, ...], seed: int = 0) -> Any:
    return tt.Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# Each case: a planted bug, the graph that runs into it, and what the error must name.
TRANSPOSE_FORGOTTEN = Plant("return (np.transpose(grad, np.argsort(axes)),)", "return (grad,)")
RESHAPE_FORGOTTEN = Plant("return (grad.reshape(shape),)", "return (grad,)")
MUL_ONE_GRADIENT_SHORT = Plant("return grad * b, grad * a", "return (grad * b,)")
EXP_BARE_ARRAY = Plant("return (grad * out,)", "return grad * out")
EXP_LIST_GRADIENT = Plant("return (grad * out,)", "return ((grad * out).tolist(),)")
EXP_TENSOR_GRADIENT = Plant("return (grad * out,)", "from .tensor import Tensor\nreturn (Tensor(grad * out),)")
SUM_NOT_BROADCAST = Plant("return (np.broadcast_to(grad, shape),)", "return (grad,)")
ORDER_REVERSED = Plant("return order", "return order[::-1]")

CASES = {
    "transpose-forgets-to-transpose": (
        TRANSPOSE_FORGOTTEN, lambda tt: _leaf(tt, (3, 4)).T.sum(),
        ["Module 06 · transpose backward: gradient for input 0 has shape (4, 3), expected (3, 4)"]),
    "reshape-forgets-to-reshape": (
        RESHAPE_FORGOTTEN, lambda tt: _leaf(tt, (2, 6)).reshape(3, 4).sum(),
        ["Module 06 · reshape backward: gradient for input 0 has shape (3, 4), expected (2, 6)"]),
    "reshape-forgotten-where-a-reshape-would-hide-it": (       # same element count, reshape-able: must still fail
        RESHAPE_FORGOTTEN, lambda tt: (_leaf(tt, (4, 3)).reshape(3, 4) * _leaf(tt, (3, 4), 1)).sum(),
        ["Module 06 · reshape backward: gradient for input 0 has shape (3, 4), expected (4, 3)"]),
    "mul-returns-one-gradient-too-few": (
        MUL_ONE_GRADIENT_SHORT, lambda tt: (_leaf(tt, (2, 3)) * _leaf(tt, (2, 3), 1)).sum(),
        ["Module 06 · mul backward: returned 1 gradient, expected 2"]),
    "exp-returns-a-bare-array": (
        EXP_BARE_ARRAY, lambda tt: _leaf(tt, (2, 3)).exp().sum(),
        ["Module 06 · exp backward: returned a ndarray, expected a tuple", "return (g,)"]),
    "exp-gradient-is-a-list": (
        EXP_LIST_GRADIENT, lambda tt: _leaf(tt, (2, 3)).exp().sum(),
        ["Module 06 · exp backward: gradient for input 0 is a list, expected a NumPy array"]),
    "exp-gradient-is-a-tensor": (
        EXP_TENSOR_GRADIENT, lambda tt: _leaf(tt, (2, 3)).exp().sum(),
        ["Module 06 · exp backward: gradient for input 0 is a Tensor, expected a NumPy array"]),
    "sum-forgets-to-broadcast": (
        SUM_NOT_BROADCAST, lambda tt: _leaf(tt, (3, 4)).sum(axis=1, keepdims=True).max(),
        ["Module 06 · sum backward: gradient for input 0 has shape (3, 1), expected (3, 4)"]),
    "topological-order-reversed": (
        ORDER_REVERSED, lambda tt: (_leaf(tt, (2,)) * 3.0).sum(),
        ["Module 06 · topological order:", "after all of its parents"]),
}


@pytest.mark.parametrize("plant, graph, expected", CASES.values(), ids=CASES.keys())
def test_planted_rule_bug_raises_an_error_naming_the_rule(planted, plant, graph, expected):
    """A rule returning the wrong shape, count or type is named by backward(), with both values"""
    reference = planted()
    graph(reference).backward()                                        # the graph itself is fine
    tt = planted(plant)
    with pytest.raises(tt.autograd.BackwardRuleError) as caught:
        graph(tt).backward()
    assert isinstance(caught.value, RuntimeError)
    message = str(caught.value)
    for part in expected:
        assert part in message, f"expected {part!r} in the message, got {message!r}"


IMPOSSIBLE = [((4, 3), (3, 4)), ((3,), (4, 3)), ((2, 3), (3, 1)), ((4, 3), (4, 2))]


@pytest.mark.parametrize("grad_shape, shape", IMPOSSIBLE, ids=[f"{g}-to-{s}" for g, s in IMPOSSIBLE])
def test_unbroadcast_given_an_impossible_shape_names_both_shapes(planted, grad_shape, shape):
    """unbroadcast only sums: a gradient that cannot sum down to the shape raises, naming both"""
    tt = planted()
    with pytest.raises(tt.autograd.BackwardRuleError) as caught:
        tt.autograd.unbroadcast(np.ones(grad_shape), shape)
    message = str(caught.value)
    assert message.startswith("Module 06 · unbroadcast:"), message
    assert str(grad_shape) in message and str(shape) in message, message


UNBROADCAST_PLANTS = {
    "skips-the-size-1-axes": (Plant("grad = grad.sum(axis=ones, keepdims=True)", "pass"),
                              "Module 06 · unbroadcast: cannot sum a gradient of shape (4, 3) down to shape (4, 1)"),
    "returns-early": (Plant("grad = grad.sum(axis=ones, keepdims=True)", "return grad"),
                      "Module 06 · unbroadcast: returned shape (4, 3) for a gradient of shape (4, 3), expected (4, 1)"),
}


@pytest.mark.parametrize("plant, expected", UNBROADCAST_PLANTS.values(), ids=UNBROADCAST_PLANTS.keys())
def test_unbroadcast_that_leaves_a_wrong_shape_is_named(planted, plant, expected):
    """An unbroadcast whose sums leave the wrong shape is named, not passed on to the leaf"""
    graph = lambda tt: (_leaf(tt, (4, 1)) + _leaf(tt, (4, 3), 1)).sum()   # noqa: E731
    graph(planted()).backward()
    tt = planted(plant)
    with pytest.raises(tt.autograd.BackwardRuleError) as caught:
        graph(tt).backward()
    assert expected in str(caught.value), str(caught.value)


SUMS_TO = [((4, 3), (3,), True), ((4, 3), (4, 1), True), ((2, 3, 4), (3, 1), True), ((4, 3), (), True),
           ((4, 3), (4, 3), True), ((4, 3), (3, 4), False), ((3,), (4, 3), False), ((4, 1), (4, 3), False),
           ((2, 3, 4), (2, 1, 1, 4), False)]


@pytest.mark.parametrize("grad_shape, shape, expected", SUMS_TO, ids=[f"{g}-to-{s}" for g, s, _ in SUMS_TO])
def test_sums_to_matches_numpy_broadcasting(planted, grad_shape, shape, expected):
    """sums_to(g, s) is True exactly when s broadcasts to g"""
    tt = planted()
    assert tt.autograd.sums_to(grad_shape, shape) is expected
    try:
        broadcasts = np.broadcast_shapes(shape, grad_shape) == grad_shape
    except ValueError:
        broadcasts = False
    assert broadcasts is expected


BROADCAST_PAIRS = [((4, 3), (3,)), ((4, 1), (1, 3)), ((2, 3, 4), (3, 1))]


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcasting's adjoint written out: sum the leading axes, then the size-1 axes."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("sa, sb", BROADCAST_PAIRS, ids=[f"{a}-{b}" for a, b in BROADCAST_PAIRS])
def test_reference_broadcast_gradients_are_summed_to_each_input(planted, op, sa, sb):
    """The reference's add and mul gradients with broadcasting equal the hand-written sums"""
    tt = planted()
    rng = np.random.default_rng(zlib.crc32(f"{op} {sa} {sb}".encode()))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    g = rng.standard_normal(np.broadcast_shapes(sa, sb))
    x, y = tt.Tensor(a.copy(), requires_grad=True), tt.Tensor(b.copy(), requires_grad=True)
    (x + y if op == "add" else x * y).backward(g)
    expected_a, expected_b = (g, g) if op == "add" else (g * b, g * a)
    for name, t, want in [("a", x, _sum_to(expected_a, sa)), ("b", y, _sum_to(expected_b, sb))]:
        assert t.grad.shape == t.shape and t.grad.dtype == np.float64, (name, t.grad.shape, t.grad.dtype)
        np.testing.assert_allclose(t.grad, want, rtol=1e-12, atol=1e-12, err_msg=f"{op} {sa} {sb}: gradient of {name}")
