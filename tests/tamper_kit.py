"""Building blocks for the tamper suite: submissions made from the reference plus one trick,
graded by the real engine (hidden tests in a pytest subprocess, probes in sandbox workers)."""
from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path
from typing import Optional

import yaml

from grader.sandbox.privileges import SANDBOX_BASE_ID
from grader.sandbox.slots import default_pool

from grader.config import DEFAULT_PATH, Config, load_config
from grader.engine.grade import SLOTS_PER_GRADING, GradeReport, grade
from grader.core.targets import resolve_targets
from grader.paths import assignments_dir, solutions_dir

USED_UIDS: set[int] = set()   # sandbox uids of the slots this suite's gradings leased


def make_submission(root: Path, name: str, *, base: str = "solutions", append: Optional[dict[str, str]] = None) -> Path:
    """A submission folder `root/name` holding tinytorch/ copied from `base`, with code appended to files."""
    src = (solutions_dir() if base == "solutions" else assignments_dir()) / "tinytorch"
    dest = root / name
    shutil.copytree(src, dest / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    for filename, code in (append or {}).items():
        with open(dest / "tinytorch" / filename, "a") as fh:
            fh.write("\n" + textwrap.dedent(code))
    return dest


def tamper_config(root: Path, *, probe_seconds: float = 4, milestone: bool = False) -> Config:
    """The default config with short probe limits; with `milestone`, TinyDigits only."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    raw["sandbox"]["probe_time_limit_seconds"] = probe_seconds
    raw["sandbox"]["probe_memory_mb"] = 1024
    raw["tests"]["hidden_timeout_seconds"] = 300
    raw["milestone03"] = {"hidden_tests_points": 0, "tinydigits": {**raw["milestone03"]["tinydigits"], "time_limit_seconds": 60}}
    path = root / "tamper-config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def grade_hidden(impl: Path, target: str, cfg: Config) -> GradeReport:
    """Grade `impl` on `target` with the hidden tests only, as an instructor's batch would."""
    return grade_leased(impl, target, cfg, hidden=True, public=False)


def grade_leased(impl: Path, target: str, cfg: Config, **options: object) -> GradeReport:
    """`grade` on slots leased here, remembered so `sandbox_processes` checks exactly those uids."""
    with default_pool().lease(SLOTS_PER_GRADING) as lease:
        USED_UIDS.update(SANDBOX_BASE_ID + slot for slot in lease.slots)
        return grade(impl, resolve_targets([target], cfg), cfg=cfg, lease=lease, **options)  # type: ignore[arg-type]


def sandbox_processes() -> list[str]:
    """Processes still running under one of this suite's sandbox uids: must be none after grading."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        uids = [int(u) for u in uid_line.split()[1:]]
        if any(u in USED_UIDS for u in uids):
            found.append(f"pid {entry}: {status.splitlines()[0]}")
    return found


def sigmoid_forward(body: str) -> dict[str, str]:
    """Code that replaces Sigmoid.forward with `body` (a method body; `self`, `x`, `Tensor`,
    `make_result` and `ag` in scope), to append to activations.py with `make_submission`."""
    indented = "\n".join("    " + line for line in textwrap.dedent(body).strip().splitlines())
    return {"activations.py": f"def _tampered_forward(self, x):\n{indented}\n\nSigmoid.forward = _tampered_forward\n"}


def leftovers(folder: Path) -> list[str]:
    """What is left in a grading's private temp folder (TMPDIR): must be nothing."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
