"""Run a probe function against the implementation under test, in the sandbox.

The worker sees the probe's source, so it sees the probe under a neutral name: the hidden
test's own names (its function, file and title, and the probe's name, which often says what
the test checks) never cross into the sandbox, where student code could read them from its
stack and relay them into a visible message.
"""
from __future__ import annotations

import ast
import functools
import inspect
import io
import os
import re
import textwrap
import types
import tokenize
from pathlib import Path
from typing import Any, Callable

from grader.config import Config
from grader.core.context import current
from grader.sandbox import Limits, ProbeResult, run_probe

NEUTRAL_NAME = "probe"


class ProbeSourceError(ValueError):
    """A probe's source cannot be sent under a neutral name (a mistake of the test author)."""


def current_impl() -> Path:
    """The implementation under test (the directory holding `tinytorch/`), from the grading context."""
    path = Path(current().impl).resolve()
    if not (path / "tinytorch").is_dir():
        raise RuntimeError(f"the grading context names {path}, which has no tinytorch/ package")
    return path


def grading_config() -> Config:
    """The grader config of the running grading (the one `grader check --config` named)."""
    from grader.config import load_config
    return load_config(Path(current().config_path) if current().config_path else None)


def sandbox_limits(wall_seconds: float | None = None, memory_mb: int | None = None) -> Limits:
    """Probe limits from the grading context (the config's `sandbox:`), optionally overridden for one probe."""
    sb = current().probe_limits
    return Limits(wall_seconds=float(wall_seconds or sb.wall_seconds),
                  memory_bytes=int(memory_mb or sb.memory_mb) * 1024 * 1024,
                  file_bytes=sb.file_size_mb * 1024 * 1024,
                  processes=sb.processes)


def probe(fn: Callable[..., dict], /, *, limits: Limits | None = None,
          files: dict[str, Path] | None = None, **inputs: Any) -> ProbeResult:
    """Run `fn(tt, **inputs)` in a fresh sandboxed worker against the implementation under test.

    Only `fn`'s own source crosses over, renamed to NEUTRAL_NAME (see `neutral_source`); inputs
    and outputs are plain data (arrays, numbers, strings). Nothing the worker does can change
    the verdict except the values it returns.
    """
    source = neutral_source(_source_of(fn.__code__), fn.__name__, _running_test(fn))
    ctx = current()
    return run_probe(current_impl(), source, NEUTRAL_NAME, inputs, limits=limits or sandbox_limits(),
                     files=files, uid_slot=ctx.uid_slot, workspace_dir=ctx.workspace_dir or None)


def _running_test(fn: Callable[..., Any]) -> tuple[str, ...]:
    """What names the running test: its file's stem and function name (from pytest's
    PYTEST_CURRENT_TEST, "hidden_tests/test_02_activations.py::test_x[a] (call)") and its
    title (the first docstring line of that function, found beside the probe)."""
    value = os.environ.get("PYTEST_CURRENT_TEST", "")
    path, _, rest = value.partition("::")
    function = re.split(r"[\[\s:]", rest, maxsplit=1)[0] if rest else ""
    doc = getattr(getattr(fn, "__globals__", {}).get(function), "__doc__", None) or ""
    title = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    return tuple(n for n in (Path(path).stem if path else "", function, title) if n)


@functools.lru_cache(maxsize=512)
def _source_of(code: types.CodeType) -> str:
    """A probe function's source, dedented (once per function: a test module runs its probes many times)."""
    return textwrap.dedent(inspect.getsource(code))


@functools.lru_cache(maxsize=1024)   # a pure function of its arguments; each probe runs it per test case
def neutral_source(source: str, name: str, secrets: tuple[str, ...] = ()) -> str:
    """`source` (defining the top-level function `name`) with that function renamed NEUTRAL_NAME.

    Only identifiers change, in place: the def's name and every use of `name` as a variable,
    parameter or nested def or class (recursion, a helper of the same name), so the code means
    the same and keeps its layout. `name` may stay where it is not the probe (an attribute,
    `model.zero_grad()`; a keyword; a string): that is what the probe does, and the worker sees
    it anyway. Raises ProbeSourceError when the renaming cannot be exact (`name` in an import,
    `global` or `nonlocal`; NEUTRAL_NAME already used) or when the source names one of
    `secrets` (the running test's file, function or title) anywhere, comments included.
    """
    tree = ast.parse(source)
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body):
        raise ProbeSourceError(f"probe source defines no top-level function {name!r}")
    identifiers = {t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME}
    if name != NEUTRAL_NAME and NEUTRAL_NAME in identifiers:
        raise ProbeSourceError(f"probe {name!r} already uses the name {NEUTRAL_NAME!r}; rename that")
    lines = source.encode("utf-8").splitlines(keepends=True)
    spans: list[tuple[int, int]] = []         # (line index, byte column) where `name` starts
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            spans.append((node.lineno - 1, node.col_offset))
        elif isinstance(node, ast.arg) and node.arg == name:
            spans.append((node.lineno - 1, node.col_offset))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            spans.append(_def_name(lines, node, name))
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names or \
                isinstance(node, ast.alias) and name in (node.name, node.asname):
            raise ProbeSourceError(f"probe {name!r} names itself in an import, global or nonlocal statement "
                                   f"(line {getattr(node, 'lineno', '?')}); give that another name")
    for row, col in sorted(set(spans), reverse=True):
        line = lines[row]
        lines[row] = line[:col] + NEUTRAL_NAME.encode() + line[col + len(name.encode()):]
    renamed = b"".join(lines).decode("utf-8")
    for secret in secrets:
        if secret in renamed:
            raise ProbeSourceError(f"probe {name!r}: its source names the running test ({secret!r}), which the "
                                   f"worker must not see; remove it from the probe")
    if ast.dump(_renamed_tree(tree, name)) != ast.dump(ast.parse(renamed)):
        raise ProbeSourceError(f"probe {name!r}: renaming it to {NEUTRAL_NAME!r} changed more than its name")
    return renamed


def _renamed_tree(tree: ast.Module, name: str) -> ast.Module:
    """`tree` with the identifiers `neutral_source` renames renamed in the tree itself: the
    check that the text edit changed exactly those."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            node.id = NEUTRAL_NAME
        elif isinstance(node, ast.arg) and node.arg == name:
            node.arg = NEUTRAL_NAME
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            node.name = NEUTRAL_NAME
    return tree


def _def_name(lines: list[bytes], node: ast.AST, name: str) -> tuple[int, int]:
    """(line index, byte column) of the name in `def name(` / `class name`."""
    row = node.lineno - 1
    match = re.compile(rb"(?:async\s+)?(?:def|class)\s+" + re.escape(name.encode()) + rb"\b").match(
        lines[row], node.col_offset)
    if match is None:
        raise ProbeSourceError(f"probe {name!r}: cannot find the name of the def on line {node.lineno}")
    return row, match.end() - len(name.encode())
