"""What a trained Milestone 03 network learned, in figures the grader computes itself.

    learned = collect(trace, params, arch, x_train, y_train, x_test, y_test, test_images)
    learned.test_accuracy            # (epochs + 1,): before training, then after each epoch
    learned.confusion[3, 5]          # test images of a 3 classified as a 5
    pictures.draw(learned, title, folder)

Everything here comes from parameters the grader validated (`measure.check_parameters`: count,
shapes, floating dtype, finite values) and from its own NumPy forward pass (`measure.py`) on
data it holds: the states after each epoch that the training loop recorded in the sandbox, the
trained model `verify.check_run` returned, and the test split the worker never saw. The only
numbers taken as reported are the per-step losses (`loss.item()`, checked finite and of the run's
length; the replay checks the first and last ones). The states after each epoch are not replayed,
so they draw curves and are never scored; when they are missing or malformed, `collect` raises
`NoPictures` saying what is wrong and the milestone's result is unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from grader.milestones.m03.measure import BadParameters, check_parameters, cross_entropy, logits
from grader.milestones.m03.recipe import Architecture, Images, Trace

Array = np.ndarray

MISTAKES_SHOWN = 12         # misclassified test images in the pictures


class NoPictures(ValueError):
    """The run's figures cannot be computed (its recorded states are missing or malformed)."""


@dataclass(frozen=True)
class Learned:
    """The figures behind a run's pictures. Per-epoch arrays have epochs + 1 entries: index 0 is
    the model before training, index e the model after epoch e."""

    train_loss: Array       # (E + 1,) mean cross-entropy over the whole training split
    train_accuracy: Array   # (E + 1,)
    test_loss: Array        # (E + 1,) over the held-out test split
    test_accuracy: Array    # (E + 1,)
    step_losses: Array      # (steps,) loss.item() of every training step, as the loop reported it (NaN
                            # where it was not finite)
    first_layer: Array      # (D, H) W1 of the trained model: column j is hidden unit j's input weights
    side: int               # images are side × side (8 or 28): D == side * side
    confusion: Array        # (C, C) int64: confusion[t, p] = test images of class t predicted as p
    mistakes: Array         # (K,) indices into the test split of misclassified images, K <= MISTAKES_SHOWN
    mistake_images: Array   # (K, side, side) those images, as stored (uint8)
    mistake_labels: Array   # (K,) their true labels
    mistake_predictions: Array  # (K,) what the model predicted

    @property
    def epochs(self) -> int:
        return len(self.train_loss) - 1


def collect(trace: Trace, params: Sequence[Array], arch: Architecture, x_train: Images, y_train: Array,
            x_test: Images, y_test: Array, test_images: Array) -> Learned:
    """The figures of one checked run.

    trace: what the training loop recorded (its `initial` and `epochs` states are validated
    here); params: the trained model `verify.check_run` returned, float64 W1 (D, H), b1 (H,),
    W2 (H, C), b2 (C,); x_train (N, D), x_test (M, D) from `recipe.prepare` (or `Prepared`); y_train (N,),
    y_test (M,) int labels; test_images (M, side, side), the test split as stored. Raises
    NoPictures when the recorded states or losses are missing or malformed.
    """
    side = math.isqrt(arch.inputs)
    if side * side != arch.inputs:
        raise NoPictures(f"the first layer's {arch.inputs} inputs are not a square image")
    if test_images.shape != (len(y_test), side, side):
        raise NoPictures(f"the test images have shape {test_images.shape}, expected ({len(y_test)}, {side}, {side})")
    if not trace.epochs:
        raise NoPictures("the training loop recorded no state after each epoch")
    try:
        states = [check_parameters(trace.initial, arch)]
        states += [check_parameters(state, arch) for state in trace.epochs]
    except BadParameters as exc:
        raise NoPictures(f"a state recorded after an epoch is malformed: {exc}") from None
    losses = np.asarray(trace.losses, dtype=np.float64)
    if losses.ndim != 1:
        raise NoPictures(f"the training steps' losses have shape {losses.shape}, expected (steps,)")
    train = [_loss_and_accuracy(state, x_train, y_train) for state in states]
    test = [_loss_and_accuracy(state, x_test, y_test) for state in states]
    predicted = np.argmax(logits(params, x_test), axis=1)
    confusion = np.zeros((arch.classes, arch.classes), dtype=np.int64)
    np.add.at(confusion, (y_test, predicted), 1)
    wrong = np.flatnonzero(predicted != y_test)[:MISTAKES_SHOWN]
    return Learned(
        train_loss=np.array([t[0] for t in train]), train_accuracy=np.array([t[1] for t in train]),
        test_loss=np.array([t[0] for t in test]), test_accuracy=np.array([t[1] for t in test]),
        step_losses=np.where(np.isfinite(losses), losses, np.nan),
        first_layer=np.array(params[0], dtype=np.float64), side=side,
        confusion=confusion, mistakes=wrong, mistake_images=np.array(test_images[wrong]),
        mistake_labels=np.array(y_test[wrong]), mistake_predictions=predicted[wrong])


def _loss_and_accuracy(params: Sequence[Array], x: Images, labels: Array) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the MLP `params` on (x (N, D), labels (N,))."""
    z = logits(params, x)
    return cross_entropy(z, labels), float(np.mean(np.argmax(z, axis=1) == labels))
