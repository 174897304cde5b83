"""Milestone 03 scored on held-out data: what `grader check milestone03` measures.

    run = train_and_measure(impl, spec, load_tinydigits)
    run.status, run.test_accuracy, run.train_loss, run.train_seconds

The sandbox worker gets only the training split and the recipe module (`recipe.py`, copied
from this package, never from the student's folder), trains with the student's tinytorch and
returns the trained parameters as arrays. The grader validates them and computes the final
training loss and the test accuracy with its own NumPy forward pass (`measure.py`) on data the
worker never saw. The training time is the worker's own wall time from start to exit
(`ProbeResult.seconds`): waiting for a free sandbox slot is not counted.

When training stops at a NotImplementedError, a second, short probe runs the readiness checks
(`readiness.py`) in the sandbox, so the reason lists every missing piece per module.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.config import Config, MilestoneSpec
from grader.milestones.m03 import measure, readiness, recipe
from grader.sandbox import Limits, ProbeResult, run_probe

RECIPE_FILE = "m03_recipe.py"          # the names the probes import in the worker's folder
READINESS_FILE = "m03_readiness.py"
MAX_PARAMETERS = 8                     # tensors taken back from the worker; the model has 4
MAX_PROBLEMS = 40                      # readiness problems shown; the checks report at most 12


@dataclass
class MilestoneRun:
    """What one milestone training produced, as measured by the grader."""

    key: str
    status: str                         # "ok" or a ProbeResult status / "bad_parameters" / "data_error"
    message: str = ""
    test_accuracy: float | None = None
    train_loss: float | None = None
    train_seconds: float = 0.0          # the worker's wall time, start to exit
    metrics: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ probes (run in the worker)
# Only each probe's own source crosses into the worker, beside RECIPE_FILE and READINESS_FILE:
# a probe refers to nothing else of this file (hence the literal 8 for MAX_PARAMETERS).
def train_probe(tt, x_train, y_train, pixel_max, architecture, recipe):
    import sys
    sys.path.insert(0, ".")
    import m03_recipe as m
    model = m.train(tt, m.prepare(x_train, int(pixel_max)), y_train,
                    m.Architecture(**architecture), m.Recipe(**recipe))
    params = list(model.parameters())
    out = {"count": len(params)}
    for i, p in enumerate(params[:8]):
        out[f"p{i}"] = p.data
    return out


def readiness_probe(tt, names):
    import sys
    sys.path.insert(0, ".")
    import m03_readiness
    return {"problems": [p.as_dict() for p in m03_readiness.readiness_problems(tt, names)]}


def _source(fn: Callable[..., Any]) -> str:
    return inspect.getsource(fn)


def _files() -> dict[str, Path]:
    return {RECIPE_FILE: Path(recipe.__file__), READINESS_FILE: Path(readiness.__file__)}


# ------------------------------------------------------------------------- the grader's side
def train_and_measure(impl: Path, spec: MilestoneSpec, load_data: Callable[[], Any], *,
                      uid_slot: int | None = None) -> MilestoneRun:
    """Train milestone `spec.key` in the sandbox with the implementation at `impl` and measure it.

    load_data() -> grader.datasets.Digits. A NotImplementedError in training gives status
    "not_implemented" with the stub's message (`run_milestones` adds the full list).
    """
    try:
        data = load_data()
    except Exception as exc:  # DatasetError and friends: actionable message, no traceback
        return MilestoneRun(spec.key, "data_error", f"{type(exc).__name__}: {exc}")
    limits = Limits(wall_seconds=spec.time_limit_seconds, memory_bytes=spec.memory_mb * 1024 * 1024)
    result = run_probe(impl, _source(train_probe), "train_probe",
                       {"x_train": data.x_train, "y_train": data.y_train, "pixel_max": int(data.pixel_max),
                        "architecture": spec.architecture.as_dict(), "recipe": spec.recipe.as_dict()},
                       limits=limits, files=_files(), uid_slot=uid_slot)
    seconds = result.seconds
    if result.status != "ok":
        return MilestoneRun(spec.key, result.status, _probe_failure(result), train_seconds=seconds)
    try:
        params = measure.check_parameters(_returned_parameters(result.values, spec), spec.architecture)
    except (measure.BadParameters, TypeError, ValueError) as exc:
        return MilestoneRun(spec.key, "bad_parameters", str(exc), train_seconds=seconds)
    m = measure.measure(params, recipe.prepare(data.x_train, data.pixel_max), data.y_train,
                        recipe.prepare(data.x_test, data.pixel_max), data.y_test)
    run = MilestoneRun(spec.key, "ok", train_seconds=seconds, train_loss=m.train_loss, test_accuracy=m.test_accuracy)
    run.metrics = {"test_accuracy": round(m.test_accuracy, 6), "train_loss": round(m.train_loss, 6),
                   "train_seconds": round(seconds, 3), "time_limit_seconds": spec.time_limit_seconds,
                   "min_test_accuracy": spec.min_test_accuracy, "max_train_loss": spec.max_train_loss}
    return run


def _returned_parameters(values: dict[str, Any], spec: MilestoneSpec) -> list[Any]:
    """The arrays p0, p1, ... the worker returned; BadParameters when their count does not add up."""
    count = values.get("count", -1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise measure.BadParameters(f"the worker reported a parameter count of {count!r}")
    params = [values.get(f"p{i}") for i in range(min(max(count, 0), MAX_PARAMETERS))]
    if count != len(params) or any(p is None for p in params):
        raise measure.BadParameters(f"the trained model has {count} parameter tensors, "
                                    f"expected {len(spec.architecture.shapes)} ({spec.architecture.describe()})")
    return params


def missing_pieces(impl: Path, names: readiness.ModuleNames, *, uid_slot: int | None = None,
                   limits: Limits | None = None) -> str:
    """The readiness problems of `impl`, checked in the sandbox, as one line grouped by module
    ('Module 01 (tensor): add forward; Module 03 (layers): Linear init'); "" when the checks
    find nothing or cannot run."""
    result = run_probe(impl, _source(readiness_probe), "readiness_probe", {"names": dict(names)},
                       limits=limits or Limits(wall_seconds=30, memory_bytes=1024 ** 3), files=_files(),
                       uid_slot=uid_slot)
    if result.status != "ok":
        return ""
    problems = _problems_from(result.values.get("problems"))
    return readiness.summary(problems, names)


def _problems_from(raw: Any) -> list[readiness.Problem]:
    """Rebuild Problems from the worker's plain data, keeping only well-formed entries (they
    only word a message; nothing is scored from them)."""
    problems = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        module, missing, text = item.get("module"), item.get("missing"), item.get("text")
        if isinstance(module, str) and isinstance(missing, bool) and isinstance(text, str):
            problems.append(readiness.Problem(module[:8], missing, text[:300]))
    return problems[:MAX_PROBLEMS]


def _probe_failure(result: ProbeResult) -> str:
    if result.status == "not_implemented":
        return f"not started: {result.error_message}"
    if result.status in ("raised", "import_error"):
        return f"training raised {result.error_type}: {result.error_message}"
    return result.error_message or result.status


def run_milestones(impl: Path, cfg: Config, loaders: dict[str, Callable[[], Any]],
                   uid_slot: int | None = None) -> dict[str, MilestoneRun]:
    """Train and measure every milestone dataset in the config, in order. Runs that were not
    started say what is missing, per module (checked once, in the sandbox)."""
    runs = {key: train_and_measure(impl, spec, loaders[key], uid_slot=uid_slot) for key, spec in cfg.milestone.items()}
    if any(run.status == "not_implemented" for run in runs.values()):
        sb = cfg.sandbox
        missing = missing_pieces(impl, {num: m.name for num, m in cfg.modules.items()}, uid_slot=uid_slot,
                                 limits=Limits(wall_seconds=sb.probe_time_limit_seconds,
                                               memory_bytes=sb.probe_memory_mb * 1024 * 1024))
        for run in runs.values():
            if run.status == "not_implemented" and missing:
                run.message = f"not started: {missing}"
    return runs
