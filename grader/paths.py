"""Where the kit's folders are, relative to the installed `grader` package (an editable install)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def repo_root() -> Path:
    return ROOT


def assignments_dir() -> Path:
    return ROOT / "assignments"


def solutions_dir() -> Path:
    return ROOT / "solutions"


def public_tests_dir() -> Path:
    return ROOT / "assignments" / "tests"


def hidden_tests_dir() -> Path:
    return ROOT / "solutions" / "hidden_tests"


def milestone_dir() -> Path:
    return ROOT / "assignments" / "milestones" / "03_1986_mlp"
