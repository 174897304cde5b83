"""What must never reach students, each piece with where it comes from.

    secrets = load_secrets(Path("solutions/tinytorch"), Path("solutions/hidden_tests"))
    secrets.lines["return grad * b, grad * a"]
        # Origin("solutions/tinytorch/autograd.py", 57, 'block "Mul backward" (Module 06)')
    secrets.names["test_linear_forward_is_x_at_weight_plus_bias"]   # a hidden test's name
    secrets.titles["Linear forward: x @ weight + bias, ..."]         # its docstring title

- Solution lines: every line of a solution block, stripped, of at least MIN_LEAK_CHARS
  characters, that is not already public: lines that also occur in the reference's plumbing
  (as a line, or inside a docstring or comment there) are not secrets, and neither is a
  keyword with one bare name (`return found`, `while stack:`), which any code may contain.
- Hidden-test names: every `test_*` function of the hidden tests, and every probe function
  they pass to `probe(...)` whose name is distinctive: a compound name (`linear_forward`)
  that is not an identifier of the reference's plumbing. One-word probes (`accuracy`, `fit`,
  `spy`) and API names (`zero_grad`, `drop_last`) are ordinary words, not identity.
- Hidden-test titles: the first docstring line of each test, when at least MIN_TITLE_CHARS long.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from .generate import parse_tree

MIN_LEAK_CHARS = 12
MIN_TITLE_CHARS = 20
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORD_AND_NAME = re.compile(r"(?:return|yield|while|if|elif|assert|raise|del)\s+[A-Za-z_][A-Za-z0-9_]*:?")


class HiddenTestsError(ValueError):
    """A hidden test file that cannot be parsed; the message names the file and line."""


@dataclass(frozen=True)
class Origin:
    """Where a secret comes from, as a leak report names it."""
    path: str                    # "solutions/tinytorch/layers.py"
    line: int
    what: str                    # 'block "Linear forward" (Module 03)', 'hidden test "test_x"', ...

    def __str__(self) -> str:
        return f"{self.path}:{self.line}, {self.what}"


@dataclass
class Secrets:
    lines: dict[str, Origin] = field(default_factory=dict)    # stripped solution line -> origin
    names: dict[str, Origin] = field(default_factory=dict)    # hidden test or probe name -> origin
    titles: dict[str, Origin] = field(default_factory=dict)   # hidden test title -> origin


def shown_path(folder: Path, rel: str) -> str:
    """`rel` inside `folder`, named from the folder's parent: "solutions/tinytorch/layers.py"."""
    return f"{folder.parent.name}/{folder.name}/{rel}"


def solution_lines(package: Path) -> tuple[dict[str, Origin], set[str]]:
    """({stripped solution line: origin}, the identifiers of the plumbing) of the reference."""
    sources = parse_tree(package)
    public_lines = {line.strip() for s in sources for line in s.plumbing}
    public_text = "\n".join(public_lines)
    secrets: dict[str, Origin] = {}
    for source in sources:
        for block in source.blocks:
            for offset, raw in enumerate(block.lines, start=1):
                line = raw.strip()
                if (len(line) < MIN_LEAK_CHARS or line in public_lines or line in public_text or line in secrets
                        or _KEYWORD_AND_NAME.fullmatch(line)):
                    continue
                secrets[line] = Origin(shown_path(package, source.path), block.begin + offset,
                                       f'block "{block.name}" (Module {block.module})')
    return secrets, set(_IDENTIFIER.findall(public_text))


def _is_probe_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and bool(node.args) and isinstance(node.args[0], ast.Name)
            and ((isinstance(node.func, ast.Name) and node.func.id == "probe")
                 or (isinstance(node.func, ast.Attribute) and node.func.attr == "probe")))


def hidden_identity(hidden: Path, public_names: set[str]) -> tuple[dict[str, Origin], dict[str, Origin]]:
    """({test or probe name: origin}, {title: origin}) of every hidden test file in `hidden`."""
    names: dict[str, Origin] = {}
    titles: dict[str, Origin] = {}
    for path in sorted(hidden.glob("*.py")):
        shown = shown_path(hidden, path.name)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise HiddenTestsError(f"{shown}:{exc.lineno}: cannot parse the hidden tests ({exc.msg})") from exc
        defs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        tests = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name.startswith("test_")]
        tests += [n for c in tree.body if isinstance(c, ast.ClassDef) and c.name.startswith("Test")
                  for n in c.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")]
        for test in tests:
            names.setdefault(test.name, Origin(shown, test.lineno, f'hidden test "{test.name}"'))
            doc = ast.get_docstring(test) or ""
            title = doc.strip().splitlines()[0].strip() if doc.strip() else ""
            if len(title) >= MIN_TITLE_CHARS:
                titles.setdefault(title, Origin(shown, test.lineno, f'title of hidden test "{test.name}"'))
            for call in filter(_is_probe_call, ast.walk(test)):
                name = call.args[0].id
                if "_" not in name.strip("_") or name in public_names or name in names:
                    continue
                where = defs[name].lineno if name in defs else call.lineno
                names[name] = Origin(shown, where, f'probe "{name}" of hidden test "{test.name}"')
    return names, titles


def load_secrets(package: Path, hidden: Path) -> Secrets:
    """Everything of `package` (the reference) and `hidden` (the hidden tests) that must not ship."""
    lines, public_names = solution_lines(package)
    names, titles = hidden_identity(hidden, public_names)
    return Secrets(lines, names, titles)
