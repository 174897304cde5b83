"""Module 08 — Training: accuracy and the Trainer (train_epoch, evaluate, fit).

These tests use everything from Modules 01-07 on a tiny problem that a linear model separates.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt


def _blobs(rng: np.random.Generator, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Two well separated classes in 2-D: class 0 around (-2, -2), class 1 around (2, 2)."""
    labels = np.arange(n) % 2
    centres = np.where(labels[:, None] == 1, 2.0, -2.0)
    features = (centres + 0.5 * rng.standard_normal((n, 2))).astype(np.float32)
    return features, labels.astype(np.int64)


def _setup(rng: np.random.Generator, lr: float = 0.5, batch_size: int = 8
           ) -> tuple[tt.Sequential, tt.Trainer, tt.DataLoader, np.ndarray, np.ndarray]:
    features, labels = _blobs(rng)
    model = tt.Sequential(tt.Linear(2, 2))
    model[0].weight.data[...] = [[1.0, -1.0], [1.0, -1.0]]  # start wrong: each blob is scored as the other class
    model[0].bias.data[...] = 0.0
    trainer = tt.Trainer(model, tt.CrossEntropyLoss(), tt.SGD(model.parameters(), lr=lr))
    loader = tt.DataLoader(tt.TensorDataset(features, labels), batch_size=batch_size, shuffle=True, seed=0)
    return model, trainer, loader, features, labels


def _numpy_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def _number(value: object, where: str) -> float:
    """`value` as a float, once it is checked to be one number (not a Tensor, list or tuple)."""
    assert isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool), \
        f"{where}: expected a number, got {type(value).__name__} {value!r:.80}"
    return float(value)


def _loss_and_accuracy(value: object, where: str) -> tuple[float, float]:
    """evaluate's result, once it is checked to be a (mean loss, accuracy) pair of numbers."""
    assert isinstance(value, (tuple, list)) and len(value) == 2, \
        f"{where}: expected a (mean loss, accuracy) tuple, got {type(value).__name__} {value!r:.80}"
    return _number(value[0], f"{where}: mean loss"), _number(value[1], f"{where}: accuracy")


def _history(value: object, where: str, keys: set[str]) -> dict[str, list]:
    """fit's result, once it is checked to be a dict with list values under exactly `keys`."""
    assert isinstance(value, dict), f"{where}: expected a dict of lists (the history), got {type(value).__name__} {value!r:.80}"
    assert set(value) == keys, f"{where}: keys {sorted(map(str, value))}, expected {sorted(keys)}"
    for key in keys:
        assert isinstance(value[key], list), f"{where}: history[{key!r}] should be a list, got {type(value[key]).__name__}"
    return value


class _Spy(tt.Module):
    """Wraps a model and records, at every forward, the training flag and whether the output builds a graph."""

    def __init__(self, inner: tt.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[tuple[bool, bool, bool]] = []

    def forward(self, x: tt.Tensor) -> tt.Tensor:
        out = self.inner(x)
        self.calls.append((self.training, self.inner.training, out.requires_grad))
        return out


def test_accuracy_is_the_fraction_of_correct_argmax():
    """accuracy(logits, labels): share of rows whose argmax equals the label, as a Python float"""
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([1, 0, 0, 0])
    for lg, lb in [(logits, labels), (tt.Tensor(logits), tt.Tensor(labels))]:
        got = tt.accuracy(lg, lb)
        assert isinstance(got, float) and got == 0.75, \
            f"Module 08 · accuracy, logits (4, 2), labels (4,) as {type(lg).__name__}: expected 0.75 (a float), got {got!r}"


def test_train_epoch_decreases_the_loss(rng):
    """train_epoch on a separable problem: the mean loss goes down epoch after epoch"""
    _, trainer, loader, _, _ = _setup(rng)
    losses = [trainer.train_epoch(loader) for _ in range(4)]
    assert all(isinstance(x, float) for x in losses), f"Module 08 · Trainer.train_epoch should return a float, got {losses!r}"
    assert losses[-1] < 0.5 * losses[0], f"Module 08 · Trainer.train_epoch, 24 samples, 2 classes: losses {losses} did not fall"


def test_train_epoch_mean_loss_is_weighted_by_batch_size(rng):
    """train_epoch returns the mean loss over samples: batches of 8, 8, 8, 6 weigh 8, 8, 8, 6"""
    features, labels = _blobs(rng, n=30)
    model = tt.Sequential(tt.Linear(2, 3))
    expected = _numpy_cross_entropy(model(tt.Tensor(features)).data.astype(np.float64), labels)
    trainer = tt.Trainer(model, tt.CrossEntropyLoss(), tt.SGD(model.parameters(), lr=1e-12))  # parameters barely move
    loader = tt.DataLoader(tt.TensorDataset(features, labels), batch_size=8)
    got = _number(trainer.train_epoch(loader), "Module 08 · Trainer.train_epoch")
    assert abs(got - expected) < 1e-5, f"Module 08 · Trainer.train_epoch, batches 8, 8, 8, 6: expected the sample-weighted " \
                                       f"mean {expected:.6f}, got {got:.6f}"


def test_train_epoch_trains_the_model_in_training_mode(rng):
    """train_epoch switches the model to training mode and updates its parameters"""
    model, _, loader, _, _ = _setup(rng)
    spy = _Spy(model).eval()
    trainer = tt.Trainer(spy, tt.CrossEntropyLoss(), tt.SGD(spy.parameters(), lr=0.5))
    before = [p.data.copy() for p in spy.parameters()]
    trainer.train_epoch(loader)
    assert spy.calls and all(flags[:2] == (True, True) for flags in spy.calls), \
        f"Module 08 · Trainer.train_epoch: call model.train() first (training flags seen: {sorted(set(c[:2] for c in spy.calls))})"
    assert any(not np.array_equal(b, p.data) for b, p in zip(before, spy.parameters())), \
        "Module 08 · Trainer.train_epoch: the parameters did not change (zero_grad, backward, step for each batch)"


def test_evaluate_runs_in_eval_mode_without_a_graph(rng):
    """evaluate runs under no_grad in eval mode and returns (mean loss, accuracy)"""
    model, _, _, features, labels = _setup(rng)
    spy = _Spy(model)
    trainer = tt.Trainer(spy, tt.CrossEntropyLoss(), tt.SGD(spy.parameters(), lr=0.5))
    loss, acc = _loss_and_accuracy(trainer.evaluate(tt.DataLoader(tt.TensorDataset(features, labels), batch_size=5)),
                                   "Module 08 · Trainer.evaluate")
    assert spy.calls and all(c == (False, False, False) for c in spy.calls), \
        f"Module 08 · Trainer.evaluate: expected model.eval() and no_grad() (training, inner training, output requires_grad) " \
        f"= (False, False, False), saw {sorted(set(spy.calls))}"
    assert all(p.grad is None for p in model.parameters()), "Module 08 · Trainer.evaluate: a parameter received a gradient"
    weight, bias = model[0].weight, model[0].bias
    assert weight.shape == (features.shape[1], 2) and bias.shape == (2,), \
        f"Module 08 · Trainer.evaluate with Linear({features.shape[1]}, 2): weight {weight.shape} and bias {bias.shape}, " \
        f"expected {(features.shape[1], 2)} and (2,) (Module 03's layout)"
    logits = features @ weight.data + bias.data
    want_loss = _numpy_cross_entropy(logits.astype(np.float64), labels)
    want_acc = float(np.mean(logits.argmax(axis=1) == labels))
    assert abs(loss - want_loss) < 1e-5 and abs(acc - want_acc) < 1e-9, \
        f"Module 08 · Trainer.evaluate, 24 samples in batches of 5: expected ({want_loss:.6f}, {want_acc}), got ({loss:.6f}, {acc})"


def test_fit_reaches_full_accuracy_on_a_separable_problem(rng):
    """fit for a few epochs: the two blobs end up classified perfectly"""
    _, trainer, loader, features, labels = _setup(rng)
    history = _history(trainer.fit(loader, epochs=5, val_loader=tt.DataLoader(tt.TensorDataset(features, labels), batch_size=24)),
                       "Module 08 · Trainer.fit with a val_loader", {"train_loss", "val_loss", "val_accuracy"})
    assert len(history["val_accuracy"]) == 5, \
        f"Module 08 · Trainer.fit, 5 epochs: expected 5 validation accuracies, got {len(history['val_accuracy'])}"
    assert history["val_accuracy"][-1] == 1.0, f"Module 08 · Trainer.fit, 5 epochs: validation accuracy {history['val_accuracy']}"


@pytest.mark.parametrize("with_val", [False, True])
def test_fit_history_has_one_entry_per_epoch(with_val, rng):
    """fit returns {train_loss} (plus val_loss and val_accuracy with a val_loader), one entry per epoch"""
    _, trainer, loader, _, _ = _setup(rng)
    keys = {"train_loss", "val_loss", "val_accuracy"} if with_val else {"train_loss"}
    history = _history(trainer.fit(loader, epochs=3, val_loader=loader if with_val else None),
                       f"Module 08 · Trainer.fit (val_loader={'given' if with_val else 'None'})", keys)
    lengths = {k: len(v) for k, v in history.items()}
    assert all(n == 3 for n in lengths.values()), f"Module 08 · Trainer.fit, epochs=3: list lengths {lengths}"


def test_on_epoch_end_is_called_with_epochs_from_zero(rng):
    """on_epoch_end(epoch, history) runs after every epoch, epoch counted from 0"""
    _, trainer, loader, _, _ = _setup(rng)
    seen = []
    trainer.fit(loader, epochs=3, on_epoch_end=lambda epoch, history: seen.append((epoch, len(history["train_loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)], \
        f"Module 08 · Trainer.fit, epochs=3: on_epoch_end saw (epoch, entries so far) {seen}, expected [(0, 1), (1, 2), (2, 3)]"
