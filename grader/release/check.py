"""Prove the student release is in sync with the reference and leaks nothing of it.

    problems = check(Path("solutions/tinytorch"), Path("solutions/hidden_tests"), Path("."))
    for p in problems: print(p)              # empty list: all good

Problems, each naming the shipped file and line and, for a leak, the secret's origin:
- `assignments/tinytorch/` differs from what `grader stubs build` would write (a missing,
  extra or different file; the first differing line is shown);
- in any file the manifest ships (manifest.py; not only `.py`, not only `assignments/`):
  a `BEGIN SOLUTION` / `END SOLUTION` marker; a solution line (origins.py says which lines
  are secret; a `>>> ` prompt or surrounding backticks do not hide one); the name of a hidden
  test or of its probe as a whole identifier; a hidden test's docstring title;
- a shipped file over MAX_SHIPPED_BYTES (binary files are otherwise skipped);
- an ALLOWED entry of the manifest that no longer matches anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .generate import BEGIN_TEXT, END_TEXT, generate_tree, source_files
from .manifest import ALLOWED, MAX_SHIPPED_BYTES, Allowed, shipped_files
from .origins import Origin, Secrets, load_secrets

_MARKER = re.compile(f"{BEGIN_TEXT}|{END_TEXT}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROMPT = re.compile(r"^(?:>>>|\.\.\.)(?: |$)")
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Problem:
    path: str                    # shown relative to the checkout's root
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


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


def normalise(line: str) -> str:
    """A line as a solution line is looked up: stripped, without a doctest prompt or `backticks`."""
    text = _PROMPT.sub("", line.strip()).strip()
    if len(text) > 2 and text[0] == text[-1] == "`":
        text = text.strip("`").strip()
    return text


def _line_numbers(text: str, needle: str, *, word: bool) -> list[int]:
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(needle)}(?![A-Za-z0-9_])" if word else re.escape(needle))
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def scan_text(text: str, shown: str, secrets: Secrets, allowed: dict[tuple[str, str], Allowed],
              used: set[Allowed]) -> list[Problem]:
    """Every marker, solution line, hidden-test name and title in one shipped text file."""
    found: list[tuple[int, str, str, Origin | None]] = []      # (line, secret text, message, origin)
    has_marker = "SOLUTION" in text                              # skip the regex for almost every file
    for number, raw in enumerate(text.splitlines(), start=1):
        for marker in _MARKER.finditer(raw) if has_marker else ():
            found.append((number, marker.group(0), f"solution marker {marker.group(0)!r}", None))
        line = normalise(raw)
        origin = secrets.lines.get(line)
        if origin is not None:
            found.append((number, line, f"solution line {line[:80]!r}", origin))
    for name in sorted(set(_IDENTIFIER.findall(text)) & secrets.names.keys()):
        origin = secrets.names[name]
        found += [(n, name, f"hidden-test name {name!r}", origin) for n in _line_numbers(text, name, word=True)]
    for title, origin in secrets.titles.items():
        if title in text:
            found += [(n, title, f"hidden-test title {title[:80]!r}", origin) for n in _line_numbers(text, title, word=False)]
    problems: list[Problem] = []
    for number, secret, message, origin in sorted(found, key=lambda f: f[0]):
        entry = allowed.get((shown, secret))
        if entry is not None:
            used.add(entry)
            continue
        source = f" (from {origin})" if origin else ""
        problems.append(Problem(shown, number, f"{message} in the student release{source}"))
    return problems


def _read_text(path: Path) -> str | None:
    """The file's text, or None for binary data (a NUL byte early on, or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_leaks(root: Path, files: list[str], secrets: Secrets,
                allow: tuple[Allowed, ...] = ALLOWED) -> list[Problem]:
    """Scan the repo-relative `files` of `root`; report the allow-list entries nothing used."""
    allowed = {(a.path, a.text): a for a in allow}
    used: set[Allowed] = set()
    problems: list[Problem] = []
    for rel in files:
        path = root / rel
        size = path.stat().st_size
        if size > MAX_SHIPPED_BYTES:
            problems.append(Problem(rel, None, f"{size / 1e6:.1f} MB is over the {MAX_SHIPPED_BYTES / 1e6:.0f} MB "
                                               f"limit for a shipped file (exclude it in grader/release/manifest.py?)"))
            continue
        text = _read_text(path)
        if text is not None:
            problems += scan_text(text, rel, secrets, allowed, used)
    for entry in allow:
        if entry not in used:
            problems.append(Problem(entry.path, None, f"ALLOWED entry {entry.text[:60]!r} in grader/release/manifest.py "
                                                      f"matches nothing any more: remove it"))
    return problems


def check(package: Path, hidden: Path, root: Path, stubs: Path | None = None) -> list[Problem]:
    """Every problem with the release of the checkout `root`.

    package: the reference (solutions/tinytorch); hidden: the hidden tests; stubs: the
    generated stubs to compare, default `root/assignments/tinytorch`.
    """
    stubs = stubs if stubs is not None else root / "assignments" / "tinytorch"
    if not root.is_dir():
        return [Problem(str(root), None, "the checkout to scan does not exist")]
    return check_sync(package, stubs, root) + check_leaks(root, shipped_files(root), load_secrets(package, hidden))
