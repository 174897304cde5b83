"""One `.py` file that carries a student's tinytorch module files: what an Otter course submits.

Otter-Grader grades exactly one notebook or one `.py` file per submission (`otter run` and its
Gradescope autograder both refuse a folder or several files), while this kit grades eight module
files. The bundle bridges the two:

    grader otter pack                          assignments/tinytorch -> ./tinytorch_submission.py
    grader otter pack --impl DIR --out FILE    DIR holds tinytorch/

    text = pack_bundle({"tensor.py": b"...", ...})     # the bundle's text
    bundle = read_bundle(Path("tinytorch_submission.py"), wanted)
    bundle.files                                        # {"tensor.py": b"...", ...}
    bundle.problem                                      # "" when it could be read

The bundle is plain Python with one assignment of string literals and nothing else:

    TINYTORCH_FILES = {
        'tensor.py': '...the file...',
        ...
    }

It is read with `ast` and never executed. Only names the config lists are taken (a missing one
is graded as its stub, like every other way of submitting); anything else (other statements,
names, non-string values, a file over 2 MiB, a bundle over 16 MiB) makes the whole bundle
unreadable and the problem is reported to the student. Standard library only: students pack
with it in their own copy of the kit.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

VARIABLE = "TINYTORCH_FILES"
DEFAULT_NAME = "tinytorch_submission.py"
MAX_FILE_BYTES = 2 * 2**20          # per module file: what `grader grade` and Gradescope accept
MAX_BUNDLE_BYTES = 16 * 2**20       # eight files at their limit, escaped, fit well within this
HEADER = ('"""tinytorch submission: your module files, packed by `grader otter pack`. Upload this file as it is;\n'
          'the grader reads the text below and never runs this file. To change it, edit tinytorch/ and pack again."""\n')


class BundleProblem(ValueError):
    """The bundle cannot be read; the message names the file and what is wrong."""


@dataclass
class Bundle:
    files: dict[str, bytes] = field(default_factory=dict)     # module file name -> its bytes
    missing: list[str] = field(default_factory=list)          # wanted names the bundle lacks
    problem: str = ""                                         # why nothing was taken ("" when read)


def pack_bundle(files: dict[str, bytes]) -> str:
    """The bundle's text for `files` ({"tensor.py": bytes}), sorted by name; raises BundleProblem
    for a name with a folder in it, a file that is not UTF-8, or one over MAX_FILE_BYTES."""
    lines = [HEADER, f"{VARIABLE} = {{"]
    for name in sorted(files):
        data = files[name]
        if "/" in name or "\\" in name or not name.endswith(".py"):
            raise BundleProblem(f"otter bundle: {name!r} is not a module file name like 'tensor.py'")
        if len(data) > MAX_FILE_BYTES:
            raise BundleProblem(f"otter bundle: {name} is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleProblem(f"otter bundle: {name} is not UTF-8 text (byte {exc.start})") from None
        lines.append(f"    {name!r}: {text!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse_bundle(text: str, where: str) -> dict[str, bytes]:
    """{name: bytes} from a bundle's text; raises BundleProblem naming `where` and the line."""
    try:
        tree = ast.parse(text, filename=where)
    except SyntaxError as exc:
        raise BundleProblem(f"{where}:{exc.lineno}: not a tinytorch bundle (it is not valid Python: {exc.msg}); "
                            f"make it with `grader otter pack`") from None
    except (ValueError, RecursionError, MemoryError) as exc:   # null bytes; nesting the parser cannot hold
        raise BundleProblem(f"{where}: not a tinytorch bundle ({type(exc).__name__}); "
                            f"make it with `grader otter pack`") from None
    body = [node for node in tree.body if not _is_docstring(node)]
    if len(body) != 1 or not isinstance(body[0], ast.Assign) or len(body[0].targets) != 1 \
            or not isinstance(body[0].targets[0], ast.Name) or body[0].targets[0].id != VARIABLE:
        line = body[0].lineno if body else 1
        raise BundleProblem(f"{where}:{line}: not a tinytorch bundle (it must hold exactly one assignment, "
                            f"{VARIABLE} = {{...}}); make it with `grader otter pack`")
    value = body[0].value
    if not isinstance(value, ast.Dict):
        raise BundleProblem(f"{where}:{value.lineno}: {VARIABLE} must be a dict of file name -> file text")
    files: dict[str, bytes] = {}
    for key, item in zip(value.keys, value.values):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)
                and isinstance(item, ast.Constant) and isinstance(item.value, str)):
            line = (key or item).lineno
            raise BundleProblem(f"{where}:{line}: {VARIABLE} may hold only 'name.py': 'text' pairs of plain strings")
        try:
            data = item.value.encode("utf-8")
        except UnicodeEncodeError:
            raise BundleProblem(f"{where}:{key.lineno}: {key.value[:80]!r} holds a lone surrogate (not UTF-8 text)") from None
        if len(data) > MAX_FILE_BYTES:
            raise BundleProblem(f"{where}:{key.lineno}: {key.value[:80]!r} is {len(data)} bytes, "
                                f"over the {MAX_FILE_BYTES} byte limit")
        if key.value in files:
            raise BundleProblem(f"{where}:{key.lineno}: {key.value[:80]!r} appears twice")
        files[key.value] = data
    return files


def read_bundle(path: Path, wanted: tuple[str, ...]) -> Bundle:
    """The module files `wanted` ("tensor.py", ...) from the bundle at `path`; never raises for
    what the file holds (the problem is in `Bundle.problem`, and every file is then missing)."""
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise BundleProblem(f"{path.name}: {size} bytes, over the {MAX_BUNDLE_BYTES} byte limit of a bundle")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BUNDLE_BYTES + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleProblem(f"{path.name}: not UTF-8 text (byte {exc.start}); make it with `grader otter pack`") from None
        files = parse_bundle(text, path.name)
    except BundleProblem as exc:
        return Bundle({}, list(wanted), str(exc))
    except OSError as exc:
        return Bundle({}, list(wanted), f"{path.name}: cannot be read ({exc.strerror})")
    unknown = sorted(set(files) - set(wanted))
    if unknown:
        shown = ", ".join(repr(n[:80]) for n in unknown[:5])
        return Bundle({}, list(wanted), f"{path.name}: {VARIABLE} names files that are not tinytorch modules: {shown} "
                                        f"(expected some of {', '.join(wanted)})")
    return Bundle({n: files[n] for n in wanted if n in files}, [n for n in wanted if n not in files])


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
