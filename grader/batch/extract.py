"""Read a submission's files from a folder or a zip without trusting either.

    source = ZipSource.open(Path("alice.zip"), "alice.zip")      # Rejected if broken or empty
    members = source.members(LIMITS)                               # every file, checked
    text = members[0].read(LIMITS.max_module_bytes)                # bounded

Nothing is extracted to disk: a `Member` is a checked name, a declared size and a bounded
reader, and the batch later writes only the eight module files under fixed names. Still, a
submission that holds anything an extractor could be fooled by is refused as a whole, with a
reason naming the entry: a path that escapes (`../x`, `/etc/x`, `C:\\x`), a symbolic link, a
device file or FIFO, an encrypted entry, a name that is not valid text or holds control
characters, more than `max_entries` entries, or sizes that look like a zip bomb (declared
total above `max_total_bytes`, or one entry expanding more than `max_ratio` times).
`Rejected` carries that reason; the batch turns it into a "rejected input" row.
"""
from __future__ import annotations

import io
import os
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

JUNK_DIRS = frozenset({"__MACOSX", "__pycache__", ".git"})
JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


class Rejected(Exception):
    """A submission (or one archive in it) that is refused; str(exc) says why, naming the entry."""


@dataclass(frozen=True)
class Limits:
    max_entries: int = 5000                 # files and folders in one submission (each nested zip too)
    max_total_bytes: int = 512 * 2**20      # declared uncompressed size of one submission
    max_ratio: float = 200.0                # uncompressed / compressed size of one entry ...
    ratio_floor_bytes: int = 2**20          # ... judged only for entries larger than this
    max_module_bytes: int = 2 * 2**20       # one module file (tensor.py is ~20 kB)
    max_nested_zip_bytes: int = 64 * 2**20  # a zip inside a submission, read into memory
    max_depth: int = 3                      # zips inside zips
    max_container_entries: int = 200_000    # an LMS export (Canvas bulk zip, Gradescope export)


LIMITS = Limits()


@dataclass(frozen=True)
class Member:
    """One file of a submission: `path` is relative and '/'-separated, checked safe."""

    path: str
    size: int
    reader: Callable[[int], bytes]
    where: str                  # "alice.zip", "submissions/alice": named in messages

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    def read(self, limit: int) -> bytes:
        """The file's bytes; Rejected when it holds more than `limit` bytes."""
        if self.size > limit:
            raise Rejected(f"{self.where}: {self.path} is {_size(self.size)}, more than the {_size(limit)} allowed")
        return self.reader(limit)


def is_junk(path: str) -> bool:
    """macOS and Windows litter and caches: `__MACOSX/`, `._x`, `.DS_Store`, `__pycache__/`, `.git/`."""
    parts = path.split("/")
    return any(p in JUNK_DIRS for p in parts[:-1]) or parts[-1] in JUNK_FILES or parts[-1].startswith("._") \
        or parts[-1] in JUNK_DIRS or parts[-1].endswith((".pyc", ".pyo"))


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def check_name(raw: str, where: str) -> str:
    """The '/'-separated relative path for an entry name, or Rejected naming what is wrong with it."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise Rejected(f"{where}: the entry name {shown!r} is not valid UTF-8 text") from None
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise Rejected(f"{where}: the entry name {raw!r} holds control characters")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise Rejected(f"{where}: the entry {raw!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Rejected(f"{where}: the entry {raw!r} escapes the submission folder ('..')")
    return "/".join(parts)


# ------------------------------------------------------------------ zips

def open_zip(data: Path | bytes, where: str) -> zipfile.ZipFile:
    """A ZipFile over a path or bytes; Rejected when it is not a readable zip."""
    try:
        handle = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.end] if isinstance(exc.object, bytes) else b""
        raise Rejected(f"{where}: an entry name is marked UTF-8 but is not (bytes {bad!r}); "
                       "the archive's names are undecodable") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise Rejected(f"{where}: not a readable zip archive ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise Rejected(f"{where}: cannot read the archive ({exc.strerror or exc})") from None
    return handle


def _zip_reader(handle: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            with handle.open(info) as stream:
                data = stream.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError, RuntimeError) as exc:
            raise Rejected(f"{where}: {info.filename} cannot be read ({type(exc).__name__}: {exc})") from None
        if len(data) > limit:
            raise Rejected(f"{where}: {info.filename} expands past its declared size ({_size(limit)} allowed)")
        return data
    return read


def zip_members(handle: zipfile.ZipFile, infos: Iterable[zipfile.ZipInfo], where: str, limits: Limits, *,
                strip: str = "", rename: Callable[[str], str] | None = None) -> list[Member]:
    """Check `infos` (entries of `handle`) as one submission and return its files.

    strip: a folder prefix removed from every name ("assignment_1_export/submission_7/");
    rename: maps a checked name to the name the submission sees (Canvas's display names).
    """
    infos = list(infos)
    if len(infos) > limits.max_entries:
        raise Rejected(f"{where}: {len(infos)} entries, more than the {limits.max_entries} allowed")
    members: list[Member] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = check_name(info.filename[len(strip):] if strip and info.filename.startswith(strip) else info.filename, where)
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:
            if stat.S_ISLNK(mode):
                raise Rejected(f"{where}: the entry {info.filename!r} is a symbolic link (archives with links are refused)")
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise Rejected(f"{where}: the entry {info.filename!r} is a device file or FIFO")
        if info.flag_bits & 0x1:
            raise Rejected(f"{where}: the entry {info.filename!r} is encrypted")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise Rejected(f"{where}: expands to more than {_size(limits.max_total_bytes)} (a zip bomb?)")
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise Rejected(f"{where}: the entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}× "
                           f"to {_size(info.file_size)} (a zip bomb?)")
        if info.is_dir() or not name:
            continue
        if rename is not None:
            name = rename(name)
        if name in seen:
            raise Rejected(f"{where}: the entry {name!r} appears twice")
        seen.add(name)
        members.append(Member(name, info.file_size, _zip_reader(handle, info, where), where))
    return members


# ------------------------------------------------------------------ folders

def _file_reader(path: Path, where: str) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise Rejected(f"{where}: {path.name} cannot be read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise Rejected(f"{where}: {path.name} is not a regular file")
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise Rejected(f"{where}: {path.name} is larger than the {_size(limit)} allowed")
        return data
    return read


def file_member(path: Path, name: str, where: str) -> Member:
    """One regular file on disk as a member called `name`; Rejected for links, devices, FIFOs."""
    check_name(path.name, where)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise Rejected(f"{where}: {path.name} cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise Rejected(f"{where}: {path.name} is a symbolic link (links are refused)")
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(f"{where}: {path.name} is a device file, FIFO or socket")
    return Member(name, st.st_size, _file_reader(path, where), where)


def dir_members(root: Path, where: str, limits: Limits) -> list[Member]:
    """Every file under `root` (not following links) as members; junk folders are not entered."""
    members: list[Member] = []
    count = total = 0
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise Rejected(f"{where}: cannot list {prefix or '.'} ({exc.strerror})") from None
        for entry in entries:
            rel = check_name(prefix + entry.name, where)
            count += 1
            if count > limits.max_entries:
                raise Rejected(f"{where}: more than {limits.max_entries} files and folders")
            if entry.is_symlink():
                raise Rejected(f"{where}: {rel} is a symbolic link (links are refused)")
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in JUNK_DIRS:
                    stack.append((Path(entry.path), rel + "/"))
                continue
            if not entry.is_file(follow_symlinks=False):
                raise Rejected(f"{where}: {rel} is a device file, FIFO or socket")
            size = entry.stat(follow_symlinks=False).st_size
            total += size
            if total > limits.max_total_bytes:
                raise Rejected(f"{where}: holds more than {_size(limits.max_total_bytes)}")
            members.append(Member(rel, size, _file_reader(Path(entry.path), where), where))
    return sorted(members, key=lambda m: m.path)
