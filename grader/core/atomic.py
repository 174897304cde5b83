"""Files that are either all there or not changed at all: written beside their place, then renamed.

    write_atomically(out / "results.json", text)          # str (UTF-8) or bytes
    with atomic_file(out / "submission.zip") as handle:   # a binary file to write into
        ...

A crash, a kill or an exception midway leaves the old file (or none) and no temporary file
behind; a reader never sees half a file. The result is fsync'ed before the rename and gets
`mode` (0644 by default: results are read by other users, e.g. Gradescope's harness).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A new binary file in `path`'s folder (made if missing) that replaces `path` when the
    block ends without an exception, and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` (a str is written as UTF-8), all or nothing."""
    with atomic_file(path, mode=mode) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
