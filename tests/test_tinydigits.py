"""TinyDigits: the committed 8x8 dataset, its checksum, and its reproducible build."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.datasets import DatasetError, Digits, load_tinydigits
from grader.datasets.digits import file_sha256
from grader.datasets.tinydigits import TINYDIGITS_SHA256, default_path

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "data" / "build_tinydigits.py"


@pytest.fixture(scope="module")
def tiny() -> Digits:
    return load_tinydigits()


def test_default_path_is_the_committed_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without TINYTORCH_DATA_DIR the loader reads <repo>/data/tinydigits.npz."""
    monkeypatch.delenv("TINYTORCH_DATA_DIR", raising=False)
    assert default_path() == REPO / "data" / "tinydigits.npz"


def test_shapes_and_dtypes(tiny: Digits) -> None:
    """TinyDigits has 1000 train and 200 test 8x8 uint8 images with int64 labels."""
    assert tiny.x_train.shape == (1000, 8, 8) and tiny.x_train.dtype == np.uint8
    assert tiny.y_train.shape == (1000,) and tiny.y_train.dtype == np.int64
    assert tiny.x_test.shape == (200, 8, 8) and tiny.x_test.dtype == np.uint8
    assert tiny.y_test.shape == (200,) and tiny.y_test.dtype == np.int64
    assert tiny.pixel_max == 16


def test_every_digit_has_exactly_100_train_and_20_test_images(tiny: Digits) -> None:
    """The split is stratified: 100 train and 20 test images of each digit 0..9."""
    assert np.bincount(tiny.y_train, minlength=10).tolist() == [100] * 10
    assert np.bincount(tiny.y_test, minlength=10).tolist() == [20] * 10
    assert tiny.y_train.min() == 0 and tiny.y_train.max() == 9


def test_pixels_span_0_to_pixel_max(tiny: Digits) -> None:
    """Pixels lie in 0..16 and both ends occur, so x / pixel_max fills [0, 1]."""
    for x in (tiny.x_train, tiny.x_test):
        assert x.min() == 0 and x.max() == tiny.pixel_max


def test_train_is_shuffled_not_grouped_by_class(tiny: Digits) -> None:
    """Labels are interleaved, so the first minibatch is not all zeros."""
    assert len(set(tiny.y_train[:50].tolist())) >= 5


def test_committed_file_matches_recorded_checksum() -> None:
    """data/tinydigits.npz has the sha256 recorded in the loader."""
    assert file_sha256(default_path()) == TINYDIGITS_SHA256


def test_tampered_copy_is_refused_with_both_hashes(tmp_path: Path) -> None:
    """Changing one byte makes load_tinydigits raise, naming the file, both hashes and the fix."""
    copy = tmp_path / "tinydigits.npz"
    data = bytearray(default_path().read_bytes())
    data[len(data) // 2] ^= 0x01                         # one bit of one pixel
    copy.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        load_tinydigits(copy)
    message = str(info.value)
    for part in (str(copy), file_sha256(copy), TINYDIGITS_SHA256, "python data/build_tinydigits.py"):
        assert part in message, f"message lacks {part!r}: {message}"


def test_missing_file_says_how_to_restore_it(tmp_path: Path) -> None:
    """A missing file raises DatasetError naming the path and the rebuild command."""
    with pytest.raises(DatasetError, match="does not exist.*build_tinydigits"):
        load_tinydigits(tmp_path / "nope.npz")


def test_data_dir_env_var_moves_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TINYTORCH_DATA_DIR points the loader at another directory holding tinydigits.npz."""
    shutil.copy(default_path(), tmp_path / "tinydigits.npz")
    monkeypatch.setenv("TINYTORCH_DATA_DIR", str(tmp_path))
    assert default_path() == tmp_path / "tinydigits.npz"
    assert load_tinydigits().x_train.shape == (1000, 8, 8)
    (tmp_path / "tinydigits.npz").unlink()
    with pytest.raises(DatasetError, match=str(tmp_path)):
        load_tinydigits()


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn is needed to rebuild")
def test_rebuild_gives_identical_bytes(tmp_path: Path) -> None:
    """Running data/build_tinydigits.py twice reproduces the committed file byte for byte."""
    for attempt in ("a", "b"):
        out = tmp_path / f"{attempt}.npz"
        done = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == default_path().read_bytes(), f"build {attempt} differs: {done.stdout}"
