"""TinyDigits: 1000 train + 200 test 8x8 handwritten digits (pixels 0..16), 100 / 20 per class.

A small, committed subset of the UCI optical-recognition digits, so the first models train
in seconds with no download. The file is `data/tinydigits.npz` in the repository (or
`$TINYTORCH_DATA_DIR/tinydigits.npz`); its sha256 is checked on every load.

    >>> d = load_tinydigits()
    >>> d.x_train.shape, d.y_train.shape, d.x_test.shape      # (1000, 8, 8) (1000,) (200, 8, 8)
    >>> x = d.x_train.reshape(-1, 64) / d.pixel_max            # (1000, 64) floats in [0, 1]

Rebuild (needs scikit-learn): `python data/build_tinydigits.py`.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .digits import ARRAY_NAMES, DatasetError, Digits, check_layout, file_sha256

TINYDIGITS_SHA256 = "1377c05a4716a2adc1cfebb8817aac1d8af104af5aec8e954dfe206bcca283d8"
FILE_NAME = "tinydigits.npz"
PIXEL_MAX = 16
REBUILD_COMMAND = "python data/build_tinydigits.py"


def default_path() -> Path:
    """`$TINYTORCH_DATA_DIR/tinydigits.npz` if that variable is set, else `<repo>/data/tinydigits.npz`."""
    data_dir = os.environ.get("TINYTORCH_DATA_DIR")
    root = Path(data_dir) if data_dir else Path(__file__).resolve().parents[2] / "data"
    return root / FILE_NAME


def load_tinydigits(path: Path | None = None) -> Digits:
    """Load TinyDigits after checking the file's sha256.

    path: the .npz file (default: `default_path()`)
    returns Digits: x_train (1000, 8, 8) uint8 0..16, y_train (1000,) int64 0..9,
                    x_test (200, 8, 8) uint8, y_test (200,) int64, pixel_max 16
    raises DatasetError when the file is missing, differs from the recorded checksum, or
    does not hold the four arrays.
    """
    path = Path(path) if path is not None else default_path()
    where = f"load_tinydigits: {path}"
    if not path.is_file():
        raise DatasetError(f"{where} does not exist. Restore it with `git checkout -- data/{FILE_NAME}`, "
                           f"rebuild it with `{REBUILD_COMMAND}`, or point TINYTORCH_DATA_DIR at "
                           f"the directory that holds {FILE_NAME}.")
    got = file_sha256(path)
    if got != TINYDIGITS_SHA256:
        raise DatasetError(f"{where} has sha256 {got}, expected {TINYDIGITS_SHA256}: the file was "
                           f"modified or damaged. Restore it with `git checkout -- data/{FILE_NAME}` "
                           f"or rebuild it with `{REBUILD_COMMAND}` (needs scikit-learn).")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = [npz[name] for name in ARRAY_NAMES]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{where}: cannot read the arrays ({type(e).__name__}: {e}); "
                           f"rebuild it with `{REBUILD_COMMAND}`") from e
    digits = Digits(*arrays, pixel_max=PIXEL_MAX)
    check_layout(digits, where)
    return digits
