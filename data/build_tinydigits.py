"""Rebuild data/tinydigits.npz: 1000 train + 200 test 8x8 digits, exactly 100 / 20 per class.

The source is the UCI optical-recognition digits (1797 images, pixels 0..16) that
scikit-learn ships as `sklearn/datasets/data/digits.csv.gz`; each CSV row is 64 pixel
values followed by the label. scikit-learn is needed only to find that file.

The output is byte-for-byte reproducible: a fixed seed picks the rows, and the .npz is
written by hand (uncompressed zip members with a fixed timestamp, .npy version 1.0
headers) so neither the clock nor the zlib/NumPy version changes a single byte.

Usage:
    python data/build_tinydigits.py                  # writes data/tinydigits.npz
    python data/build_tinydigits.py --out /tmp/t.npz # writes elsewhere (e.g. to compare)

After a deliberate change, record the printed sha256 as TINYDIGITS_SHA256 in
grader/datasets/tinydigits.py.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SEED = 1986
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DEFAULT_OUT = Path(__file__).resolve().parent / "tinydigits.npz"


def find_source_csv() -> Path:
    """Path of scikit-learn's bundled digits.csv.gz, located without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build_tinydigits: scikit-learn is not installed; "
                         "run `pip install scikit-learn` (needed only to rebuild the data)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def read_digits_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse digits.csv.gz -> images (1797, 8, 8) uint8 in 0..16, labels (1797,) int64 in 0..9."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 65:
        raise SystemExit(f"build_tinydigits: {path} should have 65 columns, got shape {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"build_tinydigits: {path} has pixels outside 0..16 or labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 8, 8), labels


def stratified_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for train (10*TRAIN_PER_CLASS,) and test (10*TEST_PER_CLASS,), each shuffled.

    Uses the legacy RandomState, whose stream NumPy keeps fixed across versions (NEP 19).
    """
    rng = np.random.RandomState(seed)
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:TRAIN_PER_CLASS + TEST_PER_CLASS])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def npy_bytes(a: np.ndarray) -> bytes:
    """The .npy (format 1.0) encoding of a little-endian or byte array, header padded to 64."""
    header = f"{{'descr': '{a.dtype.str}', 'fortran_order': False, 'shape': {a.shape}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header_bytes = (header + " " * pad + "\n").encode("latin1")
    prefix = b"\x93NUMPY\x01\x00" + len(header_bytes).to_bytes(2, "little")
    return prefix + header_bytes + np.ascontiguousarray(a).tobytes()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive (stored, fixed timestamps) that np.load reads like np.savez output."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(a))
    return buf.getvalue()


def build(source: Path, seed: int = SEED) -> bytes:
    """The bytes of tinydigits.npz built from `source` (digits.csv.gz)."""
    images, labels = read_digits_csv(source)
    train, test = stratified_split(labels, seed)
    return npz_bytes({
        "x_train": images[train],                              # (1000, 8, 8) uint8
        "y_train": labels[train].astype("<i8"),                # (1000,) int64
        "x_test": images[test],                                # (200, 8, 8) uint8
        "y_test": labels[test].astype("<i8"),                  # (200,) int64
    })


def main(argv: list[str] | None = None) -> int:
    """Build the file, write it, print its path and sha256."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    parser.add_argument("--source", type=Path, default=None,
                        help="digits.csv.gz (default: the copy inside scikit-learn)")
    args = parser.parse_args(argv)
    data = build(args.source or find_source_csv())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)\nsha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
