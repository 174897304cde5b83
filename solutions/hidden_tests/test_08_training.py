"""Hidden tests, Module 08 — Training: accuracy and the Trainer (train_epoch, evaluate, fit).

Needs every module. Several probes use a model whose output is its input (plus 0 * a
parameter), so every loss the Trainer reports can be computed here by hand. The Trainer tests
pass small losses written with Module 01 ops (the contract's `loss_fn` is any callable), so a
bug in Module 04's losses costs points in Module 04, not here; the end-to-end test uses them all.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import rng_for
from grader.testing import assert_close, probe, values_of
from grader.testing.compare import show_pair

M = "Module 08"


def label_score_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """The probes' classification loss: minus the mean logit of each row's label."""
    return float(-logits[np.arange(len(labels)), labels].mean())


@pytest.mark.points(0.75)
@pytest.mark.visibility("visible")
def test_accuracy_is_the_fraction_of_argmax_hits() -> None:
    """accuracy(logits, labels): fraction of rows whose argmax equals the label, as a float"""
    rng = rng_for("test_accuracy_is_the_fraction_of_argmax_hits")
    logits = rng.normal(size=(8, 4))
    labels = logits.argmax(axis=1)
    labels[[1, 4, 6]] = (labels[[1, 4, 6]] + 1) % 4          # exactly 5 of 8 right

    def accuracy(tt, logits, labels):
        values = {"5 of 8": tt.accuracy(tt.Tensor(logits), tt.Tensor(labels)),
                  "all right": tt.accuracy(tt.Tensor(logits[:1]), tt.Tensor(logits[:1].argmax(axis=1))),
                  "all wrong": tt.accuracy(tt.Tensor(-logits[:1]), tt.Tensor(logits[:1].argmax(axis=1)))}
        return {"values": {k: float(v) for k, v in values.items()},
                "is float": all(isinstance(v, float) for v in values.values())}

    out = values_of(probe(accuracy, logits=logits, labels=labels), "08", "accuracy")
    for case, got in out["values"].items():
        expected = {"5 of 8": 5 / 8, "all right": 1.0, "all wrong": 0.0}[case]
        assert abs(got - expected) < 1e-12, f"{M} · accuracy, {case}: {got}, expected {expected}"
    assert out["is float"], f"{M} · accuracy: should return a Python float"


@pytest.mark.points(1.25)
@pytest.mark.visibility("hidden")
def test_train_epoch_returns_the_sample_weighted_mean_loss() -> None:
    """train_epoch returns the mean loss over samples: each batch's loss weighted by its size"""
    rng = rng_for("test_train_epoch_returns_the_sample_weighted_mean_loss")
    x, y = rng.normal(size=(7, 1)), rng.normal(size=(7, 1))

    def weighted_mean(tt, x, y):
        import numpy as np

        class Passthrough(tt.Module):
            def __init__(self):
                super().__init__()
                self.w = tt.Tensor(np.zeros(1), requires_grad=True)

            def forward(self, x):
                return x + self.w * 0.0

        def squared_error(pred, target):                 # MSE from Module 01 ops
            d = pred - target
            return (d * d).mean()

        model = Passthrough()
        trainer = tt.Trainer(model, squared_error, tt.SGD(model.parameters(), lr=0.1))
        loader = tt.DataLoader(tt.TensorDataset(x, y), batch_size=3)      # batches of 3, 3 and 1
        first = trainer.train_epoch(loader)
        second = trainer.train_epoch(loader)
        for got in (first, second):                      # a number, or the test says what came back
            if isinstance(got, bool) or not isinstance(got, (int, float, np.number)):
                return {"returned": type(got).__name__}
        return {"first": float(first), "second": float(second), "is float": isinstance(first, float)}

    out = values_of(probe(weighted_mean, x=x, y=y), "08", "Trainer.train_epoch")
    assert "returned" not in out, f"{M} · Trainer.train_epoch should return the mean loss as a float, got a {out.get('returned')}"
    per_sample = ((x - y) ** 2)[:, 0]
    expected = per_sample.mean()
    unweighted = np.mean([per_sample[:3].mean(), per_sample[3:6].mean(), per_sample[6:].mean()])
    assert abs(expected - unweighted) > 1e-3      # the data tells the two apart
    for epoch in ("first", "second"):
        got = out[epoch]
        hint = " (that is the unweighted mean of batch losses)" if abs(got - unweighted) < 1e-9 else ""
        shown_expected, shown_got = show_pair(expected, got)
        assert abs(got - expected) < 1e-9, (f"{M} · Trainer.train_epoch, 7 samples in batches of 3, 3, 1, {epoch} epoch: "
                                            f"mean loss {shown_got}, expected {shown_expected}{hint}")
    assert out["is float"], f"{M} · Trainer.train_epoch should return a float"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_train_epoch_takes_one_sgd_step_per_batch() -> None:
    """train_epoch: per batch zero_grad, backward, step — parameters match SGD computed by hand"""
    rng = rng_for("test_train_epoch_takes_one_sgd_step_per_batch")
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.normal(size=(10, 2)).astype(np.float32)

    def sgd_epoch(tt, x, y):
        import numpy as np
        tt.manual_seed(3)
        model = tt.Linear(3, 2)
        w0, b0 = np.array(model.weight.data, copy=True), np.array(model.bias.data, copy=True)

        def squared_error(pred, target):                 # MSE from Module 01 ops
            d = pred - target
            return (d * d).mean()

        trainer = tt.Trainer(model, squared_error, tt.SGD(model.parameters(), lr=0.1))
        loss = trainer.train_epoch(tt.DataLoader(tt.TensorDataset(x, y), batch_size=4))   # batches 4, 4, 2
        return {"w0": w0, "b0": b0, "w": np.array(model.weight.data, copy=True),
                "b": np.array(model.bias.data, copy=True), "loss": float(loss)}

    out = values_of(probe(sgd_epoch, x=x, y=y), "08", "Trainer.train_epoch")
    w, b = np.asarray(out["w0"], dtype=np.float64), np.asarray(out["b0"], dtype=np.float64)
    assert w.shape == (3, 2) and b.shape == (2,), \
        f"{M} · Trainer.train_epoch with Linear(3, 2): weight {w.shape} and bias {b.shape}, expected (3, 2) and (2,) " \
        f"(Module 03's layout)"
    total = 0.0
    for start in range(0, 10, 4):
        xb, yb = x[start:start + 4].astype(np.float64), y[start:start + 4].astype(np.float64)
        err = xb @ w + b - yb
        total += np.mean(err ** 2) * len(xb)
        dout = 2 * err / err.size
        w, b = w - 0.1 * xb.T @ dout, b - 0.1 * dout.sum(axis=0)
    where = f"{M} · Trainer.train_epoch, Linear(3, 2) + squared error + SGD(lr=0.1), 10 samples in batches of 4, 4, 2"
    assert_close(out["w"], w, where=f"{where}: weight after the epoch (one step per batch, grads zeroed in between)",
                 rtol=1e-4, atol=1e-6)
    assert_close(out["b"], b, where=f"{where}: bias after the epoch", rtol=1e-4, atol=1e-6)
    shown_expected, shown_got = show_pair(total / 10, out["loss"])
    assert abs(out["loss"] - total / 10) < 1e-5 * max(1.0, total / 10), \
        f"{where}: returned mean loss {shown_got}, expected {shown_expected} (each batch's loss before its step)"


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_evaluate_builds_no_graph_and_uses_eval_mode() -> None:
    """evaluate: (mean loss, accuracy) in eval mode under no_grad — outputs need no grad, grads stay None"""
    rng = rng_for("test_evaluate_builds_no_graph_and_uses_eval_mode")
    logits = rng.normal(scale=2.0, size=(8, 4))
    labels = rng.integers(0, 4, size=8)

    def evaluate(tt, logits, labels):
        import numpy as np

        seen = []                                     # [output requires grad, model.training] per call

        class Passthrough(tt.Module):
            def __init__(self):
                super().__init__()
                self.w = tt.Tensor(np.zeros(4), requires_grad=True)

            def forward(self, x):
                out = x + self.w * 0.0
                seen.append([out.requires_grad, self.training])
                return out

        def label_score_loss(scores, targets):           # minus the mean logit of each row's label
            return -(scores[np.arange(len(targets.data)), targets.data].mean())

        model = Passthrough()
        trainer = tt.Trainer(model, label_score_loss, tt.SGD(model.parameters(), lr=0.1))
        result = trainer.evaluate(tt.DataLoader(tt.TensorDataset(logits, labels), batch_size=4))
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(
                isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in result)):
            return {"returned": type(result).__name__ + (f" of {len(result)}" if isinstance(result, (tuple, list)) else "")}
        loss, acc = result
        return {"loss": float(loss), "acc": float(acc), "seen": seen, "w.grad is None": model.w.grad is None}

    out = values_of(probe(evaluate, logits=logits, labels=labels), "08", "Trainer.evaluate")
    assert "returned" not in out, f"{M} · Trainer.evaluate should return a (mean loss, accuracy) tuple of numbers, " \
                                  f"got a {out.get('returned')}"
    where = f"{M} · Trainer.evaluate (8 samples in batches of 4)"
    assert len(out["seen"]) == 2, f"{where}: the model was called {len(out['seen'])} times, expected once per batch (2)"
    assert not any(rg for rg, _ in out["seen"]), f"{where}: model outputs required grad; evaluate must run under no_grad()"
    assert not any(tr for _, tr in out["seen"]), f"{where}: the model was in training mode; evaluate must call model.eval()"
    assert out["w.grad is None"], f"{where}: a parameter got a .grad; evaluate must not run backward"
    expected_acc = float(np.mean(logits.argmax(axis=1) == labels))
    shown_expected, shown_got = show_pair(label_score_loss(logits, labels), out["loss"])
    assert abs(out["loss"] - label_score_loss(logits, labels)) < 1e-9, f"{where}: mean loss {shown_got}, expected {shown_expected}"
    assert abs(out["acc"] - expected_acc) < 1e-12, f"{where}: accuracy {out['acc']}, expected {expected_acc}"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_evaluate_weights_loss_and_accuracy_by_batch_size() -> None:
    """evaluate over unequal batches (4, 4, 2): mean loss and accuracy over samples, not over batches"""
    rng = rng_for("test_evaluate_weights_loss_and_accuracy_by_batch_size")
    logits = rng.normal(scale=2.0, size=(10, 3))
    labels = logits.argmax(axis=1)                         # the two batches of 4: every prediction right
    labels[8:] = logits[8:].argmin(axis=1)                  # the short batch of 2: both wrong, with a larger loss

    def evaluate(tt, logits, labels):
        import numpy as np

        calls = []

        class Passthrough(tt.Module):
            def __init__(self):
                super().__init__()
                self.w = tt.Tensor(np.zeros(3), requires_grad=True)

            def forward(self, x):
                calls.append(len(x.data))
                return x + self.w * 0.0

        def label_score_loss(scores, targets):           # minus the mean logit of each row's label
            return -(scores[np.arange(len(targets.data)), targets.data].mean())

        model = Passthrough()
        trainer = tt.Trainer(model, label_score_loss, tt.SGD(model.parameters(), lr=0.1))
        result = trainer.evaluate(tt.DataLoader(tt.TensorDataset(logits, labels), batch_size=4))
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(
                isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in result)):
            return {"returned": type(result).__name__ + (f" of {len(result)}" if isinstance(result, (tuple, list)) else "")}
        loss, acc = result
        return {"loss": float(loss), "acc": float(acc), "batch sizes": calls}

    out = values_of(probe(evaluate, logits=logits, labels=labels), "08", "Trainer.evaluate")
    assert "returned" not in out, f"{M} · Trainer.evaluate should return a (mean loss, accuracy) tuple of numbers, " \
                                  f"got a {out.get('returned')}"
    where = f"{M} · Trainer.evaluate (10 samples in batches of 4, 4, 2)"
    assert out["batch sizes"] == [4, 4, 2], f"{where}: the model saw batches of {out['batch sizes']}, expected [4, 4, 2]"
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    expected = {"mean loss": label_score_loss(logits, labels), "accuracy": float(np.mean(logits.argmax(axis=1) == labels))}
    unweighted = {"mean loss": float(np.mean([label_score_loss(logits[b], labels[b]) for b in batches])),
                  "accuracy": float(np.mean([np.mean(logits[b].argmax(axis=1) == labels[b]) for b in batches]))}
    for name, key in (("mean loss", "loss"), ("accuracy", "acc")):
        assert abs(expected[name] - unweighted[name]) > 0.05          # the data tells the two apart
        got = out[key]
        hint = (" (that is the unweighted mean over batches; weight each batch by its size)"
                if abs(got - unweighted[name]) < 1e-9 else "")
        shown_expected, shown_got = show_pair(expected[name], got)
        assert abs(got - expected[name]) < 1e-9, f"{where}: {name} {shown_got}, expected {shown_expected}{hint}"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_fit_records_history_and_calls_on_epoch_end_from_epoch_0() -> None:
    """fit: history lists per epoch (train_loss; val_loss, val_accuracy with a val_loader); on_epoch_end from 0"""
    rng = rng_for("test_fit_records_history_and_calls_on_epoch_end_from_epoch_0")
    xt, yt = rng.normal(size=(7, 3)), rng.integers(0, 3, size=7)
    xv, yv = rng.normal(scale=2.0, size=(5, 3)), rng.integers(0, 3, size=5)

    def fit(tt, xt, yt, xv, yv):
        import numpy as np

        class Passthrough(tt.Module):
            def __init__(self):
                super().__init__()
                self.w = tt.Tensor(np.zeros(3), requires_grad=True)

            def forward(self, x):
                return x + self.w * 0.0

        def label_score_loss(scores, targets):           # minus the mean logit of each row's label
            return -(scores[np.arange(len(targets.data)), targets.data].mean())

        def make_trainer():
            model = Passthrough()
            return tt.Trainer(model, label_score_loss, tt.SGD(model.parameters(), lr=0.1))

        calls = []

        def on_epoch_end(epoch, history):
            calls.append([int(epoch), len(history["train_loss"]), len(history.get("val_loss", []))])

        train = tt.DataLoader(tt.TensorDataset(xt, yt), batch_size=3)
        val = tt.DataLoader(tt.TensorDataset(xv, yv), batch_size=5)
        history = make_trainer().fit(train, epochs=3, val_loader=val, on_epoch_end=on_epoch_end)
        plain = make_trainer().fit(train, epochs=2)
        for got in (history, plain):                     # a dict of lists of numbers, or the test says what came back
            if not isinstance(got, dict) or not all(isinstance(v, list) and all(
                    isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v) for v in got.values()):
                return {"returned": type(got).__name__ + (" whose values are not lists of numbers" if isinstance(got, dict) else "")}
        return {"keys": sorted(history), "history": {k: [float(v) for v in vs] for k, vs in history.items()},
                "calls": calls, "plain keys": sorted(k for k, v in plain.items() if len(v)),
                "plain train_loss": [float(v) for v in plain["train_loss"]]}

    out = values_of(probe(fit, xt=xt, yt=yt, xv=xv, yv=yv), "08", "Trainer.fit")
    where = f"{M} · Trainer.fit(epochs=3, val_loader=..., on_epoch_end=...)"
    assert "returned" not in out, f"{where}: should return the history, a dict of lists of numbers, got a {out.get('returned')}"
    assert out["keys"] == ["train_loss", "val_accuracy", "val_loss"], f"{where}: history keys {out['keys']}"
    assert out["calls"] == [[0, 1, 1], [1, 2, 2], [2, 3, 3]], (
        f"{where}: on_epoch_end calls as [epoch, len(train_loss), len(val_loss)]: {out['calls']}, expected "
        f"[[0, 1, 1], [1, 2, 2], [2, 3, 3]] (epochs from 0, called after the history is updated)")
    expected = {"train_loss": label_score_loss(xt, yt), "val_loss": label_score_loss(xv, yv),
                "val_accuracy": float(np.mean(xv.argmax(axis=1) == yv))}
    for key, value in expected.items():
        assert_close(out["history"][key], np.full(3, value), where=f"{where}: history[{key!r}] (the model's output is "
                     f"fixed, so every epoch gives the same value)", rtol=1e-9)
    assert out["plain keys"] == ["train_loss"], f"{M} · Trainer.fit(epochs=2) without val_loader: non-empty history keys {out['plain keys']}"
    assert_close(out["plain train_loss"], np.full(2, expected["train_loss"]),
                 where=f"{M} · Trainer.fit(epochs=2) without val_loader: history['train_loss']", rtol=1e-9)


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_training_an_mlp_separates_three_blobs() -> None:
    """End to end: an MLP trained with fit() separates three Gaussian blobs (val accuracy >= 0.95)"""
    rng = rng_for("test_training_an_mlp_separates_three_blobs")
    centres = np.array([[0.0, 3.0], [2.6, -1.5], [-2.6, -1.5]])
    labels = rng.integers(0, 3, size=300)
    points = (centres[labels] + rng.normal(scale=0.6, size=(300, 2))).astype(np.float32)

    def train_blobs(tt, x, y):
        tt.manual_seed(0)
        model = tt.Sequential(tt.Linear(2, 16), tt.ReLU(), tt.Linear(16, 3))
        trainer = tt.Trainer(model, tt.CrossEntropyLoss(), tt.Adam(model.parameters(), lr=0.02))
        train = tt.DataLoader(tt.TensorDataset(x[:200], y[:200]), batch_size=16, shuffle=True, seed=1)
        val = tt.DataLoader(tt.TensorDataset(x[200:], y[200:]), batch_size=50)
        history = trainer.fit(train, epochs=15, val_loader=val)
        if not isinstance(history, dict) or not all(isinstance(vs, list) for vs in history.values()):
            return {"returned": type(history).__name__}
        return {k: [float(v) for v in vs] for k, vs in history.items()}

    out = values_of(probe(train_blobs, x=points, y=labels), "08", "training an MLP")
    where = f"{M} · Trainer.fit: Sequential(Linear(2, 16), ReLU(), Linear(16, 3)), Adam(lr=0.02), 15 epochs on 3 blobs"
    assert "returned" not in out, f"{where}: should return the history, a dict of lists, got a {out.get('returned')}"
    lengths = {key: len(out.get(key, [])) for key in ("train_loss", "val_loss", "val_accuracy")}
    assert all(n == 15 for n in lengths.values()), f"{where}: history lengths {lengths}, expected 15 entries each"
    losses = out["train_loss"]
    assert all(np.isfinite(losses)), f"{where}: non-finite training losses {losses}"
    assert losses[-1] < 0.5 * losses[0], f"{where}: training loss went from {losses[0]:.4g} to {losses[-1]:.4g}, expected at least halved"
    assert out["val_accuracy"][-1] >= 0.95, f"{where}: final validation accuracy {out['val_accuracy'][-1]:.3f}, expected >= 0.95"
