"""Prove the student release is in sync with the reference and leaks none of its solutions.

    problems = check(Path("solutions/tinytorch"), Path("assignments"))
    for p in problems: print(p)              # empty list: all good

Three kinds of problem:
- `assignments/tinytorch/` differs from what `grader stubs build` would write (a missing,
  extra or different file; the first differing line is shown);
- a `BEGIN SOLUTION` / `END SOLUTION` marker appears anywhere under `assignments/`;
- a solution line appears in any `.py` file under `assignments/` (stubs, tests, milestones).
  A solution line is a line of a block, stripped, of at least `MIN_LEAK_CHARS` characters,
  that is not already public: lines that also occur in the reference's plumbing (as a line,
  or inside a docstring or comment there) are not secrets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .generate import BEGIN_TEXT, END_TEXT, Block, generate_tree, parse_tree, source_files

MIN_LEAK_CHARS = 12
MAX_SCANNED_BYTES = 5_000_000
_MARKER = re.compile(f"{BEGIN_TEXT}|{END_TEXT}")
_SKIPPED_DIRS = {"__pycache__", ".git", ".pytest_cache", ".venv"}


@dataclass(frozen=True)
class Problem:
    path: str                    # shown relative to the assignments folder's parent
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Secret:
    """Where a solution line comes from, to name it in a leak report."""
    path: str
    line: int
    block: Block


def secret_lines(package: Path) -> dict[str, Secret]:
    """{stripped solution line: its origin} for every non-trivial line that is not public."""
    sources = parse_tree(package)
    public_lines = {line.strip() for s in sources for line in s.plumbing}
    public_text = "\n".join(public_lines)
    secrets: dict[str, Secret] = {}
    for source in sources:
        for block in source.blocks:
            for offset, raw in enumerate(block.lines, start=1):
                line = raw.strip()
                if len(line) < MIN_LEAK_CHARS or line in public_lines or line in public_text or line in secrets:
                    continue
                secrets[line] = Secret(source.path, block.begin + offset, block)
    return secrets


def _show(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _first_difference(expected: str, found: str) -> tuple[int, str]:
    want, got = expected.splitlines(), found.splitlines()
    for number, (a, b) in enumerate(zip(want, got), start=1):
        if a != b:
            return number, f"expected {a.strip()[:80]!r}, found {b.strip()[:80]!r}"
    number = min(len(want), len(got)) + 1
    if len(want) != len(got):
        return number, f"the file {'ends early' if len(got) < len(want) else 'has extra lines'} (expected {len(want)} lines, found {len(got)})"
    return number, "line endings differ"


def check_sync(package: Path, stubs: Path, base: Path) -> list[Problem]:
    """Compare `stubs` with a fresh build of `package`: missing, extra and different files."""
    expected = generate_tree(package)
    problems: list[Problem] = []
    if not stubs.is_dir():
        return [Problem(_show(stubs, base), None, "missing: run `grader stubs build`")]
    present = {p.relative_to(stubs).as_posix(): p for p in source_files(stubs)}
    for rel, text in expected.items():
        shown = _show(stubs / rel, base)
        if rel not in present:
            problems.append(Problem(shown, None, "missing: run `grader stubs build`"))
            continue
        found = present[rel].read_bytes().decode("utf-8", errors="replace")
        if found != text:
            line, what = _first_difference(text, found)
            problems.append(Problem(shown, line, f"differs from the generated stub ({what}); "
                                                 f"edit solutions/, then run `grader stubs build`"))
    for rel in sorted(set(present) - set(expected)):
        problems.append(Problem(_show(present[rel], base), None,
                                "extra file with no counterpart in the reference (stale? delete it or add it to solutions/)"))
    return problems


def _scanned_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not _SKIPPED_DIRS.intersection(p.relative_to(root).parts)
                  and p.stat().st_size <= MAX_SCANNED_BYTES)


def check_leaks(package: Path, assignments: Path, base: Path) -> list[Problem]:
    """Markers in any text file, and solution lines in any .py file, under `assignments`."""
    secrets = secret_lines(package)
    problems: list[Problem] = []
    for path in _scanned_files(assignments):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue                                # binary data (e.g. .npz) cannot hold a marker we care about
        shown = _show(path, base)
        for number, raw in enumerate(text.splitlines(), start=1):
            marker = _MARKER.search(raw)
            if marker:
                problems.append(Problem(shown, number, f"solution marker {marker.group(0)!r} in the student release"))
            if path.suffix != ".py":
                continue
            origin = secrets.get(raw.strip())
            if origin is not None:
                problems.append(Problem(shown, number, f"contains a solution line (reference {origin.path}:{origin.line}, "
                                                       f"Module {origin.block.module} · {origin.block.name}): "
                                                       f"{raw.strip()[:80]!r}"))
    return problems


def check(package: Path, assignments: Path, stubs: Optional[Path] = None) -> list[Problem]:
    """Every problem with the student release; `stubs` defaults to `assignments/tinytorch`."""
    stubs = stubs if stubs is not None else assignments / "tinytorch"
    base = assignments.parent
    if not assignments.is_dir():
        return [Problem(str(assignments), None, "the assignments folder does not exist")]
    return check_sync(package, stubs, base) + check_leaks(package, assignments, base)
