"""Generate the student's tinytorch from the reference: every solution block becomes a TODO.

A solution block in `solutions/tinytorch/*.py` looks like

        ### BEGIN SOLUTION 06 | Mul backward | d(a*b)/da = b and d(a*b)/db = a, times grad
        return grad * b, grad * a
        ### END SOLUTION

and becomes, at the marker's indentation,

        # TODO(Module 06): d(a*b)/da = b and d(a*b)/db = a, times grad
        raise NotImplementedError("Module 06: Mul backward")

Every other line (plumbing, docstrings) is kept byte for byte; every `.py` file of the package
is processed, files without blocks are copied; each generated file starts with a short header.

    files = generate_tree(Path("solutions/tinytorch"))   # {"tensor.py": "<stub text>", ...}
    build(Path("solutions/tinytorch"), Path("assignments/tinytorch"))
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


# The course's module numbers; a marker naming any other number is a mistake.
MODULE_NUMBERS: tuple[str, ...] = tuple(f"{n:02d}" for n in range(1, 9))

BEGIN_TEXT = "BEGIN SOLUTION"
END_TEXT = "END SOLUTION"
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION (?P<module>\S+) \| (?P<name>[^|]*?) \| (?P<hint>.*?)[ \t]*$")
_END = re.compile(r"^(?P<indent>[ \t]*)### END SOLUTION[ \t]*$")
_PRELUDE = re.compile(r"^#!|^#.*coding[:=]")  # shebang and encoding lines must stay first

GENERATOR_COMMAND = "grader stubs build"
STUB_SUFFIX = ".py"


class MarkerError(ValueError):
    """A malformed solution marker; the message names the file and line of each problem."""


@dataclass(frozen=True)
class Block:
    """One solution block: where it is, what it is called, and the lines it hides."""
    path: str                    # file name relative to the package, e.g. "autograd.py"
    begin: int                   # 1-based line of the BEGIN marker
    end: int                     # 1-based line of the END marker
    module: str                  # "06"
    name: str                    # "Mul backward" (goes into the NotImplementedError)
    hint: str                    # goes into the TODO comment
    indent: str
    lines: tuple[str, ...]       # the solution lines, with their line endings

    def stub_lines(self, newline: str) -> list[str]:
        message = f"Module {self.module}: {self.name}".replace("\\", "\\\\").replace('"', '\\"')
        return [f"{self.indent}# TODO(Module {self.module}): {self.hint}{newline}",
                f'{self.indent}raise NotImplementedError("{message}"){newline}']


Segment = str | Block      # a plumbing line (with its ending) or a solution block


@dataclass(frozen=True)
class SourceFile:
    """A reference file split into plumbing lines and solution blocks, in order."""
    path: str
    segments: tuple[Segment, ...]

    @property
    def blocks(self) -> list[Block]:
        return [s for s in self.segments if isinstance(s, Block)]

    @property
    def plumbing(self) -> list[str]:
        return [s for s in self.segments if isinstance(s, str)]


def parse_source(text: str, path: str, shown: str | None = None) -> SourceFile:
    """Split `text` into plumbing and blocks; MarkerError lists every malformed marker.

    path: the file's name inside the package ("autograd.py"); shown: how error messages name
    the file (default: path).
    """
    shown = shown or path
    errors: list[str] = []
    segments: list[Segment] = []
    open_at: int = 0                      # line of the open BEGIN marker, 0 when none is open
    problem = ""                          # what is wrong with the open BEGIN marker, if anything
    head: dict[str, str] = {}
    body: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        content = line.rstrip("\r\n")
        where = f"{shown}:{number}"
        if BEGIN_TEXT in content:
            match = _BEGIN.match(content)
            if open_at:
                errors.append(f"{where}: BEGIN SOLUTION inside the block opened at line {open_at} "
                              f"(blocks cannot nest; close it with '### END SOLUTION' first)")
                continue
            problem = _field_problem(match) if match else (
                "malformed marker; expected '### BEGIN SOLUTION NN | name | hint'")
            if problem:
                errors.append(f"{where}: {problem}: {content.strip()!r}")
            indent = content[: len(content) - len(content.lstrip())]
            open_at, head, body = number, (match.groupdict() if match else {"indent": indent}), []
        elif END_TEXT in content:
            match = _END.match(content)
            if not match:
                errors.append(f"{where}: malformed marker {content.strip()!r}; expected '### END SOLUTION' alone on its line")
            elif not open_at:
                errors.append(f"{where}: END SOLUTION without a BEGIN SOLUTION before it")
            elif match["indent"] != head["indent"]:
                errors.append(f"{where}: END SOLUTION is indented differently from its BEGIN at line {open_at}")
            elif not any(b.strip() for b in body):
                errors.append(f"{shown}:{open_at}: the solution block ending at line {number} is empty")
            elif "module" in head and not problem:
                segments.append(Block(path, open_at, number, head["module"], head["name"].strip(),
                                      head["hint"].strip(), head["indent"], tuple(body)))
            open_at = 0
        elif open_at:
            body.append(line)
        else:
            segments.append(line)
    if open_at:
        errors.append(f"{shown}:{open_at}: BEGIN SOLUTION is never closed by '### END SOLUTION'")
    if errors:
        raise MarkerError("\n".join(errors))
    return SourceFile(path, tuple(segments))


def _field_problem(match: re.Match[str]) -> str:
    if match["module"] not in MODULE_NUMBERS:
        return f"module number {match['module']!r} is not one of {MODULE_NUMBERS[0]}-{MODULE_NUMBERS[-1]}"
    if not match["name"].strip():
        return "the name field is empty"
    if not match["hint"].strip():
        return "the hint field is empty"
    return ""


def header(source: SourceFile, newline: str = "\n") -> list[str]:
    """The comment every generated file starts with (it names no solution content)."""
    modules = sorted({b.module for b in source.blocks})
    if modules:
        todo = f"your file to complete for Module {', '.join(modules)}"
        lines = [f"# tinytorch/{source.path}: {todo}. Replace each",
                 "# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest."]
    else:
        lines = [f"# tinytorch/{source.path}: part of your tinytorch, provided as is (nothing to complete here)."]
    lines.append(f"# Generated from the reference solution by `{GENERATOR_COMMAND}`.")
    return [line + newline for line in lines]


def render_stub(source: SourceFile) -> str:
    """The student's version of one file: header, plumbing kept, each block a TODO and a raise."""
    newline = "\r\n" if any(s.endswith("\r\n") for s in source.plumbing) else "\n"
    out: list[str] = []
    for segment in source.segments:
        out.extend(segment.stub_lines(newline) if isinstance(segment, Block) else [segment])
    prelude = 0
    while prelude < min(2, len(out)) and _PRELUDE.match(out[prelude]):
        prelude += 1
    return "".join(out[:prelude] + header(source, newline) + out[prelude:])


def read_source(path: Path) -> str:
    """The file's text with its line endings untouched (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def _display(path: Path) -> str:
    """`path` relative to the working directory when it is below it, else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def source_files(package: Path) -> list[Path]:
    """Every .py file of the package (recursively, without caches), sorted."""
    return sorted(p for p in package.rglob(f"*{STUB_SUFFIX}") if "__pycache__" not in p.parts and p.is_file())


def parse_tree(package: Path) -> list[SourceFile]:
    """Parse every .py file of the reference package; MarkerError lists the problems of all files."""
    if not package.is_dir():
        raise FileNotFoundError(f"reference package not found: {package}")
    parsed: list[SourceFile] = []
    errors: list[str] = []
    for path in source_files(package):
        rel = path.relative_to(package).as_posix()
        try:
            parsed.append(parse_source(read_source(path), rel, _display(path)))
        except MarkerError as exc:
            errors.append(str(exc))
    if errors:
        raise MarkerError("\n".join(errors))
    if not parsed:
        raise FileNotFoundError(f"no .py files in the reference package {package}")
    return parsed


def generate_tree(package: Path) -> dict[str, str]:
    """{relative path: stub text} for every .py file of the reference package.

    Raises MarkerError for malformed markers and SyntaxError naming the file if a stub would
    not compile (e.g. a block that was the only thing inside an `if`'s else)."""
    files: dict[str, str] = {}
    for source in parse_tree(package):
        text = render_stub(source)
        compile(text, f"<stub of {source.path}>", "exec", dont_inherit=True)
        files[source.path] = text
    return files


@dataclass(frozen=True)
class BuildReport:
    written: list[str]           # files created or changed
    unchanged: list[str]
    removed: list[str]           # stale generated files deleted
    foreign: list[str]           # stale files left alone because they were not generated
    todos: int


def is_generated(text: str) -> bool:
    """True if `text` carries the header of a file this generator wrote."""
    return f"by `{GENERATOR_COMMAND}`" in "".join(text.splitlines(keepends=True)[:6])


def build(package: Path, out: Path) -> BuildReport:
    """Write the stubs of `package` into `out`; remove stale .py files that the generator wrote."""
    files = generate_tree(package)
    todos = sum(len(s.blocks) for s in parse_tree(package))
    written, unchanged, removed, foreign = [], [], [], []
    for rel, text in files.items():
        target = out / rel
        if target.is_file() and read_source(target) == text:
            unchanged.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="")
        written.append(rel)
    for path in source_files(out):
        rel = path.relative_to(out).as_posix()
        if rel in files:
            continue
        if is_generated(path.read_bytes().decode("utf-8", errors="replace")):
            path.unlink()
            removed.append(rel)
        else:
            foreign.append(rel)
    return BuildReport(written, unchanged, removed, foreign, todos)
