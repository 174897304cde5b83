"""What ships to students: the one list of include/exclude rules over repo-relative paths.

A file ships when it matches an include rule and no exclude rule (exclude wins; order does not
matter). Patterns are `/`-separated: `**` is any number of folders (none included), other parts
are shell globs (`*`, `?`, `[...]`) within one name.

    files = shipped_files(Path("."))                     # ["assignments/milestones/...", ...]
    files = shipped_files(Path("."), tracked=True)       # only files git tracks
    is_shipped("solutions/tinytorch/layers.py")          # False

`grader stubs manifest` prints the list; `grader stubs check` scans every listed file for
leaks (check.py). ALLOWED is the reviewed list of shipped lines that equal a secret on purpose.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

INCLUDE, EXCLUDE = "include", "exclude"
MAX_SHIPPED_BYTES = 2_000_000    # per file; TinyDigits is 87 kB, an MNIST cache or a checkpoint is not


@dataclass(frozen=True)
class Rule:
    kind: Literal["include", "exclude"]
    pattern: str                 # repo-relative, `/`-separated, `**` = any folders
    why: str


RULES: tuple[Rule, ...] = (
    Rule(INCLUDE, "assignments/**", "the student's tinytorch stubs, public tests and milestone scripts"),
    Rule(INCLUDE, "grader/**", "the grader: `grader check`, the sandbox, datasets, reports, config.yaml"),
    Rule(INCLUDE, "data/tinydigits.npz", "TinyDigits, shipped and checksummed (the milestone trains on it offline)"),
    Rule(INCLUDE, "data/build_tinydigits.py", "TinyDigits' rebuild script: the shipped grader names it when the checksum fails"),
    Rule(INCLUDE, "pyproject.toml", "installs the grader and its dependencies (`pip install -e .`)"),
    Rule(INCLUDE, ".gitignore", "keeps caches, virtualenvs and results.json out of the student's commits"),
    Rule(EXCLUDE, "solutions/**", "the reference implementation and the hidden tests"),
    Rule(EXCLUDE, "tests/**", "the kit's own tests: the tamper suite copies reference lines"),
    Rule(EXCLUDE, "benchmarks/**", "the NumPy runner writes cross-entropy, ReLU and matmul backward by hand"),
    Rule(EXCLUDE, ".ci/**", "the kit's CI script"),
    Rule(EXCLUDE, "README.md", "the instructor README (hidden tests, tamper figures); the release writes the student's"),
    Rule(EXCLUDE, "grader/release/**", "stub generator, manifest and leak check: they need solutions/ to do anything"),
    Rule(EXCLUDE, "grader/testing/**", "probe/verdict helpers that only the hidden tests import"),
    Rule(EXCLUDE, "grader/batch/**", "batch grading of a class: instructors only (`grader grade` says so in a student copy)"),
    Rule(EXCLUDE, "grader/export/otter_*.py", "Otter-Grader interop grades with hidden tests: instructors only"),
    Rule(EXCLUDE, "assignments/milestones/*/runs/**", "pictures of local milestone runs"),
    Rule(EXCLUDE, "**/.cache/**", "grader status's cache and the milestone's last-run record"),
    Rule(EXCLUDE, "**/__pycache__/**", "bytecode caches"),
    Rule(EXCLUDE, "**/*.py[co]", "stray bytecode"),
    Rule(EXCLUDE, "**/.pytest_cache/**", "pytest's cache"),
    Rule(EXCLUDE, "**/.venv/**", "virtualenvs"),
    Rule(EXCLUDE, "**/*.egg-info/**", "setuptools metadata from an editable install"),
    Rule(EXCLUDE, "**/.git/**", "git's own files"),
    Rule(EXCLUDE, "**/.DS_Store", "Finder litter"),
)


@dataclass(frozen=True)
class Allowed:
    """A shipped line that equals a secret (a solution line, a hidden test's name or title)
    and is public on purpose. `text` is the line stripped (or the name or title)."""
    path: str
    text: str
    why: str


# Reviewed exceptions; the check reports an entry that no longer matches anything, so that
# this list only ever holds what is needed.
ALLOWED: tuple[Allowed, ...] = ()


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match_parts(rest, parts[1:])


def matches(pattern: str, rel: str) -> bool:
    """True if the repo-relative path `rel` matches `pattern` (see the module docstring)."""
    return _match_parts(pattern.split("/"), rel.split("/"))


def is_shipped(rel: str, rules: tuple[Rule, ...] = RULES) -> bool:
    """True if the repo-relative file `rel` goes to students."""
    return (any(matches(r.pattern, rel) for r in rules if r.kind == INCLUDE)
            and not any(matches(r.pattern, rel) for r in rules if r.kind == EXCLUDE))


def _pruned(rel_dir: str, rules: tuple[Rule, ...]) -> bool:
    """True if every file below the folder `rel_dir` is excluded (so the walk skips it)."""
    probe = f"{rel_dir}/\0"          # stands for any file below; no real name contains NUL
    return any(r.kind == EXCLUDE and r.pattern.endswith("/**") and matches(r.pattern, probe) for r in rules)


def _files_on_disk(root: Path, rules: tuple[Rule, ...]) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else f"{rel_folder}/"
        dirs[:] = [d for d in dirs if not _pruned(prefix + d, rules)]
        found.extend(prefix + f for f in files)
    return found


def _files_in_git(root: Path) -> list[str]:
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached"], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        raise NotADirectoryError(f"{root} is not a git checkout ({detail.decode(errors='replace').strip()})") from exc
    return [rel for rel in out.decode("utf-8").split("\0") if rel and (root / rel).is_file()]


def shipped_files(root: Path, *, tracked: bool = False, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """The repo-relative paths of `root` that ship to students, sorted.

    tracked=False lists the files on disk (anything that would ship, committed or not);
    tracked=True lists only files git tracks that are also on disk.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    candidates = _files_in_git(root) if tracked else _files_on_disk(root, rules)
    return sorted(rel for rel in candidates if is_shipped(rel, rules))


def unmatched_includes(root: Path, rules: tuple[Rule, ...] = RULES) -> list[Rule]:
    """Include rules naming one exact file (no wildcard) that is not in `root`: renamed or lost."""
    return [r for r in rules if r.kind == INCLUDE and not any(c in r.pattern for c in "*?[")
            and not (root / r.pattern).is_file()]
