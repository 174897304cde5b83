"""Hidden tests, Module 06 — Autograd: every Module 01 op's backward rule and the engine.

Only Module 01 ops are used, so these points need Modules 01 and 06 alone. Analytic gradients
from the student's `backward()` are compared with centred-difference gradients of NumPy
formulas written here (float64), weighted by a random upstream gradient.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, returned, rng_for
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
        import numpy as np

        def snap(x):
            return None if x is None else np.array(x, copy=True)

        cases = {"add": ([a, b], lambda x, y: x + y), "sub": ([a, b], lambda x, y: x - y),
                 "mul": ([a, b], lambda x, y: x * y), "div": ([a, pos], lambda x, y: x / y),
                 "neg": ([a], lambda x: -x), "pow 3": ([a], lambda x: x ** 3), "pow 0.5": ([pos], lambda x: x ** 0.5),
                 "pow -2": ([pos], lambda x: x ** -2), "exp": ([a], lambda x: x.exp()), "log": ([pos], lambda x: x.log())}
        out = {}
        for name, (data, f) in cases.items():
            leaves = [tt.Tensor(d.copy(), requires_grad=True) for d in data]
            try:
                f(*leaves).backward(g.copy())
                out[name] = [snap(leaf.grad) for leaf in leaves]
            except NotImplementedError:
                raise
            except Exception as e:
                out[name] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(elementwise_grads, a=a, b=b, pos=pos, g=g), "06", "elementwise backward")
    cases = {"add": ([a, b], lambda x, y: x + y), "sub": ([a, b], lambda x, y: x - y),
             "mul": ([a, b], lambda x, y: x * y), "div": ([a, pos], lambda x, y: x / y),
             "neg": ([a], lambda x: -x), "pow 3": ([a], lambda x: x ** 3), "pow 0.5": ([pos], np.sqrt),
             "pow -2": ([pos], lambda x: x ** -2.0), "exp": ([a], np.exp), "log": ([pos], np.log)}
    for name, (inputs, f) in cases.items():
        grads = returned(out[name], f"{M} · {name} backward")
        for i, expected in enumerate(numeric_grads(f, inputs, g)):
            assert_grad_close(grads[i], expected, where=f"{M} · {name} backward: gradient of input {i} (3, 4)")


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
        import numpy as np
        ops = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
               "div": lambda x, y: x / y}
        out = {}
        for i in range(len(arrays) // 3):
            for name, f in ops.items():
                x = tt.Tensor(arrays[f"a{i}"].copy(), requires_grad=True)
                y = tt.Tensor(arrays[f"b{i}"].copy(), requires_grad=True)
                try:                                  # report which shape pair fails, not just the first error
                    f(x, y).backward(arrays[f"g{i}"].copy())
                    out[f"{name} {i}"] = [None if t.grad is None else np.array(t.grad, copy=True) for t in (x, y)]
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


@pytest.mark.points(0.5)
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
            try:
                f(t).backward(g.copy())
                out[name] = None if t.grad is None else np.array(t.grad, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[name] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(scalar_grads, x=x, g=g), "06", "scalar operand backward")
    exprs = {"t + 2.0": lambda t: t + 2.0, "2.0 + t": lambda t: 2.0 + t, "t - 2.0": lambda t: t - 2.0,
             "2.0 - t": lambda t: 2.0 - t, "t * 3": lambda t: t * 3, "3 * t": lambda t: 3 * t,
             "t / 4.0": lambda t: t / 4.0, "1 / t": lambda t: 1 / t, "5.0 / t": lambda t: 5.0 / t,
             "np.float64(2.0) * t": lambda t: 2.0 * t, "t - np.float64(1.5)": lambda t: t - 1.5}
    for name, f in exprs.items():
        (expected,) = numeric_grads(f, [x], g)
        where = f"{M} · backward of {name}: gradient of t (4, 3)"
        assert_grad_close(returned(out[name], where), expected, where=where)


REDUCTION_CALLS = {"sum": [{}, {"axis": 1}, {"axis": -1, "keepdims": True}, {"axis": (0, 2)}],
                   "mean": [{}, {"axis": 0}, {"axis": (1, 2), "keepdims": True}, {"axis": -1}],
                   "max": [{}, {"axis": 1}, {"axis": -1, "keepdims": True}, {"axis": (0, 2)}]}


def call_text(name: str, kwargs: dict) -> str:
    """How a message shows a reduction call: sum(axis=-1, keepdims=True)."""
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reduction_backward_matches_numeric_gradient(name: str) -> None:
    """Backward of sum / mean / max (distinct values) for axis None, an int, a negative int, a tuple, and keepdims"""
    rng = rng_for(f"test_reduction_backward_matches_numeric_gradient {name}")
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0 + rng.uniform(0, 0.01, size=(2, 3, 4))   # distinct values
    calls = REDUCTION_CALLS[name]
    upstreams = [rng.normal(size=np.shape(getattr(x, name)(**kwargs))) for kwargs in calls]

    def reduction_grads(tt, x, name, calls, upstreams):
        import numpy as np
        out = []
        for kwargs, g in zip(calls, upstreams):
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}   # axis tuples
            t = tt.Tensor(x.copy(), requires_grad=True)
            try:
                getattr(t, name)(**kwargs).backward(g.copy())
                out.append(None if t.grad is None else np.array(t.grad, copy=True))
            except NotImplementedError:
                raise
            except Exception as e:
                out.append({"raised": f"{type(e).__name__}: {e}"})
        return {"grads": out}

    out = values_of(probe(reduction_grads, x=x, name=name, calls=calls, upstreams=upstreams), "06", f"{name} backward")
    for kwargs, g, got in zip(calls, upstreams, out["grads"]):
        (expected,) = numeric_grads(lambda v: getattr(v, name)(**kwargs), [x], g)
        where = f"{M} · {name} backward: x (2, 3, 4).{call_text(name, kwargs)}"
        assert_grad_close(returned(got, where), expected, where=where)


MATMUL_PAIRS = [((3, 4), (4, 2)), ((1, 5), (5, 1)), ((6, 1), (1, 3)), ((2, 7), (7, 7))]


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("case", ["gradient of a", "gradient of b", "both at once"])
def test_matmul_backward_matches_numeric_gradient(case: str) -> None:
    """Matmul a @ b backward for several shapes: with only a, only b, or both requiring grad; a constant gets no grad"""
    rng = rng_for("test_matmul_backward_matches_numeric_gradient")
    arrays = {}
    for i, (sa, sb) in enumerate(MATMUL_PAIRS):
        arrays[f"a{i}"], arrays[f"b{i}"] = rng.normal(size=sa), rng.normal(size=sb)
        arrays[f"g{i}"] = rng.normal(size=(sa[0], sb[1]))
    needs = {"gradient of a": (True, False), "gradient of b": (False, True), "both at once": (True, True)}[case]

    def matmul_grads(tt, needs, **arrays):
        import numpy as np
        out = {}
        for i in range(len(arrays) // 3):
            a = tt.Tensor(arrays[f"a{i}"].copy(), requires_grad=needs[0])
            b = tt.Tensor(arrays[f"b{i}"].copy(), requires_grad=needs[1])
            try:
                (a @ b).backward(arrays[f"g{i}"].copy())
                out[f"{i}"] = [None if t.grad is None else np.array(t.grad, copy=True) for t in (a, b)]
            except NotImplementedError:
                raise
            except Exception as e:
                out[f"{i}"] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(matmul_grads, needs=list(needs), **arrays), "06", f"matmul backward, {case}")
    for i, (sa, sb) in enumerate(MATMUL_PAIRS):
        a, b, g = arrays[f"a{i}"], arrays[f"b{i}"], arrays[f"g{i}"]
        which = {"gradient of a": "a requires grad, b is a constant", "gradient of b": "a is a constant, b requires grad",
                 "both at once": "both require grad"}[case]
        where = f"{M} · matmul backward, a {sa} @ b {sb} ({which})"
        got = returned(out[f"{i}"], where)
        ga, gb = numeric_grads(lambda x, y: x @ y, [a, b], g)
        for name, need, grad, expected in (("a", needs[0], got[0], ga), ("b", needs[1], got[1], gb)):
            if need:
                assert_grad_close(grad, expected, where=f"{where}: gradient of {name}")
            else:
                assert grad is None, f"{where}: the constant {name} got a .grad; an input without requires_grad gets none"


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

        def run(data, f, g):
            t = tt.Tensor(data.copy(), requires_grad=True)
            try:
                f(t).backward(g.copy())
                return None if t.grad is None else np.array(t.grad, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                return {"raised": f"{type(e).__name__}: {e}"}

        out = {f"g{i}": run(x, f, arrays[f"g{i}"]) for i, f in enumerate(ops)}
        for name, f in {"transpose()": lambda t: t.transpose(), "T": lambda t: t.T}.items():
            out[name] = run(m, f, g_t)
        return out

    out = values_of(probe(shape_grads, x=x, m=m, g_t=g_t, **arrays), "06", "shape op backward")
    for i, (name, f) in enumerate(SHAPE_OPS.items()):
        (expected,) = numeric_grads(f, [x], ups[name])
        where = f"{M} · backward of x (2, 3, 4){'' if name[0] == '[' else '.'}{name}"
        assert_grad_close(returned(out[f"g{i}"], where), expected, where=where)
    for name in ("transpose()", "T"):
        where = f"{M} · backward of m (3, 5).{name}"
        assert_grad_close(returned(out[name], where), g_t.T, where=where)


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_grad_accumulates_when_tensor_is_reused() -> None:
    """A tensor used several times in one graph receives the sum of its gradients"""
    rng = rng_for("test_grad_accumulates_when_tensor_is_reused")
    a = rng.normal(size=(3, 2))
    g = rng.normal(size=(3, 2))

    def reuse_grads(tt, a, g):
        import numpy as np
        out = {}
        graphs = {"a * a + a": lambda t: t * t + t,
                  "b = a * 2; b * b + b": lambda t: (lambda b: b * b + b)(t * 2.0),
                  "a + a + a": lambda t: t + t + t,
                  "a * a.sum(axis=0)": lambda t: t * t.sum(axis=0),
                  "(a - a.mean()) * a": lambda t: (t - t.mean()) * t}
        for name, f in graphs.items():
            t = tt.Tensor(a.copy(), requires_grad=True)
            try:
                f(t).backward(g.copy())
                out[name] = None if t.grad is None else np.array(t.grad, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[name] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(reuse_grads, a=a, g=g), "06", "reused tensor backward")
    graphs = {"a * a + a": lambda t: t * t + t, "b = a * 2; b * b + b": lambda t: (2 * t) * (2 * t) + 2 * t,
              "a + a + a": lambda t: 3 * t, "a * a.sum(axis=0)": lambda t: t * t.sum(axis=0),
              "(a - a.mean()) * a": lambda t: (t - t.mean()) * t}
    for name, f in graphs.items():
        (expected,) = numeric_grads(f, [a], g)
        where = f"{M} · backward of {name}: gradient of a (3, 2)"
        assert_grad_close(returned(out[name], where), expected, where=where)


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_grad_accumulates_across_backward_calls() -> None:
    """Two backward calls add into .grad; leaves never share one gradient array"""
    rng = rng_for("test_grad_accumulates_across_backward_calls")
    x, c1, c2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    g = rng.normal(size=(2, 3))

    def accumulate(tt, x, c1, c2, g):
        import numpy as np

        def snap(a):                      # .grad is updated in place by later backward calls: copy it now
            return None if a is None else np.array(a, copy=True)

        out = {}
        t = tt.Tensor(x.copy(), requires_grad=True)
        (t * c1).sum().backward()
        out["after one"] = snap(t.grad)
        (t * c2).sum().backward()
        out["after two"] = snap(t.grad)
        t.grad = None
        (t * c2).sum().backward()
        out["after reset"] = snap(t.grad)
        # a + b hands the same upstream gradient to both leaves: a later backward into a must not touch b
        a = tt.Tensor(x.copy(), requires_grad=True)
        b = tt.Tensor(c1.copy(), requires_grad=True)
        (a + b).backward(g)
        (a * 3.0).backward(g)
        out["a.grad"], out["b.grad"] = snap(a.grad), snap(b.grad)
        out["g after"] = snap(g)
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


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_backward_through_a_chain_10000_ops_deep() -> None:
    """Backward through a chain of 10,000 ops (no recursion limit)"""
    x = np.array([0.5, -1.0, 2.0])

    def deep_chain(tt, x, depth):
        import numpy as np
        t = tt.Tensor(x.copy(), requires_grad=True)
        y = t
        for _ in range(depth):
            y = y * 1.0001
        value = np.array(y.data, copy=True)
        y.sum().backward()
        return {"value": value, "grad": None if t.grad is None else np.array(t.grad, copy=True)}

    out = values_of(probe(deep_chain, x=x, depth=10_000), "06", "backward through 10,000 ops")
    factor = 1.0001 ** 10_000
    assert_close(out["value"], x * factor, where=f"{M} · chain of 10,000 multiplications by 1.0001: forward value",
                 rtol=1e-9)
    assert_close(out["grad"], np.full(3, factor), where=f"{M} · chain of 10,000 multiplications by 1.0001: gradient",
                 rtol=1e-9)


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
def test_backward_errors_and_one_element_seed() -> None:
    """backward() seeds any one-element output with 1; non-scalar without grad, or no graph: RuntimeError"""
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])

    def backward_errors(tt, x):
        import numpy as np
        out = {}
        t = tt.Tensor(x.copy(), requires_grad=True)
        (t * 2.0).sum().reshape(1, 1).backward()        # one element, shape (1, 1): seeded with 1
        out["grad (1, 1)"] = None if t.grad is None else np.array(t.grad, copy=True)
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


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_only_leaves_get_grad_and_requires_grad_propagates() -> None:
    """An op's result requires grad iff an input does; only leaves that require grad get .grad"""
    rng = rng_for("test_only_leaves_get_grad_and_requires_grad_propagates")
    x, c = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))

    def leaves(tt, x, c):
        import numpy as np
        t = tt.Tensor(x.copy(), requires_grad=True)
        k = tt.Tensor(c.copy())
        y = t * k
        z = y.exp()
        z.sum().backward()
        return {"y.requires_grad": y.requires_grad, "z.requires_grad": z.requires_grad,
                "k * k": (k * k).requires_grad, "k + t": (k + t).requires_grad, "2.0 * k": (2.0 * k).requires_grad,
                "k.sum()": k.sum().requires_grad, "t.T": t.T.requires_grad, "t[0]": t[0].requires_grad,
                "y.grad is None": y.grad is None, "z.grad is None": z.grad is None,
                "k.grad is None": k.grad is None, "t.grad": None if t.grad is None else np.array(t.grad, copy=True)}

    out = values_of(probe(leaves, x=x, c=c), "06", "leaves and requires_grad")
    for expr, expected in {"y.requires_grad": True, "z.requires_grad": True, "k * k": False, "k + t": True,
                           "2.0 * k": False, "k.sum()": False, "t.T": True, "t[0]": True}.items():
        assert out[expr] is expected, (f"{M} · requires_grad: with t requiring grad and k not, "
                                       f"{expr.replace('.requires_grad', '')} has requires_grad {out[expr]}, expected {expected}")
    for name, what in {"y.grad is None": "the intermediate y = t * k", "z.grad is None": "the intermediate z = y.exp()",
                       "k.grad is None": "the constant k (requires_grad False)"}.items():
        assert out[name], f"{M} · backward: {what} got a .grad; only leaves that require grad get one"
    assert_grad_close(out["t.grad"], c * np.exp(x * c), where=f"{M} · backward of (t * k).exp().sum(): gradient of t")


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
def test_no_grad_and_detach_stop_the_graph() -> None:
    """no_grad() results have requires_grad False; detach() shares data and blocks gradients"""
    rng = rng_for("test_no_grad_and_detach_stop_the_graph")
    x = rng.normal(size=(3,))

    def stop_graph(tt, x):
        import numpy as np
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
        out["t.grad"] = None if t.grad is None else np.array(t.grad, copy=True)
        s = tt.Tensor(x.copy(), requires_grad=True)
        s.detach().data[0] = 10.0                         # shares data with s
        out["s after write through detach"] = np.array(s.data, copy=True)
        return out

    out = values_of(probe(stop_graph, x=x), "06", "no_grad / detach")
    for expr in ("inside: t * 2", "inside: (t * 2).sum()", "inside: matmul"):
        assert out[expr] is False, f"{M} · no_grad: {expr.split(': ')[1]} inside no_grad() has requires_grad {out[expr]}"
    assert out["after: t * 2"] is True, f"{M} · no_grad: after the with-block, t * 2 should require grad again"
    assert out["detach requires_grad"] is False, f"{M} · detach: the result should have requires_grad False"
    assert_grad_close(out["t.grad"], x, where=f"{M} · detach: gradient of (t * t.detach()).sum() w.r.t. t")
    assert_close(out["s after write through detach"], np.concatenate([[10.0], x[1:]]),
                 where=f"{M} · detach: s.data after s.detach().data[0] = 10 (the data must be shared)")


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_no_grad_blocks_nest_and_restore_the_mode_on_exceptions() -> None:
    """no_grad() blocks nest; leaving one, also by an exception, restores the mode from before it"""
    x = np.array([0.5, -1.0, 2.0])

    def nesting(tt, x):
        import numpy as np

        class Boom(Exception):
            pass

        t = tt.Tensor(x.copy(), requires_grad=True)

        def records():                    # does an op record a graph right now?
            return bool((t * 2.0).requires_grad)

        out = {"before any block": records()}
        with tt.no_grad():
            out["in a block"] = records()
            with tt.no_grad():
                out["in a nested block"] = records()
            out["in the outer block after the nested one"] = records()
        out["after both blocks"] = records()
        out["exception propagates"] = False
        try:
            with tt.no_grad():
                raise Boom("raised inside no_grad")
        except Boom:
            out["exception propagates"] = True
        out["after a block left by an exception"] = records()
        with tt.no_grad():
            try:
                with tt.no_grad():
                    raise Boom("raised inside a nested no_grad")
            except Boom:
                pass
            out["in the outer block after the nested one raised"] = records()
        out["after all blocks"] = records()
        try:
            (t * 3.0).sum().backward()
            out["grad"] = None if t.grad is None else np.array(t.grad, copy=True)
        except NotImplementedError:
            raise
        except Exception as e:
            out["grad"] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(nesting, x=x), "06", "nested no_grad")
    expected = {"before any block": True, "in a block": False, "in a nested block": False,
                "in the outer block after the nested one": False, "after both blocks": True,
                "after a block left by an exception": True, "in the outer block after the nested one raised": False,
                "after all blocks": True}
    assert out["exception propagates"], f"{M} · no_grad: an exception raised inside the block must propagate out of it"
    for when, records in expected.items():
        assert out[when] is records, (f"{M} · no_grad: {when}, t * 2 has requires_grad {out[when]}, expected {records} "
                                      f"(leaving a block restores the mode from before it)")
    where = f"{M} · no_grad: gradient of (t * 3).sum() after all the blocks"
    assert_grad_close(returned(out["grad"], where), np.full(3, 3.0), where=where)


@pytest.mark.points(0.5)
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
        return {"loss dtype": str(loss.dtype),
                "dtypes": [None if t.grad is None else str(t.grad.dtype) for t in (A, B, C)],
                "shapes": [None if t.grad is None else list(t.grad.shape) for t in (A, B, C)]}

    # values are graded by the op tests; this one checks only what the engine hands each leaf
    for dtype in ("float32", "float64"):
        out = values_of(probe(grad_dtypes, a=a, b=b, c=c, dtype=dtype), "06", f"gradient dtypes ({dtype})")
        where = f"{M} · backward of a graph of {dtype} leaves A (3, 4), B (4, 2), C (4,) through every op"
        assert out["loss dtype"] == dtype, f"{where}: the loss has dtype {out['loss dtype']}, expected {dtype}"
        for name, got_dtype, got_shape, leaf in zip("ABC", out["dtypes"], out["shapes"], (a, b, c)):
            assert got_dtype is not None, f"{where}: leaf {name} got no .grad"
            assert got_dtype == dtype, f"{where}: the gradient of leaf {name} has dtype {got_dtype}, expected {dtype}"
            assert tuple(got_shape) == leaf.shape, \
                f"{where}: the gradient of leaf {name} has shape {tuple(got_shape)}, expected {leaf.shape}"
