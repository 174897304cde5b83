"""Module 01 — Tensor: forward values, dtypes and shapes (no gradients yet: that is Module 06)."""
from __future__ import annotations

import operator

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close, shapes

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


def test_lists_and_python_scalars_become_float32():
    """Lists and Python numbers become float32, and arithmetic keeps float32"""
    a = tt.Tensor([[1, 2, 3], [4, 5, 6]])
    assert a.dtype == np.float32, f"Module 01 · Tensor([[1, 2, 3], ...]): dtype {a.dtype}, expected float32"
    assert a.shape == (2, 3) and a.ndim == 2 and a.size == 6, f"Module 01 · Tensor: shape {a.shape}, expected (2, 3)"
    assert tt.Tensor(3).dtype == np.float32 and tt.Tensor(2.5).dtype == np.float32, \
        "Module 01 · Tensor(3) and Tensor(2.5): Python scalars must become float32"
    out = a * 2 + 1
    assert_close(out, np.array([[3, 5, 7], [9, 11, 13]]), "Module 01 · mul/add forward with Python scalars, input (2, 3)",
                 dtype=np.float32)


def test_float64_arrays_keep_their_dtype_through_ops(rng):
    """A float64 array stays float64, in the tensor and in the results of ops on it"""
    x = rng.standard_normal((2, 3))
    a = tt.Tensor(x)
    assert a.dtype == np.float64, f"Module 01 · Tensor(float64 array): dtype {a.dtype}, expected float64"
    for name, result, expected in [("mul forward", a * a, x * x), ("add forward", a + 1.5, x + 1.5),
                                   ("Tensor.sum forward", a.sum(axis=0), x.sum(axis=0)), ("Tensor.exp forward", a.exp(), np.exp(x))]:
        assert_close(result, expected, f"Module 01 · {name}, input (2, 3) float64", dtype=np.float64)


def test_integer_labels_keep_their_dtype_and_cannot_require_grad():
    """Integer arrays (class labels) keep their dtype; requires_grad on them is a TypeError"""
    labels = np.array([2, 0, 1, 2], dtype=np.int64)
    t = tt.Tensor(labels)
    assert t.dtype == np.int64, f"Module 01 · Tensor(int64 labels): dtype {t.dtype}, expected int64"
    picked = t[np.array([3, 0])]
    assert_close(picked, np.array([2, 2]), "Module 01 · Tensor.__getitem__ forward on int64 labels (4,)", dtype=np.int64)
    with pytest.raises(TypeError):
        tt.Tensor(labels, requires_grad=True)


def test_tensor_shares_memory_with_its_array():
    """Tensor(ndarray) wraps the array without copying it"""
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    t = tt.Tensor(x)
    assert np.shares_memory(t.numpy(), x), "Module 01 · Tensor(ndarray): .data must be the same array, not a copy"
    x[0] = 10.0
    assert_close(t.sum(), np.float32(15.0), "Module 01 · Tensor.sum forward after changing the wrapped array")


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 3)), ((2, 1, 3), (4, 1))])
def test_broadcast_arithmetic_matches_numpy(op, shape_a, shape_b, rng):
    """+, -, *, / broadcast like NumPy and give NumPy's values"""
    x = rng.uniform(0.5, 2.0, shape_a).astype(np.float32)
    y = rng.uniform(0.5, 2.0, shape_b).astype(np.float32)
    got = BINARY[op](tt.Tensor(x), tt.Tensor(y))
    assert_close(got, BINARY[op](x, y), f"Module 01 · {op} forward, inputs {shapes(x, y)}", dtype=np.float32)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_scalars_work_on_either_side(op, rng):
    """A Python or NumPy scalar works on either side of +, -, *, /"""
    x = rng.uniform(0.5, 2.0, (2, 3))
    a = tt.Tensor(x)
    f = BINARY[op]
    for scalar in (3, 2.5, np.float64(-1.5)):
        assert_close(f(a, scalar), f(x, scalar), f"Module 01 · {op} forward, Tensor (2, 3) {op} {scalar!r}")
        assert_close(f(scalar, a), f(scalar, x), f"Module 01 · {op} forward, {scalar!r} {op} Tensor (2, 3)")


def test_mismatched_shapes_raise_a_value_error_naming_both(rng):
    """Shapes that do not broadcast raise ValueError naming both shapes"""
    a, b = tt.Tensor(rng.standard_normal((2, 3))), tt.Tensor(rng.standard_normal((4,)))
    assert_close(a + tt.Tensor(np.ones(3)), a.data + 1, "Module 01 · add forward, inputs (2, 3) and (3,)")
    with pytest.raises(ValueError) as info:
        a + b
    assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value), \
        f"Module 01 · add: the ValueError should name both shapes (2, 3) and (4,), got: {info.value}"


def test_matmul_matches_numpy_and_rejects_misaligned_shapes(rng):
    """a @ b equals NumPy's matrix product; misaligned shapes raise ValueError naming them"""
    x, y = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    assert_close(tt.Tensor(x) @ tt.Tensor(y), x @ y, "Module 01 · matmul forward, inputs (2, 3) and (3, 4)", dtype=np.float64)
    with pytest.raises(ValueError) as info:
        tt.Tensor(x) @ tt.Tensor(x)
    assert "(2, 3)" in str(info.value), f"Module 01 · matmul: the ValueError should name the shapes, got: {info.value}"


@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (1, True), (-1, False),
                                            ((0, 2), False), ((0, 2), True)])
def test_reductions_with_int_and_tuple_axes_match_numpy(reduction, axis, keepdims, rng):
    """sum, mean and max over an int or a tuple of axes, with and without keepdims"""
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    got = getattr(tt.Tensor(x), reduction)(axis=axis, keepdims=keepdims)
    expected = getattr(np, reduction)(x, axis=axis, keepdims=keepdims)
    assert_close(got, expected, f"Module 01 · Tensor.{reduction} forward, input (2, 3, 4), axis={axis}, keepdims={keepdims}",
                 dtype=np.float32)


def test_reshape_accepts_tuples_and_minus_one(rng):
    """reshape takes separate ints or a tuple, and -1 for one inferred size"""
    x = rng.standard_normal((2, 6))
    t = tt.Tensor(x)
    for args, target in [((3, 4), (3, 4)), (((4, 3),), (4, 3)), ((-1,), (12,)), ((2, -1, 2), (2, 3, 2))]:
        assert_close(t.reshape(*args), x.reshape(target), f"Module 01 · Tensor.reshape forward, (2, 6) -> {args}")
    with pytest.raises(ValueError):
        t.reshape(5, -1)


def test_transpose_and_T_swap_the_axes_of_a_matrix(rng):
    """transpose() and .T turn (N, M) into (M, N)"""
    x = rng.standard_normal((2, 3))
    t = tt.Tensor(x)
    assert_close(t.transpose(), x.T, "Module 01 · Tensor.transpose forward, input (2, 3)")
    assert_close(t.T, x.T, "Module 01 · Tensor.transpose forward via .T, input (2, 3)")


@pytest.mark.parametrize("index", ["row", "slice", "column-step", "int-array-repeated", "rows-and-cols", "tensor-index"])
def test_getitem_matches_numpy_indexing(index, rng):
    """Indexing with ints, slices and integer arrays gives NumPy's result"""
    x = rng.standard_normal((4, 3))
    keys = {"row": 1, "slice": slice(1, 3), "column-step": (slice(None), slice(None, None, 2)),
            "int-array-repeated": np.array([2, 0, 2]), "rows-and-cols": (np.array([0, 3, 3]), np.array([2, 0, 2])),
            "tensor-index": tt.Tensor(np.array([3, 1]))}
    key = keys[index]
    numpy_key = key.data if isinstance(key, tt.Tensor) else key
    assert_close(tt.Tensor(x)[key], x[numpy_key], f"Module 01 · Tensor.__getitem__ forward, input (4, 3), index {index}")


def test_exp_log_neg_and_pow_match_numpy(rng):
    """exp, log, -a and a ** p elementwise, as NumPy computes them"""
    x = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    t = tt.Tensor(x)
    assert_close(t.exp(), np.exp(x), "Module 01 · Tensor.exp forward, input (2, 3)", dtype=np.float32)
    assert_close(t.log(), np.log(x), "Module 01 · Tensor.log forward, input (2, 3)", dtype=np.float32)
    assert_close(-t, -x, "Module 01 · Tensor.__neg__ forward, input (2, 3)", dtype=np.float32)
    for p in (2, 0.5, -1.5):
        assert_close(t ** p, x ** p, f"Module 01 · Tensor.__pow__ forward, input (2, 3), p={p}", dtype=np.float32)


def test_item_len_and_repr():
    """item() of a one-element result, len() of the first axis, and a repr that shows requires_grad"""
    t = tt.Tensor(np.arange(6, dtype=np.float64).reshape(3, 2), requires_grad=True)
    total = t.sum()
    assert isinstance(total.item(), float) and total.item() == 15.0, \
        f"Module 01 · Tensor.sum then item(): expected 15.0, got {total.item()!r}"
    assert len(t) == 3, f"Module 01 · len(Tensor of shape (3, 2)): expected 3, got {len(t)}"
    assert "requires_grad=True" in repr(t), f"Module 01 · repr should show requires_grad=True, got {t!r}"
    with pytest.raises(ValueError):
        t.item()
