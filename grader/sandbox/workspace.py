"""The temp dirs of one probe run: a private box for the worker, grader-only files beside it.

Layout (`outer` is created by the grader, mode 0711 as root so the sandbox uid can reach
`box` but not list `outer`; 0700 otherwise):

    outer/
      box/            the worker's cwd, HOME and only writable place (0700, sandbox uid)
        tinytorch/    a copy of impl_dir/tinytorch: dirs, regular files and symlinks only
        <files>       extra files the probe may import, e.g. a milestone script
      config.json     what the worker must do (root-owned, read before the uid drop)
      inputs.json, inputs.npz
      worker.log      stdout+stderr of the worker; read back through the grader's own fd
      result.json, result.npz   the worker's outcome, written through inherited fds
      setup.json      what each protection got, written by the worker before student code

The grader reads `worker.log` and the results only through file descriptors it opened
itself, so nothing the sandboxed code does to paths (symlinks, FIFOs) can redirect a read.
As root the worker mounts its sized scratch tmpfs over `box` and copies the box into it, so
what student code writes never reaches this directory.

The submission's package is measured before anything is copied: at most MAX_ENTRIES files,
folders and links (caches not counted), MAX_BYTES of regular files by apparent size (a
sparse file counts at its full length, so it is refused, never copied), MAX_DEPTH levels of
folders; symlinks are never followed. Over any limit, `populate` raises WorkspaceError
naming the limit and where it was crossed. The same limits hold for each extra file or
folder a probe asks for. The reference package has 10 files, 88 KB, one level.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import cleanup, protocol

PACKAGE = "tinytorch"
TAIL_BYTES = 2048
MAX_RESULT_JSON_BYTES = protocol.MAX_JSON_BYTES + 64 * 1024
MAX_ENTRIES = 200
MAX_BYTES = 5 * 1024**2
MAX_DEPTH = 8
SKIPPED_NAMES = ("__pycache__",)


class WorkspaceError(ValueError):
    """impl_dir cannot be used: no tinytorch package, a symlinked one, or one over the limits."""


@dataclass(frozen=True)
class _Entry:
    """One thing to copy, found by `_measure`: its path relative to the copied root."""

    relative: str  # "" for the root itself
    kind: str  # "dir", "file" or "link"
    size: int
    mode: int


@dataclass
class Workspace:
    """Temp dirs and grader-held descriptors of one probe run."""

    outer: Path
    box: Path
    uid: int | None
    log_fd: int
    result_json_fd: int
    result_npz_fd: int
    setup_fd: int

    @classmethod
    def create(cls, uid: int | None, parent: str | None = None) -> Workspace:
        """Make fresh temp dirs (in `parent`, default the system's temp dir) and the grader-owned
        log and result files."""
        outer = Path(tempfile.mkdtemp(prefix="tinytorch-sandbox-", dir=parent))
        try:
            os.chmod(outer, 0o711 if uid is not None else 0o700)
            box = outer / "box"
            box.mkdir(mode=0o700)
            if uid is not None:
                os.chown(box, uid, uid)
            fds = [_create_private(outer / name) for name in ("worker.log", "result.json", "result.npz", "setup.json")]
        except BaseException:
            cleanup.remove_tree(outer)
            raise
        return cls(outer, box, uid, *fds)

    def populate(self, impl_dir: Path, files: dict[str, Path] | None) -> None:
        """Copy impl_dir/tinytorch (minus caches) and `files` into the box, each measured first.

        Raises WorkspaceError for a missing or symlinked package, or one over the limits (see
        the module docstring); ValueError for a bad destination name in `files`,
        FileNotFoundError for a missing source in `files`.
        """
        package = Path(impl_dir) / PACKAGE
        if package.is_symlink():
            raise WorkspaceError(f"{package} is a symlink; the sandbox copies only a real {PACKAGE}/ directory")
        if not package.is_dir():
            raise WorkspaceError(f"no {PACKAGE}/ package directory in {impl_dir}")
        for name, source in (files or {}).items():
            if not name or "/" in name or "\0" in name or name in (".", "..", PACKAGE):
                raise ValueError(f"files: destination {name!r} must be a plain file name other than {PACKAGE!r}")
            if not Path(source).exists():
                raise FileNotFoundError(f"files[{name!r}]: source {source} does not exist")
        plans = [(_measure(package, f"{PACKAGE}/"), package, self.box / PACKAGE)]
        for name, source in (files or {}).items():
            resolved = Path(source).resolve()
            plans.append((_measure(resolved, f"files[{name!r}] ({resolved})"), resolved, self.box / name))
        for entries, source, destination in plans:
            self._copy(entries, source, destination)

    def write_grader_file(self, name: str, data: bytes) -> Path:
        """Write a grader-only file (config, inputs) beside the box; return its path."""
        path = self.outer / name
        fd = _create_private(path)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return path

    def output_tail(self) -> str:
        """The last TAIL_BYTES of the worker's combined stdout/stderr."""
        size = os.fstat(self.log_fd).st_size
        start = max(0, size - TAIL_BYTES)
        data = os.pread(self.log_fd, size - start, start)
        return data.decode("utf-8", "replace").replace("\0", "")

    def result_bytes(self, max_npz_bytes: int) -> tuple[bytes, bytes]:
        """(result JSON, result npz) as the worker left them; b"" for an empty file.

        Raises protocol.PlainDataError when either exceeds its cap.
        """
        return (
            _read_capped(self.result_json_fd, MAX_RESULT_JSON_BYTES, "result JSON"),
            _read_capped(self.result_npz_fd, max_npz_bytes, "result arrays"),
        )

    def setup_record(self) -> dict[str, str]:
        """What the worker's setup reported for each protection ({} when it wrote nothing)."""
        try:
            record = protocol.loads_json(_read_capped(self.setup_fd, 64 * 1024, "setup record"))
        except protocol.PlainDataError:
            return {}
        if type(record) is not dict:
            return {}
        return {protocol.truncate(str(k), 40): protocol.truncate(str(v), 300) for k, v in record.items()}

    def close(self) -> None:
        """Close the grader's descriptors and delete both temp dirs."""
        for fd in (self.log_fd, self.result_json_fd, self.result_npz_fd, self.setup_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        cleanup.remove_tree(self.outer)

    def _copy(self, entries: list[_Entry], source: Path, destination: Path) -> None:
        """Copy what `_measure` found, in its order (a folder before its contents), reading at
        most the measured size of each file; links are copied as links."""
        for entry in entries:
            origin = os.path.join(source, entry.relative) if entry.relative else str(source)
            target = os.path.join(destination, entry.relative) if entry.relative else str(destination)
            if entry.kind == "dir":
                os.mkdir(target, 0o755)
            elif entry.kind == "link":
                os.symlink(os.readlink(origin), target)
            else:
                _copy_file(origin, target, entry.size, 0o755 if entry.mode & stat.S_IXUSR else 0o644)
            if self.uid is not None:
                os.lchown(target, self.uid, self.uid)


def _measure(root: Path, what: str) -> list[_Entry]:
    """Everything to copy under `root` (iteratively, never following a symlink), or
    WorkspaceError as soon as a limit is crossed; caches and special files are left out."""
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode):
        entry = _entry_for("", info)
        if entry is not None and entry.size > MAX_BYTES:
            raise WorkspaceError(_over(what, f"is {entry.size} bytes; the limit is {MAX_BYTES} bytes", ""))
        return [entry] if entry is not None else []
    entries = [_Entry("", "dir", 0, info.st_mode)]
    total = 0
    pending = [("", 0)]
    while pending:
        relative, depth = pending.pop()
        with os.scandir(os.path.join(root, relative) if relative else root) as listing:
            for item in listing:
                if item.name in SKIPPED_NAMES or item.name.endswith(".pyc"):
                    continue
                path = f"{relative}/{item.name}" if relative else item.name
                entry = _entry_for(path, item.stat(follow_symlinks=False))
                if entry is None:
                    continue
                entries.append(entry)
                total += entry.size
                if len(entries) - 1 > MAX_ENTRIES:
                    raise WorkspaceError(_over(what, f"has more than {MAX_ENTRIES} files, folders and links", path))
                if total > MAX_BYTES:
                    raise WorkspaceError(_over(what, f"holds more than {MAX_BYTES} bytes (counting each file at its full length)", path))
                if entry.kind == "dir":
                    if depth + 1 > MAX_DEPTH:
                        raise WorkspaceError(_over(what, f"has folders more than {MAX_DEPTH} levels deep", path))
                    pending.append((path, depth + 1))
    return entries


def _entry_for(relative: str, info: os.stat_result) -> _Entry | None:
    if stat.S_ISDIR(info.st_mode):
        return _Entry(relative, "dir", 0, info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return _Entry(relative, "link", 0, info.st_mode)
    if stat.S_ISREG(info.st_mode):
        return _Entry(relative, "file", info.st_size, info.st_mode)
    return None  # FIFOs, sockets, devices: never copied


def _over(what: str, problem: str, where: str) -> str:
    at = f" (at {where})" if where else ""
    return (
        f"sandbox workspace: {what} {problem}{at}; the grader copies at most {MAX_ENTRIES} entries, "
        f"{MAX_BYTES // 1024**2} MB in all, {MAX_DEPTH} folder levels. Remove data, generated files "
        "and nested copies from the package."
    )


def _copy_file(origin: str, target: str, size: int, mode: int) -> None:
    """Copy at most `size` bytes of regular file `origin` (not following a symlink)."""
    source = os.open(origin, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(source).st_mode):
            raise WorkspaceError(f"sandbox workspace: {origin} changed while it was copied")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)
            left = size
            while left > 0:
                chunk = os.read(source, min(left, 1 << 20))
                if not chunk:
                    break
                _write_all(fd, chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    finally:
        os.close(source)


def _create_private(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_capped(fd: int, cap: int, what: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > cap:
        raise protocol.PlainDataError(f"{what} has {size} bytes; the limit is {cap}")
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
