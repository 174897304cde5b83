"""The real MNIST through the default path (downloads about 20 MB on first use, then cached)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from grader.datasets import load_mnist
from grader.datasets.digits import array_sha256
from grader.datasets.idx import encode_idx
from grader.datasets.mnist_spec import MNIST_SPEC

TRAIN_PER_DIGIT = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_PER_DIGIT = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
UNCOMPRESSED_IDX_MD5 = {                 # published md5s of the official files after gunzip
    "x_train": "6bbc9ace898e44ae57da46a324031adb",
    "y_train": "a25bea736e30d166cdddb491f175f624",
    "x_test": "2646ac647ad5339dbf082846283269ea",
    "y_test": "27ae3e4e09519cfbb04c329615203637",
}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_real_mnist_has_official_sizes_counts_and_checksums() -> None:
    """load_mnist() gives 60,000 + 10,000 28x28 uint8 images with the official label counts."""
    lines: list[str] = []
    d = load_mnist(log=lines.append)
    assert d.x_train.shape == (60_000, 28, 28) and d.x_train.dtype == np.uint8, lines
    assert d.x_test.shape == (10_000, 28, 28) and d.x_test.dtype == np.uint8
    assert d.y_train.shape == (60_000,) and d.y_train.dtype == np.int64
    assert d.y_test.shape == (10_000,) and d.y_test.dtype == np.int64
    assert d.pixel_max == 255 and d.x_train.max() == 255 and d.x_train.min() == 0
    assert np.bincount(d.y_train, minlength=10).tolist() == TRAIN_PER_DIGIT
    assert np.bincount(d.y_test, minlength=10).tolist() == TEST_PER_DIGIT
    assert d.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert d.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    for name, a in d.arrays().items():
        assert array_sha256(a) == MNIST_SPEC.array_sha256[name], name
        idx_md5 = hashlib.md5(encode_idx(a.astype(np.uint8))).hexdigest()
        assert idx_md5 == UNCOMPRESSED_IDX_MD5[name], f"{name}: not byte-identical to the official IDX file"
