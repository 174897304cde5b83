"""Module 08 — Training: accuracy and a Trainer that runs epochs.

    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    history = trainer.fit(train_loader, epochs=5, val_loader=test_loader)
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np

from .autograd import no_grad
from .data import DataLoader
from .layers import Module
from .optim import Optimizer
from .tensor import Tensor

History = dict[str, list[float]]


def accuracy(logits: Union[Tensor, np.ndarray], labels: Union[Tensor, np.ndarray]) -> float:
    """Fraction of rows whose argmax over the last axis equals the label. (N, C), (N,) -> float."""
    ### BEGIN SOLUTION 08 | accuracy | np.argmax(logits, axis=-1) == labels, averaged, as a Python float
    scores = logits.data if isinstance(logits, Tensor) else np.asarray(logits)
    target = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    return float(np.mean(np.argmax(scores, axis=-1) == target))
    ### END SOLUTION


class Trainer:
    """Runs the training loop: forward, loss, zero_grad, backward, step — once per batch."""

    def __init__(self, model: Module, loss_fn: Callable[[Tensor, Any], Tensor], optimizer: Optimizer) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer

    def train_epoch(self, loader: DataLoader) -> float:
        """One pass over `loader` in training mode; returns the mean loss over samples
        (each batch's loss weighted by its batch size)."""
        ### BEGIN SOLUTION 08 | Trainer.train_epoch | model.train(); per batch: loss = loss_fn(model(x), y), zero_grad, backward, step; return the sample-weighted mean loss
        self.model.train()
        total, count = 0.0, 0
        for x, y in loader:
            loss = self.loss_fn(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            n = len(x)
            total += loss.item() * n
            count += n
        if count == 0:
            raise ValueError("Trainer.train_epoch: the loader yielded no batches")
        return total / count
        ### END SOLUTION

    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        """(mean loss, accuracy) over `loader`, in eval mode and under no_grad (no graph is built)."""
        ### BEGIN SOLUTION 08 | Trainer.evaluate | model.eval(); under no_grad(), sum loss*n and correct predictions over batches; divide by the sample count
        self.model.eval()
        total, correct, count = 0.0, 0.0, 0
        with no_grad():
            for x, y in loader:
                logits = self.model(x)
                n = len(x)
                total += self.loss_fn(logits, y).item() * n
                correct += accuracy(logits, y) * n
                count += n
        if count == 0:
            raise ValueError("Trainer.evaluate: the loader yielded no batches")
        return total / count, correct / count
        ### END SOLUTION

    def fit(self, train_loader: DataLoader, epochs: int, val_loader: Optional[DataLoader] = None,
            on_epoch_end: Optional[Callable[[int, History], None]] = None) -> History:
        """Train for `epochs`; history has `train_loss` (and `val_loss`, `val_accuracy` with a
        val_loader), one entry per epoch; `on_epoch_end(epoch, history)` runs after each (epoch from 0)."""
        ### BEGIN SOLUTION 08 | Trainer.fit | loop epochs: train_epoch, evaluate when val_loader, append to the history lists, call on_epoch_end(epoch, history)
        history: History = {"train_loss": []}
        if val_loader is not None:
            history["val_loss"], history["val_accuracy"] = [], []
        for epoch in range(epochs):
            history["train_loss"].append(self.train_epoch(train_loader))
            if val_loader is not None:
                val_loss, val_acc = self.evaluate(val_loader)
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_acc)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
        return history
        ### END SOLUTION
