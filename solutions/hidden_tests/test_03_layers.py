"""Hidden tests, Module 03 — Layers: Module, Linear, Sequential and Flatten.

Forward values need Modules 01–03; the one backward test is titled "(needs Module 06)".
Weights are read back from the student's layers and the expected outputs computed here.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, rng_for
from grader.testing import assert_close, probe, values_of
from grader.testing.compare import show_pair

M = "Module 03"


def _linear_shapes(w: np.ndarray, b: np.ndarray, n_in: int, n_out: int, where: str) -> None:
    """The weight and bias read back from Linear(n_in, n_out) have the contract's shapes, checked
    before any expected value is computed from them (a transposed weight fails here, by name)."""
    assert w.shape == (n_in, n_out), f"{where}: weight has shape {w.shape}, expected (in_features, out_features) = " \
                                     f"{(n_in, n_out)}"
    assert b.shape == (n_out,), f"{where}: bias has shape {b.shape}, expected {(n_out,)}"


@pytest.mark.points(1.75)
@pytest.mark.visibility("visible")
def test_linear_forward_is_x_at_weight_plus_bias() -> None:
    """Linear forward: x @ weight + bias, with weight of shape (in_features, out_features)"""
    rng = rng_for("test_linear_forward_is_x_at_weight_plus_bias")
    x = rng.normal(size=(5, 4)).astype(np.float32)

    def linear_forward(tt, x):
        import numpy as np
        tt.manual_seed(0)
        lin = tt.Linear(4, 3)
        nob = tt.Linear(4, 2, bias=False)
        out = {"weight": np.array(lin.weight.data, copy=True), "bias": np.array(lin.bias.data, copy=True),
               "nob weight": np.array(nob.weight.data, copy=True), "nob bias is None": nob.bias is None}
        out["y"] = np.array(lin(tt.Tensor(x.copy())).data, copy=True)
        out["nob y"] = np.array(nob(tt.Tensor(x.copy())).data, copy=True)
        return out

    out = values_of(probe(linear_forward, x=x), "03", "Linear forward")
    w, b = np.asarray(out["weight"], dtype=np.float64), np.asarray(out["bias"], dtype=np.float64)
    assert w.shape == (4, 3), f"{M} · Linear(4, 3): weight has shape {w.shape}, expected (in_features, out_features) = (4, 3)"
    assert b.shape == (3,), f"{M} · Linear(4, 3): bias has shape {b.shape}, expected (3,)"
    x64 = x.astype(np.float64)
    assert_close(out["y"], x64 @ w + b, where=f"{M} · Linear(4, 3) forward: x (5, 4)", rtol=1e-5, atol=1e-6)
    assert out["nob bias is None"], f"{M} · Linear(4, 2, bias=False): .bias should be None"
    assert_close(out["nob y"], x64 @ np.asarray(out["nob weight"], dtype=np.float64),
                 where=f"{M} · Linear(4, 2, bias=False) forward: x (5, 4)", rtol=1e-5, atol=1e-6)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_linear_init_is_uniform_within_bound_and_seeded() -> None:
    """Linear init: U(-1/sqrt(in), 1/sqrt(in)) tensors that require grad, reproducible by manual_seed"""
    def linear_init(tt):
        import numpy as np
        tt.manual_seed(123)
        first = tt.Linear(50, 20)
        second = tt.Linear(50, 20)                   # the generator moved on: different values
        tt.manual_seed(123)
        again = tt.Linear(50, 20)
        tt.manual_seed(321)
        other = tt.Linear(50, 20)
        params = first.parameters()
        if not isinstance(params, list):                 # the test says so, instead of failing at len()
            return {"parameters returned": type(params).__name__}
        return {"w": np.array(first.weight.data, copy=True), "b": np.array(first.bias.data, copy=True),
                "w2": np.array(second.weight.data, copy=True), "w again": np.array(again.weight.data, copy=True),
                "b again": np.array(again.bias.data, copy=True), "w other": np.array(other.weight.data, copy=True),
                "requires_grad": [first.weight.requires_grad, first.bias.requires_grad],
                "parameters are [weight, bias]": len(params) == 2 and params[0] is first.weight and params[1] is first.bias}

    out = values_of(probe(linear_init), "03", "Linear init")
    assert "parameters returned" not in out, f"{M} · Linear.parameters() should return a list, got a {out.get('parameters returned')}"
    bound = 1 / np.sqrt(50)
    w, b = np.asarray(out["w"], dtype=np.float64), np.asarray(out["b"], dtype=np.float64)
    assert w.shape == (50, 20) and b.shape == (20,), f"{M} · Linear(50, 20) init: weight {w.shape}, bias {b.shape}, " \
                                                     f"expected (50, 20) and (20,)"
    assert out["requires_grad"] == [True, True], f"{M} · Linear init: requires_grad of weight and bias {out['requires_grad']}"
    assert out["parameters are [weight, bias]"], f"{M} · Linear.parameters() should be [weight, bias], in that order"
    for name, v in (("weight", w), ("bias", b)):
        worst = float(np.max(np.abs(v)))
        shown_worst, shown_bound = show_pair(worst, bound)
        assert worst <= bound * (1 + 1e-6), \
            f"{M} · Linear(50, 20) init: |{name}| reaches {shown_worst}, beyond 1/sqrt(50) = {shown_bound}"
        assert np.unique(v).size > 0.9 * v.size, f"{M} · Linear(50, 20) init: {name} has many repeated values (not random)"
    assert np.max(np.abs(w)) > 0.9 * bound, f"{M} · Linear(50, 20) init: max |weight| {np.max(np.abs(w)):.4g} is far below the bound {bound:.4g}"
    assert abs(w.mean()) < 0.1 * bound, f"{M} · Linear(50, 20) init: weight mean {w.mean():.4g} is not centred on 0"
    assert 0.5 * bound < w.std() < 0.65 * bound, (f"{M} · Linear(50, 20) init: weight std {w.std():.4g}, expected about "
                                                  f"bound / sqrt(3) = {bound / np.sqrt(3):.4g} for a uniform distribution")
    assert np.array_equal(out["w again"], out["w"]) and np.array_equal(out["b again"], out["b"]), \
        f"{M} · Linear init: manual_seed(123) twice should give identical weights and biases"
    assert not np.array_equal(out["w other"], out["w"]), f"{M} · Linear init: manual_seed(321) gave the same weights as manual_seed(123)"
    assert not np.array_equal(out["w2"], out["w"]), f"{M} · Linear init: two layers made one after the other have identical weights"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_linear_parameters_and_outputs_are_float32() -> None:
    """Linear's weight and bias are float32 (PyTorch's default), and so is its output for a float32 input"""
    def linear_dtypes(tt, x):
        lin, nob = tt.Linear(4, 3), tt.Linear(4, 2, bias=False)
        return {"weight": str(lin.weight.dtype), "bias": str(lin.bias.dtype), "weight (bias=False)": str(nob.weight.dtype),
                "output": str(lin(tt.Tensor(x.copy())).dtype), "output (bias=False)": str(nob(tt.Tensor(x.copy())).dtype)}

    out = values_of(probe(linear_dtypes, x=np.ones((2, 4), np.float32)), "03", "Linear dtypes")
    wrong = {k: v for k, v in out.items() if v != "float32"}
    assert not wrong, f"{M} · Linear(4, 3) and Linear(4, 2, bias=False) with a float32 input (2, 4): dtypes {wrong}, expected float32"


PARAMETER_CASES = {   # case: (the module, as messages describe it; the parameters expected, in order)
    "attributes and sub-Modules": (
        "scale, body = Linear(3, 2), inner = a Module (lin = Linear(2, 2, bias=False), frozen, gain), shift",
        ["scale", "body.weight", "body.bias", "inner.lin.weight", "inner.gain", "shift"]),
    "a list of Modules": (
        "first = Linear(2, 2, bias=False), heads = [Linear(2, 2), Linear(2, 1, bias=False)], last",
        ["first.weight", "heads[0].weight", "heads[0].bias", "heads[1].weight", "last"]),
    "a tuple of Modules": (
        "first = Linear(2, 2, bias=False), heads = (Linear(2, 2), Linear(2, 1, bias=False)), last",
        ["first.weight", "heads[0].weight", "heads[0].bias", "heads[1].weight", "last"]),
    "shared tensors and Modules once": (
        "scale, body = Linear(3, 2), alias = scale, tied = body, inner = a Module (lin = body, frozen, gain)",
        ["scale", "body.weight", "body.bias", "inner.gain"]),
}


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("case", ["attributes and sub-Modules", "a list of Modules", "a tuple of Modules",
                                  "shared tensors and Modules once"])
def test_parameters_are_found_in_order_each_once(case: str) -> None:
    """Module.parameters(): tensors that require grad, in attribute order, through sub-Modules, lists and tuples, each once"""
    def parameter_order(tt, case):
        import numpy as np

        def param(n):
            return tt.Tensor(np.zeros(n), requires_grad=True)

        class Inner(tt.Module):
            def __init__(self, lin):
                super().__init__()
                self.lin = lin
                self.frozen = tt.Tensor(np.zeros(2))          # no requires_grad: not a parameter
                self.gain = param(2)

        class Net(tt.Module):
            def __init__(self, case):
                super().__init__()
                if case == "attributes and sub-Modules":
                    self.scale = param(2)
                    self.body = tt.Linear(3, 2)
                    self.inner = Inner(tt.Linear(2, 2, bias=False))
                    self.shift = param(1)
                elif case in ("a list of Modules", "a tuple of Modules"):
                    self.first = tt.Linear(2, 2, bias=False)
                    heads = [tt.Linear(2, 2), tt.Linear(2, 1, bias=False)]
                    self.heads = heads if case == "a list of Modules" else tuple(heads)
                    self.last = param(1)
                else:
                    self.scale = param(2)
                    self.body = tt.Linear(3, 2, bias=True)
                    self.alias = self.scale                   # the same tensor again
                    self.tied = self.body                     # the same module again
                    self.inner = Inner(self.body)             # and again, one level down

        net = Net(case)
        known = {}
        for attr in ("scale", "shift", "last"):
            if attr in vars(net):
                known[attr] = getattr(net, attr)
        for attr in ("body", "first"):
            if attr in vars(net):
                known[attr + ".weight"] = getattr(net, attr).weight
                if getattr(net, attr).bias is not None:
                    known[attr + ".bias"] = getattr(net, attr).bias
        if "heads" in vars(net):
            known.update({"heads[0].weight": net.heads[0].weight, "heads[0].bias": net.heads[0].bias,
                          "heads[1].weight": net.heads[1].weight})
        if "inner" in vars(net):
            known.update({"inner.gain": net.inner.gain, "inner.frozen": net.inner.frozen})
            if net.inner.lin is not getattr(net, "body", None):
                known["inner.lin.weight"] = net.inner.lin.weight
        names = []
        for p in net.parameters():
            names.append(next((k for k, v in known.items() if v is p), "an unknown tensor"))
        return {"names": names}

    out = values_of(probe(parameter_order, case=case), "03", "Module.parameters")
    layout, expected = PARAMETER_CASES[case]
    assert out["names"] == expected, (f"{M} · Module.parameters() of a module with attributes {layout}: "
                                      f"got {out['names']}, expected {expected}")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_train_and_eval_reach_every_submodule() -> None:
    """train() and eval() set training on the module and every sub-Module, in lists, tuples and Sequential too"""
    def modes(tt):
        class Net(tt.Module):
            def __init__(self):
                super().__init__()
                self.body = tt.Linear(3, 2)
                self.heads = [tt.Linear(2, 2), tt.Sigmoid()]
                self.pair = (tt.ReLU(), tt.Linear(2, 2))
                self.tail = tt.Sequential(tt.ReLU(), tt.Sequential(tt.Linear(2, 1), tt.Tanh()))

        def flags(net):
            return [net.training, net.body.training, net.heads[0].training, net.heads[1].training,
                    net.pair[0].training, net.pair[1].training, net.tail.training, net.tail[0].training,
                    net.tail[1].training, net.tail[1][0].training, net.tail[1][1].training]

        net = Net()
        out = {"initial": flags(net)}
        net.eval()
        out["after eval"] = flags(net)
        net.train()
        out["after train"] = flags(net)
        net.tail.eval()
        out["after tail.eval"] = flags(net)
        return out

    out = values_of(probe(modes), "03", "train / eval")
    names = ["net", "net.body", "net.heads[0]", "net.heads[1]", "net.pair[0]", "net.pair[1]", "net.tail", "net.tail[0]",
             "net.tail[1]", "net.tail[1][0]", "net.tail[1][1]"]
    expected = {"initial": [True] * 11, "after eval": [False] * 11, "after train": [True] * 11,
                "after tail.eval": [True] * 6 + [False] * 5}
    for when, flags in expected.items():
        wrong = [n for n, got, want in zip(names, out[when], flags) if got is not want]
        assert not wrong, f"{M} · Module.train / eval: {when}, training is wrong on {wrong} (expected {flags[names.index(wrong[0])]})"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_module_zero_grad_clears_every_parameter() -> None:
    """Module.zero_grad() sets .grad of every parameter, nested ones included, to None"""
    def zero_grad(tt):
        import numpy as np
        model = tt.Sequential(tt.Linear(3, 4), tt.ReLU(), tt.Linear(4, 2))
        params = model.parameters()
        if not isinstance(params, list):                 # the test says so, instead of failing at len()
            return {"parameters returned": type(params).__name__}
        for p in params:
            p.grad = np.ones_like(p.data)
        model.zero_grad()
        return {"count": len(params), "cleared": [p.grad is None for p in params]}

    out = values_of(probe(zero_grad), "03", "Module.zero_grad")
    assert "parameters returned" not in out, f"{M} · Module.parameters() should return a list, got a {out.get('parameters returned')}"
    assert out["count"] == 4, f"{M} · Sequential(Linear, ReLU, Linear).parameters(): {out['count']} tensors, expected 4"
    assert all(out["cleared"]), f"{M} · Module.zero_grad: .grad is None for parameters {out['cleared']}, expected all True"


@pytest.mark.points(1.25)
@pytest.mark.visibility("hidden")
def test_sequential_applies_modules_in_order_with_len_and_indexing() -> None:
    """Sequential: applies its modules in order; len() and integer indexing"""
    rng = rng_for("test_sequential_applies_modules_in_order_with_len_and_indexing")
    x = rng.normal(size=(6, 4))

    def sequential(tt, x):
        import numpy as np

        def snap(a):
            return np.array(a, copy=True)

        tt.manual_seed(7)
        first, last = tt.Linear(4, 5), tt.Linear(5, 2)
        seq = tt.Sequential(first, tt.ReLU(), last)
        order = tt.Sequential(tt.Sigmoid(), tt.Tanh())      # order matters: tanh(sigmoid(x))
        out = {"w1": snap(first.weight.data), "b1": snap(first.bias.data), "w2": snap(last.weight.data),
               "b2": snap(last.bias.data)}
        out.update({"y": snap(seq(tt.Tensor(x.copy())).data), "len": len(seq),
                    "seq[0] is first": seq[0] is first, "seq[2] is last": seq[2] is last,
                    "seq[-1] is last": seq[-1] is last, "relu at 1": type(seq[1]).__name__,
                    "order": snap(order(tt.Tensor(x.copy())).data), "empty": snap(tt.Sequential()(tt.Tensor(x.copy())).data)})
        return out

    out = values_of(probe(sequential, x=x), "03", "Sequential")
    w1, b1, w2, b2 = (np.asarray(out[k], dtype=np.float64) for k in ("w1", "b1", "w2", "b2"))
    _linear_shapes(w1, b1, 4, 5, f"{M} · Sequential's first Linear(4, 5)")
    _linear_shapes(w2, b2, 5, 2, f"{M} · Sequential's last Linear(5, 2)")
    assert_close(out["y"], np.maximum(x @ w1 + b1, 0) @ w2 + b2, where=f"{M} · Sequential(Linear(4, 5), ReLU(), "
                 f"Linear(5, 2)) forward: x (6, 4)", rtol=1e-5, atol=1e-6)
    assert_close(out["order"], np.tanh(1 / (1 + np.exp(-x))), where=f"{M} · Sequential(Sigmoid(), Tanh()) forward "
                 f"(must be tanh(sigmoid(x)))", rtol=1e-10)
    assert_close(out["empty"], x, where=f"{M} · Sequential() forward (no modules: the identity)")
    assert out["len"] == 3, f"{M} · len(Sequential(Linear, ReLU, Linear)) is {out['len']}, expected 3"
    for key in ("seq[0] is first", "seq[2] is last", "seq[-1] is last"):
        assert out[key], f"{M} · Sequential indexing: {key} is False"
    assert out["relu at 1"] == "ReLU", f"{M} · Sequential indexing: seq[1] is a {out['relu at 1']}, expected the ReLU"


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_flatten_keeps_the_batch_axis() -> None:
    """Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), values in row-major order"""
    rng = rng_for("test_flatten_keeps_the_batch_axis")
    cases = {"(2, 3, 4)": rng.normal(size=(2, 3, 4)), "(5, 1, 2, 2)": rng.normal(size=(5, 1, 2, 2)),
             "(3, 7)": rng.normal(size=(3, 7)), "(1, 8, 8)": rng.normal(size=(1, 8, 8))}
    arrays = {f"x{i}": v for i, v in enumerate(cases.values())}

    def flatten(tt, **arrays):
        import numpy as np
        return {k: np.array(tt.Flatten()(tt.Tensor(v.copy())).data, copy=True) for k, v in arrays.items()}

    out = values_of(probe(flatten, **arrays), "03", "Flatten")
    for i, (shape, x) in enumerate(cases.items()):
        assert_close(out[f"x{i}"], x.reshape(x.shape[0], -1), where=f"{M} · Flatten: input {shape}", rtol=0, atol=0)


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
def test_linear_rejects_input_of_the_wrong_width() -> None:
    """Linear(4, 3) given an input of width 5 raises ValueError naming the input's shape"""
    def wrong_width(tt, x_ok, x_bad):
        lin = tt.Linear(4, 3)
        out = {"ok": list(lin(tt.Tensor(x_ok)).shape)}
        try:
            lin(tt.Tensor(x_bad))
            out["error"], out["message"] = None, ""
        except NotImplementedError:
            raise
        except Exception as e:
            out["error"], out["message"] = type(e).__name__, str(e)
        return out

    out = values_of(probe(wrong_width, x_ok=np.ones((2, 4), np.float32), x_bad=np.ones((2, 5), np.float32)),
                    "03", "Linear input check")
    assert out["ok"] == [2, 3], f"{M} · Linear(4, 3) on x (2, 4): output shape {out['ok']}, expected (2, 3)"
    assert out["error"] == "ValueError", f"{M} · Linear(4, 3) on x (2, 5): raised {out['error']}, expected ValueError"
    assert "(2, 5)" in out["message"], f"{M} · Linear(4, 3) on x (2, 5): the message should name the shape (2, 5): {out['message']!r}"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_linear_backward_matches_numeric_gradient() -> None:
    """Linear backward (needs Module 06): gradients of weight, bias and input vs numeric"""
    rng = rng_for("test_linear_backward_matches_numeric_gradient")
    x, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def linear_grads(tt, x, g):
        import numpy as np

        def snap(a):
            return None if a is None else np.array(a, copy=True)

        lin = tt.Linear(4, 3)
        t = tt.Tensor(x.copy(), requires_grad=True)
        w, b = snap(lin.weight.data), snap(lin.bias.data)
        lin(t).backward(g.copy())
        return {"w": w, "b": b, "gw": snap(lin.weight.grad), "gb": snap(lin.bias.grad), "gx": snap(t.grad)}

    out = values_of(probe(linear_grads, x=x, g=g), "03", "Linear backward")
    w, b = np.asarray(out["w"], dtype=np.float64), np.asarray(out["b"], dtype=np.float64)
    _linear_shapes(w, b, 4, 3, f"{M} · Linear(4, 3) backward")
    gx, gw, gb = numeric_grads(lambda x_, w_, b_: x_ @ w_ + b_, [x, w, b], g)
    # weight and bias are float32, so their gradients are float32: compare at float32 precision
    assert_grad_close(out["gw"], gw, where=f"{M} · Linear(4, 3) backward: gradient of weight (4, 3)", rtol=1e-5)
    assert_grad_close(out["gb"], gb, where=f"{M} · Linear(4, 3) backward: gradient of bias (3,)", rtol=1e-5)
    assert_grad_close(out["gx"], gx, where=f"{M} · Linear(4, 3) backward: gradient of x (5, 4)")
