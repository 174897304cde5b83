"""Build the student repository: what `grader release --out DIR` writes.

    report = build_bundle(Path("."), Path("/tmp/tinytorch-student"))     # from HEAD
    report.ok, report.commit, report.files, report.problems

The bundle holds every file of the commit (HEAD by default) that the manifest ships
(`is_shipped`, the rules `shipped_files(repo, tracked=True)` applies: the stubs, public tests,
milestone scripts, the grader without grader/release/ and grader/testing/, TinyDigits), plus
the generated README.md, .gitignore and pyproject.toml (student_files.py, rendered from the
commit's own config and pyproject). Files come from the commit, not the working tree, so a
release is reproducible and another change in progress cannot reach students.

It keeps the kit's layout, so `grader/paths.py` finds `assignments/` beside `grader/` as in the
kit, the milestone scripts' relative paths hold, and `pip install -e .` puts `grader` on PATH.

Then, over every file of the output (not only the ones the manifest named):
- the leak check (`check_leaks`) against the reference and hidden tests as the commit has them
  and as the working tree has them: no solution line, marker, hidden-test name or title;
- no file below a folder that never ships (solutions/, tests/, benchmarks/, grader/release/,
  grader/testing/);
- every module of the bundle's `grader` package imports from the bundle alone.
Any problem fails the release and the output is removed: a half-checked bundle is never left
where it could be pushed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import load_config

from . import git_tree
from .check import Problem, check_leaks
from .manifest import is_shipped
from .origins import load_secrets
from .student_files import GENERATED, student_files

NEVER_SHIPPED = ("solutions/", "tests/", "benchmarks/", "grader/release/", "grader/testing/", ".git/")
IMPORT_SECONDS = 120

_IMPORT_EVERY_MODULE = r"""
import importlib, json, pkgutil, sys
root = sys.argv[1]
def _editable(finder):  # an editable install of the kit would serve grader.* from the kit
    return getattr(finder, "__module__", type(finder).__module__).startswith("__editable__")
sys.meta_path[:] = [f for f in sys.meta_path if not _editable(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if not _editable(h)]
sys.path_importer_cache.clear()
sys.path.insert(0, root)
import grader
failed = []
if not grader.__file__.startswith(root):
    failed.append(f"grader imported from {grader.__file__}, not from the bundle")
for info in pkgutil.walk_packages(grader.__path__, "grader."):
    try:
        importlib.import_module(info.name)
    except BaseException as exc:
        failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
print(json.dumps(failed))
"""


class BundleError(Exception):
    """The release cannot start: the output folder is not usable, or the kit is incomplete."""


@dataclass
class BundleReport:
    out: Path
    commit: str = ""
    files: list[str] = field(default_factory=list)      # every file written, repo-relative
    bytes: int = 0
    leak_seconds: float = 0.0
    import_seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def build_bundle(repo: Path, out: Path, *, commit: str = "HEAD", solutions: Path | None = None,
                 hidden: Path | None = None, check_imports: bool = True) -> BundleReport:
    """Write the student repository of `commit` of the kit checkout `repo` into `out` (absent or
    empty) and check it; on any problem the output is removed and the report lists why.

    solutions/hidden: the reference and hidden tests to scan for, besides the commit's own
    (default: the working tree's solutions/tinytorch and solutions/hidden_tests).
    """
    repo, out = repo.resolve(), out.resolve()
    try:
        sha = git_tree.resolve(repo, commit)
    except git_tree.GitError as exc:
        raise BundleError(f"{repo}: {exc} (a release is built from a commit of the kit's git checkout)") from None
    solutions = solutions or repo / "solutions" / "tinytorch"
    hidden = hidden or repo / "solutions" / "hidden_tests"
    for what, folder in (("reference", solutions), ("hidden tests", hidden)):
        if not folder.is_dir():
            raise BundleError(f"the {what} folder {folder} is missing: the leak check needs it "
                              f"(release from the instructor's copy of the kit)")
    _check_output(repo, out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    report = BundleReport(out, commit=sha)
    try:
        _write_commit(repo, sha, out)
        generated = student_files((out / "pyproject.toml").read_text(encoding="utf-8"),
                                  load_config(out / "grader" / "config.yaml"))
        for rel, text in generated.items():
            (out / rel).write_text(text, encoding="utf-8")
        report.files = _all_files(out)
        report.bytes = sum((out / rel).stat().st_size for rel in report.files)
        report.problems = [Problem(rel, None, f"{rel.split('/')[0]}/ never ships to students")
                           for rel in report.files if rel.startswith(NEVER_SHIPPED)]
        started = time.perf_counter()
        report.problems += _leaks(repo, sha, out, report.files, solutions, hidden)
        report.leak_seconds = time.perf_counter() - started
        if check_imports:
            started = time.perf_counter()
            report.problems += import_problems(out)
            report.import_seconds = time.perf_counter() - started
    except BaseException:
        _remove(out, created)
        raise
    if report.problems:
        _remove(out, created)
    return report


def _write_commit(repo: Path, sha: str, out: Path) -> None:
    """Every shipped file of the commit into `out`; the kit's pyproject.toml too (the generated
    one replaces it, rendered from it)."""
    entries = [e for e in git_tree.tree_files(repo, sha) if is_shipped(e.path) or e.path == "pyproject.toml"]
    odd = [e.path for e in entries if e.mode not in (git_tree.REGULAR, git_tree.EXECUTABLE)]
    if odd:
        raise BundleError(f"shipped paths that are not plain files (symlinks, submodules): {', '.join(odd)}")
    if not any(e.path == "pyproject.toml" for e in entries):
        raise BundleError(f"commit {sha[:12]} has no pyproject.toml to render the student's from")
    blobs = git_tree.read_blobs(repo, [e.sha for e in entries])
    for entry in entries:
        if entry.path in GENERATED and entry.path != "pyproject.toml":
            continue
        dest = out / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blobs[entry.sha])
        dest.chmod(0o755 if entry.executable else 0o644)


def _leaks(repo: Path, sha: str, out: Path, files: list[str], solutions: Path, hidden: Path) -> list[Problem]:
    """check_leaks against the commit's reference and hidden tests, and the given ones."""
    problems = check_leaks(out, files, load_secrets(solutions, hidden))
    with tempfile.TemporaryDirectory(prefix="tinytorch-release-secrets-") as tmp:
        committed = git_tree.export(repo, sha, "solutions", Path(tmp))
        if (committed / "tinytorch").is_dir() and (committed / "hidden_tests").is_dir():
            seen = {str(p) for p in problems}
            problems += [p for p in check_leaks(out, files, load_secrets(committed / "tinytorch", committed / "hidden_tests"))
                         if str(p) not in seen]
    return problems


def _check_output(repo: Path, out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"--out {out}: exists and is not an empty folder (the release writes a fresh copy)")
    if out == repo or out in repo.parents:
        raise BundleError(f"--out {out}: holds the kit itself; choose a folder outside it")
    if repo in out.parents and out.relative_to(repo).parts[0] in ("assignments", "grader", "data", "solutions"):
        raise BundleError(f"--out {out}: inside the kit's own folders; choose a folder elsewhere")


def _all_files(root: Path) -> list[str]:
    """Every file below `root` (symlinks included, as files), repo-relative and sorted."""
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [(Path(folder) / f).relative_to(root).as_posix() for f in files]
    return sorted(found)


def _remove(out: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():         # the folder was given empty: leave it empty
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink()


def import_problems(bundle: Path, python: str = sys.executable) -> list[Problem]:
    """Import every module of `bundle`'s grader package in a fresh interpreter that has only the
    bundle on its path (so a module that needs grader/release or grader/testing fails here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        run = subprocess.run([python, "-s", "-B", "-c", _IMPORT_EVERY_MODULE, str(bundle)], cwd=bundle, env=env,
                             capture_output=True, text=True, timeout=IMPORT_SECONDS)
    except subprocess.TimeoutExpired:
        return [Problem("grader", None, f"importing the bundle's grader took over {IMPORT_SECONDS} s")]
    try:
        failed = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return [Problem("grader", None, f"the bundle's grader package does not import: {tail}")]
    return [Problem("grader", None, f"does not import without the instructor's files: {line}") for line in failed]
