"""Milestone 03 scored on held-out data.

The worker gets only the training split, runs the milestone script's `train(tt, x, y)` with the
student's tinytorch and returns the trained parameters as arrays. The grader computes the final
training loss and the test accuracy with its own NumPy forward pass (`forward.py`) on data the
worker never saw, and checks them against the thresholds in the config.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from grader.config import Config, MilestoneSpec
from grader.engine.forward import Architecture, BadParameters, accuracy, check_parameters, cross_entropy, logits
from grader.core.rows import FAILED, NOT_STARTED, PASSED, Row
from grader.paths import milestone_dir
from grader.sandbox import Limits, run_probe

ARCHITECTURES = {"tinydigits": Architecture(64, 32), "mnist": Architecture(784, 128)}
SCRIPTS = {"tinydigits": "01_rumelhart_tinydigits.py", "mnist": "02_rumelhart_mnist.py"}
TITLES = {"tinydigits": "TinyDigits (8×8)", "mnist": "MNIST (28×28)"}


@dataclass
class MilestoneRun:
    """What one milestone training produced, as measured by the grader."""

    key: str
    status: str                         # "ok" or a ProbeResult status / "bad_parameters" / "data_error"
    message: str = ""
    test_accuracy: Optional[float] = None
    train_loss: Optional[float] = None
    train_seconds: float = 0.0
    metrics: dict = field(default_factory=dict)


def _train_probe(tt, x_train, y_train, pixel_max, script):  # runs in the sandbox
    import importlib
    import sys
    sys.path.insert(0, ".")
    recipe = importlib.import_module(script)
    model = recipe.train(tt, recipe.prepare(x_train, int(pixel_max)), y_train)
    params = list(model.parameters())
    out = {"count": len(params)}
    for i, p in enumerate(params[:8]):
        out[f"p{i}"] = p.data
    return out


def prepare(images: np.ndarray, pixel_max: int) -> np.ndarray:
    """(N, H, W) uint8 -> (N, H*W) float32 in [0, 1]: the milestone scripts' `prepare`."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(pixel_max)


def train_and_measure(impl: Path, key: str, spec: MilestoneSpec, load_data: Callable[[], object],
                      uid_slot: int = 0) -> MilestoneRun:
    """Train milestone `key` in the sandbox with the implementation at `impl` and measure it."""
    try:
        data = load_data()
    except Exception as exc:  # DatasetError and friends: actionable message, no traceback
        return MilestoneRun(key, "data_error", f"{type(exc).__name__}: {exc}")
    script = milestone_dir() / SCRIPTS[key]
    helper = milestone_dir() / "_milestone.py"
    files = {"milestone_recipe.py": script}
    if helper.exists():
        files["_milestone.py"] = helper
    limits = Limits(wall_seconds=spec.time_limit_seconds, memory_bytes=spec.memory_mb * 1024 * 1024)
    start = time.perf_counter()
    result = run_probe(impl, _probe_source(), "_train_probe",
                       {"x_train": data.x_train, "y_train": data.y_train, "pixel_max": int(data.pixel_max),
                        "script": "milestone_recipe"},
                       limits=limits, files=files, uid_slot=uid_slot)
    seconds = time.perf_counter() - start
    if result.status != "ok":
        return MilestoneRun(key, result.status, _probe_failure(result), train_seconds=seconds)
    arch = ARCHITECTURES[key]
    try:
        count = int(result.values.get("count", -1))
        params = [result.values.get(f"p{i}") for i in range(min(max(count, 0), 8))]
        if count != len(params) or any(p is None for p in params):
            raise BadParameters(f"the trained model has {count} parameter tensors, expected {len(arch.shapes)}")
        params = check_parameters(params, arch)
    except (BadParameters, TypeError, ValueError) as exc:
        return MilestoneRun(key, "bad_parameters", str(exc), train_seconds=seconds)
    x_train, x_test = prepare(data.x_train, data.pixel_max), prepare(data.x_test, data.pixel_max)
    run = MilestoneRun(key, "ok", train_seconds=seconds,
                       train_loss=cross_entropy(logits(params, x_train), data.y_train),
                       test_accuracy=accuracy(logits(params, x_test), data.y_test))
    run.metrics = {"test_accuracy": round(run.test_accuracy, 6), "train_loss": round(run.train_loss, 6),
                   "train_seconds": round(seconds, 3), "time_limit_seconds": spec.time_limit_seconds,
                   "min_test_accuracy": spec.min_test_accuracy, "max_train_loss": spec.max_train_loss}
    return run


def _probe_source() -> str:
    import inspect
    return inspect.getsource(_train_probe)


def _probe_failure(result) -> str:
    if result.status == "not_implemented":
        return f"not started: {result.error_message}"
    if result.status in ("raised", "import_error"):
        return f"training raised {result.error_type}: {result.error_message}"
    return result.error_message or result.status


def rows_for(run: MilestoneRun, spec: MilestoneSpec) -> list[Row]:
    """The two criteria rows of one milestone run, each with its measured value and threshold."""
    name = TITLES[run.key]
    acc_title = f"{name}: test accuracy ≥ {spec.min_test_accuracy:.0%}"
    loss_title = f"{name}: final training loss < {spec.max_train_loss:g}"
    common = dict(module="milestone03", source="milestone", seconds=run.train_seconds, metrics=run.metrics)
    if run.status != "ok":
        outcome = NOT_STARTED if run.status == "not_implemented" else FAILED
        return [Row(title=acc_title, outcome=outcome, reason=run.message, points=spec.accuracy_points, **common),
                Row(title=loss_title, outcome=outcome, reason=run.message, points=spec.loss_points, **common)]
    took = f"trained in {run.train_seconds:.1f} s (limit {spec.time_limit_seconds:.0f} s)"
    acc_ok = run.test_accuracy >= spec.min_test_accuracy
    loss_ok = run.train_loss < spec.max_train_loss
    return [
        Row(title=acc_title, outcome=PASSED if acc_ok else FAILED, points=spec.accuracy_points,
            reason=f"measured {run.test_accuracy:.2%} (threshold {spec.min_test_accuracy:.0%}); {took}", **common),
        Row(title=loss_title, outcome=PASSED if loss_ok else FAILED, points=spec.loss_points,
            reason=f"measured {run.train_loss:.4f} (threshold < {spec.max_train_loss:g}); {took}", **common),
    ]


def score_milestone(impl: Path, cfg: Config, loaders: dict[str, Callable[[], object]],
                    uid_slot: int = 0) -> tuple[list[Row], dict[str, MilestoneRun]]:
    """Train and score every milestone dataset in the config; returns rows and the raw runs."""
    rows: list[Row] = []
    runs: dict[str, MilestoneRun] = {}
    for key, spec in cfg.milestone.items():
        run = train_and_measure(impl, key, spec, loaders[key], uid_slot=uid_slot)
        runs[key] = run
        rows.extend(rows_for(run, spec))
    return rows, runs
