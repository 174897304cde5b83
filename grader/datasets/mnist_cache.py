"""The on-disk MNIST cache: one .npz of the four arrays, written atomically, checked on read.

Location: the `cache_dir` argument if given, else `$TINYTORCH_CACHE_DIR/mnist`, else
`~/.cache/tinytorch-kit/mnist`; the file inside is `mnist.npz` (about 55 MB, uncompressed
so it loads in well under a second).

    >>> path = cache_file()                       # ~/.cache/tinytorch-kit/mnist/mnist.npz
    >>> write_cache(path, digits); read_cache(path, MNIST_SPEC)
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .digits import ARRAY_NAMES, DatasetError, Digits
from .mnist_spec import MnistSpec

CACHE_FILE_NAME = "mnist.npz"


def cache_directory(cache_dir: Path | None = None) -> Path:
    """`cache_dir`, else `$TINYTORCH_CACHE_DIR/mnist`, else `~/.cache/tinytorch-kit/mnist`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    root = os.environ.get("TINYTORCH_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "tinytorch-kit"
    return base / "mnist"


def cache_file(cache_dir: Path | None = None) -> Path:
    """Path of the cached .npz inside `cache_directory(cache_dir)`."""
    return cache_directory(cache_dir) / CACHE_FILE_NAME


def read_cache(path: Path, spec: MnistSpec) -> Digits:
    """Load the cached arrays and check them against `spec`; any problem raises `DatasetError`."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = [npz[name] for name in ARRAY_NAMES]
    except Exception as e:  # a damaged .npz can fail in zipfile, numpy's format parser, or the OS
        raise DatasetError(f"read_cache: {path} is unreadable ({type(e).__name__}: {e})") from e
    digits = Digits(*arrays, pixel_max=spec.pixel_max)
    spec.check(digits, f"read_cache: {path}")
    return digits


def write_cache(path: Path, digits: Digits) -> None:
    """Write the four arrays to `path` via a temporary file in the same directory + os.replace,
    so readers see either the old file, no file, or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **digits.arrays())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)              # mkstemp makes it private; a cache may be shared
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
