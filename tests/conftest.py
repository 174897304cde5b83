"""Shared fixtures."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from grader.datasets import Digits
from grader.datasets.idx import encode_idx
from grader.datasets.mnist_spec import IDX_NAMES, MNIST_WHEEL, MnistSpec


class FakeMnist(NamedTuple):
    """A tiny MNIST look-alike, its four IDX files on disk, and the spec it satisfies."""

    digits: Digits          # x_train (20, 28, 28), x_test (10, 28, 28) uint8; labels int64 0..9
    gz_dir: Path            # the four *-ubyte.gz files (gzip mtime 0, so bytes are stable)
    raw_dir: Path           # the same, not gzipped
    gz_bytes: dict[str, bytes]
    spec: MnistSpec         # array sha256s and gz md5s of the above; wheel sha256 is a placeholder


@pytest.fixture(scope="session")
def fake_mnist(tmp_path_factory: pytest.TempPathFactory) -> FakeMnist:
    """20 train / 10 test random 28x28 images written as IDX files, with a matching MnistSpec."""
    rng = np.random.default_rng(20251124)
    d = Digits(x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
               y_train=rng.permutation(np.arange(20) % 10).astype(np.int64),
               x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
               y_test=rng.permutation(np.arange(10)).astype(np.int64), pixel_max=255)
    root = tmp_path_factory.mktemp("fake_mnist")
    gz_dir, raw_dir = root / "gz", root / "raw"
    gz_dir.mkdir()
    raw_dir.mkdir()
    gz_bytes = {}
    for name, stem in IDX_NAMES.items():
        raw = encode_idx(getattr(d, name).astype(np.uint8))
        gz_bytes[name] = gzip.compress(raw, mtime=0)
        (raw_dir / stem).write_bytes(raw)
        (gz_dir / f"{stem}.gz").write_bytes(gz_bytes[name])
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in gz_bytes.items()}
    spec = MnistSpec.describe(d, md5, dataclasses.replace(MNIST_WHEEL, sha256="0" * 64))
    return FakeMnist(d, gz_dir, raw_dir, gz_bytes, spec)
