"""Milestone 03 scored on held-out data: what `grader check milestone03` measures.

    run = train_and_measure(impl, spec, load_tinydigits)
    run.status, run.test_accuracy, run.train_loss, run.train_seconds

The sandbox worker gets only the training split and the grader's own files (`recipe.py`,
`readiness.py`, copied from this package, never from the student's folder). It runs the
readiness checks, then the grader's training loop, which calls the student's forward pass,
loss, backward and SGD step, and returns what the loop recorded (`recipe.Trace`). The grader
checks that the run follows from the student's code by replaying its first and last steps in
NumPy (`verify.py`), then computes the final training loss and the test accuracy of the last
recorded state with its own NumPy forward pass (`measure.py`) on data the worker never saw.
The training time is the worker's own wall time from start to exit (`ProbeResult.seconds`):
waiting for a free sandbox slot is not counted.

The loop also records the model after each epoch; a measured run's pictures (`pictures.py`:
loss and accuracy per epoch, the first layer's features, the confusion matrix, mistakes) are
drawn from those states with the same NumPy forward pass, after they pass the same checks as
the trained model. They are never scored, and a picture that cannot be drawn only says why.

A tinytorch with a piece still missing (a NotImplementedError in the readiness checks) is not
trained: the run is "not started", listing every missing piece per module.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from grader.config import Config, MilestoneSpec, load_config
from grader.milestones.m03 import measure, pictures, readiness, recipe, verify
from grader.sandbox import Limits, ProbeResult, run_probe

RECIPE_FILE = "m03_recipe.py"          # the names the probe imports in the worker's folder
READINESS_FILE = "m03_readiness.py"
MAX_PARAMETERS = 8                     # tensors taken back from the worker; the model has 4
MAX_PROBLEMS = 40                      # readiness problems shown; the checks report at most 12


@dataclass
class MilestoneRun:
    """What one milestone training produced, as measured by the grader."""

    key: str
    status: str                         # "ok", a ProbeResult status, "bad_parameters", "inconsistent"
                                        # (the run does not follow from the student's code) or "data_error"
    message: str = ""
    test_accuracy: float | None = None
    train_loss: float | None = None
    train_seconds: float = 0.0          # the worker's wall time, start to exit
    metrics: dict[str, Any] = field(default_factory=dict)
    pictures: str = ""                  # one line: where the run's pictures are, how to get them, or why
                                        # they could not be drawn ("" when none were asked for)
    picture_paths: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------ probes (run in the worker)
# Only each probe's own source crosses into the worker, beside RECIPE_FILE and READINESS_FILE:
# a probe refers to nothing else of this file (hence the literal 8 for MAX_PARAMETERS).
def train_probe(tt, x_train, y_train, pixel_max, architecture, recipe, names):
    import sys
    sys.path.insert(0, ".")
    import m03_readiness
    import m03_recipe as m
    problems = m03_readiness.readiness_problems(tt, names)
    if any(p.missing for p in problems):
        return {"problems": [p.as_dict() for p in problems]}
    run = m.train(tt, m.prepare(x_train, int(pixel_max)), y_train, m.Architecture(**architecture), m.Recipe(**recipe))
    return run.trace.as_values(limit=8)


def _source(fn: Callable[..., Any]) -> str:
    return inspect.getsource(fn)


def _files() -> dict[str, Path]:
    return {RECIPE_FILE: Path(recipe.__file__), READINESS_FILE: Path(readiness.__file__)}


# ------------------------------------------------------------------------- the grader's side
def train_and_measure(impl: Path, spec: MilestoneSpec, load_data: Callable[[], Any], *,
                      names: readiness.ModuleNames | None = None, uid_slot: int | None = None,
                      pictures_dir: Path | Literal["auto"] | None = "auto") -> MilestoneRun:
    """Train milestone `spec.key` in the sandbox with the implementation at `impl`, check that
    the run follows from the student's code (verify.py) and measure it.

    load_data() -> grader.datasets.Digits; names: {"01": "tensor", ...} (default: the kit's
    config). A tinytorch with a piece still missing is "not_implemented", its message listing
    every missing piece per module; a run that does not follow from the student's forward,
    backward and step is "inconsistent". pictures_dir: draw a measured run's pictures into
    pictures_dir/<key>/ (pictures.py; `run.pictures` says where, or why not; never changes the
    result); "auto": `pictures.folder_for(impl)`, the kit's milestone folder for its own
    assignments/ and solutions/ only; None: no pictures.
    """
    names = names if names is not None else {num: m.name for num, m in load_config().modules.items()}
    try:
        data = load_data()
    except Exception as exc:  # DatasetError and friends: actionable message, no traceback
        return MilestoneRun(spec.key, "data_error", f"{type(exc).__name__}: {exc}")
    limits = Limits(wall_seconds=spec.time_limit_seconds, memory_bytes=spec.memory_mb * 1024 * 1024)
    result = run_probe(impl, _source(train_probe), "train_probe",
                       {"x_train": data.x_train, "y_train": data.y_train, "pixel_max": int(data.pixel_max),
                        "architecture": spec.architecture.as_dict(), "recipe": spec.recipe.as_dict(),
                        "names": dict(names)},
                       limits=limits, files=_files(), uid_slot=uid_slot)
    seconds = result.seconds
    if result.status != "ok":
        return MilestoneRun(spec.key, result.status, _probe_failure(result), train_seconds=seconds)
    if "problems" in result.values:
        missing = readiness.summary(_problems_from(result.values["problems"]), names) or "a TODO"
        return MilestoneRun(spec.key, "not_implemented", f"not started: {missing}", train_seconds=seconds)
    x_train = recipe.Prepared(data.x_train, data.pixel_max)     # prepared batch by batch, as the checks read it
    try:
        steps = sum(1 for _ in recipe.schedule(len(x_train), spec.recipe))
        trace = recipe.Trace.from_values(result.values, parameters=len(spec.architecture.shapes), steps=steps)
        params = verify.check_run(trace, spec.architecture, spec.recipe, x_train, data.y_train)
    except verify.StepMismatch as exc:
        return MilestoneRun(spec.key, "inconsistent", str(exc), train_seconds=seconds)
    except (measure.BadParameters, TypeError, ValueError) as exc:
        return MilestoneRun(spec.key, "bad_parameters", _parameter_problem(exc, spec), train_seconds=seconds)
    x_test = recipe.prepare(data.x_test, data.pixel_max)
    m = measure.measure(params, x_train, data.y_train, x_test, data.y_test)
    run = MilestoneRun(spec.key, "ok", train_seconds=seconds, train_loss=m.train_loss, test_accuracy=m.test_accuracy)
    run.metrics = {"test_accuracy": round(m.test_accuracy, 6), "train_loss": round(m.train_loss, 6),
                   "train_seconds": round(seconds, 3), "time_limit_seconds": spec.time_limit_seconds,
                   "min_test_accuracy": spec.min_test_accuracy, "max_train_loss": spec.max_train_loss}
    if pictures_dir == "auto":
        pictures_dir = pictures.folder_for(impl)
    if pictures_dir is not None:
        outcome = pictures.save_run(trace, params, spec.architecture, spec.title, x_train, data.y_train,
                                    x_test, data.y_test, data.x_test, pictures_dir / spec.key)
        run.pictures, run.picture_paths = outcome.line(), outcome.paths
    return run


def _parameter_problem(exc: Exception, spec: MilestoneSpec) -> str:
    """The message of a malformed trace, naming the architecture when the count is off."""
    text = str(exc)
    if "parameter tensors" in text:
        return f"{text} ({spec.architecture.describe()})"
    return text


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


def run_milestones(impl: Path, cfg: Config, loaders: dict[str, Callable[[], Any]], uid_slot: int | None = None,
                   pictures_dir: Path | Literal["auto"] | None = "auto") -> dict[str, MilestoneRun]:
    """Train, check and measure every milestone dataset in the config, in order; draw each
    measured run's pictures into pictures_dir/<key>/ ("auto": `pictures.folder_for(impl)`, the
    kit's milestone folder for its own assignments/ and solutions/ only; None: none). Without
    matplotlib, only the first run says how to get them."""
    names = {num: m.name for num, m in cfg.modules.items()}
    runs = {key: train_and_measure(impl, spec, loaders[key], names=names, uid_slot=uid_slot, pictures_dir=pictures_dir)
            for key, spec in cfg.milestone.items()}
    hints = [run for run in runs.values() if run.pictures == pictures.INSTALL_HINT]
    for run in hints[1:]:
        run.pictures = ""
    return runs
