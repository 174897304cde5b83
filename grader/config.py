"""The kit's single configuration: points, thresholds and limits, read from `config.yaml`.

    cfg = load_config()                       # the packaged grader/config.yaml
    cfg.modules["06"].points                  # 14
    cfg.milestone["mnist"].min_test_accuracy  # 0.94
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

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


@dataclass(frozen=True)
class MilestoneSpec:
    key: str             # "tinydigits" | "mnist"
    accuracy_points: float
    loss_points: float
    min_test_accuracy: float
    max_train_loss: float
    time_limit_seconds: float
    memory_mb: int


@dataclass(frozen=True)
class SandboxSpec:
    probe_time_limit_seconds: float
    probe_memory_mb: int
    file_size_mb: int
    processes: int


@dataclass(frozen=True)
class Config:
    path: Path
    modules: dict[str, ModuleSpec]
    milestone: dict[str, MilestoneSpec]
    milestone_hidden_points: float
    sandbox: SandboxSpec
    public_timeout_seconds: float
    hidden_timeout_seconds: float

    @property
    def total_points(self) -> float:
        return (sum(m.points for m in self.modules.values()) + self.milestone_hidden_points
                + sum(m.accuracy_points + m.loss_points for m in self.milestone.values()))


def _section(raw: dict[str, Any], key: str, path: Path) -> Any:
    if key not in raw:
        raise ConfigError(f"{path}: missing section '{key}'")
    return raw[key]


def load_config(path: Optional[Path] = None) -> Config:
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
            str(num).zfill(2): ModuleSpec(str(num).zfill(2), str(m["name"]), str(m["title"]), float(m["points"]))
            for num, m in _section(raw, "modules", path).items()
        }
        milestone = {
            key: MilestoneSpec(key, float(m["accuracy_points"]), float(m["loss_points"]), float(m["min_test_accuracy"]),
                               float(m["max_train_loss"]), float(m["time_limit_seconds"]), int(m["memory_mb"]))
            for key, m in _section(raw, "milestone03", path).items() if isinstance(m, dict)
        }
        milestone_hidden = float(_section(raw, "milestone03", path).get("hidden_tests_points", 0))
        sb = _section(raw, "sandbox", path)
        sandbox = SandboxSpec(float(sb["probe_time_limit_seconds"]), int(sb["probe_memory_mb"]),
                              int(sb["file_size_mb"]), int(sb["processes"]))
        tests = _section(raw, "tests", path)
        return Config(path, modules, milestone, milestone_hidden, sandbox,
                      float(tests["public_timeout_seconds"]), float(tests["hidden_timeout_seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"grader config {path}: bad or missing entry ({exc!r})") from None
