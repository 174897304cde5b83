"""A submission gets the same score, test by test, from `grader grade` as from
`grader check all --hidden`: the batch adds finding, collecting and scheduling, never grading.
Targets `all` (modules, hidden milestone tests and both milestone trainings) on two
submissions: the reference, and the reference with Module 07 (optim.py) left as the stub."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.paths import repo_root

from batch_kit import PYTHON, in_folder, package, read_csv, run_grade, write_tree

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")]


def _check_all_hidden(impl: Path, json_path: Path) -> dict:
    result = subprocess.run([PYTHON, "-m", "grader.cli", "check", "all", "--impl", str(impl), "--hidden", "--no-public",
                             "--json", str(json_path)], capture_output=True, text=True, timeout=600, cwd=repo_root())
    assert json_path.is_file(), result.stdout + result.stderr
    return json.loads(json_path.read_text())


def _tests(results: dict) -> list[tuple[str, float, str]]:
    return [(t["name"], t.get("score"), t["status"]) for t in results["tests"]]


def test_grade_and_check_all_hidden_agree_test_by_test(tmp_path: Path) -> None:
    root = tmp_path / "class"
    write_tree(root / "reference", in_folder("tinytorch", package()))
    write_tree(root / "no_optim", in_folder("tinytorch", package(stubbed=("optim.py",))))
    out = tmp_path / "out"
    result = run_grade(str(root), "--out", str(out), "--targets", "all", "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["id"]: r for r in read_csv(out / "grades.csv")}
    assert rows["reference"]["total"] == "100" and rows["reference"]["max"] == "100"
    assert float(rows["reference"]["mnist accuracy"]) >= 0.94 and float(rows["reference"]["tinydigits accuracy"]) >= 0.75
    assert rows["no_optim"]["07 optim"] == "0" and float(rows["no_optim"]["milestone03"]) < 20
    for name in ("reference", "no_optim"):
        checked = _check_all_hidden(root / name, tmp_path / f"{name}-check.json")
        batch = json.loads((out / name / "results.json").read_text())
        assert float(rows[name]["total"]) == checked["score"] == batch["score"], name
        assert _tests(batch) == _tests(checked), f"{name}: the batch and grader check disagree on a test"
