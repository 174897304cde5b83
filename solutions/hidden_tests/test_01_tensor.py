"""Hidden tests, Module 01 — Tensor: forward values, dtypes, memory sharing and shape errors.

Each test runs the student's tinytorch in a sandboxed probe and compares what comes back with
values computed here in plain NumPy. Module 01 needs no other module.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import returned, rng_for
from grader.testing import assert_close, probe, values_of

M = "Module 01"


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
def test_elementwise_arithmetic_matches_numpy() -> None:
    """Tensor arithmetic (+, -, *, /, unary -, **) with broadcasting and scalars on either side"""
    rng = rng_for("test_elementwise_arithmetic_matches_numpy")
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    col, row, vec = rng.normal(size=(4, 1)), rng.normal(size=(1, 3)), rng.normal(size=(3,))
    pos = rng.uniform(0.5, 2.0, size=(4, 3))

    def arithmetic(tt, a, b, col, row, vec, pos):
        import numpy as np
        exprs = {"a + b": lambda t: t["a"] + t["b"], "a - b": lambda t: t["a"] - t["b"],
                 "a * b": lambda t: t["a"] * t["b"], "a / pos": lambda t: t["a"] / t["pos"], "-a": lambda t: -t["a"],
                 "a ** 2": lambda t: t["a"] ** 2, "pos ** 0.5": lambda t: t["pos"] ** 0.5,
                 "pos ** -1": lambda t: t["pos"] ** -1, "col + row": lambda t: t["col"] + t["row"],
                 "a * vec": lambda t: t["a"] * t["vec"], "vec - a": lambda t: t["vec"] - t["a"],
                 "2.0 - a": lambda t: 2.0 - t["a"], "1 / pos": lambda t: 1 / t["pos"], "a * 3": lambda t: t["a"] * 3,
                 "3 + a": lambda t: 3 + t["a"], "a - 0.5": lambda t: t["a"] - 0.5, "a / 4": lambda t: t["a"] / 4,
                 "2.5 * a": lambda t: 2.5 * t["a"], "np.float64(2) * a": lambda t: np.float64(2.0) * t["a"]}
        arrays = {"a": a, "b": b, "pos": pos, "col": col, "row": row, "vec": vec}
        out = {}
        for expr, f in exprs.items():
            # fresh tensors and a copied result: an op that writes into an array cannot spoil another case
            tensors = {k: tt.Tensor(v.copy()) for k, v in arrays.items()}
            try:
                out[expr] = np.array(f(tensors).data, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[expr] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(arithmetic, a=a, b=b, col=col, row=row, vec=vec, pos=pos), "01", "Tensor arithmetic")
    expected = {"a + b": a + b, "a - b": a - b, "a * b": a * b, "a / pos": a / pos, "-a": -a, "a ** 2": a ** 2,
                "pos ** 0.5": np.sqrt(pos), "pos ** -1": 1.0 / pos, "col + row": col + row, "a * vec": a * vec,
                "vec - a": vec - a, "2.0 - a": 2.0 - a, "1 / pos": 1.0 / pos, "a * 3": a * 3, "3 + a": 3 + a,
                "a - 0.5": a - 0.5, "a / 4": a / 4, "2.5 * a": 2.5 * a, "np.float64(2) * a": 2.0 * a}
    for expr, value in expected.items():
        where = f"{M} · Tensor arithmetic: {expr}"
        assert_close(returned(out[expr], where), value, where=where, rtol=1e-12, atol=1e-12)


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_reductions_match_numpy_for_every_axis_form() -> None:
    """sum, mean and max with axis None, an int, a negative int, a tuple, and keepdims"""
    rng = rng_for("test_reductions_match_numpy_for_every_axis_form")
    x = rng.normal(size=(2, 3, 4))

    def reductions(tt, x):
        import numpy as np
        calls = {"()": {}, "(axis=1)": {"axis": 1}, "(axis=-1, keepdims=True)": {"axis": -1, "keepdims": True},
                 "(axis=(0, 2))": {"axis": (0, 2)}, "(axis=0, keepdims=True)": {"axis": 0, "keepdims": True},
                 "(keepdims=True)": {"keepdims": True}}
        out = {}
        for name in ("sum", "mean", "max"):
            for call, kwargs in calls.items():
                try:
                    out[name + call] = np.array(getattr(tt.Tensor(x.copy()), name)(**kwargs).data, copy=True)
                except NotImplementedError:
                    raise
                except Exception as e:
                    out[name + call] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(reductions, x=x), "01", "reductions")
    for name in ("sum", "mean", "max"):
        f = getattr(np, name)
        cases = {"()": f(x), "(axis=1)": f(x, axis=1), "(axis=-1, keepdims=True)": f(x, axis=-1, keepdims=True),
                 "(axis=(0, 2))": f(x, axis=(0, 2)), "(axis=0, keepdims=True)": f(x, axis=0, keepdims=True),
                 "(keepdims=True)": f(x, keepdims=True)}
        for call, value in cases.items():
            where = f"{M} · Tensor.{name}: x (2, 3, 4).{name}{call}"
            assert_close(returned(out[name + call], where), value, where=where, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_matmul_matches_numpy() -> None:
    """Matrix product a @ b for several 2-D shapes, including row and column vectors as matrices"""
    rng = rng_for("test_matmul_matches_numpy")
    pairs = {"(3, 4) @ (4, 2)": ((3, 4), (4, 2)), "(1, 5) @ (5, 1)": ((1, 5), (5, 1)),
             "(6, 1) @ (1, 3)": ((6, 1), (1, 3)), "(2, 7) @ (7, 7)": ((2, 7), (7, 7))}
    arrays = {}
    for i, (sa, sb) in enumerate(pairs.values()):
        arrays[f"a{i}"], arrays[f"b{i}"] = rng.normal(size=sa), rng.normal(size=sb)

    def matmuls(tt, **arrays):
        import numpy as np
        out = {}
        for i in range(len(arrays) // 2):
            product = tt.Tensor(arrays[f"a{i}"].copy()) @ tt.Tensor(arrays[f"b{i}"].copy())
            out[f"p{i}"] = np.array(product.data, copy=True)
        return out

    out = values_of(probe(matmuls, **arrays), "01", "matmul")
    for i, label in enumerate(pairs):
        assert_close(out[f"p{i}"], arrays[f"a{i}"] @ arrays[f"b{i}"], where=f"{M} · matmul: {label}",
                     rtol=1e-12, atol=1e-12)


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_reshape_transpose_and_indexing_match_numpy() -> None:
    """reshape (varargs, tuple, -1), transpose and .T, slicing and integer-array indexing"""
    rng = rng_for("test_reshape_transpose_and_indexing_match_numpy")
    x, m = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))

    def shape_ops(tt, x, m):
        import numpy as np
        ops = {"reshape(6, 4)": lambda t, u: t.reshape(6, 4), "reshape((4, -1))": lambda t, u: t.reshape((4, -1)),
               "reshape(-1)": lambda t, u: t.reshape(-1), "reshape(2, 12)": lambda t, u: t.reshape(2, 12),
               "m.transpose()": lambda t, u: u.transpose(), "m.T": lambda t, u: u.T,
               "x[1]": lambda t, u: t[1], "x[:, 1:3]": lambda t, u: t[:, 1:3], "x[..., ::2]": lambda t, u: t[..., ::2],
               "x[-1, :, 0]": lambda t, u: t[-1, :, 0], "m[[0, 3, 3, 1]]": lambda t, u: u[np.array([0, 3, 3, 1])],
               "m[rows, cols]": lambda t, u: u[np.array([0, 1, 1, 3]), np.array([4, 0, 0, 2])],
               "m[1:3, [0, 4]]": lambda t, u: u[1:3, np.array([0, 4])]}
        out = {}
        for expr, f in ops.items():
            try:
                out[expr] = np.array(f(tt.Tensor(x.copy()), tt.Tensor(m.copy())).data, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[expr] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(shape_ops, x=x, m=m), "01", "reshape / transpose / indexing")
    expected = {"reshape(6, 4)": x.reshape(6, 4), "reshape((4, -1))": x.reshape(4, -1), "reshape(-1)": x.reshape(-1),
                "reshape(2, 12)": x.reshape(2, 12), "m.transpose()": m.T, "m.T": m.T, "x[1]": x[1],
                "x[:, 1:3]": x[:, 1:3], "x[..., ::2]": x[..., ::2], "x[-1, :, 0]": x[-1, :, 0],
                "m[[0, 3, 3, 1]]": m[[0, 3, 3, 1]], "m[rows, cols]": m[[0, 1, 1, 3], [4, 0, 0, 2]],
                "m[1:3, [0, 4]]": m[1:3][:, [0, 4]]}
    for expr, value in expected.items():
        where = f"{M} · shape ops: {expr}"
        assert_close(returned(out[expr], where), value, where=where, rtol=0, atol=0)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_exp_and_log_match_numpy() -> None:
    """exp() and log() elementwise, in float64 and float32"""
    rng = rng_for("test_exp_and_log_match_numpy")
    x = rng.uniform(-3, 3, size=(3, 5))
    p = rng.uniform(0.01, 20, size=(3, 5))

    def exp_log(tt, x, p):
        import numpy as np
        return {"exp": np.array(tt.Tensor(x.copy()).exp().data, copy=True),
                "log": np.array(tt.Tensor(p.copy()).log().data, copy=True),
                "exp32": np.array(tt.Tensor(x.astype(np.float32)).exp().data, copy=True),
                "log32": np.array(tt.Tensor(p.astype(np.float32)).log().data, copy=True)}

    out = values_of(probe(exp_log, x=x, p=p), "01", "exp / log")
    assert_close(out["exp"], np.exp(x), where=f"{M} · Tensor.exp: float64 input (3, 5)", rtol=1e-12, dtype=np.float64)
    assert_close(out["log"], np.log(p), where=f"{M} · Tensor.log: float64 input (3, 5)", rtol=1e-12, dtype=np.float64)
    assert_close(out["exp32"], np.exp(x), where=f"{M} · Tensor.exp: float32 input (3, 5)", rtol=1e-5, dtype=np.float32)
    assert_close(out["log32"], np.log(p), where=f"{M} · Tensor.log: float32 input (3, 5)", rtol=1e-5, atol=1e-6,
                 dtype=np.float32)


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_python_scalars_and_lists_become_float32_numpy_data_keeps_dtype() -> None:
    """Construction: Python scalars and lists become float32; NumPy arrays and scalars keep their dtype"""
    def construct(tt, a32, a64, labels):
        import numpy as np
        made = {"1.5": tt.Tensor(1.5), "3": tt.Tensor(3), "[[1, 2], [3, 4]]": tt.Tensor([[1, 2], [3, 4]]),
                "[0.5, 1.5]": tt.Tensor([0.5, 1.5]), "float32 array": tt.Tensor(a32),
                "float64 array": tt.Tensor(a64), "int64 array": tt.Tensor(labels),
                "np.float64(2.5)": tt.Tensor(np.float64(2.5)), "np.float32(2.5)": tt.Tensor(np.float32(2.5)),
                "Tensor(float64 Tensor)": tt.Tensor(tt.Tensor(a64))}
        out = {f"dtype {k}": str(t.dtype) for k, t in made.items()}
        out["sum of [[1, 2], [3, 4]]"] = np.array(made["[[1, 2], [3, 4]]"].sum().data, copy=True)
        out["[0.5, 1.5] + 1"] = np.array((made["[0.5, 1.5]"] + 1).data, copy=True)
        out["shape of 3"] = list(made["3"].shape)
        return out

    a32 = np.array([1.0, 2.0], dtype=np.float32)
    a64 = np.array([1.0, 2.0], dtype=np.float64)
    labels = np.array([0, 2, 1], dtype=np.int64)
    out = values_of(probe(construct, a32=a32, a64=a64, labels=labels), "01", "Tensor construction")
    expected = {"1.5": "float32", "3": "float32", "[[1, 2], [3, 4]]": "float32", "[0.5, 1.5]": "float32",
                "float32 array": "float32", "float64 array": "float64", "int64 array": "int64",
                "np.float64(2.5)": "float64", "np.float32(2.5)": "float32", "Tensor(float64 Tensor)": "float64"}
    for data, dtype in expected.items():
        got = out[f"dtype {data}"]
        assert got == dtype, f"{M} · Tensor({data}): dtype {got}, expected {dtype}"
    assert out["shape of 3"] == [], f"{M} · Tensor(3): shape {tuple(out['shape of 3'])}, expected ()"
    assert_close(out["sum of [[1, 2], [3, 4]]"], np.float32(10.0), where=f"{M} · Tensor([[1, 2], [3, 4]]).sum()",
                 dtype=np.float32)
    assert_close(out["[0.5, 1.5] + 1"], np.array([1.5, 2.5]), where=f"{M} · Tensor([0.5, 1.5]) + 1", dtype=np.float32)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_ops_keep_float32_and_float64() -> None:
    """Every op keeps float32 as float32 and float64 as float64 (Python scalars do not upcast)"""
    rng = rng_for("test_ops_keep_float32_and_float64")
    x, w = rng.uniform(0.5, 2.0, size=(3, 4)), rng.normal(size=(4, 2))

    def op_dtypes(tt, x, w, dtype):
        import numpy as np
        t, u = tt.Tensor(x.astype(dtype)), tt.Tensor(w.astype(dtype))
        results = {"t + t": t + t, "t - 1.5": t - 1.5, "2.0 - t": 2.0 - t, "t * 3.0": t * 3.0, "t / 2": t / 2,
                   "1 / t": 1 / t, "-t": -t, "t ** 2": t ** 2, "t ** 0.5": t ** 0.5, "t.exp()": t.exp(),
                   "t.log()": t.log(), "t.sum()": t.sum(), "t.mean(axis=0)": t.mean(axis=0),
                   "t.max(axis=1)": t.max(axis=1), "t @ w": t @ u, "t.T": t.T, "t.reshape(-1)": t.reshape(-1),
                   "t[1:]": t[1:]}
        return {k: str(v.dtype) for k, v in results.items()}

    for dtype in ("float32", "float64"):
        out = values_of(probe(op_dtypes, x=x, w=w, dtype=dtype), "01", f"op dtypes ({dtype})")
        for expr, got in out.items():
            assert got == dtype, f"{M} · dtype preservation: {expr} on {dtype} tensors gave {got}, expected {dtype}"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_tensor_from_ndarray_shares_memory() -> None:
    """Tensor(ndarray) shares memory with the array: writes to either are seen by the other"""
    def sharing(tt, arr):
        import numpy as np
        t = tt.Tensor(arr)
        arr[0, 1] = 5.0                  # write through the original array
        seen = float(t.data[0, 1])
        total = (t * 1.0).sum().item()   # ops see the new value too
        t.data[1, 2] = -2.0              # write through the tensor
        return {"seen": seen, "total": total, "arr_after": arr.copy(), "numpy_after": np.array(t.numpy(), copy=True)}

    arr = np.zeros((2, 3), dtype=np.float64)
    out = values_of(probe(sharing, arr=arr), "01", "Tensor(ndarray) memory sharing")
    assert out["seen"] == 5.0, f"{M} · Tensor(ndarray): after arr[0, 1] = 5, t.data[0, 1] is {out['seen']} (a copy was made)"
    assert out["total"] == 5.0, f"{M} · Tensor(ndarray): (t * 1).sum() is {out['total']} after arr[0, 1] = 5, expected 5"
    expected = np.array([[0.0, 5.0, 0.0], [0.0, 0.0, -2.0]])
    assert_close(out["arr_after"], expected, where=f"{M} · Tensor(ndarray): the array after t.data[1, 2] = -2")
    assert_close(out["numpy_after"], expected, where=f"{M} · Tensor.numpy(): after both writes")


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_item_len_and_shape_attributes() -> None:
    """item(), len(), shape, ndim and size; item() of a multi-element tensor raises ValueError"""
    def attributes(tt, x):
        import numpy as np
        t = tt.Tensor(x)
        s = (t * 2.0).sum()
        one = (t * 1.0)[1:2, 0:1]                      # shape (1, 1)
        out = {"item": s.item(), "item_is_float": isinstance(s.item(), float), "item_1x1": one.item(),
               "len": len(t), "shape": list(t.shape), "ndim": t.ndim, "size": t.size,
               "sum_shape": list(s.shape), "sum_ndim": s.ndim}
        try:
            (t * 2.0).item()
            out["multi_error"] = None
        except NotImplementedError:
            raise
        except Exception as e:
            out["multi_error"] = type(e).__name__
        try:
            tt.Tensor(np.arange(3), requires_grad=True)
            out["int_grad_error"] = None
        except NotImplementedError:
            raise
        except Exception as e:
            out["int_grad_error"] = type(e).__name__
        return out

    x = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
    out = values_of(probe(attributes, x=x), "01", "item / len / shape")
    assert out["item_is_float"] and out["item"] == 2 * x.sum(), \
        f"{M} · Tensor.item: (t * 2).sum().item() gave {out['item']!r}, expected the Python float {2 * x.sum()}"
    assert out["item_1x1"] == x[1, 0], f"{M} · Tensor.item: a (1, 1) tensor gave {out['item_1x1']!r}, expected {x[1, 0]}"
    assert (out["len"], out["shape"], out["ndim"], out["size"]) == (3, [3, 4], 2, 12), \
        f"{M} · Tensor attributes of a (3, 4) tensor: len {out['len']}, shape {out['shape']}, ndim {out['ndim']}, size {out['size']}"
    assert (out["sum_shape"], out["sum_ndim"]) == ([], 0), f"{M} · Tensor.sum(): shape {out['sum_shape']}, expected ()"
    assert out["multi_error"] == "ValueError", \
        f"{M} · Tensor.item: on a (3, 4) tensor raised {out['multi_error']}, expected ValueError"
    assert out["int_grad_error"] == "TypeError", \
        f"{M} · Tensor(int64 array, requires_grad=True) raised {out['int_grad_error']}, expected TypeError"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_incompatible_shapes_raise_value_error_naming_both_shapes() -> None:
    """Incompatible shapes in +, -, *, / and @ raise ValueError naming both shapes"""
    def shape_errors(tt, a, b, c, d):
        import numpy as np
        t, u, v, w = tt.Tensor(a), tt.Tensor(b), tt.Tensor(c), tt.Tensor(d)
        out = {"ok": np.array((t @ v).data, copy=True)}
        cases = {"(2, 3) + (4,)": lambda: t + u, "(2, 3) - (4,)": lambda: t - u, "(2, 3) * (3, 2)": lambda: t * v,
                 "(3, 2) / (2, 3)": lambda: v / t, "(2, 3) @ (2, 3)": lambda: t @ t, "(3, 2) @ (4, 3)": lambda: v @ w}
        for name, f in cases.items():
            try:
                f()
                out["type " + name], out["message " + name] = None, ""
            except NotImplementedError:
                raise
            except Exception as e:
                out["type " + name], out["message " + name] = type(e).__name__, str(e)
        return out

    a, b, c, d = np.ones((2, 3)), np.ones((4,)), np.ones((3, 2)), np.ones((4, 3))
    out = values_of(probe(shape_errors, a=a, b=b, c=c, d=d), "01", "shape errors")
    assert_close(out["ok"], a @ c, where=f"{M} · matmul: (2, 3) @ (3, 2)")
    for case, shapes in {"(2, 3) + (4,)": ("(2, 3)", "(4,)"), "(2, 3) - (4,)": ("(2, 3)", "(4,)"),
                         "(2, 3) * (3, 2)": ("(2, 3)", "(3, 2)"), "(3, 2) / (2, 3)": ("(3, 2)", "(2, 3)"),
                         "(2, 3) @ (2, 3)": ("(2, 3)",), "(3, 2) @ (4, 3)": ("(3, 2)", "(4, 3)")}.items():
        kind, message = out["type " + case], out["message " + case]
        assert kind == "ValueError", f"{M} · shape check: {case} raised {kind}, expected ValueError"
        missing = [s for s in shapes if s not in message]
        assert not missing, f"{M} · shape check: the error for {case} should name both shapes; {missing} missing from {message!r}"
