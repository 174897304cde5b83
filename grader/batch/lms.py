"""What LMS exports look like, and the submissions (with their students) inside one.

- **Gradescope** "Export Submissions": `submission_metadata.yml` beside one `submission_<id>/`
  folder per submission (the export's top folder is `assignment_<aid>_export/`). The YAML has
  Ruby-symbol keys (`:submitters:` with `:name:`, `:sid:`, `:email:`; `:created_at:`); a group
  submission lists several submitters and is graded once for all of them.
- **Canvas** bulk download: one flat zip of files named
  `<sortablename>[_LATE]_<userid>_<attachmentid>_<filename>` (anonymous grading:
  `[LATE_]anon_<anonymousid>_<attachmentid>_<filename>`); a file a student re-uploaded may be
  called `tensor-1.py`. Files of one user form one submission; of two uploads with the same
  name, the higher attachment id (the later upload) is graded.
- **Moodle** "Download all submissions": folders `<Full Name>_<participantid>_assignsubmission_file_/`
  (team submissions are prefixed `<Group>-`), or the same as a flat list of files
  `<Full Name>_<participantid>_assignsubmission_file_<filename>`; online-text entries are ignored.

Each reader returns `Unit`s (inputs.py) built on a Listing (listing.py), so zipped and unzipped
exports read alike.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from grader.batch.extract import LIMITS, Limits, Member, Rejected

METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 32 * 2**20

CANVAS_ANON = re.compile(r"^(?:LATE_)?anon_(?P<user>[^\W_]+)_(?P<attachment>\d+)_(?P<filename>.+)$")
CANVAS_NAMED = re.compile(r"^(?P<name>\w*?)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<filename>.+)$")
CANVAS_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<filename>.+)$")
GRADESCOPE_FOLDER = re.compile(r"^submission_(?P<id>\d+)$")


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "email": self.email}


@dataclass
class Found:
    """One submission an export holds, before its files are read."""

    students: tuple[Student, ...]
    source: str                          # "canvas.zip › smithjohn (user 101): 3 files"
    kind: str                            # "canvas" | "gradescope" | "moodle"
    members: Any                         # () -> list[Member]; raises Rejected
    submitted_at: str = ""               # ISO 8601, when the export says
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ Canvas

@dataclass(frozen=True)
class CanvasFile:
    user: str            # "101" or "anon_x7Kq2"
    name: str            # the sortable name, "" when anonymous
    late: bool
    attachment: int
    filename: str        # the display name, resubmission suffix removed for module files


def parse_canvas(entry: str, wanted: tuple[str, ...]) -> CanvasFile | None:
    anon = CANVAS_ANON.match(entry)
    named = None if anon else CANVAS_NAMED.match(entry)
    match = anon or named
    if match is None:
        return None
    filename = match["filename"]
    resub = CANVAS_RESUBMITTED.match(filename)
    if resub and resub["stem"] + resub["ext"] in wanted:
        filename = resub["stem"] + resub["ext"]
    user = f"anon_{match['user']}" if anon else match["user"]
    return CanvasFile(user, "" if anon else match["name"], entry.startswith("LATE_") or bool(named and named["late"]),
                      int(match["attachment"]), filename)


def looks_canvas(entries: list[tuple[str, bool]], wanted: tuple[str, ...]) -> bool:
    """A flat list of files, most of them named the Canvas way."""
    files = [name for name, is_dir in entries if not is_dir and not name.startswith(".")]
    folders = [name for name, is_dir in entries if is_dir and not ignorable(name)]
    named = sum(parse_canvas(name, wanted) is not None for name in files)
    return not folders and named > 0 and named > len(files) // 2


def canvas(listing: Any, wanted: tuple[str, ...], limits: Limits = LIMITS) -> tuple[list[Found], list[str]]:
    """Submissions of a Canvas bulk download; second item: entries that are not Canvas files."""
    by_user: dict[str, list[tuple[str, CanvasFile]]] = {}
    strays = []
    for entry, is_dir in listing.entries():
        parsed = None if is_dir else parse_canvas(entry, wanted)
        if parsed is None:
            if not ignorable(entry):
                strays.append(f"{listing.where}: {entry!r} is not named like a Canvas submission file; ignored")
            continue
        by_user.setdefault(parsed.user, []).append((entry, parsed))
    found = []
    for user, files in sorted(by_user.items()):
        latest: dict[str, tuple[str, CanvasFile]] = {}
        notes = []
        for entry, f in sorted(files, key=lambda pair: pair[1].attachment):
            if f.filename in latest:
                notes.append(f"{latest[f.filename][0]} is an older upload of {f.filename}; {entry} was graded")
            latest[f.filename] = (entry, f)
        pairs = sorted((entry, name) for name, (entry, _) in latest.items())
        first = files[0][1]
        late = " (late)" if any(f.late for _, f in files) else ""
        label = first.name or user
        found.append(Found((Student(user, first.name),), f"{listing.where} › {label} (user {user}): "
                           f"{len(pairs)} file{'s' if len(pairs) != 1 else ''}{late}", "canvas",
                           _files(listing, pairs, limits), notes=notes))
    return found, strays


# ------------------------------------------------------------------ Moodle

def looks_moodle(entries: list[tuple[str, bool]]) -> bool:
    return any((MOODLE_FOLDER.match(name) if is_dir else MOODLE_FILE.match(name)) for name, is_dir in entries)


def moodle(listing: Any, limits: Limits = LIMITS) -> tuple[list[Found], list[str]]:
    folders: dict[str, list[str]] = {}
    files: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, str] = {}
    strays = []
    for entry, is_dir in listing.entries():
        match = MOODLE_FOLDER.match(entry) if is_dir else MOODLE_FILE.match(entry)
        if match is None:
            if not ignorable(entry):
                strays.append(f"{listing.where}: {entry!r} is not named like a Moodle submission; ignored")
            continue
        pid = match["pid"]
        names.setdefault(pid, match["name"])
        if match["plugin"] != "file":
            strays.append(f"{listing.where}: {entry!r} is a Moodle {match['plugin']} entry, not files; ignored")
            continue
        if is_dir:
            folders.setdefault(pid, []).append(entry)
        else:
            files.setdefault(pid, []).append((entry, match["filename"]))
    found = []
    for pid in sorted(set(folders) | set(files), key=lambda p: (len(p), p)):
        where = f"{listing.where} › {names[pid]}_{pid}"

        def members(pid: str = pid) -> list[Member]:
            out = [m for folder in sorted(folders.get(pid, [])) for m in listing.folder_members(folder, limits)]
            out += listing.file_members(sorted(files.get(pid, [])), limits) if pid in files else []
            return out
        found.append(Found((Student(pid, names[pid]),), where, "moodle", members))
    return found, strays


# ------------------------------------------------------------------ Gradescope

class _RubyTolerantLoader(yaml.SafeLoader):
    """Safe YAML that reads Ruby-tagged nodes (`!ruby/object:...`) as plain data."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_RubyTolerantLoader.add_multi_constructor("!", _plain)


def _unsymbol(value: Any) -> Any:
    """Ruby-symbol keys `:sid` become `sid`, recursively; timestamps become ISO text."""
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _unsymbol(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsymbol(v) for v in value]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat()
    return value


def read_gradescope_metadata(text: bytes, where: str) -> dict[str, dict[str, Any]]:
    """`submission_metadata.yml` as {"submission_7": {"submitters": [...], "created_at": ...}}."""
    try:
        raw = yaml.load(text.decode("utf-8", "replace"), Loader=_RubyTolerantLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise Rejected(f"{where}: {METADATA} is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise Rejected(f"{where}: {METADATA} does not map submission folders to metadata")
    return {str(k): v for k, v in _unsymbol(raw).items() if isinstance(v, dict)}


def _submitters(entry: dict[str, Any], folder: str) -> tuple[Student, ...]:
    out = []
    for person in entry.get("submitters") or []:
        if not isinstance(person, dict):
            continue
        sid, email = str(person.get("sid") or "").strip(), str(person.get("email") or "").strip()
        out.append(Student(sid or email or f"gradescope-{folder}", str(person.get("name") or ""), email))
    return tuple(sorted(out, key=lambda s: s.id))


def find_metadata(listing: Any) -> Any | None:
    """The listing that holds submission_metadata.yml: this one, or its one `*_export` folder."""
    entries = listing.entries()
    if (METADATA, False) in entries:
        return listing
    folders = [name for name, is_dir in entries if is_dir and not ignorable(name)]
    if len(folders) == 1 and (METADATA, False) in listing.sub(folders[0]).entries():
        return listing.sub(folders[0])
    return None


def gradescope(listing: Any, limits: Limits = LIMITS) -> tuple[list[Found], list[str]]:
    meta = read_gradescope_metadata(listing.read_file(METADATA, MAX_METADATA_BYTES), listing.where)
    strays = []
    folders = {name for name, is_dir in listing.entries() if is_dir}
    found = []
    for folder in sorted(folders | set(meta), key=lambda f: (len(f), f)):
        if ignorable(folder):
            continue
        entry = meta.get(folder)
        if entry is None:
            strays.append(f"{listing.where}: folder {folder!r} is not in {METADATA}; graded under its folder name")
            students: tuple[Student, ...] = (Student(folder),)
        else:
            students = _submitters(entry, folder) or (Student(f"gradescope-{folder}"),)
        where = f"{listing.where} › {folder}"
        if folder in folders:
            members = (lambda folder=folder: listing.folder_members(folder, limits))
        else:
            members = _missing(f"{where}: listed in {METADATA} but the export has no such folder")
        group = f" (group of {len(students)})" if len(students) > 1 else ""
        found.append(Found(students, where + group, "gradescope", members,
                           str((entry or {}).get("created_at") or "")))
    return found, strays


# ------------------------------------------------------------------ shared

def ignorable(name: str) -> bool:
    """Litter at the top of an export (macOS and Windows), never a submission."""
    return name in ("__MACOSX", ".DS_Store", "Thumbs.db") or name.startswith("._")


def _files(listing: Any, pairs: list[tuple[str, str]], limits: Limits) -> Any:
    return lambda: listing.file_members(pairs, limits)


def _missing(reason: str) -> Any:
    def members() -> list[Member]:
        raise Rejected(reason)
    return members
