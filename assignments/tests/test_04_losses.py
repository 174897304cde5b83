"""Module 04 — Losses: softmax, log_softmax, CrossEntropyLoss, MSELoss.

The gradient checks use Module 06's backward rules: until then they are skipped.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close, check_gradients, leaf, strict_numerics


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(-_log_softmax(logits.astype(np.float64), 1)[np.arange(len(labels)), labels].mean())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_matches_numpy(dtype, rng):
    """CrossEntropyLoss is the mean of -log softmax(logits)[label], a scalar Tensor"""
    logits = rng.standard_normal((4, 5)).astype(dtype) * 2
    labels = np.array([0, 3, 4, 3])
    loss = tt.CrossEntropyLoss()(tt.Tensor(logits), labels)
    assert isinstance(loss, tt.Tensor) and loss.shape == (), \
        f"Module 04 · CrossEntropyLoss forward, logits (4, 5): expected a scalar Tensor (shape ()), got {getattr(loss, 'shape', loss)!r}"
    assert_close(loss, _cross_entropy(logits, labels), f"Module 04 · CrossEntropyLoss forward, logits (4, 5) {np.dtype(dtype)}",
                 rtol=1e-5 if dtype == np.float32 else 1e-10, dtype=dtype)


def test_cross_entropy_accepts_tensor_targets(rng):
    """Targets may be an integer ndarray or an integer Tensor"""
    logits = rng.standard_normal((3, 4))
    labels = np.array([1, 0, 3], dtype=np.int64)
    from_tensor = tt.CrossEntropyLoss()(tt.Tensor(logits), tt.Tensor(labels))
    assert_close(from_tensor, _cross_entropy(logits, labels), "Module 04 · CrossEntropyLoss forward, logits (3, 4), Tensor targets")


def test_cross_entropy_is_stable_for_logits_of_1e4():
    """Logits of ±1e4 give the exact finite loss, without overflow warnings"""
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4]])
    with strict_numerics("Module 04 · CrossEntropyLoss forward at ±1e4, logits (2, 3)"):
        loss = tt.CrossEntropyLoss()(tt.Tensor(logits), np.array([0, 1]))
    # sample 0 is right with margin 1e4 (loss 0), sample 1 is wrong by 1e4 (loss 1e4)
    assert_close(loss, 5e3, "Module 04 · CrossEntropyLoss forward at ±1e4, logits (2, 3)")


def test_cross_entropy_rejects_bad_labels_and_mismatched_batch(rng):
    """Labels outside [0, C) or a targets length other than N raise ValueError"""
    logits = tt.Tensor(rng.standard_normal((4, 5)))
    loss_fn = tt.CrossEntropyLoss()
    assert_close(loss_fn(logits, np.array([0, 1, 2, 4])), _cross_entropy(logits.data, np.array([0, 1, 2, 4])),
                 "Module 04 · CrossEntropyLoss forward, logits (4, 5)")
    for labels in (np.array([0, 1, 5, 2]), np.array([0, -1, 2, 3])):
        with pytest.raises(ValueError) as info:
            loss_fn(logits, labels)
        bad = str(labels[(labels < 0) | (labels >= 5)][0])
        assert bad in str(info.value), f"Module 04 · CrossEntropyLoss: the ValueError should name the label {bad}: {info.value}"
    with pytest.raises(ValueError):
        loss_fn(logits, np.array([0, 1, 2]))


@pytest.mark.parametrize("dim", [-1, 0])
def test_log_softmax_matches_numpy(dim, rng):
    """log_softmax(x, dim) equals log(softmax(x)) along dim"""
    x = rng.standard_normal((3, 4))
    assert_close(tt.log_softmax(tt.Tensor(x), dim=dim), _log_softmax(x, dim), f"Module 04 · log_softmax forward, input (3, 4), dim={dim}",
                 dtype=np.float64)


def test_softmax_function_matches_numpy(rng):
    """tt.softmax(x, dim) equals exp(log_softmax) along dim"""
    x = rng.standard_normal((3, 4))
    assert_close(tt.softmax(tt.Tensor(x), dim=0), np.exp(_log_softmax(x, 0)), "Module 04 · softmax forward, input (3, 4), dim=0")
    assert_close(tt.log_softmax(tt.Tensor(x)).data, np.log(tt.softmax(tt.Tensor(x)).data),
                 "Module 04 · log_softmax forward vs log(softmax), input (3, 4)")


def test_log_softmax_is_stable_for_inputs_of_1e4():
    """log_softmax of ±1e4 stays finite and exact, without overflow warnings"""
    x = np.array([[1e4, 0.0, -1e4]])
    with strict_numerics("Module 04 · log_softmax forward at ±1e4, input (1, 3)"):
        out = tt.log_softmax(tt.Tensor(x))
    assert_close(out, [[0.0, -1e4, -2e4]], "Module 04 · log_softmax forward at ±1e4, input (1, 3)")


def test_mse_matches_numpy(rng):
    """MSELoss is mean((pred - target) ** 2), with a Tensor or ndarray target"""
    pred, target = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    expected = np.mean((pred - target) ** 2)
    assert_close(tt.MSELoss()(tt.Tensor(pred), target), expected, "Module 04 · MSELoss forward, pred (3, 2), ndarray target")
    assert_close(tt.MSELoss()(tt.Tensor(pred), tt.Tensor(target)), expected, "Module 04 · MSELoss forward, pred (3, 2), Tensor target")
    with pytest.raises(ValueError):
        tt.MSELoss()(tt.Tensor(pred), target[:2])


def test_cross_entropy_gradient_matches_centred_differences(rng):
    """Gradient check: CrossEntropyLoss w.r.t. the logits"""
    logits = leaf(rng.standard_normal((4, 5)))
    labels = np.array([2, 0, 4, 2])
    check_gradients(lambda: tt.CrossEntropyLoss()(logits, labels), [logits],
                    "Module 06 · CrossEntropy backward", names=["logits"], rng=rng)


def test_cross_entropy_gradient_is_exact_at_1e4():
    """At logits ±1e4 the gradient is (softmax - one_hot) / N, finite"""
    logits = leaf(np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4]]))
    with strict_numerics("Module 04 · CrossEntropyLoss forward or Module 06 · CrossEntropy backward at ±1e4, logits (2, 3)"):
        tt.CrossEntropyLoss()(logits, np.array([0, 1])).backward()
    assert_close(logits.grad, [[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]], "Module 06 · CrossEntropy backward at ±1e4, logits (2, 3)")


@pytest.mark.parametrize("which, dim", [("log_softmax", -1), ("log_softmax", 0), ("softmax", -1)])
def test_softmax_and_log_softmax_gradients_match_centred_differences(which, dim, rng):
    """Gradient check: softmax and log_softmax along a dim"""
    x = leaf(rng.standard_normal((3, 4)))
    fn = getattr(tt, which)
    name = "log_softmax backward" if which == "log_softmax" else "Softmax backward"
    check_gradients(lambda: fn(x, dim=dim), [x], f"Module 06 · {name} (dim={dim})", rng=rng)


def test_mse_gradient_matches_centred_differences(rng):
    """Gradient check: MSELoss w.r.t. both pred and target"""
    pred, target = leaf(rng.standard_normal((3, 2))), leaf(rng.standard_normal((3, 2)))
    check_gradients(lambda: tt.MSELoss()(pred, target), [pred, target],
                    "Module 04 · MSELoss (built from sub, pow and mean backward, Module 06)", names=["pred", "target"], rng=rng)
