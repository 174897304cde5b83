"""Bounded copying: a submission is measured before anything is copied, and one over the
limits (too many files, too many bytes, too deep) is refused at once with a clear message."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import workspace
from grader.sandbox.workspace import MAX_BYTES, MAX_DEPTH, MAX_ENTRIES, WorkspaceError

pytestmark = LINUX_ONLY

TRIVIAL = "def probe(tt):\n    return {'v': tt.add(1, 2)}\n"


def make_deep(root: Path, depth: int) -> None:
    """`depth` nested folders named d under root, made through directory fds (the path
    would be too long for one system call)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def remove_deep(root: Path) -> None:
    """Remove a tree made by make_deep without recursion (pytest's own cleanup recurses)."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    os.close(fds.pop())
    while fds:
        os.rmdir("d", dir_fd=fds[-1])
        os.close(fds.pop())


def test_many_small_files_are_refused_quickly(tmp_path: Path) -> None:
    """5000 small files in tinytorch/: refused before copying, in well under a second."""
    impl = make_impl(tmp_path)
    data = impl / "tinytorch" / "data"
    data.mkdir()
    for i in range(5000):
        (data / f"f{i}.py").write_text("x = 1\n")
    started = time.monotonic()
    result = probe(impl, TRIVIAL)
    assert time.monotonic() - started < 3.0
    assert (result.status, result.error_type) == ("import_error", "WorkspaceError"), result
    assert f"more than {MAX_ENTRIES} files, folders and links" in result.error_message, result.error_message


def test_a_big_sparse_file_is_refused_without_being_copied(tmp_path: Path) -> None:
    """A 2 GB sparse file counts at its full length: refused at once, nothing copied."""
    impl = make_impl(tmp_path)
    with open(impl / "tinytorch" / "weights.bin", "wb") as handle:
        handle.truncate(2 * 1024**3)
    started = time.monotonic()
    result = probe(impl, TRIVIAL)
    assert time.monotonic() - started < 3.0
    assert (result.status, result.error_type) == ("import_error", "WorkspaceError"), result
    assert f"holds more than {MAX_BYTES} bytes" in result.error_message and "weights.bin" in result.error_message


def test_a_tree_deeper_than_the_recursion_limit_is_refused_with_a_message(tmp_path: Path) -> None:
    """1500 nested folders (deeper than Python's recursion limit): a clear refusal, not a
    RecursionError in the grader."""
    impl = make_impl(tmp_path)
    make_deep(impl / "tinytorch", 1500)
    try:
        result = probe(impl, TRIVIAL)
    finally:
        remove_deep(impl / "tinytorch")
    assert (result.status, result.error_type) == ("import_error", "WorkspaceError"), result
    assert f"more than {MAX_DEPTH} levels deep" in result.error_message, result.error_message


def test_the_limits_are_inclusive_and_a_package_at_them_runs(tmp_path: Path) -> None:
    """Exactly MAX_DEPTH levels and MAX_ENTRIES entries are copied and run; one more is not."""
    impl = make_impl(tmp_path)
    package = impl / "tinytorch"
    make_deep(package, MAX_DEPTH)
    for i in range(MAX_ENTRIES - MAX_DEPTH - 1):  # __init__.py and the folders count too
        (package / f"m{i}.txt").write_text("")
    result = probe(impl, TRIVIAL)
    assert result.status == "ok" and result.values["v"] == 3, result
    (package / "one_more.txt").write_text("")
    with pytest.raises(WorkspaceError, match=f"more than {MAX_ENTRIES}"):
        workspace._measure(package, "tinytorch/")
    (package / "one_more.txt").unlink()
    (package / "m0.txt").unlink()
    make_deep(package.joinpath(*["d"] * MAX_DEPTH), 1)
    with pytest.raises(WorkspaceError, match=f"more than {MAX_DEPTH} levels deep"):
        workspace._measure(package, "tinytorch/")


def test_caches_and_special_files_are_neither_counted_nor_copied(tmp_path: Path) -> None:
    """__pycache__ (however big) and a FIFO are skipped; the package still runs."""
    impl = make_impl(tmp_path)
    cache = impl / "tinytorch" / "__pycache__"
    cache.mkdir()
    for i in range(MAX_ENTRIES + 50):
        (cache / f"m{i}.cpython-311.pyc").write_bytes(b"\0")
    os.mkfifo(impl / "tinytorch" / "pipe")
    result = probe(
        impl,
        "import os\ndef probe(tt):\n    return {'v': tt.add(1, 2), 'files': sorted(os.listdir('tinytorch'))}\n",
    )
    assert result.status == "ok" and result.values["files"] == ["__init__.py"], result


def test_extra_files_are_measured_too(tmp_path: Path) -> None:
    """An extra file a probe asks for is held to the same limits as the package."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    result = probe(make_impl(tmp_path), TRIVIAL, files={"big.bin": big})
    assert (result.status, result.error_type) == ("import_error", "WorkspaceError"), result
    assert "files['big.bin']" in result.error_message
