"""The kit's single configuration: points, thresholds and limits, read from `config.yaml`.

    cfg = load_config()                       # the packaged grader/config.yaml
    cfg.modules["06"].points                  # 14
    cfg.milestone["mnist"].min_test_accuracy  # 0.94
    cfg.milestone["mnist"].architecture       # Architecture(inputs=784, hidden=128, classes=10)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from grader.milestones.m03.recipe import Architecture, Recipe

if TYPE_CHECKING:
    from grader.core.course import Course

DEFAULT_PATH = Path(__file__).with_name("config.yaml")
ENV_VAR = "TINYTORCH_GRADER_CONFIG"


class ConfigError(ValueError):
    """The config file is missing a key or has a value of the wrong kind."""


@dataclass(frozen=True)
class ModuleSpec:
    number: str          # "01"
    name: str            # "tensor" (also the file name tinytorch/<name>.py)
    title: str           # "Tensor"
    points: float
    requires: tuple[str, ...] = ()   # prerequisite modules (see config.yaml)


@dataclass(frozen=True)
class MilestoneSpec:
    key: str             # "tinydigits" | "mnist"
    accuracy_points: float
    loss_points: float
    min_test_accuracy: float
    max_train_loss: float
    time_limit_seconds: float
    memory_mb: int
    title: str           # "TinyDigits (8×8)": rows, the scripts' output and --help
    script: str          # "01_rumelhart_tinydigits.py", in assignments/milestones/03_1986_mlp/
    architecture: Architecture
    recipe: Recipe


@dataclass(frozen=True)
class SandboxSpec:
    probe_time_limit_seconds: float
    probe_memory_mb: int
    file_size_mb: int
    processes: int
    fork_server: bool = True    # workers fork from a pre-started zygote (grader/sandbox/zygote.py)


@dataclass(frozen=True)
class StudentCheckSpec:
    """Limits of a student's own check (`grader check` without --hidden on assignments/)."""
    test_seconds: float                 # one public test
    repeat_test_seconds: float          # one public test, once two timed out at the same line
    session_seconds: float              # no public test starts after this
    stall_seconds: float                # no new result for this long: the session is killed
    kill_grace_seconds: float           # past the last test's limit, before the session is killed
    memory_mb: int                      # address space of the public-test process (Linux only)
    milestone_seconds: dict[str, float] # dataset key -> its training limit in a student's check

    def milestone_limit(self, spec: "MilestoneSpec") -> float:
        """The training limit of dataset `spec` in a student's check (never above the graded one)."""
        return min(spec.time_limit_seconds, self.milestone_seconds.get(spec.key, spec.time_limit_seconds))


@dataclass(frozen=True)
class Config:
    path: Path
    modules: dict[str, ModuleSpec]
    milestone: dict[str, MilestoneSpec]
    milestone_hidden_points: float
    sandbox: SandboxSpec
    public_timeout_seconds: float
    hidden_timeout_seconds: float
    public_session_seconds: float
    hidden_session_seconds: float
    student_check: StudentCheckSpec

    @property
    def course(self) -> "Course":
        """The modules and their prerequisite graph, as the plain data the plugin and report use."""
        from grader.core.course import Course, ModuleInfo
        return Course({n: ModuleInfo(n, m.name, m.title, m.points, m.requires) for n, m in self.modules.items()},
                      tuple(self.modules))

    @property
    def total_points(self) -> float:
        return (sum(m.points for m in self.modules.values()) + self.milestone_hidden_points
                + sum(m.accuracy_points + m.loss_points for m in self.milestone.values()))


def _section(raw: dict[str, Any], key: str, path: Path) -> Any:
    if key not in raw:
        raise ConfigError(f"{path}: missing section '{key}'")
    return raw[key]


def load_config(path: Path | None = None) -> Config:
    """Read the config from `path`, else $TINYTORCH_GRADER_CONFIG, else the packaged default."""
    path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read grader config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"grader config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"grader config {path}: expected a mapping at the top level")
    try:
        modules = {
            str(num).zfill(2): ModuleSpec(str(num).zfill(2), str(m["name"]), str(m["title"]), float(m["points"]),
                                          tuple(str(r).zfill(2) for r in m.get("requires", ())))
            for num, m in _section(raw, "modules", path).items()
        }
        milestone = {key: _milestone_spec(str(key), m, path)
                     for key, m in _section(raw, "milestone03", path).items() if isinstance(m, dict)}
        milestone_hidden = float(_section(raw, "milestone03", path).get("hidden_tests_points", 0))
        sb = _section(raw, "sandbox", path)
        sandbox = SandboxSpec(float(sb["probe_time_limit_seconds"]), int(sb["probe_memory_mb"]),
                              int(sb["file_size_mb"]), int(sb["processes"]),
                              bool(sb.get("fork_server", True)))
        tests = _section(raw, "tests", path)
        student = _student_check(_section(raw, "student_check", path), milestone, path)
        return Config(path, modules, milestone, milestone_hidden, sandbox,
                      float(tests["public_timeout_seconds"]), float(tests["hidden_timeout_seconds"]),
                      float(tests["public_session_seconds"]), float(tests["hidden_session_seconds"]), student)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"grader config {path}: bad or missing entry ({exc!r})") from None


def _student_check(raw: Any, milestone: dict[str, MilestoneSpec], path: Path) -> StudentCheckSpec:
    """The `student_check:` section, every entry checked with a message naming it."""
    where = "student_check"
    if not isinstance(raw, dict):
        raise ConfigError(f"grader config {path}: {where} must be a mapping (test_seconds, session_seconds, ...)")
    limits = _entry(raw, "milestone_seconds", where, path, "milestone_seconds: {tinydigits: 40}")
    if not isinstance(limits, dict) or any(key not in milestone for key in limits):
        raise ConfigError(f"grader config {path}: {where}.milestone_seconds must map milestone03 datasets "
                          f"({', '.join(milestone)}) to seconds, got {limits!r}")
    test_seconds = _number(raw, "test_seconds", where, path, low=1.0)
    stall_seconds = _number(raw, "stall_seconds", where, path, low=1.0)
    if stall_seconds <= test_seconds + 1:
        raise ConfigError(f"grader config {path}: {where}.stall_seconds ({stall_seconds:g}) must exceed test_seconds "
                          f"({test_seconds:g}) by more than a second, or a test at its limit would stop the session")
    return StudentCheckSpec(
        test_seconds=test_seconds,
        repeat_test_seconds=_number(raw, "repeat_test_seconds", where, path, low=0.5, high=test_seconds),
        session_seconds=_number(raw, "session_seconds", where, path, low=1.0),
        stall_seconds=stall_seconds,
        kill_grace_seconds=_number(raw, "kill_grace_seconds", where, path, low=1.0),
        memory_mb=_number(raw, "memory_mb", where, path, low=256, integer=True),
        milestone_seconds={str(key): _number(limits, key, f"{where}.milestone_seconds", path, low=1.0)
                           for key in limits})


_SCRIPT_NAME = re.compile(r"[A-Za-z0-9_]+\.py")
_ARCHITECTURE_EXAMPLE = "architecture: {inputs: 64, hidden: 32, classes: 10}"
_RECIPE_EXAMPLE = "recipe: {lr: 0.1, final_lr: 0.01, momentum: 0.9, batch_size: 32, epochs: 10, seed: 1986}"


def _entry(raw: dict[str, Any], key: str, where: str, path: Path, example: str = "") -> Any:
    if key not in raw:
        hint = f" (for example {example})" if example else ""
        raise ConfigError(f"grader config {path}: {where} has no '{key}'{hint}")
    return raw[key]


def _number(raw: dict[str, Any], key: str, where: str, path: Path, *, low: float = 0.0, high: float = float("inf"),
            integer: bool = False, example: str = "") -> Any:
    """raw[key] as a float (or an int) with low <= value <= high; ConfigError naming it otherwise."""
    value = _entry(raw, key, where, path, example)
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not low <= value <= high:
        bounds = f" in [{low:g}, {high:g}]" if high != float("inf") else f" >= {low:g}"
        raise ConfigError(f"grader config {path}: {where}.{key} must be {kind}{bounds}, got {value!r}")
    return int(value) if integer else float(value)


def _milestone_spec(key: str, m: dict[str, Any], path: Path) -> MilestoneSpec:
    """One dataset of the `milestone03:` section, every entry checked with a message naming it."""
    where = f"milestone03.{key}"
    title = _entry(m, "title", where, path, "title: TinyDigits (8×8)")
    script = _entry(m, "script", where, path, "script: 01_rumelhart_tinydigits.py")
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"grader config {path}: {where}.title must be a non-empty string, got {title!r}")
    if not isinstance(script, str) or not _SCRIPT_NAME.fullmatch(script):
        raise ConfigError(f"grader config {path}: {where}.script must be a plain file name ending in .py "
                          f"(the script in assignments/milestones/03_1986_mlp/), got {script!r}")
    arch = _entry(m, "architecture", where, path, _ARCHITECTURE_EXAMPLE)
    recipe = _entry(m, "recipe", where, path, _RECIPE_EXAMPLE)
    for name, value, example in (("architecture", arch, _ARCHITECTURE_EXAMPLE), ("recipe", recipe, _RECIPE_EXAMPLE)):
        if not isinstance(value, dict):
            raise ConfigError(f"grader config {path}: {where}.{name} must be a mapping like {example}, got {value!r}")
    a, r = f"{where}.architecture", f"{where}.recipe"
    return MilestoneSpec(
        key=key,
        accuracy_points=_number(m, "accuracy_points", where, path),
        loss_points=_number(m, "loss_points", where, path),
        min_test_accuracy=_number(m, "min_test_accuracy", where, path, high=1.0),
        max_train_loss=_number(m, "max_train_loss", where, path),
        time_limit_seconds=_number(m, "time_limit_seconds", where, path, low=1.0),
        memory_mb=_number(m, "memory_mb", where, path, low=64, integer=True),
        title=title.strip(),
        script=script,
        architecture=Architecture(inputs=_number(arch, "inputs", a, path, low=1, integer=True, example=_ARCHITECTURE_EXAMPLE),
                                  hidden=_number(arch, "hidden", a, path, low=1, integer=True, example=_ARCHITECTURE_EXAMPLE),
                                  classes=_number(arch, "classes", a, path, low=2, integer=True, example=_ARCHITECTURE_EXAMPLE)),
        recipe=Recipe(lr=_number(recipe, "lr", r, path, low=1e-12, example=_RECIPE_EXAMPLE),
                      final_lr=_number(recipe, "final_lr", r, path, low=1e-12, example=_RECIPE_EXAMPLE),
                      momentum=_number(recipe, "momentum", r, path, high=0.999999, example=_RECIPE_EXAMPLE),
                      batch_size=_number(recipe, "batch_size", r, path, low=1, integer=True, example=_RECIPE_EXAMPLE),
                      epochs=_number(recipe, "epochs", r, path, low=1, integer=True, example=_RECIPE_EXAMPLE),
                      seed=_number(recipe, "seed", r, path, integer=True, example=_RECIPE_EXAMPLE)),
    )
