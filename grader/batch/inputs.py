"""Find the submissions in what `grader grade` was given, with the students each belongs to.

    found = discover([Path("exports/")], MODULE_FILES)
    for unit in found.units:          # one per submission to grade, ids resolved
        unit.key, unit.students, unit.source, unit.members()   # members() may raise Rejected

An INPUT is, checked in this order: a Gradescope export (`submission_metadata.yml`, as a
folder or its zip), a Moodle download, a Canvas bulk download (zipped or not), one submission
(a folder holding `tinytorch/` or module files at its top, or any other zip), or a folder of
any of these (each entry classified the same way, one level down; an entry that is neither a
folder nor a zip is noted and skipped). A submission's id is the student's id where the export
gives one, else its folder or zip name.

One student id in two submissions (two exports, a resubmission folder beside the export, a
group member who also submitted alone): the one with the latest submission time is graded
when every copy has a time (Gradescope's `created_at`), else the one given last (later INPUTs
win; within a folder, the later name). Both sources and the choice are noted on the graded
row, and in the summary.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.extract import LIMITS, Limits, Member, Rejected, dir_members, zip_members
from grader.batch import lms
from grader.batch.listing import DirListing, ZipListing
from grader.batch.lms import Found, Student

SAFE_KEY = re.compile(r"[^A-Za-z0-9._@+-]")
MAX_KEY = 80


@dataclass
class Unit:
    """One submission to grade: `key` names its folder in the output directory."""

    key: str
    students: tuple[Student, ...]
    source: str
    kind: str
    members: Callable[[], list[Member]]
    submitted_at: str = ""
    notes: list[str] = field(default_factory=list)
    order: tuple[int, int] = (0, 0)

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "students": [s.to_json() for s in self.students], "source": self.source,
                "kind": self.kind, "submitted_at": self.submitted_at, "notes": list(self.notes)}


@dataclass
class Discovery:
    units: list[Unit]
    notes: list[str]          # about the inputs as a whole: skipped entries, dropped duplicates


def key_for(students: tuple[Student, ...]) -> str:
    """A folder name for these students: their ids joined by '+', made safe (a hash keeps it unique)."""
    raw = "+".join(s.id for s in students)
    safe = SAFE_KEY.sub("_", raw).lstrip(".") or "submission"
    if safe != raw or len(safe) > MAX_KEY:
        safe = f"{safe[:MAX_KEY - 7]}-{hashlib.sha256(raw.encode('utf-8', 'surrogateescape')).hexdigest()[:6]}"
    return safe


def _single_looking(entries: list[tuple[str, bool]], wanted: tuple[str, ...]) -> bool:
    return ("tinytorch", True) in entries or any(name in wanted for name, is_dir in entries if not is_dir)


def _from_listing(listing: DirListing | ZipListing, wanted: tuple[str, ...], limits: Limits
                  ) -> tuple[list[Found], list[str]] | None:
    """The submissions of an LMS export at `listing`, or None when it is not one."""
    meta = lms.find_metadata(listing)
    if meta is not None:
        return lms.gradescope(meta, limits)
    entries = listing.entries()
    if lms.looks_moodle(entries):
        return lms.moodle(listing, limits)
    if lms.looks_canvas(entries, wanted):
        return lms.canvas(listing, wanted, limits)
    return None


def _classify(path: Path, label: str, wanted: tuple[str, ...], limits: Limits, top: bool
              ) -> tuple[list[Found], list[str]]:
    name = path.name
    followed = top or not path.is_symlink()         # an INPUT may be a link; a link inside one is skipped
    if path.is_dir() and followed:
        listing = DirListing(path, label)
        try:
            exported = _from_listing(listing, wanted, limits)
        except Rejected as exc:         # an export we recognised but cannot read: one rejected row
            return [Found((Student(name),), label, "export", _raise(exc))], []
        if exported is not None:
            return exported
        if top and not _single_looking(listing.entries(), wanted):
            found: list[Found] = []
            notes: list[str] = []
            for child, _ in listing.entries():
                if lms.ignorable(child) or child.startswith("."):
                    continue
                more, more_notes = _classify(path / child, f"{label}/{child}", wanted, limits, top=False)
                found += more
                notes += more_notes
            return found, notes
        return [Found((Student(name),), label, "folder", lambda: dir_members(path, label, limits))], []
    if path.suffix.lower() == ".zip" and path.is_file() and followed:
        stem = path.stem
        try:
            zipped = ZipListing.open(path, limits, label)
        except Rejected as exc:
            return [Found((Student(stem),), label, "zip", _raise(exc))], []
        try:
            exported = _from_listing(zipped, wanted, limits)
        except Rejected as exc:
            return [Found((Student(stem),), label, "export", _raise(exc))], []
        if exported is not None:
            return exported
        handle = zipped.handle
        if not handle.infolist():
            return [Found((Student(stem),), label, "zip", _raise(Rejected(f"{label}: the archive is empty")))], []
        return [Found((Student(stem),), label, "zip", lambda: zip_members(handle, handle.infolist(), label, limits))], []
    if path.is_symlink():
        return [], [f"{label}: a symbolic link; skipped (give the file or folder itself)"]
    return [], [f"{label}: neither a folder nor a .zip; skipped"]


def _raise(exc: Rejected) -> Callable[[], list[Member]]:
    def members() -> list[Member]:
        raise exc
    return members


def discover(inputs: list[Path], wanted: tuple[str, ...], limits: Limits = LIMITS) -> Discovery:
    """Every submission in `inputs`, duplicates resolved (see the module docstring)."""
    units: list[Unit] = []
    notes: list[str] = []
    for i, path in enumerate(inputs):
        found, more_notes = _classify(path, str(path), wanted, limits, top=True)
        notes += more_notes
        for j, f in enumerate(found):
            units.append(Unit(key_for(f.students), f.students, f.source, f.kind, f.members, f.submitted_at,
                              list(f.notes), (i, j)))
    units, dropped = resolve_duplicates(units)
    return Discovery(sorted(units, key=lambda u: u.key), notes + dropped)


def resolve_duplicates(units: list[Unit]) -> tuple[list[Unit], list[str]]:
    """Keep each student id in one unit (see the module docstring); notes on what was dropped."""
    holders: dict[str, list[Unit]] = {}
    for unit in units:
        for student in unit.students:
            holders.setdefault(student.id, []).append(unit)
    dropped_notes: list[str] = []
    for sid, group in sorted(holders.items()):
        if len(group) < 2:
            continue
        by_time = all(u.submitted_at for u in group)
        winner = max(group, key=lambda u: (u.submitted_at, u.order)) if by_time else max(group, key=lambda u: u.order)
        rule = "the latest submission time" if by_time else "the one given last"
        others = [u for u in group if u is not winner]
        text = (f"duplicate student id {sid!r}: submitted in {winner.source} and in "
                f"{'; '.join(u.source for u in others)}; graded: {winner.source} ({rule})")
        winner.notes.append(text)
        for loser in others:
            loser.students = tuple(s for s in loser.students if s.id != sid)
            loser.notes.append(text)
            if not loser.students:
                dropped_notes.append(text)
    kept = [u for u in units if u.students]
    taken: set[str] = set()
    for unit in sorted(kept, key=lambda u: u.order):
        unit.key = key_for(unit.students)
        while unit.key in taken:      # distinct ids that make the same folder name ("a+b" and a group a, b)
            unit.key = f"{unit.key}-{len(taken)}"
        taken.add(unit.key)
    return kept, dropped_notes
