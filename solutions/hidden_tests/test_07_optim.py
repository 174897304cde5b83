"""Hidden tests, Module 07 — Optimizers: SGD (momentum, weight decay) and Adam.

Needs Modules 01 and 07 only: the probes set `.grad` by hand instead of calling backward.
Expected parameters are computed here step by step from PyTorch's published update rules.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import rng_for
from grader.testing import assert_close, probe, values_of

M = "Module 07"


def sgd_reference(p: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float = 0.0,
                  weight_decay: float = 0.0) -> list[np.ndarray]:
    """PyTorch's SGD by hand: the parameter after each step, in float64."""
    p, v, history = p.astype(np.float64).copy(), None, []
    for grad in grads:
        d = grad + weight_decay * p
        if momentum:
            v = d.copy() if v is None else momentum * v + d
            d = v
        p = p - lr * d
        history.append(p.copy())
    return history


def adam_reference(p: np.ndarray, grads: list[np.ndarray], lr: float, betas: tuple[float, float],
                   eps: float) -> list[np.ndarray]:
    """PyTorch's Adam (no weight decay, no amsgrad) by hand: the parameter after each step."""
    b1, b2 = betas
    p, m, v, history = p.astype(np.float64).copy(), np.zeros_like(p), np.zeros_like(p), []
    for t, grad in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        step_size = lr / (1 - b1 ** t)
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
        p = p - step_size * m / denom
        history.append(p.copy())
    return history


def run_optimizer(tt, kind, kwargs, params, grads):
    """Shared probe: build an optimizer over `params`, then per step set each .grad (None where
    the grads entry is None) and call step(); return every parameter after every step."""
    import numpy as np
    tensors = [tt.Tensor(np.array(p), requires_grad=True) for p in params]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}   # betas as a tuple
    opt = getattr(tt, kind)(tensors, **kwargs)
    out = {}
    for s, step_grads in enumerate(grads):
        for t, g in zip(tensors, step_grads):
            t.grad = None if g is None else np.array(g)
        opt.step()
        for i, t in enumerate(tensors):
            out[f"p{i} step{s}"] = np.array(t.data, copy=True)
    return out


@pytest.mark.points(1.5)
@pytest.mark.visibility("visible")
def test_sgd_step_is_p_minus_lr_grad_in_place() -> None:
    """Plain SGD: p -= lr * grad, in place on the parameter's data"""
    rng = rng_for("test_sgd_step_is_p_minus_lr_grad_in_place")
    p, g1, g2 = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))

    def sgd_plain(tt, p, g1, g2):
        import numpy as np
        arr = p.copy()
        t = tt.Tensor(arr, requires_grad=True)           # shares memory with arr
        opt = tt.SGD([t], lr=0.1)
        t.grad = g1.copy()
        opt.step()
        after_one = np.array(t.data, copy=True)
        t.grad = g2.copy()
        opt.step()
        return {"after one": after_one, "after two": np.array(t.data, copy=True), "arr": arr.copy()}

    out = values_of(probe(sgd_plain, p=p, g1=g1, g2=g2), "07", "SGD step")
    expected = sgd_reference(p, [g1, g2], lr=0.1)
    assert_close(out["after one"], expected[0], where=f"{M} · SGD(lr=0.1).step: parameter after step 1", rtol=1e-12)
    assert_close(out["after two"], expected[1], where=f"{M} · SGD(lr=0.1).step: parameter after step 2", rtol=1e-12)
    assert_close(out["arr"], expected[1], where=f"{M} · SGD.step must update p.data in place: the array the "
                 f"parameter was made from", rtol=1e-12)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_sgd_momentum_over_three_steps_matches_pytorch() -> None:
    """SGD with momentum over 3 steps: v = momentum * v + g (v = g at first), p -= lr * v"""
    rng = rng_for("test_sgd_momentum_over_three_steps_matches_pytorch")
    params = [rng.normal(size=(2, 3)), rng.normal(size=(4,))]
    grads = [[rng.normal(size=(2, 3)), rng.normal(size=(4,))] for _ in range(3)]
    out = values_of(probe(run_optimizer, kind="SGD", kwargs={"lr": 0.05, "momentum": 0.9}, params=params, grads=grads),
                    "07", "SGD momentum")
    for i, p in enumerate(params):
        expected = sgd_reference(p, [g[i] for g in grads], lr=0.05, momentum=0.9)
        for s in range(3):
            assert_close(out[f"p{i} step{s}"], expected[s], rtol=1e-12, atol=1e-14,
                         where=f"{M} · SGD(lr=0.05, momentum=0.9): parameter {i} {p.shape} after step {s + 1}")


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_sgd_weight_decay_with_and_without_momentum_over_three_steps() -> None:
    """SGD with weight decay (g = grad + wd * p), alone and with momentum, over 3 steps"""
    rng = rng_for("test_sgd_weight_decay_with_and_without_momentum_over_three_steps")
    params = [rng.normal(size=(3, 3))]
    grads = [[rng.normal(size=(3, 3))] for _ in range(3)]
    for kwargs in ({"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.05}):
        out = values_of(probe(run_optimizer, kind="SGD", kwargs=kwargs, params=params, grads=grads),
                        "07", "SGD weight decay")
        expected = sgd_reference(params[0], [g[0] for g in grads], **kwargs)
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        for s in range(3):
            assert_close(out[f"p0 step{s}"], expected[s], rtol=1e-12, atol=1e-14,
                         where=f"{M} · SGD({args}): parameter after step {s + 1}")


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_adam_over_three_steps_matches_pytorch() -> None:
    """Adam over 3 steps, default and custom betas/eps: PyTorch's bias-corrected update"""
    rng = rng_for("test_adam_over_three_steps_matches_pytorch")
    params = [rng.normal(size=(2, 3)), rng.normal(size=(5,))]
    grads = [[rng.normal(size=(2, 3)) * 10 ** s, rng.normal(size=(5,)) * 0.1] for s in range(3)]
    settings = [({"lr": 0.01}, (0.9, 0.999), 1e-8), ({"lr": 0.1, "betas": [0.5, 0.9], "eps": 1e-3}, (0.5, 0.9), 1e-3)]
    for kwargs, betas, eps in settings:
        out = values_of(probe(run_optimizer, kind="Adam", kwargs=kwargs, params=params, grads=grads), "07", "Adam")
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        for i, p in enumerate(params):
            expected = adam_reference(p, [g[i] for g in grads], lr=kwargs["lr"], betas=betas, eps=eps)
            for s in range(3):
                assert_close(out[f"p{i} step{s}"], expected[s], rtol=1e-10, atol=1e-13,
                             where=f"{M} · Adam({args}): parameter {i} {p.shape} after step {s + 1}")


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_adam_default_learning_rate_is_1e_3() -> None:
    """Adam(params) with no lr uses lr = 1e-3 (and the default betas and eps)"""
    rng = rng_for("test_adam_default_learning_rate_is_1e_3")
    params = [rng.normal(size=(2, 3))]
    grads = [[rng.normal(size=(2, 3))] for _ in range(2)]
    out = values_of(probe(run_optimizer, kind="Adam", kwargs={}, params=params, grads=grads), "07", "Adam(params)")
    expected = adam_reference(params[0], [g[0] for g in grads], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    for s in range(2):
        got = np.asarray(out[f"p0 step{s}"], dtype=np.float64)
        step = float(np.max(np.abs(got - (expected[s - 1] if s else params[0]))))
        assert_close(got, expected[s], rtol=1e-10, atol=1e-13,
                     where=f"{M} · Adam(params) without lr: parameter (2, 3) after step {s + 1} (the largest change "
                           f"was {step:.3g}; with lr = 1e-3 no entry moves more than about 1e-3 per step)")


def check_steps(out: dict, kind: str, params: list[np.ndarray], grads: list[list], reference, ref_kwargs: dict) -> None:
    """Each parameter after each step: unchanged where its grad was None, else its next reference update."""
    for i, p in enumerate(params):
        history = reference(p, [step[i] for step in grads if step[i] is not None], **ref_kwargs)
        current, k = p, 0
        for s, step in enumerate(grads):
            if step[i] is not None:
                current, k = history[k], k + 1
            why = "(grad None: unchanged)" if step[i] is None else f"(its update number {k})"
            assert_close(out[f"p{i} step{s}"], current, rtol=1e-12, atol=1e-14,
                         where=f"{M} · {kind}: parameter {i} {p.shape} after step {s + 1} {why}")


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_optimizers_skip_parameters_whose_grad_is_none() -> None:
    """step() leaves a parameter whose grad is None untouched and updates the others (SGD and Adam)"""
    rng = rng_for("test_optimizers_skip_parameters_whose_grad_is_none")
    params = [rng.normal(size=(3,)), rng.normal(size=(2, 2))]
    g = [[rng.normal(size=(3,)), rng.normal(size=(2, 2))] for _ in range(3)]
    grads = [[g[0][0], g[0][1]], [g[1][0], None], [g[2][0], None]]
    cases = {"SGD": ({"lr": 0.1, "momentum": 0.9}, sgd_reference, {"lr": 0.1, "momentum": 0.9}),
             "Adam": ({"lr": 0.05}, adam_reference, {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8})}
    for kind, (kwargs, reference, ref_kwargs) in cases.items():
        out = values_of(probe(run_optimizer, kind=kind, kwargs=kwargs, params=params, grads=grads), "07",
                        f"{kind} with grad None")
        check_steps(out, kind, params, grads, reference, ref_kwargs)


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_adam_counts_steps_per_parameter() -> None:
    """Adam keeps a step count per parameter: a parameter first updated at step 2 gets a first-step update"""
    rng = rng_for("test_adam_counts_steps_per_parameter")
    params = [rng.normal(size=(3,)), rng.normal(size=(2, 2))]
    g = [[rng.normal(size=(3,)), rng.normal(size=(2, 2))] for _ in range(3)]
    grads = [[g[0][0], None], [g[1][0], g[1][1]], [None, g[2][1]]]
    out = values_of(probe(run_optimizer, kind="Adam", kwargs={"lr": 0.05}, params=params, grads=grads), "07",
                    "Adam step counts")
    check_steps(out, "Adam (PyTorch counts steps per parameter)", params, grads, adam_reference,
                {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8})


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_optimizer_zero_grad_sets_grads_to_none() -> None:
    """Optimizer.zero_grad() sets every parameter's .grad to None (SGD and Adam)"""
    def zero_grad(tt, p):
        import numpy as np
        out = {}
        for kind in ("SGD", "Adam"):
            params = [tt.Tensor(p.copy(), requires_grad=True), tt.Tensor(p.copy(), requires_grad=True)]
            opt = getattr(tt, kind)(params, lr=0.1)
            for t in params:
                t.grad = np.ones_like(p)
            opt.step()
            opt.zero_grad()
            out[kind] = [t.grad is None for t in params]
        return out

    out = values_of(probe(zero_grad, p=np.ones((2, 2))), "07", "zero_grad")
    for kind in ("SGD", "Adam"):
        assert out[kind] == [True, True], f"{M} · {kind}.zero_grad: .grad is None for the parameters: {out[kind]}"


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
def test_optimizers_reject_bad_arguments() -> None:
    """lr <= 0, an empty parameter list, or a parameter without requires_grad raise ValueError"""
    def bad_arguments(tt, p):
        import numpy as np
        ok = tt.Tensor(p.copy(), requires_grad=True)
        ok.grad = np.ones_like(p)
        tt.SGD([ok], lr=0.1).step()
        out = {"ok": np.array(ok.data, copy=True)}
        for kind in ("SGD", "Adam"):
            cases = {"lr=0": lambda: getattr(tt, kind)([tt.Tensor(p.copy(), requires_grad=True)], lr=0.0),
                     "lr=-0.1": lambda: getattr(tt, kind)([tt.Tensor(p.copy(), requires_grad=True)], lr=-0.1),
                     "no parameters": lambda: getattr(tt, kind)([], lr=0.1),
                     "a parameter without requires_grad": lambda: getattr(tt, kind)([tt.Tensor(p.copy())], lr=0.1)}
            for name, f in cases.items():
                try:
                    f()
                    out[f"{kind} {name}"] = None
                except NotImplementedError:
                    raise
                except Exception as e:
                    out[f"{kind} {name}"] = type(e).__name__
        return out

    p = np.zeros(3)
    out = values_of(probe(bad_arguments, p=p), "07", "optimizer argument checks")
    assert_close(out["ok"], p - 0.1, where=f"{M} · SGD(lr=0.1).step with grad 1")
    for key, got in out.items():
        if key != "ok":
            kind, case = key.split(" ", 1)
            assert got == "ValueError", f"{M} · {kind} with {case}: raised {got}, expected ValueError"


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_updates_keep_float32_parameters_float32() -> None:
    """SGD (momentum, weight decay) and Adam keep float32 parameters float32, with the right values"""
    rng = rng_for("test_updates_keep_float32_parameters_float32")
    p = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(2)]

    def float32_updates(tt, p, g0, g1):
        import numpy as np
        out = {}
        for name, make in {"SGD": lambda ps: tt.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                           "Adam": lambda ps: tt.Adam(ps, lr=0.01)}.items():
            t = tt.Tensor(p.copy(), requires_grad=True)
            opt = make([t])
            for g in (g0, g1):
                t.grad = g.copy()
                opt.step()
            out[name] = np.array(t.data, copy=True)
            out[name + " dtype"] = str(t.data.dtype)
        return out

    out = values_of(probe(float32_updates, p=p, g0=grads[0], g1=grads[1]), "07", "float32 updates")
    g64 = [g.astype(np.float64) for g in grads]
    expected = {"SGD": sgd_reference(p, g64, lr=0.1, momentum=0.9, weight_decay=0.01)[-1],
                "Adam": adam_reference(p, g64, lr=0.01, betas=(0.9, 0.999), eps=1e-8)[-1]}
    for name, value in expected.items():
        assert out[name + " dtype"] == "float32", f"{M} · {name}.step on a float32 parameter made it {out[name + ' dtype']}"
        assert_close(out[name], value, where=f"{M} · {name}: float32 parameter after 2 steps", rtol=1e-5, atol=1e-6)
