"""The Milestone 03 model and its seeded training recipe, run with the student's tinytorch.

    arch, recipe = Architecture(64, 32), Recipe(lr=0.1, final_lr=0.01, momentum=0.9,
                                                batch_size=32, epochs=10, seed=1986)
    model = train(tt, prepare(images, 16), labels, arch, recipe)   # a trained tt.Sequential

The numbers come from the `milestone03:` section of grader/config.yaml (`MilestoneSpec`).
Training uses only tinytorch's public API (`DataLoader`, `TensorDataset`, `CrossEntropyLoss`,
`SGD`, `Trainer.fit`): it never re-implements what the student writes.

Sandbox-safe: this file imports only NumPy and the standard library, and `tinytorch` is always
passed in as `tt`. The grader copies it into the sandbox worker's folder beside the probe
(as `m03_recipe.py`), where nothing of the grader is readable.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

Array = np.ndarray
Shape = tuple[int, ...]
History = dict[str, list[float]]
EpochCallback = Callable[[int, History], None]

VAL_BATCH_SIZE = 1000       # batches for the optional per-epoch validation; no effect on training


@dataclass(frozen=True)
class Architecture:
    """Sequential(Linear(inputs, hidden), ReLU(), Linear(hidden, classes))."""

    inputs: int      # 64 (8×8) or 784 (28×28)
    hidden: int      # 32 or 128
    classes: int = 10

    @property
    def shapes(self) -> list[Shape]:
        """Shapes of `parameters()`: W1 (inputs, hidden), b1 (hidden,), W2 (hidden, classes), b2 (classes,)."""
        return [(self.inputs, self.hidden), (self.hidden,), (self.hidden, self.classes), (self.classes,)]

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(shape) for shape in self.shapes)

    def describe(self) -> str:
        """'Linear(64, 32), ReLU, Linear(32, 10)'."""
        return f"Linear({self.inputs}, {self.hidden}), ReLU, Linear({self.hidden}, {self.classes})"

    def as_dict(self) -> dict[str, int]:
        """Plain data, to send to the sandbox: `Architecture(**arch.as_dict())` rebuilds it."""
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """Mini-batch SGD with momentum on cross-entropy, the last epoch at a smaller step."""

    lr: float          # learning rate of every epoch but the last ...
    final_lr: float    # ... and of the last (for runs of two or more epochs)
    momentum: float
    batch_size: int
    epochs: int
    seed: int          # tt.manual_seed: weight initialisation and batch order

    def phases(self, epochs: int | None = None) -> list[tuple[float, int]]:
        """(learning rate, epochs) per phase: `lr` for all epochs but the last, which uses
        `final_lr`: a smaller step at the end settles the weights near a minimum instead of
        letting them bounce around it."""
        epochs = self.epochs if epochs is None else epochs
        if epochs >= 2 and self.final_lr != self.lr:
            return [(self.lr, epochs - 1), (self.final_lr, 1)]
        return [(self.lr, epochs)]

    def describe(self, epochs: int | None = None, seed: int | None = None) -> str:
        """'SGD lr 0.1 (last epoch 0.01), momentum 0.9, batch 32, 10 epochs, seed 1986'."""
        epochs = self.epochs if epochs is None else epochs
        final = f" (last epoch {self.final_lr:g})" if len(self.phases(epochs)) > 1 else ""
        return (f"SGD lr {self.lr:g}{final}, momentum {self.momentum:g}, batch {self.batch_size}, "
                f"{epochs} epoch{'s' if epochs != 1 else ''}, seed {self.seed if seed is None else seed}")

    def as_dict(self) -> dict[str, Any]:
        """Plain data, to send to the sandbox: `Recipe(**recipe.as_dict())` rebuilds it."""
        return asdict(self)


def prepare(images: Array, pixel_max: int) -> Array:
    """Images (N, H, W) uint8 in 0..pixel_max -> (N, H*W) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(pixel_max)


def build_model(tt: ModuleType, arch: Architecture) -> Any:
    """A fresh tt.Sequential(tt.Linear(inputs, hidden), tt.ReLU(), tt.Linear(hidden, classes))."""
    return tt.Sequential(tt.Linear(arch.inputs, arch.hidden), tt.ReLU(), tt.Linear(arch.hidden, arch.classes))


def fit(tt: ModuleType, model: Any, x_train: Array, y_train: Array, recipe: Recipe, *, epochs: int | None = None,
        on_epoch_end: EpochCallback | None = None, x_val: Array | None = None, y_val: Array | None = None) -> Any:
    """Train `model` in place with `recipe` and cross-entropy; return it.

    x_train: (N, D) float32, y_train: (N,) int64 class labels; x_val, y_val likewise (M, D), (M,).
    Each phase (see `Recipe.phases`) is one `Trainer.fit` with a fresh `SGD`; batches come from
    a shuffled `DataLoader`. `on_epoch_end(epoch, history)` gets the epoch counted from 0 over
    the whole run and the current phase's history (its last entries are the latest epoch).
    """
    loss_fn = tt.CrossEntropyLoss()
    loader = tt.DataLoader(tt.TensorDataset(x_train, y_train), batch_size=recipe.batch_size, shuffle=True)
    val_loader = None
    if x_val is not None and y_val is not None:
        val_loader = tt.DataLoader(tt.TensorDataset(x_val, y_val), batch_size=VAL_BATCH_SIZE)
    done = 0
    for lr, count in recipe.phases(epochs):
        optimizer = tt.SGD(model.parameters(), lr=lr, momentum=recipe.momentum)
        tt.Trainer(model, loss_fn, optimizer).fit(loader, count, val_loader=val_loader,
                                                  on_epoch_end=_shifted(on_epoch_end, done))
        done += count
    return model


def _shifted(callback: EpochCallback | None, offset: int) -> EpochCallback | None:
    """`callback` with the epoch counted over the whole run rather than within one phase."""
    if callback is None:
        return None
    return lambda epoch, history: callback(offset + epoch, history)


def train(tt: ModuleType, x_train: Array, y_train: Array, arch: Architecture, recipe: Recipe, *,
          seed: int | None = None, epochs: int | None = None, on_epoch_end: EpochCallback | None = None,
          x_val: Array | None = None, y_val: Array | None = None) -> Any:
    """Seed tinytorch, build a fresh model and train it with `recipe`; return the model.

    tt: the tinytorch package; x_train: (N, arch.inputs) float32 from `prepare`; y_train: (N,)
    int64. `seed` and `epochs` override the recipe's. on_epoch_end(epoch, history), x_val
    (M, arch.inputs), y_val (M,): optional progress reporting, as in `Trainer.fit`.
    The same seed gives the same model.
    """
    tt.manual_seed(recipe.seed if seed is None else seed)
    model = build_model(tt, arch)
    return fit(tt, model, x_train, y_train, recipe, epochs=epochs, on_epoch_end=on_epoch_end, x_val=x_val, y_val=y_val)
