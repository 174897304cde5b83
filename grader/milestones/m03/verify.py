"""Does the trained model follow from the student's forward pass, backward pass and SGD step?

    final = check_run(trace, arch, recipe, x_train, y_train)    # float64 W1, b1, W2, b2
    # or raises BadParameters (NaN, wrong shapes) or StepMismatch:
    # "Milestone 03 · the first training step does not follow from your forward/backward/step:
    #  W1 off by 0.00213 at (12, 4): expected 0.0411342, got 0.0390031 ..."

The trace (`recipe.Trace`) is what the grader's training loop recorded in the sandbox. The
student's code ran in that same process, so nothing in it is trusted: the grader recomputes,
in NumPy and float64, from the recorded states and the batches it chose itself (`schedule`):

- the model before the first step is untrained (at most MAX_INITIAL_ACCURACY of the training
  images right), so the run cannot start from weights trained elsewhere;
- the first step: the loss `loss.item()` gave, and the SGD-with-momentum update (fresh
  momentum: v = gradient) of cross-entropy through Linear-ReLU-Linear, from the initial state;
- the last TAIL_STEPS steps, likewise, from the recorded state before each, with the momentum
  carried in from the step before them (inferred from its update: v = (before - after) / lr).

The trained parameters the grade measures are the last recorded state, so an optimizer that
writes trained weights at the end, or a forward pass that does not compute from `parameters()`,
fails here. Tolerances suit a float32 implementation (about 1e-7 relative error per operation);
a wrong rule is off by orders of magnitude more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from grader.milestones.m03.measure import accuracy, check_parameters, cross_entropy, logits
from grader.milestones.m03.recipe import Architecture, Images, Recipe, Step, Trace, schedule

Array = np.ndarray

NAMES = ("W1", "b1", "W2", "b2")      # the parameters, in `parameters()` order
ATOL, RTOL = 1e-6, 1e-5               # per parameter element, after one step
LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-4     # loss.item() against the grader's cross-entropy
RELU_BAND = 1e-4                      # pre-activations within RELU_BAND * (|x| @ |W1| + |b1|) of 0 may
                                      # round to either side in float32: both ReLU derivatives are accepted
MAX_INITIAL_ACCURACY = 0.5            # a fresh initialisation classifies about 10% of the images
LABEL = "Milestone 03"
HINT = "A difference here usually means a wrong backward rule (Module 06) or SGD.step (Module 07)."


class StepMismatch(ValueError):
    """A recorded training step does not follow from the student's forward, backward and step."""


@dataclass(frozen=True)
class Gradient:
    """The grader's cross-entropy of the MLP on one batch and its gradient."""

    loss: float
    grads: list[Array]      # dL/dW1, dL/db1, dL/dW2, dL/db2, float64
    slack: list[Array]      # per element: how far a float32 implementation may honestly differ (ReLU at 0)


def gradients(params: Sequence[Array], x: Array, labels: Array) -> Gradient:
    """Mean cross-entropy of relu(x @ W1 + b1) @ W2 + b2 on (x: (B, D), labels: (B,)) and its
    gradient with respect to W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), in float64."""
    w1, b1, w2, b2 = params
    x = x.astype(np.float64)
    z1 = x @ w1 + b1                                             # (B, H)
    hidden = np.maximum(z1, 0.0)
    z2 = hidden @ w2 + b2                                        # (B, C)
    probs = np.exp(z2 - z2.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dz2 = probs
    dz2[np.arange(len(labels)), labels] -= 1.0
    dz2 /= len(labels)                                           # dL/dz2, (B, C)
    dh = dz2 @ w2.T                                              # (B, H)
    dz1 = dh * (z1 > 0)                                          # ReLU'(0) = 0
    band = RELU_BAND * (np.abs(x) @ np.abs(w1) + np.abs(b1))
    unsure = np.abs(z1) <= band                                  # either derivative is honest here
    unsure_dh = np.abs(dh) * unsure
    grads = [x.T @ dz1, dz1.sum(axis=0), hidden.T @ dz2, dz2.sum(axis=0)]
    slack = [np.abs(x).T @ unsure_dh, unsure_dh.sum(axis=0), (band * unsure).T @ np.abs(dz2), np.zeros_like(b2)]
    return Gradient(cross_entropy(z2, labels), grads, slack)


def _where(index: tuple[int, ...]) -> str:
    return f"({', '.join(str(int(i)) for i in index)})"


def _compare(what: str, got: Sequence[Array], expected: Sequence[Array], slack: Sequence[Array], detail: str) -> None:
    """StepMismatch naming the parameter and the worst element when `got` is off `expected`."""
    for name, g, e, s in zip(NAMES, got, expected, slack):
        allowed = ATOL + RTOL * np.abs(e) + s
        error = np.abs(g - e)
        if np.all(error <= allowed):
            continue
        index = np.unravel_index(int(np.argmax(error / allowed)), e.shape)
        raise StepMismatch(f"{LABEL} · {what} does not follow from your forward/backward/step: {name} off by "
                           f"{error[index]:.3g} at {_where(index)}: expected {e[index]:.7g}, got {g[index]:.7g} "
                           f"({detail}). {HINT}")


class _Replay:
    """Replays steps of one run on the training set (x, y) and checks each against the trace."""

    def __init__(self, x: Images, y: Array, recipe: Recipe, losses: Array, total: int) -> None:
        self.x, self.y, self.momentum, self.losses, self.total = x, y, recipe.momentum, losses, total
        self.velocity: list[Array] | None = None
        self.velocity_slack: list[Array] = []

    def name(self, step: Step) -> str:
        if step.number == 1:
            return "the first training step"
        if step.number == self.total:
            return f"the last training step (step {step.number} of {self.total})"
        return f"training step {step.number} of {self.total}"

    def check(self, step: Step, before: list[Array], after: list[Array]) -> None:
        """Recompute `step` from the state `before` and compare the loss and the state `after`."""
        g = gradients(before, self.x[step.rows], self.y[step.rows])
        recorded = float(self.losses[step.number - 1])
        images = f"the same {len(step.rows)} images"
        if not abs(recorded - g.loss) <= LOSS_ATOL + LOSS_RTOL * abs(g.loss):
            raise StepMismatch(f"{LABEL} · the loss at {self.name(step)} does not follow from your parameters: "
                               f"loss.item() gave {recorded:.6g}, the grader's mean cross-entropy of your model's "
                               f"parameters() on {images} is {g.loss:.6g}. Check the forward pass (Modules 01-03) "
                               f"and CrossEntropyLoss (Module 04), and that the model computes from parameters().")
        if step.fresh or self.velocity is None:
            self.velocity, self.velocity_slack = g.grads, g.slack
        else:
            self.velocity = [self.momentum * v + d for v, d in zip(self.velocity, g.grads)]
            self.velocity_slack = [self.momentum * v + d for v, d in zip(self.velocity_slack, g.slack)]
        expected = [p - step.lr * v for p, v in zip(before, self.velocity)]
        momentum = "momentum starting at the gradient" if step.fresh else f"momentum {self.momentum:g}"
        _compare(self.name(step), after, expected, [step.lr * s for s in self.velocity_slack],
                 f"the grader's SGD step: lr {step.lr:g}, {momentum}, on {images}, from your parameters before it")

    def carry(self, step: Step, before: list[Array], after: list[Array]) -> None:
        """Take the momentum buffer of `step` from its update, without checking it."""
        self.velocity = [(b - a) / step.lr for b, a in zip(before, after)]
        self.velocity_slack = [np.zeros_like(v) for v in self.velocity]


def check_run(trace: Trace, arch: Architecture, recipe: Recipe, x_train: Images, y_train: Array, *,
              seed: int | None = None, epochs: int | None = None) -> list[Array]:
    """Check `trace` of a run on (x_train (N, D) float32 from `prepare`, or a `Prepared`; y_train
    (N,)) with `recipe` (`seed`, `epochs` as given to `train`); return the trained parameters,
    float64.

    Raises measure.BadParameters for a state with a wrong count, shape or dtype, or NaN (the
    trained model is checked first), and StepMismatch when the run does not follow from the
    student's code.
    """
    final = check_parameters(trace.final, arch)
    initial, first = check_parameters(trace.initial, arch), check_parameters(trace.first, arch)
    tail = [check_parameters(state, arch) for state in trace.tail]
    steps = list(schedule(len(x_train), recipe, seed=seed, epochs=epochs))
    start_accuracy = accuracy(logits(initial, x_train), y_train)
    if start_accuracy > MAX_INITIAL_ACCURACY:
        raise StepMismatch(f"{LABEL} · training does not start from a fresh model: before the first step your "
                           f"parameters already classify {start_accuracy:.1%} of the training images (a fresh "
                           f"Linear initialisation gets about 10%; at most {MAX_INITIAL_ACCURACY:.0%} is accepted)")
    replay = _Replay(x_train, y_train, recipe, trace.losses, len(steps))
    replay.check(steps[0], initial, first)
    before_tail = len(steps) - (len(tail) - 1)          # the step after which tail[0] was recorded
    replay.carry(steps[before_tail], tail[0], tail[1])
    for k in range(2, len(tail)):
        replay.check(steps[before_tail + k - 1], tail[k - 1], tail[k])
    return final
