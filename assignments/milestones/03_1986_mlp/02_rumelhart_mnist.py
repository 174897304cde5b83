"""Milestone 03, part 2: the 1986 MLP learns MNIST (28x28 handwritten digits).

The same idea as part 1, at full size: Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
trained on the 60,000 MNIST training images with a fixed, seeded recipe and tested on the
10,000 test images. With a correct tinytorch it takes a few seconds per epoch.

Passing: test accuracy >= 94% and final training loss < 0.2 (read from the grader's config).
Before training it checks that every piece of tinytorch it needs is implemented, and
lists what is missing otherwise.

MNIST is fetched once and cached (see `grader data fetch --help`); with no network, download
the four IDX files yourself and pass their folder with --mnist-dir.

Examples (run from this folder):
    python 02_rumelhart_mnist.py                       # your tinytorch in assignments/tinytorch
    python 02_rumelhart_mnist.py --mnist-dir ~/mnist   # MNIST IDX files you downloaded
    python 02_rumelhart_mnist.py --impl DIR            # the tinytorch package in DIR/tinytorch
    TINYTORCH_IMPL=DIR python 02_rumelhart_mnist.py

Exit status: 0 when every criterion passes; 1 when tinytorch is not ready, a criterion
fails or the data cannot be loaded; 2 on a usage error.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

# These matrices are small: one BLAS thread is as fast as several, and stays fast when the
# machine is busy (set before NumPy loads; an explicit setting of yours wins).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:       # _milestone.py sits beside this script
    sys.path.insert(0, _HERE)
import _milestone  # noqa: E402

RECIPE: dict[str, Any] = {
    "hidden": 128,         # hidden units: 784 -> 128 -> 10, 101,770 parameters
    "lr": 0.1,             # SGD learning rate ...
    "final_lr": 0.01,      # ... and the smaller one of the last epoch
    "momentum": 0.9,
    "batch_size": 128,
    "epochs": 3,
    "seed": 1986,          # tt.manual_seed: weight init and batch order
}


def prepare(images: np.ndarray, pixel_max: int) -> np.ndarray:
    """Images (N, H, W) uint8 in 0..pixel_max -> (N, H*W) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / pixel_max


def build_model(tt: Any) -> "tt.Sequential":
    """The 1986 MLP for 28x28 digits: 784 inputs -> 128 ReLU units -> 10 class scores."""
    return tt.Sequential(tt.Linear(784, RECIPE["hidden"]), tt.ReLU(), tt.Linear(RECIPE["hidden"], 10))


def train(tt: Any, x_train: np.ndarray, y_train: np.ndarray, *, seed: int = RECIPE["seed"],
          epochs: int = RECIPE["epochs"], on_epoch_end: Optional[Callable[[int, dict], None]] = None,
          x_val: Optional[np.ndarray] = None, y_val: Optional[np.ndarray] = None) -> "tt.Sequential":
    """Train a fresh model with RECIPE and return it.

    tt: the tinytorch package; x_train: (N, 784) float32 from `prepare`; y_train: (N,) int64.
    on_epoch_end(epoch, history), x_val (M, 784), y_val (M,): optional progress reporting,
    as in `Trainer.fit`. The same seed gives the same model.
    """
    tt.manual_seed(seed)
    model = build_model(tt)
    return _milestone.fit(tt, model, x_train, y_train, RECIPE, epochs=epochs,
                          on_epoch_end=on_epoch_end, x_val=x_val, y_val=y_val)


def load_data(args: argparse.Namespace) -> Any:
    """MNIST from the course kit's cache (fetched on first use): x (N, 28, 28) uint8, y (N,) int64."""
    from grader.datasets import load_mnist
    return load_mnist(source_dir=args.mnist_dir, log=lambda line: print(line, flush=True))


def main(argv: Optional[list[str]] = None) -> int:
    milestone = _milestone.Milestone(key="mnist", title="MNIST", doc=__doc__ or "",
                                     script_file=__file__, recipe=RECIPE, prepare=prepare,
                                     train=train, load_data=load_data)
    return _milestone.run(milestone, argv)


if __name__ == "__main__":
    raise SystemExit(main())
