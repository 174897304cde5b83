"""The Gradescope autograder: the zip unpacked into a tree shaped like /autograder (its root
from $AUTOGRADER_ROOT), setup.sh run as far as it can here (apt-get is skipped: this machine
already has a Python >= 3.11 with venv, which TINYTORCH_PYTHON names), then run_autograder on
the reference (100), the stubs (0), a partial, a crashing and a hanging submission, and one
stopped by SIGTERM. Every results.json must follow Gradescope's schema and say why points were lost."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.config import load_config
from grader.core.outcomes import Outcome, Source, Visibility
from grader.core.rows import Row, Section
from grader.core.targets import Targets
from grader.engine.grade import GradeReport, max_points
from grader.export.gradescope import MILESTONE_PART, gradescope_results, mark_stopped, schema_problems
from grader.milestones.m03.score import MilestoneRun
from grader.release.gradescope_limits import SUPERVISOR_MARGIN_SECONDS, Settings, fitted_config, worst_case_seconds
from grader.release.gradescope_submission import _built_in, read_submission
from grader.release.gradescope_zip import build_zip

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions" / "tinytorch"
STUBS = REPO / "assignments" / "tinytorch"
CFG = load_config()
MODULE_FILES = tuple(f"{spec.name}.py" for spec in CFG.modules.values())
RUN_SECONDS = 600


# --------------------------------------------------------------------------------- fast checks
@pytest.mark.parametrize("timeout", [300, 600, 1200, 2400])
def test_fitted_limits_end_grading_before_the_timeout(timeout):
    """From 5 to 40 minutes, the longest grading the fitted limits allow ends before the supervisor's cut"""
    raw = yaml.safe_load((REPO / "grader" / "config.yaml").read_text())
    fitted = fitted_config(raw, timeout)
    assert worst_case_seconds(fitted, timeout) <= timeout - SUPERVISOR_MARGIN_SECONDS
    assert fitted["sandbox"]["probe_time_limit_seconds"] <= raw["sandbox"]["probe_time_limit_seconds"]
    for key in ("hidden_session_seconds", "hidden_timeout_seconds"):
        assert fitted["tests"][key] <= raw["tests"][key]


def test_schema_check_rejects_what_gradescope_would():
    """The results.json check accepts a minimal valid result and names each kind of mistake"""
    assert schema_problems({"score": 1, "tests": [{"name": "a", "status": "passed", "tags": ["x"]}]}) == []
    bad = {"score": float("nan"), "colour": "red", "stdout_visibility": "sometimes",
           "tests": [{"status": "ok", "tags": [1], "score": "2"}],
           "leaderboard": [{"name": "acc", "value": 0.9, "order": "up"}]}
    problems = " | ".join(schema_problems(bad))
    for needle in ("strict JSON", "colour", "stdout_visibility", "status", "tags", "tests[0].score", "leaderboard[0]"):
        assert needle in problems, (needle, problems)


def _report(rows: list[Row], runs: dict[str, MilestoneRun] | None = None) -> GradeReport:
    targets = Targets(tuple(CFG.modules), True)
    return GradeReport(Path("."), targets, True, rows, 1.0, max_points(CFG, targets), runs or {})


def test_results_summarise_each_module_and_keep_hidden_details_hidden():
    """A hidden row keeps its marker's visibility (or the override); each module gets a visible summary with titles only"""
    rows = [Row(Section.module("06"), "Mul backward: gradient of b", Outcome.FAILED, "expected 0.41, got 0.82", 2.0,
                Visibility.HIDDEN, Source.HIDDEN),
            Row(Section.module("06"), "Add backward", Outcome.PASSED, "", 12.0, Visibility.VISIBLE, Source.HIDDEN)]
    runs = {"mnist": MilestoneRun("mnist", "ok", test_accuracy=0.9751, train_loss=0.05)}
    data = gradescope_results(_report(rows, runs), CFG, pending=())
    assert schema_problems(data) == [] and data["stdout_visibility"] == "hidden"
    summary, failed, passed = (next(t for t in data["tests"] if t["number"] == n) for n in ("6.0", "6.1", "6.2"))
    assert summary["name"] == "Module 06 · Autograd: 12 of 14 points" and summary["visibility"] == "visible"
    assert "Mul backward: gradient of b" in summary["output"] and "0.82" not in summary["output"]
    assert failed["visibility"] == "hidden" and failed["tags"] == ["module 06", "autograd", "hidden"]
    assert {"name": "MNIST (28×28) test accuracy (%)", "value": 97.51, "order": "desc"} in data["leaderboard"]
    assert "Module 06 · Autograd: 12 / 14" in data["output"]
    overridden = gradescope_results(_report(rows), CFG, hidden_visibility="after_due_date", summary_visibility="hidden")
    assert {t["visibility"] for t in overridden["tests"] if "max_score" in t} == {"after_due_date"}
    assert {t["visibility"] for t in overridden["tests"] if "summary" in t["tags"]} == {"hidden"}


def test_pending_parts_say_so_and_mark_stopped_names_the_reason():
    """Parts not graded yet have a visible row; when grading stops, each says why and the overview leads with it"""
    rows = [Row(Section.module("01"), "Tensor add", Outcome.PASSED, "", 12.0, Visibility.VISIBLE, Source.HIDDEN)]
    data = gradescope_results(_report(rows), CFG, pending=(MILESTONE_PART,))
    pending = [t for t in data["tests"] if (t.get("extra_data") or {}).get("pending") == MILESTONE_PART]
    assert len(pending) == 1 and pending[0]["name"].endswith("not graded yet") and data["score"] == 12
    stopped = mark_stopped(data, "the autograder's time limit (600 s) was about to run out")
    assert schema_problems(stopped) == [] and stopped["output"].startswith("Grading stopped early")
    assert pending[0]["output"].startswith("Not graded: the autograder's time limit") and pending[0]["status"] == "failed"


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _zip(path: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    with zipfile.ZipFile(path, "w") as archive:
        for rel, data in files.items():
            archive.writestr(rel, data)
    return {path.name: path.read_bytes()}


def _modules(prefix: str = "") -> dict[str, bytes]:
    return {prefix + name: (SOLUTIONS / name).read_bytes() for name in MODULE_FILES}


SHAPES = {
    "flat files": (lambda tmp: _modules(), "module files at the top"),
    "tinytorch folder in a repository": (lambda tmp: {**_modules("assignments/tinytorch/"), "README.md": b"hi",
                                                      "assignments/tinytorch/__init__.py": b"raise SystemExit"},
                                         "assignments/tinytorch/"),
    "zip of the folder": (lambda tmp: _zip(tmp / "up.zip", _modules("tinytorch/")), "up.zip › tinytorch/"),
    "zip of flat files": (lambda tmp: _zip(tmp / "up.zip", {**_modules(), "__MACOSX/._tensor.py": b"x"}),
                          "up.zip › module files at the top"),
}


@pytest.mark.parametrize("reader", ["read_submission", "built-in"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_submission_reader_takes_the_module_files_of_every_accepted_shape(tmp_path, shape, reader):
    """Flat files, a tinytorch/ folder at any depth, or a zip of either: the eight module files go over the kit's plumbing"""
    make, where = SHAPES[shape]
    upload = _write(tmp_path / "submission", make(tmp_path))
    if reader == "built-in":
        found = _built_in(upload, MODULE_FILES)
        assert found.files == sorted(MODULE_FILES) and where in found.found_in, found
        return
    staged = read_submission(upload, tmp_path / "impl", CFG)
    assert staged.files == sorted(MODULE_FILES) and staged.missing == [] and where in staged.found_in, staged
    package = staged.impl / "tinytorch"
    assert (package / "__init__.py").read_bytes() == (STUBS / "__init__.py").read_bytes()   # never the upload's
    assert all((package / n).read_bytes() == (SOLUTIONS / n).read_bytes() for n in MODULE_FILES)


def test_submission_without_module_files_is_graded_as_the_stubs(tmp_path):
    """An upload with no module file stages the untouched stubs and says what it held"""
    upload = _write(tmp_path / "submission", {"notes.txt": b"hello", "lab.ipynb": b"{}"})
    staged = read_submission(upload, tmp_path / "impl", CFG)
    assert staged.files == [] and staged.missing == list(MODULE_FILES) and "no tinytorch module files" in staged.problem
    assert (staged.impl / "tinytorch" / "tensor.py").read_bytes() == (STUBS / "tensor.py").read_bytes()


# ----------------------------------------------------------------------- the autograder, end to end
def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TINYTORCH_", "VIRTUAL_ENV"))}
    return {**env, "AUTOGRADER_ROOT": str(root)}


def _base_python() -> str:
    """A Python >= 3.11 with venv, preferably the distribution's own (as on Gradescope after apt)."""
    system = Path("/usr/bin/python3.11")
    if system.exists() and subprocess.run([str(system), "-c", "import ensurepip, venv"]).returncode == 0:
        return str(system)
    return getattr(sys, "_base_executable", sys.executable)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/autograder, simulated: the zip (from HEAD) in source/, run_autograder beside it, setup.sh run."""
    from grader.datasets.mnist_cache import cache_file
    base = tmp_path_factory.mktemp("gradescope")
    built = build_zip(base / "autograder.zip", Settings(), repo=REPO, commit="HEAD")
    root = base / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(built["path"]) as archive:
        names = set(archive.namelist())
        assert {"setup.sh", "run_autograder", "gradescope.json"} <= names and "kit/solutions/hidden_tests/test_06_autograd.py" in names
        assert not [n for n in names if n.startswith(("kit/tests/", "kit/benchmarks/"))]
        for info in archive.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod((info.external_attr >> 16) & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    cached = cache_file()
    if cached.exists():                 # the image build fetches MNIST; here the kit's cache saves the download
        (root / "source" / "kit" / ".cache" / "mnist").mkdir(parents=True)
        shutil.copyfile(cached, root / "source" / "kit" / ".cache" / "mnist" / cached.name)
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source", capture_output=True, text=True,
                           env={**_env(root), "TINYTORCH_SKIP_APT": "1", "TINYTORCH_PYTHON": _base_python()}, timeout=900)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert "setup.sh: done" in setup.stdout and "MNIST cache" in setup.stdout
    return root


def run_autograder(root: Path, files: dict[str, bytes], settings: Settings | None = None) -> tuple[dict[str, Any], str]:
    """Grade `files` (paths inside /autograder/submission) as Gradescope would; the results and the log."""
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    _write(root / "submission", files)
    settings_file = root / "source" / "gradescope.json"
    kept = settings_file.read_text()
    if settings is not None:
        settings_file.write_text(settings.to_json())
    try:
        run = subprocess.run([str(root / "run_autograder")], cwd=root, env=_env(root), capture_output=True, text=True,
                             timeout=RUN_SECONDS)
    finally:
        settings_file.write_text(kept)
    data = json.loads((root / "results" / "results.json").read_text())
    assert schema_problems(data) == [], schema_problems(data)
    return data, run.stdout + run.stderr


def tinytorch_folder(done: tuple[str, ...]) -> dict[str, bytes]:
    """A whole tinytorch/ folder: the kit's stubs with the modules `done` from the reference."""
    files = {f"tinytorch/{p.name}": p.read_bytes() for p in STUBS.glob("*.py")}
    files.update({f"tinytorch/{name}": (SOLUTIONS / name).read_bytes() for name in done})
    return files


def _test(data: dict[str, Any], number: str) -> dict[str, Any]:
    return next(t for t in data["tests"] if t["number"] == number)


@pytest.mark.slow
def test_reference_scores_100_with_gradescopes_fields(autograder):
    """The reference: 100, hidden stdout, module.index numbers, tags, per-module summaries, leaderboard, protections"""
    data, log = run_autograder(autograder, _modules())
    assert data["score"] == 100, data["output"]
    assert data["stdout_visibility"] == "hidden"
    summary = _test(data, "6.0")
    assert summary["name"].startswith("Module 06 · Autograd: 14 of 14 points") and summary["visibility"] == "visible"
    graded = [t for t in data["tests"] if "max_score" in t]
    assert graded and all(t["number"].split(".")[0] in {"1", "2", "3", "4", "5", "6", "7", "8", "9"} for t in graded)
    assert all(t["tags"][0].startswith(("module ", "milestone03")) for t in graded)
    assert [e["name"] for e in data["leaderboard"]] == [f"{s.title} test accuracy (%)" for s in CFG.milestone.values()]
    assert all(e["value"] >= 90 for e in data["leaderboard"])
    assert "Module 06 · Autograd: 14 / 14" in data["output"]
    sandbox = data["extra_data"]["sandbox"]
    assert {"declared", "observed", "weaknesses"} <= set(sandbox)
    if os.geteuid() == 0:
        assert sandbox["observed"]["student_uid"] != 0 and sandbox["observed"]["kit"] in ("denied", "empty", "absent")
    assert "sandbox declared" in log and "score 100" in log


@pytest.mark.slow
def test_stubs_in_a_zip_score_0_and_every_part_says_why(autograder):
    """The untouched stubs, uploaded as a zip of tinytorch/: 0, every module summary lists failing titles"""
    data, _ = run_autograder(autograder, {"submission.zip": _zip(autograder.parent / "s.zip", tinytorch_folder(()))["s.zip"]})
    assert data["score"] == 0
    assert "submission.zip › tinytorch/" in _test(data, "0.1")["name"]
    for num, spec in CFG.modules.items():
        summary = _test(data, f"{int(num)}.0")
        assert summary["name"] == f"Module {num} · {spec.title}: 0 of {spec.points:g} points"
        assert summary["output"].startswith("failing (")


@pytest.mark.slow
def test_partial_submission_scores_what_grader_check_scores(autograder, tmp_path):
    """Modules 01-05 done: run_autograder gives the same score as `grader check all --hidden` on the same files"""
    files = {f"assignments/{k}": v for k, v in tinytorch_folder(MODULE_FILES[:5]).items()}
    data, _ = run_autograder(autograder, files)
    impl = _write(tmp_path / "impl", tinytorch_folder(MODULE_FILES[:5]))
    check = subprocess.run([str(autograder / "tinytorch-venv" / "bin" / "grader"), "check", "all", "--impl", str(impl),
                            "--hidden", "--no-public", "--json", str(tmp_path / "check.json")],
                           env={**_env(autograder), "TINYTORCH_CACHE_DIR": str(autograder / "source" / "kit" / ".cache")},
                           capture_output=True, text=True, timeout=RUN_SECONDS)
    assert check.returncode == 1, check.stdout[-2000:] + check.stderr[-2000:]
    expected = json.loads((tmp_path / "check.json").read_text())["score"]
    assert 0 < data["score"] == expected < 100
    assert data["extra_data"]["submission"]["found_in"] == "assignments/tinytorch/"


@pytest.mark.slow
def test_a_submission_that_exits_at_import_gets_0_with_a_visible_reason(autograder):
    """os._exit at import: score 0, and the visible rows say the worker exited"""
    files = _modules()
    files["tensor.py"] = files["tensor.py"].replace(b"from __future__ import annotations\n",
                                                    b"from __future__ import annotations\nimport os; os._exit(3)\n", 1)
    data, _ = run_autograder(autograder, files)
    assert data["score"] == 0
    visible = [t for t in data["tests"] if t["visibility"] == "visible" and "max_score" in t]
    assert visible and all("exited with code 3" in t["output"] for t in visible), visible[:2]


@pytest.mark.slow
def test_a_hanging_function_costs_its_tests_and_says_so(autograder):
    """Flatten loops forever: its test times out with a visible reason; everything else still scores"""
    files = _modules()
    files["layers.py"] = files["layers.py"].replace(b"class Flatten(Module):", b"class Flatten(Module):\n"
                                                    b"    def __call__(self, x):\n        while True:\n            pass\n", 1)
    assert b"while True" in files["layers.py"]
    data, _ = run_autograder(autograder, files, Settings(timeout_seconds=300))
    assert 85 <= data["score"] < 100, data["output"]
    summary = _test(data, "3.0")
    assert "failing (1)" in summary["output"] and "Flatten" in summary["output"]
    timed_out = [t for t in data["tests"] if "time limit" in t.get("output", "")]
    assert timed_out and data["extra_data"]["limits"]["probe_seconds"] == 10.0


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


@pytest.mark.slow
def test_sigterm_writes_what_is_known_and_leaves_no_process(autograder):
    """SGD.step loops forever and Gradescope sends SIGTERM: a valid results.json names the stop, nothing survives"""
    files = _modules()
    files["optim.py"] = files["optim.py"].replace(b"        ### BEGIN SOLUTION 07 | SGD.step",
                                                  b"        while True:\n            pass\n        ### BEGIN SOLUTION 07 | SGD.step", 1)
    assert b"while True" in files["optim.py"]
    shutil.rmtree(autograder / "submission", ignore_errors=True)
    shutil.rmtree(autograder / "results", ignore_errors=True)
    _write(autograder / "submission", files)
    proc = subprocess.Popen([str(autograder / "run_autograder")], cwd=autograder, env=_env(autograder),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = ""
    assert proc.stdout is not None
    for line in proc.stdout:            # wait until the module tests are under way
        log += line
        if "sandbox:" in line:
            break
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    log += rest
    data = json.loads((autograder / "results" / "results.json").read_text())
    assert schema_problems(data) == []
    assert "SIGTERM" in data["extra_data"]["stopped"] and data["output"].startswith("Grading stopped early")
    pending = [t for t in data["tests"] if (t.get("extra_data") or {}).get("pending")]
    assert pending and all(t["output"].startswith("Not graded: the autograder was stopped (SIGTERM)") for t in pending)
    time.sleep(0.5)
    assert _processes_mentioning(str(autograder)) == [], log[-2000:]
