"""The MNIST cache: written atomically, verified on every load, replaced when damaged.

These tests fetch only from a local directory of tiny fake IDX files (download=False).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from grader.datasets import DatasetError, Digits
from grader.datasets.mnist import load_mnist_as
from grader.datasets.mnist_cache import cache_file, read_cache, write_cache

if TYPE_CHECKING:
    from conftest import FakeMnist


@pytest.fixture(autouse=True)
def no_env_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their sources explicitly."""
    for name in ("TINYTORCH_MNIST_DIR", "TINYTORCH_CACHE_DIR", "TINYTORCH_MNIST_MIRRORS", "TINYTORCH_PIP_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def load(fake: "FakeMnist", cache_dir: Path, source_dir: Path | None, lines: list[str]) -> Digits:
    return load_mnist_as(fake.spec, cache_dir, source_dir, download=False, log=lines.append)


def assert_same_digits(got: Digits, want: Digits) -> None:
    for name, a in want.arrays().items():
        assert np.array_equal(getattr(got, name), a) and getattr(got, name).dtype == a.dtype, name


def test_first_load_fills_the_cache_and_second_load_reads_it(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """The first load fetches and caches; the next needs no source at all."""
    lines: list[str] = []
    assert_same_digits(load(fake_mnist, tmp_path, fake_mnist.gz_dir, lines), fake_mnist.digits)
    assert lines[-1] == f"MNIST: cached in {tmp_path / 'mnist.npz'}"
    lines.clear()
    assert_same_digits(load(fake_mnist, tmp_path, None, lines), fake_mnist.digits)
    assert lines == [f"MNIST: loaded the verified cache {tmp_path / 'mnist.npz'}"]


def test_cache_write_leaves_no_temporary_files(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """write_cache replaces the file in one step and cleans up its temporary file."""
    write_cache(tmp_path / "mnist.npz", fake_mnist.digits)
    write_cache(tmp_path / "mnist.npz", fake_mnist.digits)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.npz"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_unreadable_cache_is_deleted_and_refetched(fake_mnist: "FakeMnist", tmp_path: Path, damage: str) -> None:
    """A truncated, garbage or empty mnist.npz is reported, deleted and fetched again, never a crash."""
    path = tmp_path / "mnist.npz"
    write_cache(path, fake_mnist.digits)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a zip" * 100, "empty": b""}[damage])
    lines: list[str] = []
    assert_same_digits(load(fake_mnist, tmp_path, fake_mnist.raw_dir, lines), fake_mnist.digits)
    assert f"read_cache: {path} is unreadable" in lines[0] and "deleting the cache" in lines[0], lines
    assert_same_digits(read_cache(path, fake_mnist.spec), fake_mnist.digits)


def test_cache_with_wrong_hash_is_deleted_and_refetched(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """A readable cache with one changed pixel fails its sha256 check and is replaced."""
    path = tmp_path / "mnist.npz"
    x_train = fake_mnist.digits.x_train.copy()
    x_train[3, 14, 14] ^= 0xFF
    write_cache(path, fake_mnist.digits._replace(x_train=x_train))
    lines: list[str] = []
    assert_same_digits(load(fake_mnist, tmp_path, fake_mnist.gz_dir, lines), fake_mnist.digits)
    assert f"x_train has sha256" in lines[0] and fake_mnist.spec.array_sha256["x_train"] in lines[0], lines
    assert_same_digits(read_cache(path, fake_mnist.spec), fake_mnist.digits)


def test_cache_missing_an_array_is_refused(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """read_cache names the file when an array is absent."""
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=fake_mnist.digits.x_train)
    with pytest.raises(DatasetError, match=f"read_cache: {path} is unreadable.*y_train"):
        read_cache(path, fake_mnist.spec)


def test_bad_cache_without_any_source_explains_what_to_do(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """A damaged cache and no source: the bad file is gone and the error says how to supply MNIST."""
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DatasetError, match="(?s)local directory: skipped.*TINYTORCH_MNIST_DIR=DIR"):
        load(fake_mnist, tmp_path, None, [])
    assert not (tmp_path / "mnist.npz").exists()


def test_mnist_dir_env_var_is_the_default_source(fake_mnist: "FakeMnist", tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """TINYTORCH_MNIST_DIR is used when no source_dir is passed."""
    monkeypatch.setenv("TINYTORCH_MNIST_DIR", str(fake_mnist.raw_dir))
    lines: list[str] = []
    assert_same_digits(load(fake_mnist, tmp_path, None, lines), fake_mnist.digits)
    assert f"MNIST: got it from local directory {fake_mnist.raw_dir}" in lines


def test_cache_location_argument_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cache_dir wins; else $TINYTORCH_CACHE_DIR/mnist; else ~/.cache/tinytorch-kit/mnist."""
    assert cache_file(tmp_path / "c") == tmp_path / "c" / "mnist.npz"
    assert cache_file() == Path.home() / ".cache" / "tinytorch-kit" / "mnist" / "mnist.npz"
    monkeypatch.setenv("TINYTORCH_CACHE_DIR", str(tmp_path / "root"))
    assert cache_file() == tmp_path / "root" / "mnist" / "mnist.npz"
    assert cache_file(tmp_path / "c") == tmp_path / "c" / "mnist.npz"


def test_unwritable_cache_still_returns_the_data(fake_mnist: "FakeMnist", tmp_path: Path) -> None:
    """If the cache cannot be written, the data is returned and the problem is logged."""
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    lines: list[str] = []
    assert_same_digits(load(fake_mnist, blocker / "mnist", fake_mnist.raw_dir, lines), fake_mnist.digits)
    assert "could not write the cache" in lines[-1], lines
