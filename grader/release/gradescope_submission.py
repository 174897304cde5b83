"""What a student uploaded to Gradescope, staged as the tinytorch package to grade.

    staged = read_submission(Path("/autograder/submission"), work / "impl", cfg)
    staged.impl          # work/impl, holding tinytorch/: the kit's plumbing + the student's module files
    staged.to_json()     # found_in, files, missing, ignored: for results.json and the student

Accepted: the eight module files flat (a Gradescope upload), a `tinytorch/` folder at any
depth (a GitHub submission holds assignments/tinytorch/), or a zip of either. Only the module
files are taken; `__init__.py`, `_random.py` and a missing module come from the kit, so a
missing file grades as "not started" and nothing else of the upload is ever imported.

`read_submission` is the one entry point. It uses the batch grader's reader
(`grader.batch.collect`) when this copy of the kit has it, and otherwise the small reader
below, which follows the same rules for these three shapes.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.config import Config
from grader.paths import assignments_dir

MAX_MODULE_BYTES = 2 * 2**20
MAX_ENTRIES = 5000
JUNK = ("__MACOSX", "__pycache__", ".git", ".DS_Store")


@dataclass
class StagedSubmission:
    impl: Path                              # the folder holding tinytorch/, what grade() takes
    found_in: str                           # "tinytorch/", "module files at the top", "submission.zip › tinytorch/"
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problem: str = ""                       # why no module file was taken ("" when some were)
    reader: str = "built-in"
    contents: dict[str, bytes] = field(default_factory=dict, repr=False)   # module file -> its bytes

    def to_json(self) -> dict[str, Any]:
        return {"found_in": self.found_in, "files": self.files, "missing": self.missing,
                "ignored": self.ignored[:40], "ignored_count": len(self.ignored), "problem": self.problem,
                "reader": self.reader}


def module_files(cfg: Config) -> tuple[str, ...]:
    return tuple(f"{spec.name}.py" for spec in cfg.modules.values())


def read_submission(folder: Path, dest: Path, cfg: Config, kit: Path | None = None) -> StagedSubmission:
    """Stage the upload in `folder` as dest/tinytorch; never raises for anything the upload holds."""
    wanted = module_files(cfg)
    kit = kit or assignments_dir() / "tinytorch"
    try:
        from grader.batch.collect import collect
        from grader.batch.extract import LIMITS, Rejected, dir_members
    except ImportError:
        found = _built_in(folder, wanted)
    else:
        try:
            got = collect(dir_members(folder, "submission", LIMITS), "submission", wanted)
            found = StagedSubmission(dest, got.found_in, sorted(got.files), got.missing, got.ignored,
                                     reader="grader.batch.collect", contents=dict(got.files))
        except Rejected as exc:
            found = StagedSubmission(dest, "nothing", [], list(wanted), problem=str(exc), reader="grader.batch.collect")
    found.impl = _stage(found.contents, dest, wanted, kit)
    return found


def _stage(contents: dict[str, bytes], dest: Path, wanted: tuple[str, ...], kit: Path) -> Path:
    package = dest / "tinytorch"
    package.mkdir(parents=True, exist_ok=True)
    for path in sorted(kit.glob("*.py")):
        if path.name not in contents:
            shutil.copyfile(path, package / path.name)       # plumbing, and the stub of a missing module
    for name in wanted:
        if name in contents:
            (package / name).write_bytes(contents[name])
    return dest


# ------------------------------------------------------------------------- the built-in reader
def _is_junk(path: str) -> bool:
    parts = path.split("/")
    return any(p in JUNK for p in parts) or parts[-1].startswith("._") or parts[-1].endswith((".pyc", ".pyo"))


def _choose(paths: list[str], wanted: tuple[str, ...]) -> str | None:
    """The folder whose module files are graded: a tinytorch/ (shallowest), the top, the shallowest other."""
    folders = {str(PurePosixPath(p).parent) if "/" in p else "" for p in paths if PurePosixPath(p).name in wanted}
    named = sorted((f for f in folders if PurePosixPath(f).name == "tinytorch"), key=lambda f: (f.count("/"), f))
    if named:
        return named[0]
    if "" in folders:
        return ""
    return min(folders, key=lambda f: (f.count("/"), f)) if folders else None


def _built_in(folder: Path, wanted: tuple[str, ...]) -> StagedSubmission:
    files = _disk_files(folder)
    if isinstance(files, str):
        return _nothing(wanted, files)
    useful = [p for p in files if not _is_junk(p)]
    chosen = _choose(useful, wanted)
    if chosen is not None:
        return _take(useful, chosen, wanted, lambda rel: _read_file(folder / rel), "")
    for archive in sorted((p for p in useful if p.lower().endswith(".zip")), key=lambda p: (p.count("/"), p)):
        staged = _from_zip(folder / archive, archive, wanted)
        if staged.files:
            staged.ignored = [p for p in useful if p != archive] + staged.ignored
            return staged
    listing = ", ".join(useful[:8]) + (" …" if len(useful) > 8 else "")
    return _nothing(wanted, f"no tinytorch module files found (looked for {', '.join(wanted)} in a tinytorch/ "
                            f"folder, at the top, or in a zip); the upload holds {len(useful)} file(s)"
                            + (f": {listing}" if listing else ""))


def _nothing(wanted: tuple[str, ...], problem: str) -> StagedSubmission:
    return StagedSubmission(Path(), "nothing", [], list(wanted), problem=problem)


def _take(paths: list[str], chosen: str, wanted: tuple[str, ...], read: Any, where: str) -> StagedSubmission:
    prefix = f"{chosen}/" if chosen else ""
    contents: dict[str, bytes] = {}
    problems = []
    for name in wanted:
        if prefix + name in paths:
            data = read(prefix + name)
            if isinstance(data, str):
                problems.append(data)
            else:
                contents[name] = data
    taken = {prefix + n for n in contents} | {prefix + "MANIFEST.json"}    # `grader submit`'s: expected, not listed
    ignored = [f"{p} (the kit's own is used)" if p.startswith(prefix) and "/" not in p[len(prefix):]
               and p.endswith(".py") else p for p in paths if p not in taken]
    return StagedSubmission(Path(), where + (prefix or "module files at the top"), sorted(contents),
                            [n for n in wanted if n not in contents], ignored, "; ".join(problems), contents=contents)


def _disk_files(folder: Path) -> list[str] | str:
    """Every regular file below `folder`, relative; a message when the upload cannot be listed."""
    if not folder.is_dir():
        return f"no submission folder at {folder}"
    found: list[str] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if len(found) >= MAX_ENTRIES:
            return f"more than {MAX_ENTRIES} files uploaded"
        if path.is_symlink() or _is_junk(rel):
            continue
        if path.is_file():
            found.append(rel)
    return found


def _read_file(path: Path) -> bytes | str:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        return f"{path.name} is not a regular file"
    if info.st_size > MAX_MODULE_BYTES:
        return f"{path.name} is larger than {MAX_MODULE_BYTES // 2**20} MB"
    return path.read_bytes()


def _from_zip(path: Path, label: str, wanted: tuple[str, ...]) -> StagedSubmission:
    try:
        archive = zipfile.ZipFile(path)
        infos = [i for i in archive.infolist()[:MAX_ENTRIES] if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return _nothing(wanted, f"{label}: not a readable zip ({type(exc).__name__}: {exc})")
    names = {}
    for info in infos:
        name = info.filename.replace("\\", "/")
        mode = info.external_attr >> 16
        if name.startswith("/") or ".." in name.split("/") or stat.S_ISLNK(mode) or _is_junk(name):
            continue
        names[name] = info

    def read(rel: str) -> bytes | str:
        info = names[rel]
        if info.file_size > MAX_MODULE_BYTES or info.flag_bits & 0x1:
            return f"{label} › {rel}: too large or encrypted"
        try:
            with archive.open(info) as stream:
                data = stream.read(MAX_MODULE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
            return f"{label} › {rel}: unreadable ({type(exc).__name__})"
        return data if len(data) <= MAX_MODULE_BYTES else f"{label} › {rel}: too large"

    chosen = _choose(list(names), wanted)
    if chosen is None:
        return _nothing(wanted, f"{label}: no module files inside")
    return _take(list(names), chosen, wanted, read, f"{label} › ")
