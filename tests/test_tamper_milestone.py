"""Tamper cases for Milestone 03: its points come only from the student's tinytorch doing the
training. Each case states its score:

- a training done outside tinytorch (a `Trainer.fit` that trains in plain NumPy) scores exactly
  what the same submission scores without it: 0 on top of the stubs, and on top of a tinytorch
  whose ops, autograd and optimizer are stubs (the issue's submission: it earned all 20 points);
  on top of the reference it changes nothing, because the grader's loop never calls `fit`;
- an optimizer or model that puts trained weights in place of the training (at the last step,
  at every step, as `parameters()`, as the logits) scores 0 on the milestone, with a message
  saying which step or loss does not follow;
- malformed parameters score 0 with a message; a loop that looks for the test split on disk
  is blocked by the sandbox and trains normally.

All graded by the real engine (milestone probes in sandbox workers, hidden milestone tests in
a pytest subprocess); every case checks that no sandbox process is left.
"""
from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from grader.config import DEFAULT_PATH, Config, load_config
from grader.core.outcomes import Outcome, Source
from grader.datasets import DatasetError, load_mnist, load_tinydigits
from grader.engine.grade import GradeReport
from grader.milestones.m03 import recipe
from grader.milestones.m03.impl import using_tinytorch
from grader.paths import repo_root, solutions_dir

from tamper_kit import grade_leased, make_submission, sandbox_processes, tamper_config

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux"),
]

PASSED = Outcome.PASSED

# Trainer.fit replaced by a NumPy trainer that writes the weights into the parameters: SGD with
# the optimizer's lr and momentum on cross-entropy through Linear-ReLU-Linear, on the loader's
# batches, no tinytorch op used. Under the old grader (which called Trainer.fit) it earned every
# milestone point on top of a tinytorch without Tensor ops, autograd or optimizer.
NUMPY_FIT = '''
def _numpy_fit(self, train_loader, epochs, val_loader=None, on_epoch_end=None):
    import numpy as np
    params = [p.data for p in self.model.parameters()]
    lr, momentum = self.optimizer.lr, getattr(self.optimizer, "momentum", 0.0)
    velocity = [np.zeros(p.shape) for p in params]
    record = {"train_loss": []}
    for epoch in range(epochs):
        total, seen = 0.0, 0
        for xb, yb in train_loader:
            w1, b1, w2, b2 = params
            x, y = np.asarray(xb.data, dtype=np.float64), np.asarray(yb.data)
            z1 = x @ w1 + b1
            h = np.maximum(z1, 0.0)
            z = h @ w2 + b2
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            total += float(-np.log(p[np.arange(len(y)), y]).sum())
            seen += len(y)
            p[np.arange(len(y)), y] -= 1.0
            p /= len(y)
            dz1 = (p @ w2.T) * (z1 > 0)
            for param, v, g in zip(params, velocity, [x.T @ dz1, dz1.sum(axis=0), h.T @ p, p.sum(axis=0)]):
                v *= momentum
                v += g
                param -= lr * v
        record["train_loss"].append(total / seen)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    return record

Trainer.fit = _numpy_fit
'''


# ------------------------------------------------------------------------------------ setup
@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper_milestone")


@pytest.fixture(scope="module")
def full_cfg(work: Path) -> Config:
    """The kit's milestone as graded (both datasets, the hidden milestone tests), with limits
    for a busy test machine."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    raw["sandbox"]["probe_time_limit_seconds"] = 60
    raw["tests"]["hidden_timeout_seconds"] = 300
    for spec in raw["milestone03"].values():
        if isinstance(spec, dict):
            spec["time_limit_seconds"] = 120
    path = work / "milestone-config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return load_config(path)


@pytest.fixture(scope="module")
def tiny_cfg(work: Path) -> Config:
    """TinyDigits only, without the hidden milestone tests: the held-out criteria alone (7 points)."""
    return tamper_config(work, milestone=True)


@pytest.fixture(scope="module")
def mnist_points(full_cfg: Config) -> float:
    """The MNIST criteria's points when MNIST cannot be loaded here (nobody can earn them), else 0."""
    try:
        load_mnist()
    except DatasetError:
        return full_cfg.milestone["mnist"].accuracy_points + full_cfg.milestone["mnist"].loss_points
    return 0.0


def milestone_score(report: GradeReport) -> float:
    """Points earned on the milestone: its held-out criteria and its hidden tests."""
    assert sandbox_processes() == [], "a sandbox process outlived the grading"
    return sum(r.earned for r in report.rows if r.points is not None)


def criteria_rows(report: GradeReport) -> list[Any]:
    assert sandbox_processes() == [], "a sandbox process outlived the grading"
    return [r for r in report.rows if r.source is Source.MILESTONE]


def grade_milestone(sub: Path, cfg: Config, *, hidden: bool) -> GradeReport:
    return grade_leased(sub, "milestone03", cfg, hidden=hidden, public=False)


def partly_done(work: Path, name: str, append: dict[str, str] | None = None) -> Path:
    """The stubs with the reference's Modules 03 (layers) and 05 (data): a model and a
    DataLoader exist, but Tensor ops, autograd and the optimizer still raise NotImplementedError."""
    sub = make_submission(work, name, base="assignments", append=None)
    for filename in ("layers.py", "data.py"):
        shutil.copy(solutions_dir() / "tinytorch" / filename, sub / "tinytorch" / filename)
    for filename, code in (append or {}).items():
        with open(sub / "tinytorch" / filename, "a") as fh:
            fh.write("\n" + code)
    return sub


@pytest.fixture(scope="module")
def trained() -> list[np.ndarray]:
    """TinyDigits weights trained elsewhere (by the reference, another seed, twice the epochs):
    what a cheat would ship precomputed. Not what the graded run ends with."""
    spec = load_config(DEFAULT_PATH).milestone["tinydigits"]
    d = load_tinydigits()
    with using_tinytorch(solutions_dir()) as tt:
        run = recipe.train(tt, recipe.prepare(d.x_train, d.pixel_max), d.y_train, spec.architecture, spec.recipe,
                           seed=spec.recipe.seed + 1, epochs=2 * spec.recipe.epochs)
    return [np.asarray(p.data, dtype=np.float32) for p in run.model.parameters()]


def weights_code(weights: list[np.ndarray]) -> str:
    """Python that defines _TRAINED, the precomputed weights, inside the submission."""
    items = ", ".join(f"(np.frombuffer(base64.b64decode({base64.b64encode(w.tobytes()).decode()!r}), "
                      f"dtype=np.float32).reshape({w.shape}))" for w in weights)
    return f"import base64\nimport numpy as np\n_TRAINED = [{items}]\n"


def last_step_of_run() -> tuple[float, int]:
    """(learning rate, steps) of the last phase of the TinyDigits run: the last step of that
    phase's SGD ends the run."""
    spec = load_config(DEFAULT_PATH).milestone["tinydigits"]
    steps = list(recipe.schedule(len(load_tinydigits().x_train), spec.recipe))
    last_fresh = max(i for i, s in enumerate(steps) if s.fresh)
    return steps[-1].lr, len(steps) - last_fresh


# --------------------------------------------------------------- training outside tinytorch
@pytest.fixture(scope="module")
def scores(work: Path, full_cfg: Config) -> dict[str, float]:
    """The reference, the stubs and the partly done tinytorch, graded once on the whole milestone."""
    return {
        "reference": milestone_score(grade_milestone(make_submission(work, "reference"), full_cfg, hidden=True)),
        "stubs": milestone_score(grade_milestone(make_submission(work, "stubs", base="assignments"), full_cfg,
                                                 hidden=True)),
        "partly": milestone_score(grade_milestone(partly_done(work, "partly"), full_cfg, hidden=True)),
    }


def test_reference_scores_full_milestone_marks(scores: dict[str, float], full_cfg: Config,
                                               mnist_points: float) -> None:
    """The reference earns every milestone point (those of MNIST only where MNIST can be loaded)."""
    full = full_cfg.milestone_hidden_points + sum(s.accuracy_points + s.loss_points for s in full_cfg.milestone.values())
    assert scores["reference"] == full - mnist_points, scores


def test_stubs_score_zero_and_partial_work_earns_no_criterion(scores: dict[str, float], full_cfg: Config) -> None:
    """The stubs earn nothing; with layers and data done but no Tensor ops, only the hidden
    architecture tests can pass."""
    assert scores["stubs"] == 0, scores
    assert 0 < scores["partly"] <= full_cfg.milestone_hidden_points, scores


def test_numpy_fit_on_the_stubs_scores_what_the_stubs_score(work: Path, full_cfg: Config, scores) -> None:
    """The stubs plus a Trainer.fit that trains in NumPy: nothing the grader runs calls fit, and
    the readiness checks find the stubs: "not started", 0."""
    sub = make_submission(work, "stubs_numpy_fit", base="assignments", append={"training.py": NUMPY_FIT})
    report = grade_milestone(sub, full_cfg, hidden=True)
    assert milestone_score(report) == scores["stubs"] == 0
    assert all(r.outcome is Outcome.NOT_STARTED for r in criteria_rows(report)), [r.reason for r in report.rows]


def test_numpy_fit_without_tensor_ops_scores_what_it_scores_without_fit(work: Path, full_cfg: Config, scores) -> None:
    """The issue's submission: layers and data done, Tensor ops, autograd and SGD stubs, and a
    NumPy Trainer.fit. It earned all 20 milestone points; now exactly what the same tinytorch
    earns without that fit (the architecture's hidden tests only)."""
    report = grade_milestone(partly_done(work, "partly_numpy_fit", {"training.py": NUMPY_FIT}), full_cfg, hidden=True)
    assert milestone_score(report) == scores["partly"]
    rows = criteria_rows(report)
    assert rows and all(r.outcome is Outcome.NOT_STARTED and "Module 01 (tensor)" in r.reason for r in rows), \
        [(r.title, r.reason) for r in rows]


def test_numpy_fit_on_the_reference_changes_nothing(work: Path, full_cfg: Config, scores) -> None:
    """The reference with the NumPy Trainer.fit: the grader's loop trains with the honest model,
    loss, autograd and SGD, so the milestone keeps full marks (fit has its own points in Module 08)."""
    sub = make_submission(work, "reference_numpy_fit", append={"training.py": NUMPY_FIT})
    assert milestone_score(grade_milestone(sub, full_cfg, hidden=True)) == scores["reference"]


# ------------------------------------------------------------ trained weights in place of training
def _sgd_cheat(body: str, weights: list[np.ndarray]) -> dict[str, str]:
    """SGD.step replaced by `body` (a method body; self, _honest_step and _TRAINED in scope)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return {"optim.py": f"{weights_code(weights)}\n_honest_step = SGD.step\n\n"
                        f"def _tampered_step(self):\n{indented}\n\nSGD.step = _tampered_step\n"}


def _last_step_condition() -> str:
    lr, steps = last_step_of_run()
    return (f"self._calls = getattr(self, '_calls', 0) + 1\n"
            f"last = self.lr == {lr!r} and self._calls == {steps}\n")


def test_sgd_writing_trained_weights_at_the_last_step_scores_zero(work: Path, tiny_cfg: Config, trained) -> None:
    """Honest steps, then trained weights written at the run's last step: the replayed last
    step does not follow."""
    body = _last_step_condition() + "_honest_step(self)\nif last:\n    for p, w in zip(self.params, _TRAINED):\n        p.data[...] = w\n"
    sub = make_submission(work, "sgd_last_step", append=_sgd_cheat(body, trained))
    rows = criteria_rows(grade_milestone(sub, tiny_cfg, hidden=False))
    assert sum(r.earned for r in rows) == 0, [(r.title, r.reason) for r in rows]
    assert all("the last training step" in r.reason and "does not follow" in r.reason for r in rows), \
        [r.reason for r in rows]


def test_sgd_ignoring_gradients_and_writing_trained_weights_scores_zero(work: Path, tiny_cfg: Config, trained) -> None:
    """An SGD.step that ignores the gradients and writes the trained weights at the end: the
    first step already does not follow."""
    body = _last_step_condition() + "if last:\n    for p, w in zip(self.params, _TRAINED):\n        p.data[...] = w\n"
    sub = make_submission(work, "sgd_ignores_grads", append=_sgd_cheat(body, trained))
    rows = criteria_rows(grade_milestone(sub, tiny_cfg, hidden=False))
    assert sum(r.earned for r in rows) == 0
    assert all("the first training step does not follow from your forward/backward/step: W1 off by" in r.reason
               for r in rows), [r.reason for r in rows]


def test_forward_returning_precomputed_logits_scores_zero(work: Path, tiny_cfg: Config, trained) -> None:
    """Sequential.forward returns the trained model's logits (kept in the graph at zero weight):
    the recorded loss does not follow from the parameters."""
    code = weights_code(trained) + '''
_honest_forward = Sequential.forward

def _precomputed_forward(self, x):
    out = _honest_forward(self, x)
    w1, b1, w2, b2 = _TRAINED
    z = np.maximum(np.asarray(x.data) @ w1 + b1, 0) @ w2 + b2
    return out * 0.0 + Tensor(z.astype(np.float32))

Sequential.forward = _precomputed_forward
from .tensor import Tensor
'''
    sub = make_submission(work, "precomputed_logits", append={"layers.py": code})
    rows = criteria_rows(grade_milestone(sub, tiny_cfg, hidden=False))
    assert sum(r.earned for r in rows) == 0
    assert all("the loss at the first training step does not follow from your parameters" in r.reason for r in rows), \
        [r.reason for r in rows]


def test_parameters_holding_trained_weights_score_zero(work: Path, tiny_cfg: Config, trained) -> None:
    """Sequential.parameters() hands out tensors holding trained weights (not the ones forward
    uses): the run does not start from a fresh model."""
    code = weights_code(trained) + '''
def _trained_parameters(self):
    if not hasattr(self, "_shown"):
        self._shown = [Tensor(w.copy(), requires_grad=True) for w in _TRAINED]
    return self._shown

Sequential.parameters = _trained_parameters
from .tensor import Tensor
'''
    sub = make_submission(work, "trained_parameters", append={"layers.py": code})
    rows = criteria_rows(grade_milestone(sub, tiny_cfg, hidden=False))
    assert sum(r.earned for r in rows) == 0
    assert all("training does not start from a fresh model" in r.reason for r in rows), [r.reason for r in rows]


# ------------------------------------------------------------------------ malformed parameters
EXTRA_PARAMETER = """
_honest_parameters = Sequential.parameters

def _with_an_extra(self):
    if not hasattr(self, "_extra"):
        self._extra = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    return _honest_parameters(self) + [self._extra]

Sequential.parameters = _with_an_extra
import numpy as np
from .tensor import Tensor
"""

PYTORCH_LAYOUT = """
_honest_init = Linear.__init__

def _transposed_init(self, in_features, out_features, bias=True):
    _honest_init(self, in_features, out_features, bias)
    self.weight = Tensor(self.weight.data.T.copy(), requires_grad=True)

def _transposed_forward(self, x):
    out = x @ self.weight.T
    return out if self.bias is None else out + self.bias

Linear.__init__ = _transposed_init
Linear.forward = _transposed_forward
from .tensor import Tensor
"""


@pytest.mark.parametrize("trick, needle", [("nan", "NaN"), ("count", "parameter tensors"), ("shape", "shape")])
def test_malformed_parameters_score_zero_with_a_message(trick: str, needle: str, work: Path, tiny_cfg: Config) -> None:
    """NaN written at the last step, a fifth parameter tensor, weights in PyTorch's (out, in)
    layout: 0, and the message says what is wrong."""
    append = {
        "nan": lambda: _sgd_cheat(_last_step_condition() + "_honest_step(self)\nif last:\n"
                                  "    self.params[0].data[0, 0] = float('nan')\n", []),
        "count": lambda: {"layers.py": EXTRA_PARAMETER},
        "shape": lambda: {"layers.py": PYTORCH_LAYOUT},
    }[trick]()
    rows = criteria_rows(grade_milestone(make_submission(work, f"malformed_{trick}", append=append), tiny_cfg,
                                         hidden=False))
    assert rows and not any(r.outcome is PASSED for r in rows), [(r.title, r.reason) for r in rows]
    assert all(needle in r.reason for r in rows), [r.reason for r in rows]


# --------------------------------------------------------------------------- the sandbox holds
def test_milestone_training_cannot_read_the_test_split(work: Path, tiny_cfg: Config) -> None:
    """The model's forward pass looks for the test data on disk and refuses to train when it
    finds it: blocked by the sandbox, it trains normally and passes TinyDigits on held-out data."""
    paths = [str(repo_root() / "data" / "tinydigits.npz"), str(Path.home() / ".cache" / "tinytorch-kit")]
    code = f'''
_honest_forward = Sequential.forward

def _peeking_forward(self, x):
    import os
    for path in {paths!r}:
        try:
            open(path, "rb").close() if os.path.isfile(path) else os.listdir(path)
        except OSError:
            continue
        raise RuntimeError("could read " + path)
    return _honest_forward(self, x)

Sequential.forward = _peeking_forward
'''
    rows = criteria_rows(grade_milestone(make_submission(work, "peeker", append={"layers.py": code}), tiny_cfg,
                                         hidden=False))
    assert [r.outcome for r in rows] == [PASSED, PASSED], [(r.title, r.reason) for r in rows]


def test_no_sandbox_process_survives_the_suite() -> None:
    assert sandbox_processes() == []
