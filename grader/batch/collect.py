"""Find a student's module files wherever they sit, and stage them over the kit's plumbing.

    found = collect(members, "alice.zip", MODULE_FILES)
    found.files        # {"tensor.py": b"...", ...}: only the eight student-editable module files
    found.found_in     # "tinytorch/ in submission/tinytorch"
    found.ignored      # ["README.md", "tinytorch/__init__.py (the kit's own is used)", ...]
    found.missing      # ["optim.py"]: graded as the untouched stub ("not started")
    stage(found, Path("/tmp/x"))    # /tmp/x/tinytorch/: the kit's __init__.py, _random.py + the files

Where the files may be, in this order: a `tinytorch/` folder at any depth (the shallowest
wins); module files flat at the top (what a Gradescope upload looks like); the shallowest
folder holding module files; and only when there are none of those, a zip inside the
submission (a zip of the folder instead of its contents), searched the same way. macOS and
Windows litter (`__MACOSX/`, `._*`, `.DS_Store`) and `__pycache__/` never count, nor does the
MANIFEST.json that `grader submit` puts beside the module files (unless its hashes do not match
them). Everything else the submission holds is listed as ignored, so the feedback can say what
was not graded.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.extract import LIMITS, Limits, Member, Rejected, is_junk, open_zip, zip_members
from grader.config import Config
from grader.paths import assignments_dir

MAX_LISTED = 40     # ignored files named in the feedback; the rest are counted


class NoModuleFiles(Rejected):
    """The submission holds none of the module files (anywhere we look)."""


def module_files(cfg: Config) -> tuple[str, ...]:
    """The student-editable files, in course order: ("tensor.py", ..., "training.py")."""
    return tuple(f"{spec.name}.py" for spec in cfg.modules.values())


@dataclass
class Collected:
    files: dict[str, bytes]
    found_in: str
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    junk: int = 0                   # litter skipped without listing (__MACOSX, ._*, .DS_Store, caches)

    def to_json(self) -> dict[str, object]:
        return {"found_in": self.found_in, "files": sorted(self.files), "missing": self.missing,
                "ignored": self.ignored[:MAX_LISTED], "ignored_count": len(self.ignored), "junk": self.junk}


def _depth(folder: str) -> int:
    return folder.count("/") + 1 if folder else 0


def _choose_folder(by_folder: dict[str, list[Member]]) -> str | None:
    """The folder whose module files are graded (see the module docstring), or None."""
    if not by_folder:
        return None
    named = [f for f in by_folder if f.rsplit("/", 1)[-1] == "tinytorch"]
    if named:
        return min(named, key=lambda f: (_depth(f), -len(by_folder[f]), f))
    if "" in by_folder:
        return ""
    return min(by_folder, key=lambda f: (_depth(f), -len(by_folder[f]), f))


def collect(members: list[Member], where: str, wanted: tuple[str, ...], limits: Limits = LIMITS,
            inside: str = "") -> Collected:
    """The module files among `members`; Rejected when there are none (or a nested zip is refused).

    where: the submission, named in messages; inside: the zips the members come from ("a.zip › ")."""
    useful = [m for m in members if not is_junk(m.path)]
    junk = len(members) - len(useful)
    by_folder: dict[str, list[Member]] = {}
    for m in useful:
        if m.name in wanted:
            by_folder.setdefault(m.parent, []).append(m)
    folder = _choose_folder(by_folder)
    if folder is not None:
        chosen = {m.name: m for m in by_folder[folder]}
        files = {name: chosen[name].read(limits.max_module_bytes) for name in wanted if name in chosen}
        used = {m.path for m in chosen.values()}
        ignored = [_ignored_label(m, folder, wanted) for m in useful if m.path not in used]
        ignored = _without_manifest(ignored, useful, folder, files)
        found_in = "module files at the top" if folder == "" else f"{folder}/"
        return Collected(files, inside + found_in, ignored, [n for n in wanted if n not in files], junk)
    zips = sorted((m for m in useful if m.name.lower().endswith(".zip")), key=lambda m: (_depth(m.parent), m.path))
    if zips and inside.count(" › ") < limits.max_depth:
        for archive in zips:
            inner_where = f"{where} › {archive.path}"
            handle = open_zip(archive.read(limits.max_nested_zip_bytes), inner_where)
            try:
                inner = collect(zip_members(handle, handle.infolist(), inner_where, limits), inner_where, wanted,
                                limits, f"{inside}{archive.path} › ")
            except NoModuleFiles:
                continue
            if inner.files:
                inner.ignored = [m.path for m in useful if m is not archive] + inner.ignored
                inner.junk += junk
                return inner
    looked = ", ".join(wanted)
    listing = ", ".join(m.path for m in useful[:8]) + (" …" if len(useful) > 8 else "")
    raise NoModuleFiles(f"{where}: no tinytorch module files found (looked for {looked} in a tinytorch/ folder at any "
                   f"depth, flat at the top, or in a zip); it holds {len(useful)} file(s){': ' + listing if useful else ''}")


def _ignored_label(m: Member, folder: str, wanted: tuple[str, ...]) -> str:
    if m.parent == folder and m.name.endswith(".py") and m.name not in wanted:
        return f"{m.path} (not a module file; the kit's own plumbing is used)"
    if m.name in wanted:
        return f"{m.path} (another copy; {folder + '/' if folder else 'the top level'} was graded)"
    return m.path


def _without_manifest(ignored: list[str], useful: list[Member], folder: str, files: dict[str, bytes]) -> list[str]:
    """`grader submit`'s MANIFEST.json beside the module files is expected: not listed, unless its
    hashes do not match the files (changed after packing), which is then said."""
    from grader.submit.pack import MANIFEST_NAME, manifest_problems
    path = f"{folder}/{MANIFEST_NAME}" if folder else MANIFEST_NAME
    member = next((m for m in useful if m.path == path), None)
    if member is None:
        return ignored
    try:
        problems = manifest_problems(member.read(2**20), files)
    except Rejected:
        return ignored
    rest = [label for label in ignored if label != path]
    return rest + ([f"{path} (does not match: {'; '.join(problems[:3])})"] if problems else [])


def plumbing_files(wanted: tuple[str, ...], kit: Path | None = None) -> list[Path]:
    """The kit's own non-student files of tinytorch/ (`__init__.py`, `_random.py`, ...)."""
    kit = kit or assignments_dir() / "tinytorch"
    return sorted(p for p in kit.glob("*.py") if p.name not in wanted)


def stage(found: Collected, dest: Path, wanted: tuple[str, ...], kit: Path | None = None) -> Path:
    """Write dest/tinytorch/: the kit's plumbing, the student's module files, stubs for the missing ones.

    Returns `dest` (the folder holding tinytorch/, what `grade` takes as `impl`)."""
    kit = kit or assignments_dir() / "tinytorch"
    package = dest / "tinytorch"
    package.mkdir(parents=True, exist_ok=True)
    for path in plumbing_files(wanted, kit):
        shutil.copyfile(path, package / path.name)
    for name in wanted:
        if name in found.files:
            (package / name).write_bytes(found.files[name])
        else:
            shutil.copyfile(kit / name, package / name)
    return dest
