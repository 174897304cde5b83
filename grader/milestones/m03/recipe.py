"""The Milestone 03 model, its seeded training recipe and the grader's training loop.

    arch, recipe = Architecture(64, 32), Recipe(lr=0.1, final_lr=0.01, momentum=0.9,
                                                batch_size=32, epochs=10, seed=1986)
    run = train(tt, prepare(images, 16), labels, arch, recipe)   # run.model: a trained tt.Sequential
    run.trace                                                    # what the grader checks (verify.py)

The numbers come from the `milestone03:` section of grader/config.yaml (`MilestoneSpec`).
The loop is the grader's own and calls exactly what the student wrote for it: the model's
forward pass `model(x)`, `CrossEntropyLoss()(logits, y)`, `loss.item()`, `optimizer.zero_grad()`,
`loss.backward()` and `SGD.step()`. Batches come from the grader's own seeded shuffle
(`schedule`), not from the student's DataLoader, so the grader knows every batch and can replay
any step in NumPy; `Trainer` and `DataLoader` earn their points in their own modules.

Sandbox-safe: this file imports only NumPy and the standard library, and `tinytorch` is always
passed in as `tt`. The grader copies it into the sandbox worker's folder beside the probe
(as `m03_recipe.py`), where nothing of the grader is readable.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

Array = np.ndarray
Shape = tuple[int, ...]
History = dict[str, list[float]]
EpochCallback = Callable[[int, History], None]

VAL_BATCH_SIZE = 1000       # batches for the optional per-epoch validation; no effect on training
BATCH_ORDER_STREAM = 3      # the batch order's generator is seeded with [seed, 3]: independent of tt.manual_seed(seed)
MAX_EPOCH_STATES = 100      # states after each epoch taken back from a run (pictures only)
TAIL_STEPS = 2              # the last steps the grader replays; the trace keeps one state more, for the momentum


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
    seed: int          # tt.manual_seed (weight initialisation) and the grader's batch order

    def phases(self, epochs: int | None = None) -> list[tuple[float, int]]:
        """(learning rate, epochs) per phase: `lr` for all epochs but the last, which uses
        `final_lr`: a smaller step at the end settles the weights near a minimum instead of
        letting them bounce around it. Each phase has a fresh SGD (its momentum starts at 0)."""
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


@dataclass(frozen=True)
class Step:
    """One optimisation step of a run."""

    number: int           # from 1
    epoch: int            # from 0, over the whole run
    lr: float
    fresh: bool           # the first step of its phase's SGD: the momentum buffer starts as the gradient
    last_of_epoch: bool
    rows: Array           # (batch,) indices into the training set


def schedule(n: int, recipe: Recipe, *, seed: int | None = None, epochs: int | None = None) -> Iterator[Step]:
    """Every step of a run on `n` training images, in order: per epoch, a permutation of
    range(n) from numpy.random.default_rng([seed, BATCH_ORDER_STREAM]), cut into batches of
    `recipe.batch_size` (the last one shorter when n is not a multiple). The sandboxed loop and
    the grader's replay both walk this, so they agree on every batch."""
    order = np.random.default_rng([recipe.seed if seed is None else seed, BATCH_ORDER_STREAM])
    number, epoch, size = 0, 0, recipe.batch_size
    for lr, count in recipe.phases(epochs):
        fresh = True
        for _ in range(count):
            permutation = order.permutation(n)
            starts = range(0, n, size)
            for start in starts:
                number += 1
                yield Step(number, epoch, lr, fresh, start == starts[-1], permutation[start:start + size])
                fresh = False
            epoch += 1


@dataclass
class Trace:
    """What the grader's loop recorded of one run, for the grader to check that the trained
    model follows from the student's forward pass, backward pass and SGD step (verify.py).
    Every state is a list of arrays in `parameters()` order: W1, b1, W2, b2."""

    initial: list[Array]                  # before the first step
    first: list[Array]                    # after the first step
    tail: list[list[Array]]               # after steps T - TAIL_STEPS - 1, ..., T of a run of T steps (at
                                          # most; "after step 0" is the initial state); tail[-1]: the trained model
    losses: Array                         # (steps,) float64: loss.item() of every step, in order
    epochs: list[list[Array]] = field(default_factory=list)   # after each epoch's last step: the pictures'
                                          # curves (pictures.py); not replayed, so never scored

    @property
    def final(self) -> list[Array]:
        return self.tail[-1]

    def as_values(self, limit: int = 8) -> dict[str, Any]:
        """Plain data for the probe to return: `count`, `tail_count`, `epoch_count`, `losses` and
        the arrays `initial{i}`, `first{i}`, `tail{k}_{i}`, `epoch{e}_{i}` (only when count <= limit)."""
        count = len(self.initial)
        out: dict[str, Any] = {"count": count, "tail_count": len(self.tail), "epoch_count": len(self.epochs),
                               "losses": self.losses}
        if count <= limit:
            for i in range(count):
                out[f"initial{i}"], out[f"first{i}"] = self.initial[i], self.first[i]
                for k, state in enumerate(self.tail):
                    out[f"tail{k}_{i}"] = state[i]
                for e, state in enumerate(self.epochs):
                    out[f"epoch{e}_{i}"] = state[i]
        return out

    @classmethod
    def from_values(cls, values: dict[str, Any], *, parameters: int, steps: int) -> "Trace":
        """Rebuild a trace from a probe's plain data, expecting `parameters` tensors and a run of
        `steps` steps; ValueError saying what is wrong otherwise (the arrays themselves are
        checked by measure.check_parameters)."""
        count = values.get("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"the worker reported a parameter count of {count!r}")
        if count != parameters:
            raise ValueError(f"the trained model has {count} parameter tensors, expected {parameters}")
        tail_count = values.get("tail_count")
        expected_tail = min(steps, TAIL_STEPS + 1) + 1
        if tail_count != expected_tail:
            raise ValueError(f"the training trace holds {tail_count!r} final states, expected {expected_tail}")
        losses = values.get("losses")
        if not isinstance(losses, np.ndarray) or losses.shape != (steps,) or losses.dtype.kind != "f":
            shape = getattr(losses, "shape", type(losses).__name__)
            raise ValueError(f"the training trace holds losses of shape {shape}, expected ({steps},) floats")

        def state(prefix: str) -> list[Array]:
            arrays = [values.get(f"{prefix}{i}") for i in range(count)]
            if any(not isinstance(a, np.ndarray) for a in arrays):
                raise ValueError(f"the training trace lacks the arrays {prefix}0..{prefix}{count - 1}")
            return arrays

        return cls(state("initial"), state("first"), [state(f"tail{k}_") for k in range(expected_tail)],
                   losses.astype(np.float64), _epoch_states(values, count))


def _epoch_states(values: dict[str, Any], count: int) -> list[list[Array]]:
    """The states after each epoch in a probe's plain data, or [] when they are missing or
    malformed: they only draw pictures, so a bad one never fails the run (pictures.py checks
    their shapes, dtypes and values and says what is wrong)."""
    epochs = values.get("epoch_count")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 < epochs <= MAX_EPOCH_STATES:
        return []
    states = [[values.get(f"epoch{e}_{i}") for i in range(count)] for e in range(epochs)]
    return states if all(isinstance(a, np.ndarray) for state in states for a in state) else []


@dataclass
class Trained:
    """One finished run: the model, the tensors the optimizer updated, the trace and the history."""

    model: Any
    parameters: list[Any]                 # model.parameters() as taken before the first step
    trace: Trace
    history: History = field(default_factory=dict)


def prepare(images: Array, pixel_max: int) -> Array:
    """Images (N, H, W) uint8 in 0..pixel_max -> (N, H*W) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(pixel_max)


class Prepared:
    """`prepare(images, pixel_max)`, computed only for the rows asked for: x[rows], x[a:b] and
    len(x) give exactly what they give on the prepared array, without holding all of it (MNIST's
    training split is 188 MB in float32). The grader's replay and measurements (verify.py,
    measure.py, learned.py) only index their images, so they take either; `train` takes the array.

    images: (N, H, W) uint8 in 0..pixel_max; x[rows] -> (len(rows), H*W) float32 in [0, 1].
    """

    def __init__(self, images: Array, pixel_max: int) -> None:
        self.images, self.pixel_max = images, pixel_max

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, rows: slice | Array) -> Array:
        return prepare(self.images[rows], self.pixel_max)


Images = Array | Prepared      # what the grader's checks and measurements take as a split's images


def build_model(tt: ModuleType, arch: Architecture) -> Any:
    """A fresh tt.Sequential(tt.Linear(inputs, hidden), tt.ReLU(), tt.Linear(hidden, classes))."""
    return tt.Sequential(tt.Linear(arch.inputs, arch.hidden), tt.ReLU(), tt.Linear(arch.hidden, arch.classes))


def _snapshot(tensors: list[Any]) -> list[Array]:
    """Copies of the tensors' current values."""
    return [np.array(t.data, copy=True) for t in tensors]


def _validate(tt: ModuleType, model: Any, loss_fn: Any, x_val: Array, y_val: Array) -> tuple[float, float]:
    """(mean loss, accuracy) of the student's model on (x_val, y_val), under tt.no_grad()."""
    loss_sum, hits = 0.0, 0
    with tt.no_grad():
        for begin in range(0, len(x_val), VAL_BATCH_SIZE):
            images, labels = x_val[begin:begin + VAL_BATCH_SIZE], y_val[begin:begin + VAL_BATCH_SIZE]
            scores = model(tt.Tensor(images))
            loss_sum += float(loss_fn(scores, tt.Tensor(labels)).item()) * len(labels)
            hits += int(np.sum(np.argmax(np.asarray(scores.data), axis=-1) == labels))
    return loss_sum / len(y_val), hits / len(y_val)


def train(tt: ModuleType, x_train: Array, y_train: Array, arch: Architecture, recipe: Recipe, *,
          seed: int | None = None, epochs: int | None = None, on_epoch_end: EpochCallback | None = None,
          x_val: Array | None = None, y_val: Array | None = None) -> Trained:
    """Seed tinytorch, build a fresh model and train it with `recipe`; return the run.

    tt: the tinytorch package; x_train: (N, arch.inputs) float32 from `prepare`; y_train: (N,)
    int64. `seed` and `epochs` override the recipe's. Each step, on the batch `schedule` gives:
    logits = model(x); loss = CrossEntropyLoss()(logits, y); loss.item(); zero_grad(); backward();
    step(), with a fresh SGD per phase (`Recipe.phases`). on_epoch_end(epoch, history), x_val
    (M, arch.inputs), y_val (M,): optional progress, as in `Trainer.fit` (epoch from 0; history
    has train_loss, the mean of the epoch's step losses weighted by batch size, and val_loss,
    val_accuracy when x_val is given). The same seed gives the same run.
    """
    tt.manual_seed(recipe.seed if seed is None else seed)
    model = build_model(tt, arch)
    tensors = list(model.parameters())
    loss_fn = tt.CrossEntropyLoss()
    initial = _snapshot(tensors)
    first: list[Array] = []
    tail: deque[list[Array]] = deque([initial], maxlen=TAIL_STEPS + 2)
    losses: list[float] = []
    epoch_states: list[list[Array]] = []
    validating = x_val is not None and y_val is not None
    history: History = {name: [] for name in ("train_loss", "val_loss", "val_accuracy")[:3 if validating else 1]}
    optimizer, epoch_sum, epoch_count = None, 0.0, 0
    for step in schedule(len(x_train), recipe, seed=seed, epochs=epochs):
        if step.fresh:
            optimizer = tt.SGD(tensors, lr=step.lr, momentum=recipe.momentum)
        batch_loss = loss_fn(model(tt.Tensor(x_train[step.rows])), tt.Tensor(y_train[step.rows]))
        value = float(batch_loss.item())
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        state = _snapshot(tensors)
        first = first or state
        tail.append(state)
        if step.last_of_epoch:
            epoch_states.append(state)
        losses.append(value)
        epoch_sum, epoch_count = epoch_sum + value * len(step.rows), epoch_count + len(step.rows)
        if step.last_of_epoch:
            summary = {"train_loss": epoch_sum / epoch_count}
            if validating:
                summary["val_loss"], summary["val_accuracy"] = _validate(tt, model, loss_fn, x_val, y_val)
            for name, figure in summary.items():
                history[name].append(figure)
            epoch_sum, epoch_count = 0.0, 0
            if on_epoch_end:
                on_epoch_end(step.epoch, history)
    trace = Trace(initial, first, list(tail), np.asarray(losses, dtype=np.float64), epoch_states)
    return Trained(model, tensors, trace, history)
