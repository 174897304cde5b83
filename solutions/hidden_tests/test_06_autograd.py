"""Hidden tests, Module 06 — Autograd: every Module 01 op's backward rule and the engine.

Only Module 01 ops are used, so these points need Modules 01 and 06 alone. Analytic gradients
from the student's `backward()` are compared with centred-difference gradients of NumPy
formulas written here (float64), weighted by a random upstream gradient.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, rng_for
from grader.testing import assert_close, probe, values_of

M = "Module 06"


@pytest.mark.points(1.5)
@pytest.mark.visibility("visible")
def test_elementwise_backward_matches_numeric_gradient() -> None:
    """Backward of +, -, *, /, unary -, **, exp and log matches numeric gradients"""
    rng = rng_for("test_elementwise_backward_matches_numeric_gradient")
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    pos = rng.uniform(0.5, 2.0, size=(3, 4))
    g = rng.normal(size=(3, 4))

    def elementwise_grads(tt, a, b, pos, g):
        def leaf(x):
            return tt.Tensor(x.copy(), requires_grad=True)
        out = {}
        binary = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
                  "div": lambda x, y: x / y}
        for name, f in binary.items():
            x, y = leaf(a), leaf(pos if name == "div" else b)
            f(x, y).backward(g)
            out[name] = [x.grad, y.grad]
        unary = {"neg": (a, lambda x: -x), "pow 3": (a, lambda x: x ** 3), "pow 0.5": (pos, lambda x: x ** 0.5),
                 "pow -2": (pos, lambda x: x ** -2), "exp": (a, lambda x: x.exp()), "log": (pos, lambda x: x.log())}
        for name, (data, f) in unary.items():
            x = leaf(data)
            f(x).backward(g)
            out[name] = [x.grad]
        return out

    out = values_of(probe(elementwise_grads, a=a, b=b, pos=pos, g=g), "06", "elementwise backward")
    cases = {"add": ([a, b], lambda x, y: x + y), "sub": ([a, b], lambda x, y: x - y),
             "mul": ([a, b], lambda x, y: x * y), "div": ([a, pos], lambda x, y: x / y),
             "neg": ([a], lambda x: -x), "pow 3": ([a], lambda x: x ** 3), "pow 0.5": ([pos], np.sqrt),
             "pow -2": ([pos], lambda x: x ** -2.0), "exp": ([a], np.exp), "log": ([pos], np.log)}
    for name, (inputs, f) in cases.items():
        for i, expected in enumerate(numeric_grads(f, inputs, g)):
            assert_grad_close(out[name][i], expected, where=f"{M} · {name} backward: gradient of input {i} (3, 4)")


BROADCAST_PAIRS = [((4, 3), (3,)), ((3,), (4, 3)), ((4, 1), (1, 3)), ((2, 3, 4), (3, 1)), ((4, 3), ()), ((), (2, 3))]
BINARY = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y}


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_broadcast_backward_reduces_grad_to_each_input_shape() -> None:
    """Broadcasting in backward: each input's gradient is summed back to its own shape"""
    rng = rng_for("test_broadcast_backward_reduces_grad_to_each_input_shape")
    arrays = {}
    for i, (sa, sb) in enumerate(BROADCAST_PAIRS):
        arrays[f"a{i}"] = rng.normal(size=sa)
        arrays[f"b{i}"] = rng.uniform(0.5, 2.0, size=sb) * rng.choice([-1.0, 1.0], size=sb)
        arrays[f"g{i}"] = rng.normal(size=np.broadcast_shapes(sa, sb))

    def broadcast_grads(tt, **arrays):
        ops = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
               "div": lambda x, y: x / y}
        out = {}
        for i in range(len(arrays) // 3):
            for name, f in ops.items():
                x = tt.Tensor(arrays[f"a{i}"].copy(), requires_grad=True)
                y = tt.Tensor(arrays[f"b{i}"].copy(), requires_grad=True)
                try:                                  # report which shape pair fails, not just the first error
                    f(x, y).backward(arrays[f"g{i}"])
                    out[f"{name} {i}"] = [x.grad, y.grad]
                except NotImplementedError:
                    raise
                except Exception as e:
                    out[f"{name} {i}"] = f"{type(e).__name__}: {e}"
        return out

    out = values_of(probe(broadcast_grads, **arrays), "06", "broadcast backward")
    for i, (sa, sb) in enumerate(BROADCAST_PAIRS):
        a, b, g = arrays[f"a{i}"], arrays[f"b{i}"], arrays[f"g{i}"]
        for name, f in BINARY.items():
            ga, gb = numeric_grads(f, [a, b], g)
            where = f"{M} · {name} backward, {sa} {name} {sb}"
            got = out[f"{name} {i}"]
            assert not isinstance(got, str), f"{where}: raised {got}"
            assert_grad_close(out[f"{name} {i}"][0], ga, where=f"{where}: gradient of the {sa} input")
            assert_grad_close(out[f"{name} {i}"][1], gb, where=f"{where}: gradient of the {sb} input")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_python_scalar_on_either_side_backward() -> None:
    """Backward with a Python or NumPy scalar on either side (2.0 - t, 1 / t, 3 * t, ...)"""
    rng = rng_for("test_python_scalar_on_either_side_backward")
    x = rng.uniform(0.5, 2.0, size=(4, 3))
    g = rng.normal(size=(4, 3))

    def scalar_grads(tt, x, g):
        import numpy as np
        exprs = {"t + 2.0": lambda t: t + 2.0, "2.0 + t": lambda t: 2.0 + t, "t - 2.0": lambda t: t - 2.0,
                 "2.0 - t": lambda t: 2.0 - t, "t * 3": lambda t: t * 3, "3 * t": lambda t: 3 * t,
                 "t / 4.0": lambda t: t / 4.0, "1 / t": lambda t: 1 / t, "5.0 / t": lambda t: 5.0 / t,
                 "np.float64(2.0) * t": lambda t: np.float64(2.0) * t, "t - np.float64(1.5)": lambda t: t - np.float64(1.5)}
        out = {}
        for name, f in exprs.items():
            t = tt.Tensor(x.copy(), requires_grad=True)
            f(t).backward(g)
            out[name] = t.grad
        return out

    out = values_of(probe(scalar_grads, x=x, g=g), "06", "scalar operand backward")
    exprs = {"t + 2.0": lambda t: t + 2.0, "2.0 + t": lambda t: 2.0 + t, "t - 2.0": lambda t: t - 2.0,
             "2.0 - t": lambda t: 2.0 - t, "t * 3": lambda t: t * 3, "3 * t": lambda t: 3 * t,
             "t / 4.0": lambda t: t / 4.0, "1 / t": lambda t: 1 / t, "5.0 / t": lambda t: 5.0 / t,
             "np.float64(2.0) * t": lambda t: 2.0 * t, "t - np.float64(1.5)": lambda t: t - 1.5}
    for name, f in exprs.items():
        (expected,) = numeric_grads(f, [x], g)
        assert_grad_close(out[name], expected, where=f"{M} · backward of {name}: gradient of t (4, 3)")


REDUCTIONS = {"sum()": lambda x: x.sum(), "sum(axis=1)": lambda x: x.sum(axis=1),
              "sum(axis=-1, keepdims=True)": lambda x: x.sum(axis=-1, keepdims=True),
              "sum(axis=(0, 2))": lambda x: x.sum(axis=(0, 2)), "mean()": lambda x: x.mean(),
              "mean(axis=0)": lambda x: x.mean(axis=0),
              "mean(axis=(1, 2), keepdims=True)": lambda x: x.mean(axis=(1, 2), keepdims=True),
              "max()": lambda x: x.max(), "max(axis=1)": lambda x: x.max(axis=1),
              "max(axis=-1, keepdims=True)": lambda x: x.max(axis=-1, keepdims=True),
              "max(axis=(0, 2))": lambda x: x.max(axis=(0, 2))}


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_reduction_backward_matches_numeric_gradient() -> None:
    """Backward of sum, mean and max (distinct values) for every axis form and keepdims"""
    rng = rng_for("test_reduction_backward_matches_numeric_gradient")
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0 + rng.uniform(0, 0.01, size=(2, 3, 4))   # distinct values
    upstreams = {name: rng.normal(size=np.shape(f(x))) for name, f in REDUCTIONS.items()}
    arrays = {f"g{i}": g for i, g in enumerate(upstreams.values())}

    def reduction_grads(tt, x, **arrays):
        calls = [("sum", {}), ("sum", {"axis": 1}), ("sum", {"axis": -1, "keepdims": True}),
                 ("sum", {"axis": (0, 2)}), ("mean", {}), ("mean", {"axis": 0}),
                 ("mean", {"axis": (1, 2), "keepdims": True}), ("max", {}), ("max", {"axis": 1}),
                 ("max", {"axis": -1, "keepdims": True}), ("max", {"axis": (0, 2)})]
        out = {}
        for i, (name, kwargs) in enumerate(calls):
            t = tt.Tensor(x.copy(), requires_grad=True)
            getattr(t, name)(**kwargs).backward(arrays[f"g{i}"])
            out[f"g{i}"] = t.grad
        return out

    out = values_of(probe(reduction_grads, x=x, **arrays), "06", "reduction backward")
    for i, (name, f) in enumerate(REDUCTIONS.items()):
        (expected,) = numeric_grads(f, [x], upstreams[name])
        assert_grad_close(out[f"g{i}"], expected, where=f"{M} · {name.split('(')[0]} backward: x (2, 3, 4).{name}")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_matmul_backward_matches_numeric_gradient() -> None:
    """Matmul backward for several shapes; an input that does not require grad gets none"""
    rng = rng_for("test_matmul_backward_matches_numeric_gradient")
    pairs = [((3, 4), (4, 2)), ((1, 5), (5, 1)), ((6, 1), (1, 3)), ((2, 7), (7, 7))]
    arrays = {}
    for i, (sa, sb) in enumerate(pairs):
        arrays[f"a{i}"], arrays[f"b{i}"] = rng.normal(size=sa), rng.normal(size=sb)
        arrays[f"g{i}"] = rng.normal(size=(sa[0], sb[1]))

    def matmul_grads(tt, **arrays):
        out = {}
        for i in range(len(arrays) // 3):
            x = tt.Tensor(arrays[f"a{i}"].copy(), requires_grad=True)
            w = tt.Tensor(arrays[f"b{i}"].copy(), requires_grad=True)
            (x @ w).backward(arrays[f"g{i}"])
            out[f"{i}"] = [x.grad, w.grad]
        x = tt.Tensor(arrays["a0"].copy())                     # a constant input batch
        w = tt.Tensor(arrays["b0"].copy(), requires_grad=True)
        (x @ w).backward(arrays["g0"])
        out["const x grad is None"] = x.grad is None
        out["const x, w.grad"] = w.grad
        return out

    out = values_of(probe(matmul_grads, **arrays), "06", "matmul backward")
    for i, (sa, sb) in enumerate(pairs):
        ga, gb = numeric_grads(lambda a, b: a @ b, [arrays[f"a{i}"], arrays[f"b{i}"]], arrays[f"g{i}"])
        assert_grad_close(out[f"{i}"][0], ga, where=f"{M} · matmul backward {sa} @ {sb}: gradient of the {sa} input")
        assert_grad_close(out[f"{i}"][1], gb, where=f"{M} · matmul backward {sa} @ {sb}: gradient of the {sb} input")
    assert out["const x grad is None"], f"{M} · matmul backward: an input without requires_grad got a .grad"
    assert_grad_close(out["const x, w.grad"], arrays["a0"].T @ arrays["g0"],
                      where=f"{M} · matmul backward, constant x (3, 4) @ w (4, 2): gradient of w")


SHAPE_OPS = {"reshape(6, 4)": lambda x: x.reshape(6, 4), "reshape(-1)": lambda x: x.reshape(-1),
             "[1:, :, ::2]": lambda x: x[1:, :, ::2], "[-1]": lambda x: x[-1],
             "[[0, 1, 0, 0]] (repeated)": lambda x: x[np.array([0, 1, 0, 0])],
             "[[0, 1, 1], [2, 0, 2]] (pairs, repeated)": lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])]}


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_shape_op_backward_matches_numeric_gradient() -> None:
    """Backward of reshape, transpose / .T and indexing, repeated indices included"""
    rng = rng_for("test_shape_op_backward_matches_numeric_gradient")
    x, m = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 5))
    ups = {name: rng.normal(size=np.shape(f(x))) for name, f in SHAPE_OPS.items()}
    g_t = rng.normal(size=(5, 3))
    arrays = {f"g{i}": g for i, g in enumerate(ups.values())}

    def shape_grads(tt, x, m, g_t, **arrays):
        import numpy as np
        ops = [lambda t: t.reshape(6, 4), lambda t: t.reshape(-1), lambda t: t[1:, :, ::2], lambda t: t[-1],
               lambda t: t[np.array([0, 1, 0, 0])], lambda t: t[np.array([0, 1, 1]), np.array([2, 0, 2])]]
        out = {}
        for i, f in enumerate(ops):
            t = tt.Tensor(x.copy(), requires_grad=True)
            f(t).backward(arrays[f"g{i}"])
            out[f"g{i}"] = t.grad
        for name, f in {"transpose()": lambda t: t.transpose(), "T": lambda t: t.T}.items():
            t = tt.Tensor(m.copy(), requires_grad=True)
            f(t).backward(g_t)
            out[name] = t.grad
        return out

    out = values_of(probe(shape_grads, x=x, m=m, g_t=g_t, **arrays), "06", "shape op backward")
    for i, (name, f) in enumerate(SHAPE_OPS.items()):
        (expected,) = numeric_grads(f, [x], ups[name])
        assert_grad_close(out[f"g{i}"], expected, where=f"{M} · backward of x (2, 3, 4){'' if name[0] == '[' else '.'}{name}")
    for name in ("transpose()", "T"):
        assert_grad_close(out[name], g_t.T, where=f"{M} · backward of m (3, 5).{name}")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_grad_accumulates_when_tensor_is_reused() -> None:
    """A tensor used several times in one graph receives the sum of its gradients"""
    rng = rng_for("test_grad_accumulates_when_tensor_is_reused")
    a = rng.normal(size=(3, 2))
    g = rng.normal(size=(3, 2))

    def reuse_grads(tt, a, g):
        out = {}
        graphs = {"a * a + a": lambda t: t * t + t,
                  "b = a * 2; b * b + b": lambda t: (lambda b: b * b + b)(t * 2.0),
                  "a + a + a": lambda t: t + t + t,
                  "a * a.sum(axis=0)": lambda t: t * t.sum(axis=0),
                  "(a - a.mean()) * a": lambda t: (t - t.mean()) * t}
        for name, f in graphs.items():
            t = tt.Tensor(a.copy(), requires_grad=True)
            f(t).backward(g)
            out[name] = t.grad
        return out

    out = values_of(probe(reuse_grads, a=a, g=g), "06", "reused tensor backward")
    graphs = {"a * a + a": lambda t: t * t + t, "b = a * 2; b * b + b": lambda t: (2 * t) * (2 * t) + 2 * t,
              "a + a + a": lambda t: 3 * t, "a * a.sum(axis=0)": lambda t: t * t.sum(axis=0),
              "(a - a.mean()) * a": lambda t: (t - t.mean()) * t}
    for name, f in graphs.items():
        (expected,) = numeric_grads(f, [a], g)
        assert_grad_close(out[name], expected, where=f"{M} · backward of {name}: gradient of a (3, 2)")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_grad_accumulates_across_backward_calls() -> None:
    """Two backward calls add into .grad; leaves never share one gradient array"""
    rng = rng_for("test_grad_accumulates_across_backward_calls")
    x, c1, c2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    g = rng.normal(size=(2, 3))

    def accumulate(tt, x, c1, c2, g):
        out = {}
        t = tt.Tensor(x.copy(), requires_grad=True)
        (t * c1).sum().backward()
        out["after one"] = t.grad.copy()
        (t * c2).sum().backward()
        out["after two"] = t.grad.copy()
        t.grad = None
        (t * c2).sum().backward()
        out["after reset"] = t.grad.copy()
        # a + b hands the same upstream gradient to both leaves: a later backward into a must not touch b
        a = tt.Tensor(x.copy(), requires_grad=True)
        b = tt.Tensor(c1.copy(), requires_grad=True)
        (a + b).backward(g)
        (a * 3.0).backward(g)
        out["a.grad"], out["b.grad"] = a.grad, b.grad
        out["g after"] = g
        return out

    out = values_of(probe(accumulate, x=x, c1=c1, c2=c2, g=g), "06", "accumulation across backward calls")
    assert_close(out["after one"], c1, where=f"{M} · backward: x.grad after (x * c1).sum().backward()", rtol=1e-12)
    assert_close(out["after two"], c1 + c2, where=f"{M} · backward: x.grad after a second backward, (x * c2).sum() "
                 f"(gradients must accumulate with +=, not be overwritten)", rtol=1e-12)
    assert_close(out["after reset"], c2, where=f"{M} · backward: x.grad after x.grad = None and one more backward",
                 rtol=1e-12)
    assert_close(out["a.grad"], 4 * g, where=f"{M} · backward: a.grad after (a + b).backward(g), (a * 3).backward(g)",
                 rtol=1e-12)
    assert_close(out["b.grad"], g, where=f"{M} · backward: b.grad after (a + b).backward(g) then (a * 3).backward(g) "
                 f"(a and b must not share one gradient array)", rtol=1e-12)
    assert_close(out["g after"], g, where=f"{M} · backward: the caller's upstream array g must not be modified",
                 rtol=1e-12)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_backward_through_a_chain_10000_ops_deep() -> None:
    """Backward through a chain of 10,000 ops (no recursion limit)"""
    x = np.array([0.5, -1.0, 2.0])

    def deep_chain(tt, x, depth):
        t = tt.Tensor(x.copy(), requires_grad=True)
        y = t
        for _ in range(depth):
            y = y * 1.0001
        y.sum().backward()
        return {"value": y.data, "grad": t.grad}

    out = values_of(probe(deep_chain, x=x, depth=10_000), "06", "backward through 10,000 ops")
    factor = 1.0001 ** 10_000
    assert_close(out["value"], x * factor, where=f"{M} · chain of 10,000 multiplications by 1.0001: forward value",
                 rtol=1e-9)
    assert_close(out["grad"], np.full(3, factor), where=f"{M} · chain of 10,000 multiplications by 1.0001: gradient",
                 rtol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_backward_errors_and_one_element_seed() -> None:
    """backward() seeds any one-element output with 1; non-scalar without grad, or no graph: RuntimeError"""
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])

    def backward_errors(tt, x):
        import numpy as np
        out = {}
        t = tt.Tensor(x.copy(), requires_grad=True)
        (t * 2.0).sum().reshape(1, 1).backward()        # one element, shape (1, 1): seeded with 1
        out["grad (1, 1)"] = t.grad
        cases = {"non-scalar": lambda: (t * 2.0).backward(),
                 "no grad": lambda: (tt.Tensor(x.copy()) * 2.0).sum().backward()}
        for name, f in cases.items():
            try:
                f()
                out[name], out[name + " message"] = None, ""
            except NotImplementedError:
                raise
            except Exception as e:
                out[name], out[name + " message"] = type(e).__name__, str(e)
        return out

    out = values_of(probe(backward_errors, x=x), "06", "backward errors")
    assert_close(out["grad (1, 1)"], np.full((2, 3), 2.0),
                 where=f"{M} · backward(): gradient through a (1, 1) output seeded with 1")
    assert out["non-scalar"] == "RuntimeError", (f"{M} · backward(): on a (2, 3) output without grad= raised "
                                                 f"{out['non-scalar']}, expected RuntimeError")
    assert out["non-scalar message"].strip(), f"{M} · backward(): the RuntimeError should say why (empty message)"
    assert out["no grad"] == "RuntimeError", (f"{M} · backward(): on a tensor that does not require grad raised "
                                              f"{out['no grad']}, expected RuntimeError")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_only_leaves_get_grad_and_requires_grad_propagates() -> None:
    """An op's result requires grad iff an input does; only leaves that require grad get .grad"""
    rng = rng_for("test_only_leaves_get_grad_and_requires_grad_propagates")
    x, c = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))

    def leaves(tt, x, c):
        t = tt.Tensor(x.copy(), requires_grad=True)
        k = tt.Tensor(c.copy())
        y = t * k
        z = y.exp()
        z.sum().backward()
        return {"y.requires_grad": y.requires_grad, "z.requires_grad": z.requires_grad,
                "k * k": (k * k).requires_grad, "k + t": (k + t).requires_grad, "2.0 * k": (2.0 * k).requires_grad,
                "k.sum()": k.sum().requires_grad, "t.T": t.T.requires_grad, "t[0]": t[0].requires_grad,
                "y.grad is None": y.grad is None, "z.grad is None": z.grad is None,
                "k.grad is None": k.grad is None, "t.grad": t.grad}

    out = values_of(probe(leaves, x=x, c=c), "06", "leaves and requires_grad")
    for expr, expected in {"y.requires_grad": True, "z.requires_grad": True, "k * k": False, "k + t": True,
                           "2.0 * k": False, "k.sum()": False, "t.T": True, "t[0]": True}.items():
        assert out[expr] is expected, (f"{M} · requires_grad: with t requiring grad and k not, "
                                       f"{expr.replace('.requires_grad', '')} has requires_grad {out[expr]}, expected {expected}")
    for name, what in {"y.grad is None": "the intermediate y = t * k", "z.grad is None": "the intermediate z = y.exp()",
                       "k.grad is None": "the constant k (requires_grad False)"}.items():
        assert out[name], f"{M} · backward: {what} got a .grad; only leaves that require grad get one"
    assert_grad_close(out["t.grad"], c * np.exp(x * c), where=f"{M} · backward of (t * k).exp().sum(): gradient of t")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_no_grad_and_detach_stop_the_graph() -> None:
    """no_grad() results have requires_grad False; detach() shares data and blocks gradients"""
    rng = rng_for("test_no_grad_and_detach_stop_the_graph")
    x = rng.normal(size=(3,))

    def stop_graph(tt, x):
        out = {}
        t = tt.Tensor(x.copy(), requires_grad=True)
        with tt.no_grad():
            y = t * 2.0
            out["inside: t * 2"] = y.requires_grad
            out["inside: (t * 2).sum()"] = y.sum().requires_grad
            out["inside: matmul"] = (t.reshape(1, 3) @ t.reshape(3, 1)).requires_grad
        out["after: t * 2"] = (t * 2.0).requires_grad
        d = t.detach()
        out["detach requires_grad"] = d.requires_grad
        (t * d).sum().backward()                          # d is a constant: the gradient is d, not 2 t
        out["t.grad"] = t.grad
        s = tt.Tensor(x.copy(), requires_grad=True)
        s.detach().data[0] = 10.0                         # shares data with s
        out["s after write through detach"] = s.data
        return out

    out = values_of(probe(stop_graph, x=x), "06", "no_grad / detach")
    for expr in ("inside: t * 2", "inside: (t * 2).sum()", "inside: matmul"):
        assert out[expr] is False, f"{M} · no_grad: {expr.split(': ')[1]} inside no_grad() has requires_grad {out[expr]}"
    assert out["after: t * 2"] is True, f"{M} · no_grad: after the with-block, t * 2 should require grad again"
    assert out["detach requires_grad"] is False, f"{M} · detach: the result should have requires_grad False"
    assert_grad_close(out["t.grad"], x, where=f"{M} · detach: gradient of (t * t.detach()).sum() w.r.t. t")
    assert_close(out["s after write through detach"], np.concatenate([[10.0], x[1:]]),
                 where=f"{M} · detach: s.data after s.detach().data[0] = 10 (the data must be shared)")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_grads_have_the_dtype_and_shape_of_their_leaf() -> None:
    """Gradients keep each leaf's shape and dtype: float32 leaves get float32 grads, float64 float64"""
    rng = rng_for("test_grads_have_the_dtype_and_shape_of_their_leaf")
    a, b, c = rng.uniform(0.5, 1.5, size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(4,))

    def grad_dtypes(tt, a, b, c, dtype):
        A = tt.Tensor(a.astype(dtype), requires_grad=True)
        B = tt.Tensor(b.astype(dtype), requires_grad=True)
        C = tt.Tensor(c.astype(dtype), requires_grad=True)
        loss = ((A @ B).sum() + (A * C).mean() + (A ** 2).sum() * 0.5 + (A / 2.0).exp().sum() + A.log().sum()
                + A.max() + A[1].sum() + A.reshape(12).sum() + (1.0 - A.T).sum() + (C - 1).max(axis=0))
        loss.backward()
        return {"loss dtype": str(loss.dtype), "dtypes": [str(t.grad.dtype) for t in (A, B, C)],
                "A.grad": A.grad, "B.grad": B.grad, "C.grad": C.grad}

    def loss(a, b, c):
        return ((a @ b).sum() + (a * c).mean() + (a ** 2).sum() * 0.5 + np.exp(a / 2.0).sum() + np.log(a).sum()
                + a.max() + a[1].sum() + a.sum() + (1.0 - a.T).sum() + (c - 1).max(axis=0))

    expected = numeric_grads(loss, [a, b, c], np.float64(1.0))
    for dtype in ("float32", "float64"):
        out = values_of(probe(grad_dtypes, a=a, b=b, c=c, dtype=dtype), "06", f"gradient dtypes ({dtype})")
        assert out["loss dtype"] == dtype, f"{M} · a {dtype} graph: the loss has dtype {out['loss dtype']}"
        for name, got_dtype, exp in zip("ABC", out["dtypes"], expected):
            assert got_dtype == dtype, f"{M} · backward: the gradient of {dtype} leaf {name} has dtype {got_dtype}"
            tol = 1e-4 if dtype == "float32" else 1e-6
            assert_grad_close(out[f"{name}.grad"], exp, where=f"{M} · backward of a mixed {dtype} graph: gradient of "
                              f"{name} {exp.shape}", rtol=tol)
