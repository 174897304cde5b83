"""Hidden tests, Module 04 — Losses: log_softmax, CrossEntropyLoss and MSELoss.

Forward values need Modules 01, 02 and 04; the two backward tests are titled
"(needs Module 06)" because the losses' backward rules are written in Module 06.
`tt.softmax` is the plumbing that calls Module 02's `Softmax`, which Module 02's tests grade.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import assert_grad_close, numeric_grads, returned, rng_for
from grader.testing import assert_close, probe, values_of

M = "Module 04"


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax in float64 via log-sum-exp around the max."""
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of the target classes."""
    return float(-log_softmax(logits, 1)[np.arange(len(targets)), targets].mean())


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_cross_entropy_is_the_mean_negative_log_likelihood() -> None:
    """CrossEntropyLoss: mean of -log softmax(logits)[target], a scalar; targets as ndarray or Tensor"""
    rng = rng_for("test_cross_entropy_is_the_mean_negative_log_likelihood")
    logits = rng.normal(scale=2.0, size=(6, 4))
    targets = rng.integers(0, 4, size=6)

    def cross_entropy_forward(tt, logits, targets):
        import numpy as np
        loss_fn = tt.CrossEntropyLoss()
        a = loss_fn(tt.Tensor(logits.copy()), targets.copy())
        out = {"ndarray targets": np.array(a.data, copy=True), "item": a.item()}
        out["Tensor targets"] = np.array(loss_fn(tt.Tensor(logits.copy()), tt.Tensor(targets.copy())).data, copy=True)
        out["one row"] = np.array(loss_fn(tt.Tensor(logits[:1].copy()), targets[:1].copy()).data, copy=True)
        return out

    out = values_of(probe(cross_entropy_forward, logits=logits, targets=targets), "04", "CrossEntropyLoss forward")
    expected = cross_entropy(logits, targets)
    for case in ("ndarray targets", "Tensor targets"):
        assert_close(out[case], np.float64(expected), where=f"{M} · CrossEntropyLoss, logits (6, 4), {case}", rtol=1e-10)
    assert_close(out["one row"], np.float64(cross_entropy(logits[:1], targets[:1])),
                 where=f"{M} · CrossEntropyLoss, logits (1, 4)", rtol=1e-10)
    assert abs(out["item"] - expected) < 1e-9, f"{M} · CrossEntropyLoss(...).item(): {out['item']}, expected {expected}"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_log_softmax_matches_numpy_along_each_dim() -> None:
    """log_softmax(x, dim) for dims -1 (default), 0 and 1 of a 3-D input"""
    rng = rng_for("test_log_softmax_matches_numpy_along_each_dim")
    x2, x3 = rng.normal(scale=3.0, size=(4, 5)), rng.normal(size=(2, 3, 4))
    cases = {"default": (x2, -1), "dim=0": (x2, 0), "3-D dim=1": (x3, 1), "3-D dim=-1": (x3, -1)}

    def log_softmax_dims(tt, x2, x3):
        import numpy as np
        calls = {"default": lambda: tt.log_softmax(tt.Tensor(x2.copy())),
                 "dim=0": lambda: tt.log_softmax(tt.Tensor(x2.copy()), dim=0),
                 "3-D dim=1": lambda: tt.log_softmax(tt.Tensor(x3.copy()), dim=1),
                 "3-D dim=-1": lambda: tt.log_softmax(tt.Tensor(x3.copy()), -1)}
        return {case: np.array(f().data, copy=True) for case, f in calls.items()}

    out = values_of(probe(log_softmax_dims, x2=x2, x3=x3), "04", "log_softmax")
    for case, (x, axis) in cases.items():
        assert_close(out[case], log_softmax(x, axis), where=f"{M} · log_softmax, {case}: x {x.shape}",
                     rtol=1e-10, atol=1e-14)


STABLE_LOGITS = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4 + 2], [1e4, 1e4, -1e4], [-1e4, 1e4, 0.0]])
STABLE_TARGETS = np.array([0, 1, 1, 2])


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("name", ["log_softmax", "CrossEntropyLoss"])
def test_loss_is_stable_for_logits_of_magnitude_1e4(name: str) -> None:
    """log_softmax / CrossEntropyLoss at |logits| = 1e4, float64 and float32: finite, correct, no warnings"""
    logits, targets = STABLE_LOGITS, STABLE_TARGETS

    def stable_loss(tt, logits, targets, name):
        import warnings
        import numpy as np
        out = {}
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            for dtype in ("float64", "float32"):
                t = tt.Tensor(logits.astype(dtype))
                result = tt.log_softmax(t) if name == "log_softmax" else tt.CrossEntropyLoss()(t, targets.copy())
                out[dtype] = np.array(result.data, copy=True)
        out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        return out

    out = values_of(probe(stable_loss, logits=logits, targets=targets, name=name), "04", f"{name} at |logits| = 1e4")
    assert not out["warnings"], f"{M} · {name} at |logits| = 1e4: NumPy warned: {out['warnings'][:3]}"
    expected = log_softmax(logits) if name == "log_softmax" else np.float64(cross_entropy(logits, targets))
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-6)):
        got = np.asarray(out[dtype])
        where = f"{M} · {name} at |logits| = 1e4 ({dtype}), logits (4, 3)"
        assert np.all(np.isfinite(got)), f"{where}: got non-finite values {got}"
        assert_close(got, expected, where=where, rtol=rtol, atol=1e-7)


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_mse_loss_matches_numpy_and_checks_shapes() -> None:
    """MSELoss: mean squared error as a scalar; mismatched shapes raise ValueError"""
    rng = rng_for("test_mse_loss_matches_numpy_and_checks_shapes")
    pred, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))

    def mse(tt, pred, target):
        import numpy as np
        loss_fn = tt.MSELoss()
        out = {"ndarray target": np.array(loss_fn(tt.Tensor(pred.copy()), target.copy()).data, copy=True)}
        out["Tensor target"] = np.array(loss_fn(tt.Tensor(pred.copy()), tt.Tensor(target.copy())).data, copy=True)
        out["1-D"] = np.array(loss_fn(tt.Tensor(pred[:, 0].copy()), tt.Tensor(target[:, 0].copy())).data, copy=True)
        try:
            loss_fn(tt.Tensor(pred), tt.Tensor(target[:, :2]))
            out["error"] = None
        except NotImplementedError:
            raise
        except Exception as e:
            out["error"] = type(e).__name__
        return out

    out = values_of(probe(mse, pred=pred, target=target), "04", "MSELoss")
    for case in ("ndarray target", "Tensor target"):
        assert_close(out[case], np.mean((pred - target) ** 2), where=f"{M} · MSELoss, (5, 3), {case}", rtol=1e-12)
    assert_close(out["1-D"], np.mean((pred[:, 0] - target[:, 0]) ** 2), where=f"{M} · MSELoss, (5,)", rtol=1e-12)
    assert out["error"] == "ValueError", f"{M} · MSELoss with pred (5, 3) and target (5, 2): raised {out['error']}, expected ValueError"


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_cross_entropy_rejects_mismatched_or_out_of_range_targets() -> None:
    """CrossEntropyLoss raises ValueError for a wrong number of targets or a label outside [0, C)"""
    rng = rng_for("test_cross_entropy_rejects_mismatched_or_out_of_range_targets")
    logits = rng.normal(size=(3, 4))

    def bad_targets(tt, logits):
        import numpy as np
        loss_fn = tt.CrossEntropyLoss()
        out = {"ok": np.array(loss_fn(tt.Tensor(logits.copy()), np.array([0, 3, 1])).data, copy=True)}
        cases = {"5 targets for 3 rows": np.array([0, 1, 2, 3, 0]), "label 7 with C = 4": np.array([0, 7, 1]),
                 "label -1": np.array([0, 1, -1])}
        for name, targets in cases.items():
            try:
                loss_fn(tt.Tensor(logits), targets)
                out[name], out[name + " message"] = None, ""
            except NotImplementedError:
                raise
            except Exception as e:
                out[name], out[name + " message"] = type(e).__name__, str(e)
        return out

    out = values_of(probe(bad_targets, logits=logits), "04", "CrossEntropyLoss target checks")
    assert_close(out["ok"], np.float64(cross_entropy(logits, np.array([0, 3, 1]))),
                 where=f"{M} · CrossEntropyLoss, logits (3, 4), valid targets", rtol=1e-10)
    for case, needle in (("5 targets for 3 rows", ("(5,)", "(3, 4)")), ("label 7 with C = 4", ("7",)),
                         ("label -1", ("-1",))):
        assert out[case] == "ValueError", f"{M} · CrossEntropyLoss, {case}: raised {out[case]}, expected ValueError"
        message = out[case + " message"]
        assert any(n in message for n in needle), (f"{M} · CrossEntropyLoss, {case}: the message should name "
                                                   f"{' or '.join(needle)}: {message!r}")


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_losses_preserve_dtype_and_accept_any_integer_labels() -> None:
    """Losses keep float32 / float64; int32 and int64 labels both work"""
    rng = rng_for("test_losses_preserve_dtype_and_accept_any_integer_labels")
    logits, targets = rng.normal(size=(4, 3)), np.array([2, 0, 1, 1])

    def loss_dtypes(tt, logits, targets):
        import numpy as np
        out = {}
        for dtype in ("float32", "float64"):
            t = tt.Tensor(logits.astype(dtype))
            out[f"CrossEntropyLoss {dtype}"] = str(tt.CrossEntropyLoss()(t, targets).dtype)
            out[f"log_softmax {dtype}"] = str(tt.log_softmax(t).dtype)
            out[f"MSELoss {dtype}"] = str(tt.MSELoss()(t, tt.Tensor(logits.astype(dtype))).dtype)
        values = {"int32 loss": np.array(tt.CrossEntropyLoss()(tt.Tensor(logits.copy()), targets.astype(np.int32)).data, copy=True),
                  "int64 loss": np.array(tt.CrossEntropyLoss()(tt.Tensor(logits.copy()), targets.astype(np.int64)).data, copy=True)}
        return {"dtypes": out, **values}

    out = values_of(probe(loss_dtypes, logits=logits, targets=targets), "04", "loss dtypes")
    for key, got in out["dtypes"].items():
        name, dtype = key.split()
        assert got == dtype, f"{M} · {name}: {dtype} input gave a {got} result"
    for labels in ("int32", "int64"):
        assert_close(out[f"{labels} loss"], np.float64(cross_entropy(logits, targets)),
                     where=f"{M} · CrossEntropyLoss with {labels} targets", rtol=1e-10)


@pytest.mark.points(1.25)
@pytest.mark.visibility("hidden")
def test_loss_backward_matches_numeric_gradient() -> None:
    """Loss backward (needs Module 06): CrossEntropyLoss, log_softmax and MSELoss vs numeric"""
    rng = rng_for("test_loss_backward_matches_numeric_gradient")
    logits, targets = rng.normal(scale=2.0, size=(5, 4)), rng.integers(0, 4, size=5)
    target = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 4))

    def loss_grads(tt, logits, targets, target, g):
        import numpy as np
        runs = {"cross entropy": lambda x: tt.CrossEntropyLoss()(x, targets.copy()).backward(),
                "log_softmax": lambda x: tt.log_softmax(x).backward(g.copy()),
                "log_softmax dim=0": lambda x: tt.log_softmax(x, dim=0).backward(g.copy()),
                "mse": lambda x: tt.MSELoss()(x, tt.Tensor(target.copy())).backward()}
        out = {}
        for name, run in runs.items():
            t = tt.Tensor(logits.copy(), requires_grad=True)
            try:
                run(t)
                out[name] = None if t.grad is None else np.array(t.grad, copy=True)
            except NotImplementedError:
                raise
            except Exception as e:
                out[name] = {"raised": f"{type(e).__name__}: {e}"}
        return out

    out = values_of(probe(loss_grads, logits=logits, targets=targets, target=target, g=g), "04", "loss backward")
    one = np.float64(1.0)
    checks = {"cross entropy": numeric_grads(lambda x: cross_entropy(x, targets), [logits], one)[0],
              "log_softmax": numeric_grads(log_softmax, [logits], g)[0],
              "log_softmax dim=0": numeric_grads(lambda x: log_softmax(x, 0), [logits], g)[0],
              "mse": numeric_grads(lambda x: np.mean((x - target) ** 2), [logits], one)[0]}
    for name, expected in checks.items():
        where = f"{M} · {name} backward: logits (5, 4)"
        assert_grad_close(returned(out[name], where), expected, where=where)


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
@pytest.mark.parametrize("name", ["log_softmax", "CrossEntropyLoss"])
def test_loss_backward_is_finite_at_magnitude_1e4(name: str) -> None:
    """log_softmax / CrossEntropyLoss backward at |logits| = 1e4 (needs Module 06): exact, no warnings"""
    logits, targets = STABLE_LOGITS, STABLE_TARGETS
    g = np.array([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0], [2.0, 0.0, 1.0], [-0.5, 1.5, 1.0]])

    def stable_grad(tt, logits, targets, g, name):
        import warnings
        import numpy as np
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn",
                                                                         invalid="warn", under="ignore"):
            warnings.simplefilter("always")
            t = tt.Tensor(logits.copy(), requires_grad=True)
            if name == "log_softmax":
                tt.log_softmax(t).backward(g.copy())
            else:
                tt.CrossEntropyLoss()(t, targets.copy()).backward()
        return {"grad": None if t.grad is None else np.array(t.grad, copy=True),
                "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}

    out = values_of(probe(stable_grad, logits=logits, targets=targets, g=g, name=name), "04",
                    f"{name} backward at |logits| = 1e4")
    assert not out["warnings"], f"{M} · {name} backward at |logits| = 1e4: NumPy warned: {out['warnings'][:3]}"
    p = np.exp(log_softmax(logits))
    expected = {"log_softmax": g - p * g.sum(axis=1, keepdims=True),
                "CrossEntropyLoss": (p - np.eye(3)[targets]) / len(targets)}[name]
    assert_close(out["grad"], expected, where=f"{M} · {name} backward at |logits| = 1e4, logits (4, 3)",
                 rtol=1e-9, atol=1e-12)
