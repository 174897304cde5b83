"""`grader status`'s cache: a module's public-test rows, kept while the files that decide them are unchanged.

    cache = StatusCache.load(impl)
    deps = dependencies(impl, cfg, "05", test_files, also={"03"})   # the files that decide Module 05
    key = cache_key(deps, test_files, cfg)
    rows = cache.get("05", key)          # None: not cached, or something it depends on changed
    cache.put("05", key, rows, also={"03"}); cache.save()

What decides a module's public tests (each file by its sha256, so an edit undone is a hit again):
- its own file, its prerequisites' files (config.yaml `requires`), and every tinytorch file
  those import (`from .autograd import ...`, `from . import autograd`), transitively;
- the tinytorch files whose names its public test files use (`tt.Linear` -> layers.py, through
  the imports in tinytorch/__init__.py), and the modules its last checks waited for or needed
  (`also`, recorded with the rows);
- the package's plumbing (tinytorch/*.py that is no module's file: __init__.py, _random.py);
- every other tinytorch file by its *shape* only (its top-level statements without function
  bodies, or its bytes when it does not parse): editing a function of optim.py re-runs no
  Module 05 test, but a syntax error or a new top-level statement there (which breaks
  `import tinytorch` for every test) does;
- its public test files and the helpers beside them (conftest.py, _gradcheck.py);
- the kit: its version, the config file, the Python version and the grader code that runs and
  classifies the tests (grader/core/*.py, grader/engine/pytest_plugin.py).

The cache file is `<impl>/.cache/grader/status.json` (gitignored), written atomically; a file
that cannot be read or does not have the expected shape is ignored and rebuilt. Its rows pass
through `Row.from_untrusted`, like any row read from disk.
"""
from __future__ import annotations

import ast
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import grader
from grader.config import Config
from grader.core.outcomes import Source
from grader.core.rows import Row
from grader.report.last_run import CACHE_DIR, write_json_atomically

CACHE_NAME = "status.json"
FORMAT = 1
MAX_CACHE_BYTES = 8 * 1024 * 1024
KIT_CODE = ("core/*.py", "engine/pytest_plugin.py")


def cache_path(impl: Path) -> Path:
    return Path(impl) / CACHE_DIR / CACHE_NAME


def module_file(impl: Path, cfg: Config, number: str) -> Path:
    return Path(impl) / "tinytorch" / f"{cfg.modules[number].name}.py"


_MEMO: dict[tuple[str, bytes], Any] = {}     # (what, sha256 of a file's bytes) -> what was found in it


def _memo(what: str, path: Path, find: Callable[[ast.Module | None, bytes], Any]) -> Any:
    """find(tree, data) for the file at `path`, computed once per content in this process."""
    data = _read(path)
    key = (what, hashlib.sha256(data).digest())
    if key not in _MEMO:
        _MEMO[key] = find(_parse_bytes(data, path), data)
    return _MEMO[key]


def _parse_bytes(data: bytes, path: Path) -> ast.Module | None:
    try:
        return ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _package_imports(tree: ast.Module | None) -> set[str]:
    """Stems of tinytorch files a module imports: `from .x import`, `from . import x`, `tinytorch.x`."""
    found: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level >= 1 or base == "tinytorch" or base.startswith("tinytorch."):
                inner = base.removeprefix("tinytorch").lstrip(".") if node.level == 0 else base
                if inner:
                    found.add(inner.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("tinytorch."))
    return found


def _exported_names(tree: ast.Module | None) -> dict[str, str]:
    """{"Linear": "layers", ...} from tinytorch/__init__.py's `from .layers import Linear` lines."""
    names: dict[str, str] = {}
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module.split(".")[0]
    return names


def _names_used(tree: ast.Module | None) -> set[str]:
    """Attribute names read from any object (`tt.Linear` -> "Linear") and names imported from tinytorch."""
    used: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tinytorch":
            used.update(alias.name for alias in node.names)
    return used


def dependencies(impl: Path, cfg: Config, number: str, test_files: list[Path], also: set[str] | None = None) -> set[str]:
    """Stems of the tinytorch files ("tensor", "autograd", ...) that decide Module `number`'s tests."""
    also = also or set()
    package = Path(impl) / "tinytorch"
    stems = {p.stem for p in package.glob("*.py")}
    modules = {cfg.modules[n].name for n in cfg.modules}
    wanted = {cfg.modules[n].name for n in {number, *cfg.course.prerequisites(number), *also} if n in cfg.modules}
    wanted |= stems - modules - {"__init__"}           # plumbing: _random.py and the like
    exported = _memo("exports", package / "__init__.py", lambda tree, _: _exported_names(tree))
    for test in [*test_files, *_helpers(test_files)]:
        wanted |= {exported[name] for name in _memo("names", test, lambda tree, _: _names_used(tree)) & exported.keys()}
    todo = list(wanted)
    while todo:                                         # follow imports between tinytorch files
        stem = todo.pop()
        for imported in _memo("imports", package / f"{stem}.py", lambda tree, _: _package_imports(tree)) & stems:
            if imported not in wanted:
                wanted.add(imported)
                todo.append(imported)
    return wanted & stems


def _shape(path: Path) -> bytes:
    """A file's top-level statements without function bodies; its bytes when it does not parse."""
    return _memo("shape", path, _shape_of)


def _shape_of(tree: ast.Module | None, data: bytes) -> bytes:
    if tree is None:
        return b"unparsed\0" + data
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


def cache_key(impl: Path, cfg: Config, deps: set[str], test_files: list[Path]) -> str:
    """sha256 of everything that decides a module's public tests (see the module docstring)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    package = Path(impl) / "tinytorch"
    for path in sorted(package.glob("*.py")):
        if path.stem in deps or path.stem == "__init__":
            add(f"file:{path.name}", _read(path))
        else:
            add(f"shape:{path.name}", _shape(path))
    for path in [*test_files, *_helpers(test_files)]:
        add(f"test:{path.name}", _read(path))
    root = Path(grader.__file__).parent
    for pattern in KIT_CODE:
        for path in sorted(root.glob(pattern)):
            add(f"kit:{path.relative_to(root).as_posix()}", _read(path))
    add("config", _read(Path(cfg.path)))
    add("versions", f"{grader.__version__} {sys.version}".encode())
    return digest.hexdigest()


def _helpers(test_files: list[Path]) -> list[Path]:
    """The non-test .py files beside the test files (conftest.py, _gradcheck.py)."""
    folder = test_files[0].parent if test_files else None
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("test_")) if folder else []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"<unreadable>"


@dataclass
class Entry:
    key: str
    rows: list[Row]
    also: set[str]              # modules the rows waited for or needed beyond the prerequisites


@dataclass
class StatusCache:
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, impl: Path) -> "StatusCache":
        """The cache of `impl`; empty when there is none or it cannot be read."""
        cache = cls(cache_path(impl))
        try:
            with open(cache.path, "rb") as handle:
                data = handle.read(MAX_CACHE_BYTES + 1)
            raw = json.loads(data) if len(data) <= MAX_CACHE_BYTES else None
        except (OSError, ValueError, RecursionError):
            return cache
        if type(raw) is not dict or raw.get("format") != FORMAT or type(raw.get("modules")) is not dict:
            return cache
        for number, entry in raw["modules"].items():
            decoded = _decode(entry)
            if type(number) is str and decoded is not None:
                cache.entries[number] = decoded
        return cache

    def also(self, number: str) -> set[str]:
        entry = self.entries.get(number)
        return set(entry.also) if entry else set()

    def get(self, number: str, key: str) -> list[Row] | None:
        entry = self.entries.get(number)
        return list(entry.rows) if entry is not None and entry.key == key else None

    def put(self, number: str, key: str, rows: list[Row], also: set[str]) -> None:
        self.entries[number] = Entry(key, list(rows), set(also))

    def drop(self, number: str) -> None:
        self.entries.pop(number, None)

    def save(self) -> None:
        """Write atomically; a cache that cannot be written is skipped (the next status recomputes)."""
        data = {"format": FORMAT, "modules": {n: {"key": e.key, "also": sorted(e.also),
                                                  "rows": [r.to_json() for r in e.rows]}
                                              for n, e in sorted(self.entries.items())}}
        try:
            write_json_atomically(self.path, data)
        except OSError:
            pass


def _decode(entry: object) -> Entry | None:
    if type(entry) is not dict or type(entry.get("key")) is not str or type(entry.get("rows")) is not list:
        return None
    also = entry.get("also", [])
    if type(also) is not list or not all(type(a) is str and len(a) <= 4 for a in also):
        return None
    rows = [Row.from_untrusted(raw, source=Source.PUBLIC, keep_points=False) for raw in entry["rows"][:2000]]
    if any(r is None for r in rows):
        return None
    return Entry(entry["key"], [r for r in rows if r is not None], set(also))
