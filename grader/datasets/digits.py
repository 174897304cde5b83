"""The `Digits` container every dataset loader returns, and the one error they raise.

    >>> d = load_tinydigits()
    >>> d.x_train.shape, d.x_train.dtype, d.pixel_max      # ((1000, 8, 8), uint8, 16)
    >>> x = d.x_train.reshape(len(d.x_train), -1) / d.pixel_max   # (N, H*W) floats in [0, 1]
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

Array = np.ndarray

ARRAY_NAMES: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
"""Field names of the four arrays, in the order they appear in `Digits` and in .npz files."""


class DatasetError(RuntimeError):
    """A dataset problem the user can act on; the message says what went wrong and what to do."""


class Digits(NamedTuple):
    """Images of handwritten digits 0..9 with their labels, split into train and test.

    x_train: (N, H, W) uint8 pixel values 0..pixel_max
    y_train: (N,) int64 labels 0..9
    x_test:  (M, H, W) uint8
    y_test:  (M,) int64
    pixel_max: 16 for TinyDigits, 255 for MNIST (divide by it to get [0, 1])
    """

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    pixel_max: int

    def arrays(self) -> dict[str, Array]:
        """The four arrays by name: {"x_train": (N, H, W), "y_train": (N,), ...}."""
        return {name: getattr(self, name) for name in ARRAY_NAMES}


def array_sha256(a: Array) -> str:
    """sha256 hex digest of an array's C-order little-endian bytes (dtype and shape not included).

    a: any shape, e.g. (N, H, W) uint8 or (N,) int64 -> 64 hex characters
    """
    little = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return hashlib.sha256(little.data).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_layout(d: Digits, where: str) -> None:
    """Raise `DatasetError` unless `d` has the documented dtypes, ranks and matching lengths.

    where: names the origin of `d` in the message, e.g. "load_tinydigits: data/tinydigits.npz".
    """
    problems = []
    for name, want_dtype, want_ndim in (("x_train", np.uint8, 3), ("y_train", np.int64, 1),
                                        ("x_test", np.uint8, 3), ("y_test", np.int64, 1)):
        a = getattr(d, name)
        if not isinstance(a, np.ndarray) or a.dtype != want_dtype or a.ndim != want_ndim:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            problems.append(f"{name} should be {np.dtype(want_dtype)} with {want_ndim} axes, "
                            f"got {got}")
    if not problems:
        for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
            if len(getattr(d, x)) != len(getattr(d, y)):
                problems.append(f"{x} has {len(getattr(d, x))} images but {y} has "
                                f"{len(getattr(d, y))} labels")
    if problems:
        raise DatasetError(f"{where}: unexpected array layout: " + "; ".join(problems))
