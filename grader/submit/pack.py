"""What `grader submit` packs: the student's eight module files and a manifest, checked first.

    files = read_module_files(Path("assignments"), cfg)   # Refused: missing, a link, too large
    refuse_syntax_errors(files)                           # Refused: "tinytorch/data.py:42: invalid syntax"
    check_import(Path("assignments"))                     # Refused: the last frame inside tinytorch/
    summary = local_check(Path("assignments"), cfg)       # public tests per module (grader.engine.grade)
    size = write_zip(Path("submission.zip"), files, manifest(files, summary))

The zip holds exactly the module files the config names (`tinytorch/<name>.py` of each module,
flat at the zip's top, as a Gradescope upload is) and `MANIFEST.json`: the kit's version, each
file's sha256 and size, when and with which Python it was packed, and the local check's
summary. Nothing else from the student's machine is read into it: the `__init__.py` and helpers
come from the kit at grading time. Stubs still raising NotImplementedError are fine (partial
work may be submitted); a file that does not compile, or a package that does not import, is
refused with the file and line, since every test of it would fail.

The zip is deterministic (sorted names, fixed timestamps, mode 0o644) apart from the
manifest's time, and written atomically (a temporary file beside it, then a rename).
`grader grade` and the Gradescope autograder read it as a submission whose module files are at
the top; both skip `MANIFEST.json` (see MANIFEST_NAME) rather than list it as ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.config import Config
from grader.core.atomic import atomic_file

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = "tinytorch-submission/1"
MAX_FILE_BYTES = 2 * 2**20          # per module file: what `grader grade` and Gradescope accept (tests check)
IMPORT_TIMEOUT_SECONDS = 20.0
ZIP_TIME = (2020, 1, 1, 0, 0, 0)    # every entry's timestamp: the same files give the same entries
NOT_RUN = "not run"
_IMPORT_MARK = "tinytorch-submit-import:"


class Refused(Exception):
    """The submission cannot be packed; str(exc) says why, naming the file (and line)."""


@dataclass(frozen=True)
class ModuleFile:
    """One student-editable file: `name` is its file name in tinytorch/ ("tensor.py")."""

    number: str         # "01"
    name: str           # "tensor.py"
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def label(self) -> str:
        return f"tinytorch/{self.name}"


def module_names(cfg: Config) -> list[tuple[str, str]]:
    """(number, file name) of every module, in course order: [("01", "tensor.py"), ...]."""
    course = cfg.course
    return [(number, f"{course.modules[number].name}.py") for number in course.order]


# ------------------------------------------------------------------------ reading the files
def read_module_files(impl: Path, cfg: Config, max_bytes: int = MAX_FILE_BYTES) -> list[ModuleFile]:
    """The module files of impl/tinytorch/, in course order; Refused when one is missing, a link,
    not a regular file or larger than `max_bytes` (every problem is named, not just the first)."""
    package = impl / "tinytorch"
    files: list[ModuleFile] = []
    problems: list[str] = []
    for number, name in module_names(cfg):
        path = package / name
        label = f"tinytorch/{name}"
        try:
            info = path.lstat()
        except FileNotFoundError:
            problems.append(f"{label} (Module {number}) is missing: restore it (the stub from the course "
                            f"repository, or `git checkout -- {path}`) and submit again")
            continue
        if stat.S_ISLNK(info.st_mode):
            problems.append(f"{label} is a symbolic link (to {os.readlink(path)}): only the file itself is "
                            f"submitted, so replace the link by a copy of the file")
            continue
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{label} is not a regular file")
            continue
        if info.st_size > max_bytes:
            problems.append(f"{label} is {info.st_size / 2**20:.1f} MB, more than the {max_bytes / 2**20:g} MB "
                            f"a module file may have: is data pasted into it?")
            continue
        data = _read_no_follow(path, max_bytes)
        if data is None:
            problems.append(f"{label} changed while it was read (a link, or larger than {max_bytes / 2**20:g} MB)")
            continue
        files.append(ModuleFile(number, name, data))
    if problems:
        raise Refused("cannot pack your submission:\n" + "\n".join(f"  - {p}" for p in problems))
    return files


def _read_no_follow(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, refusing a link swapped in since lstat (None) or more than max_bytes (None)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None


# ------------------------------------------------------------------------ syntax and import
def syntax_errors(files: list[ModuleFile]) -> list[str]:
    """One line per file that does not compile: "tinytorch/data.py:42: invalid syntax", the code under it."""
    found = []
    for f in files:
        try:
            compile(f.data, f.label, "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f"{f.label}:{exc.lineno}" if exc.lineno else f.label
            text = (exc.text or "").rstrip("\n").strip()
            found.append(f"{where}: {exc.msg}" + (f"\n      {text}" if text else ""))
        except ValueError as exc:           # null bytes in the source (Python 3.11)
            found.append(f"{f.label}: {exc}")
    return found


def refuse_syntax_errors(files: list[ModuleFile]) -> None:
    errors = syntax_errors(files)
    if errors:
        raise Refused("cannot pack your submission: it has a syntax error, so every test of the module would "
                      "fail:\n" + "\n".join(f"  - {e}" for e in errors) + "\nfix it (`grader check` shows it too) "
                      "and submit again")


_IMPORT_SCRIPT = f"""
import json, os, sys, traceback
package = os.path.realpath(os.path.join(sys.argv[1], "tinytorch")) + os.sep
try:
    import tinytorch
except BaseException as exc:
    frames = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append((exc.filename, exc.lineno or 0, "<module>"))
    ours = [f for f in frames if os.path.realpath(f[0]).startswith(package)]
    where = ours[-1] if ours else None
    if where:
        where = (os.path.relpath(os.path.realpath(where[0]), os.path.dirname(package.rstrip(os.sep))), where[1], where[2])
    print({_IMPORT_MARK!r} + json.dumps({{"type": type(exc).__name__, "message": str(exc)[:500], "where": where}}))
    sys.exit(1)
print({_IMPORT_MARK!r} + json.dumps(None))
"""


def check_import(impl: Path, timeout: float = IMPORT_TIMEOUT_SECONDS) -> None:
    """Import tinytorch from impl/ in a fresh Python (`-P`: only impl/ on the path); Refused when
    it raises, naming the last frame inside tinytorch/, or when it has not finished in `timeout` s."""
    env = {**os.environ, "PYTHONPATH": str(impl), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, "-P", "-c", _IMPORT_SCRIPT, str(impl)], cwd=impl, env=env,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Refused(f"cannot pack your submission: `import tinytorch` did not finish within {timeout:g} s; "
                      f"is there a loop or a long computation at the top level of a module (outside any "
                      f"function)?") from None
    marked = [line for line in done.stdout.splitlines() if line.startswith(_IMPORT_MARK)]
    result = json.loads(marked[-1][len(_IMPORT_MARK):]) if marked else {"type": "crash", "where": None,
             "message": f"the Python importing it exited with status {done.returncode}: "
                        + (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    if result is None:
        return
    where = result.get("where")
    at = f"{where[0]}:{where[1]} in {where[2]}: " if where else ""
    raise Refused(f"cannot pack your submission: `import tinytorch` fails, so every test would fail:\n"
                  f"  {at}{result['type']}: {result['message']}\n"
                  f"fix it (run `python -c \"import tinytorch\"` in {impl} to see the whole traceback) and "
                  f"submit again")


# ------------------------------------------------------------------------ the local check
def local_check(impl: Path, cfg: Config, on_wait: Callable[[object], None] | None = None) -> dict[str, Any]:
    """Run the public tests of every module on impl (as `grader check` does, no milestone
    training and no hidden tests) and summarise them with `check_summary`."""
    from grader.core.targets import Targets
    from grader.engine.grade import grade

    report = grade(impl, Targets(tuple(cfg.course.order), False), cfg=cfg, hidden=False, on_wait=on_wait)
    return check_summary(report.rows, cfg, seconds=report.seconds)


_OUTCOMES = ("passed", "failed", "not_started", "waiting", "error", "timeout")


def check_summary(rows: list[Any], cfg: Config, seconds: float = 0.0) -> dict[str, Any]:
    """{"status": "ran", "modules": {"01": {"title", "tests", "passed", "failed", ...}}, "totals",
    "grading_errors"} from the rows of a public-tests grading."""
    modules: dict[str, dict[str, Any]] = {}
    for number in cfg.course.order:
        counts = {o: 0 for o in _OUTCOMES}
        module_rows = [r for r in rows if r.module == number]
        for r in module_rows:
            counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
        modules[number] = {"title": cfg.course.title(number), "tests": len(module_rows), **counts}
    totals = {o: sum(m[o] for m in modules.values()) for o in ("tests", *_OUTCOMES)}
    errors = [r.title for r in rows if r.module is None and r.outcome.value != "passed"]
    return {"status": "ran", "what": "public tests of every module (no milestone training, no hidden tests)",
            "seconds": round(seconds, 1), "modules": modules, "totals": totals, "grading_errors": errors}


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The local check in a few lines: one per module ("01 Tensor  15/15 passed")."""
    if summary.get("status") != "ran":
        return [f"local check: {summary.get('status', NOT_RUN)}"]
    lines = []
    for number, m in summary["modules"].items():
        rest = ", ".join(f"{m[o]} {o.replace('_', ' ')}" for o in _OUTCOMES[1:] if m[o])
        lines.append(f"  {number} {m['title']:<12} {m['passed']:>3}/{m['tests']:<3} passed" + (f" ({rest})" if rest else ""))
    t = summary["totals"]
    lines.append(f"  all          {t['passed']:>3}/{t['tests']:<3} passed in {summary['seconds']:g} s")
    lines += [f"  grading error: {e}" for e in summary.get("grading_errors", [])]
    return lines


# ------------------------------------------------------------------------ manifest and zip
def manifest(files: list[ModuleFile], summary: dict[str, Any] | None, now: datetime | None = None) -> dict[str, Any]:
    """MANIFEST.json's content; `summary` None when the local check was not run."""
    from grader import __version__

    now = now or datetime.now(timezone.utc)
    return {
        "format": MANIFEST_FORMAT,
        "kit_version": __version__,
        "created_at": now.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": platform.python_version(),
        "files": {f.name: {"module": f.number, "sha256": f.sha256, "bytes": f.size} for f in files},
        "local_check": summary if summary is not None else {"status": NOT_RUN},
    }


def manifest_problems(text: bytes, files: dict[str, bytes]) -> list[str]:
    """What in a submission does not match its MANIFEST.json (a file changed after packing, or
    missing); [] when everything matches. For graders that want to note it; never a reason to refuse."""
    try:
        listed = json.loads(text)["files"]
    except (ValueError, KeyError, TypeError, RecursionError):
        listed = None
    if not isinstance(listed, dict):
        return [f"{MANIFEST_NAME} is not one `grader submit` wrote"]
    problems = []
    for name, entry in sorted(listed.items()):
        data, name = files.get(name), name[:80]
        if data is None:
            problems.append(f"{name} is in {MANIFEST_NAME} but not in the submission")
        elif not isinstance(entry, dict) or entry.get("sha256") != hashlib.sha256(data).hexdigest():
            problems.append(f"{name} changed after `grader submit` packed it")
    return problems


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3                  # Unix, so the mode below is read
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def zip_bytes_of(files: list[ModuleFile], manifest_data: dict[str, Any]) -> dict[str, bytes]:
    """The zip's entries by name: the module files and the manifest."""
    entries = {f.name: f.data for f in files}
    entries[MANIFEST_NAME] = (json.dumps(manifest_data, indent=2, sort_keys=True) + "\n").encode()
    return entries


def write_zip(out: Path, files: list[ModuleFile], manifest_data: dict[str, Any]) -> int:
    """Write the zip to `out` atomically (a temporary file in its folder, then a rename); its size."""
    entries = zip_bytes_of(files, manifest_data)
    with atomic_file(out) as handle, zipfile.ZipFile(handle, "w") as archive:
        for name in sorted(entries):
            archive.writestr(_entry(name), entries[name])
    return out.stat().st_size
