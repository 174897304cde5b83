"""`grader release`: the student repository is built from a commit, leaks nothing, installs in a
fresh virtualenv, and there `grader check`, the milestone scripts and the instructor-only verbs
behave as a student should see them."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
import tomllib
from pathlib import Path

import pytest

from grader.cli import build_parser
from grader.release import git_tree
from grader.release.bundle import BundleError, build_bundle
from grader.release.check import check_leaks
from grader.release.manifest import is_shipped
from grader.release.origins import load_secrets
from grader.release.student_files import GENERATED, INSTRUCTOR_EXTRAS

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions" / "tinytorch"
HIDDEN = REPO / "solutions" / "hidden_tests"
MILESTONE_SCRIPTS = ("01_rumelhart_tinydigits.py", "02_rumelhart_mnist.py")
INSTALL_SECONDS = 240


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "tinytorch-student"
    report = build_bundle(REPO, out)
    assert report.ok, "\n".join(str(p) for p in report.problems)
    return out


@pytest.fixture(scope="module")
def venv(bundle: Path) -> Path:
    """A fresh virtualenv with the bundle installed editable, as a student would (pip's cache reused)."""
    env_dir = bundle.parent / "student-venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=INSTALL_SECONDS)
    install = subprocess.run([str(env_dir / "bin" / "pip"), "install", "-q", "-e", str(bundle)], capture_output=True,
                             text=True, timeout=INSTALL_SECONDS)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    print(f"fresh virtualenv + pip install -e bundle: {time.monotonic() - started:.1f} s")
    return env_dir


def student_env() -> dict[str, str]:
    """The environment of a student's shell: nothing that points at the kit."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TINYTORCH_", "VIRTUAL_ENV"))}


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=student_env(), capture_output=True,
                          text=True, timeout=300)


def bundle_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- the bundle itself
def test_bundle_holds_only_what_ships_plus_the_student_files(bundle):
    """Every file of the bundle is one the manifest ships, or the generated README, .gitignore, pyproject"""
    files = bundle_files(bundle)
    assert set(GENERATED) <= set(files)
    assert [f for f in files if not (is_shipped(f) or f in GENERATED)] == []
    for rel in ("assignments/tinytorch/tensor.py", "assignments/tests/test_06_autograd.py", "data/tinydigits.npz",
                "assignments/milestones/03_1986_mlp/02_rumelhart_mnist.py", "grader/sandbox/worker.py"):
        assert rel in files, rel
    assert not [f for f in files if f.startswith(("solutions/", "tests/", "benchmarks/", "grader/release/",
                                                  "grader/testing/")) or "__pycache__" in f]


def test_bundle_files_are_the_commits_not_the_working_trees(bundle):
    """Each shipped file has exactly the content HEAD gives it (uncommitted edits never ship)"""
    head = git_tree.resolve(REPO, "HEAD")
    entries = {e.path: e for e in git_tree.tree_files(REPO, head) if is_shipped(e.path) and e.path not in GENERATED}
    blobs = git_tree.read_blobs(REPO, [e.sha for e in entries.values()])
    differing = [rel for rel, e in entries.items() if (bundle / rel).read_bytes() != blobs[e.sha]]
    assert entries and differing == []


def test_every_file_of_the_bundle_passes_the_leak_check(bundle):
    """The leak check over every file of the output (not only manifest files) finds nothing"""
    assert check_leaks(bundle, bundle_files(bundle), load_secrets(SOLUTIONS, HIDDEN)) == []


def test_generated_readme_and_pyproject_are_for_students(bundle):
    """README fields are all filled in; pyproject keeps the kit's dependencies without instructor extras"""
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    assert "{{" not in readme and "source .venv/bin/activate" in readme and ".venv/bin/grader" in readme
    assert "waiting" in readme and "WSL" in readme and "Ctrl-C" in readme
    kit = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    student = tomllib.loads((bundle / "pyproject.toml").read_text())
    assert student["project"]["dependencies"] == kit["dependencies"]
    assert student["project"]["scripts"] == kit["scripts"]
    assert not INSTRUCTOR_EXTRAS & set(student["project"].get("optional-dependencies", {}))
    assert student["tool"]["pytest"]["ini_options"]["testpaths"] == ["assignments/tests"]
    assert ".venv/" in (bundle / ".gitignore").read_text().splitlines()


def test_a_leaking_release_fails_and_leaves_nothing(tmp_path):
    """A shipped line that is a solution line fails the release, names file and line, and removes the output"""
    head = git_tree.resolve(REPO, "HEAD")
    conftest = git_tree.read_blobs(REPO, [e.sha for e in git_tree.tree_files(REPO, head)
                                          if e.path == "assignments/tests/conftest.py"])
    lines = next(iter(conftest.values())).decode().splitlines()
    planted = next(line for line in lines if line.startswith("IMPL_ENV"))
    reference = tmp_path / "reference" / "tinytorch"
    reference.mkdir(parents=True)
    (reference / "leaky.py").write_text(f"def f():\n    ### BEGIN SOLUTION 01 | leaky | hint\n    {planted}\n"
                                        f"    ### END SOLUTION\n")
    out = tmp_path / "student"
    report = build_bundle(REPO, out, solutions=reference, hidden=HIDDEN, check_imports=False)
    assert not report.ok and not out.exists()
    where = [(p.path, p.line) for p in report.problems]
    assert ("assignments/tests/conftest.py", lines.index(planted) + 1) in where, report.problems


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    """--out must be absent or empty: a release never mixes with other files"""
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not an empty folder"):
        build_bundle(REPO, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


# ---------------------------------------------------------------- installed in a fresh virtualenv
@pytest.mark.slow
def test_check_all_reports_not_started_without_a_traceback(bundle, venv):
    """In the student repository, `grader check all` on the stubs: exit 1, every check not started"""
    result = run(venv, "grader", "check", "all", cwd=bundle)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    # MNIST waits for TinyDigits in a student's check: it is not trained until TinyDigits passes
    total = re.search(r"Total: (\d+) checks: (\d+) not started(?:, (\d+) waiting)?", output)
    assert total and int(total.group(1)) == int(total.group(2)) + int(total.group(3) or 0), output[-2000:]
    assert int(total.group(2)) > 100, output[-2000:]


def test_status_in_the_student_repository_says_to_start_with_module_01(bundle, venv):
    """`grader status` ships with the student's copy: on the stubs, every module not started and
    the next command is Module 01's check."""
    result = run(venv, "grader", "status", cwd=bundle)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "grader check 01" in output, output[-3000:]
    assert output.count("not started") >= 8, output[-3000:]


def test_submit_packs_the_stubs_in_the_student_repository(bundle, venv, tmp_path):
    """`grader submit` ships with the student's copy: on the stubs it packs the eight module files
    and the manifest (partial work is allowed), with no traceback."""
    out = tmp_path / "submission.zip"
    result = run(venv, "grader", "submit", "--no-check", "--out", str(out), cwd=bundle)
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    with zipfile.ZipFile(out) as packed:
        names = sorted(packed.namelist())
    assert "MANIFEST.json" in names and len(names) == 9 and all(n.endswith(".py") for n in names if n != "MANIFEST.json")


@pytest.mark.slow
@pytest.mark.parametrize("script", MILESTONE_SCRIPTS)
def test_milestone_scripts_list_the_missing_pieces(bundle, venv, script):
    """Each milestone script in the student repository stops with exit 1 and lists what is missing, per module"""
    folder = bundle / "assignments" / "milestones" / "03_1986_mlp"
    result = run(venv, "python", script, cwd=folder)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    assert "Module 01 (tensor):" in output and "Module 08 (training):" in output, output[-2000:]


@pytest.mark.slow
def test_hidden_says_it_is_for_the_instructors_copy(bundle, venv):
    """`grader check 01 --hidden` in the student repository: exit 2 and why"""
    result = run(venv, "grader", "check", "01", "--hidden", cwd=bundle)
    assert result.returncode == 2
    assert "instructor's copy" in result.stderr and "Traceback" not in result.stderr + result.stdout


def instructor_verbs() -> list[str]:
    """Verbs of the kit's CLI whose code does not ship (grader/release/, grader/batch/, Otter interop)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    verbs = [v for v in ("stubs", "release", "gradescope", "grade", "otter") if v in sub.choices]
    assert "stubs" in verbs
    return verbs


@pytest.mark.slow
@pytest.mark.parametrize("verb", instructor_verbs())
def test_instructor_verbs_say_instructor_copy_only(bundle, venv, verb):
    """`grader stubs|release|gradescope` in the student repository: exit 2, instructor copy only"""
    result = run(venv, "grader", verb, "--help", cwd=bundle)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "instructor's copy" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_plain_pytest_runs_the_public_tests_from_the_repository_root(bundle, venv):
    """`python -m pytest` at the student repository's root collects the public tests (no collection errors)"""
    result = run(venv, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=bundle)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    assert result.returncode == 1 and re.match(r"\d+ failed in ", summary), summary
