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

The grader reads `worker.log` and the results only through file descriptors it opened
itself, so nothing the sandboxed code does to paths (symlinks, FIFOs) can redirect a read.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import cleanup, protocol

PACKAGE = "tinytorch"
TAIL_BYTES = 2048
MAX_RESULT_JSON_BYTES = protocol.MAX_JSON_BYTES + 64 * 1024


class WorkspaceError(ValueError):
    """impl_dir cannot be used: no tinytorch package, or a symlinked one."""


@dataclass
class Workspace:
    """Temp dirs and grader-held descriptors of one probe run."""

    outer: Path
    box: Path
    uid: int | None
    log_fd: int
    result_json_fd: int
    result_npz_fd: int

    @classmethod
    def create(cls, uid: int | None) -> Workspace:
        """Make fresh temp dirs and the grader-owned log and result files."""
        outer = Path(tempfile.mkdtemp(prefix="tinytorch-sandbox-"))
        try:
            os.chmod(outer, 0o711 if uid is not None else 0o700)
            box = outer / "box"
            box.mkdir(mode=0o700)
            if uid is not None:
                os.chown(box, uid, uid)
            fds = [_create_private(outer / name) for name in ("worker.log", "result.json", "result.npz")]
        except BaseException:
            cleanup.remove_tree(outer)
            raise
        return cls(outer, box, uid, *fds)

    def populate(self, impl_dir: Path, files: dict[str, Path] | None) -> None:
        """Copy impl_dir/tinytorch (minus caches) and `files` into the box.

        Raises WorkspaceError for a missing or symlinked package, ValueError for a bad
        destination name in `files`, FileNotFoundError for a missing source in `files`.
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
        self._copy(package, self.box / PACKAGE)
        for name, source in (files or {}).items():
            self._copy(Path(source).resolve(), self.box / name)

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

    def close(self) -> None:
        """Close the grader's descriptors and delete both temp dirs."""
        for fd in (self.log_fd, self.result_json_fd, self.result_npz_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        cleanup.remove_tree(self.outer)

    def _copy(self, source: Path, destination: Path) -> None:
        """Copy dirs, regular files and symlinks (as links); skip caches and special files."""
        info = os.lstat(source)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), destination)
        elif stat.S_ISDIR(info.st_mode):
            os.mkdir(destination, 0o755)
            for entry in os.scandir(source):
                if entry.name != "__pycache__" and not entry.name.endswith(".pyc"):
                    self._copy(Path(entry.path), destination / entry.name)
        elif stat.S_ISREG(info.st_mode):
            shutil.copyfile(source, destination, follow_symlinks=False)
            os.chmod(destination, 0o755 if info.st_mode & stat.S_IXUSR else 0o644)
        else:
            return
        if self.uid is not None:
            os.lchown(destination, self.uid, self.uid)


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
