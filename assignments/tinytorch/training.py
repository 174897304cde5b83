# tinytorch/training.py: your file to complete for Module 08. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
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
    # TODO(Module 08): np.argmax(logits, axis=-1) == labels, averaged, as a Python float
    raise NotImplementedError("Module 08: accuracy")


class Trainer:
    """Runs the training loop: forward, loss, zero_grad, backward, step — once per batch."""

    def __init__(self, model: Module, loss_fn: Callable[[Tensor, Any], Tensor], optimizer: Optimizer) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer

    def train_epoch(self, loader: DataLoader) -> float:
        """One pass over `loader` in training mode; returns the mean loss over samples
        (each batch's loss weighted by its batch size)."""
        # TODO(Module 08): model.train(); per batch: loss = loss_fn(model(x), y), zero_grad, backward, step; return the sample-weighted mean loss
        raise NotImplementedError("Module 08: Trainer.train_epoch")

    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        """(mean loss, accuracy) over `loader`, in eval mode and under no_grad (no graph is built)."""
        # TODO(Module 08): model.eval(); under no_grad(), sum loss*n and correct predictions over batches; divide by the sample count
        raise NotImplementedError("Module 08: Trainer.evaluate")

    def fit(self, train_loader: DataLoader, epochs: int, val_loader: Optional[DataLoader] = None,
            on_epoch_end: Optional[Callable[[int, History], None]] = None) -> History:
        """Train for `epochs`; history has `train_loss` (and `val_loss`, `val_accuracy` with a
        val_loader), one entry per epoch; `on_epoch_end(epoch, history)` runs after each (epoch from 0)."""
        # TODO(Module 08): loop epochs: train_epoch, evaluate when val_loader, append to the history lists, call on_epoch_end(epoch, history)
        raise NotImplementedError("Module 08: Trainer.fit")
