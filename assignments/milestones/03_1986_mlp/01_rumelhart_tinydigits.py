"""Milestone 03, part 1: the 1986 MLP learns TinyDigits (8x8 handwritten digits).

In 1986 Rumelhart, Hinton and Williams showed that backpropagation trains networks with a
hidden layer. This script proves your tinytorch (modules 01-08) can do the same: it
trains Sequential(Linear(64, 32), ReLU(), Linear(32, 10)) on the 1,000 TinyDigits training
images with a fixed, seeded recipe and tests it on the 200 held-out images.

Passing: test accuracy >= 75% and final training loss < 0.5 (read from the grader's config).
Before training it checks that every piece of tinytorch it needs is implemented, and
lists what is missing otherwise.

Examples (run from this folder):
    python 01_rumelhart_tinydigits.py                  # your tinytorch in assignments/tinytorch
    python 01_rumelhart_tinydigits.py --seed 7         # another seed
    python 01_rumelhart_tinydigits.py --impl DIR       # the tinytorch package in DIR/tinytorch
    TINYTORCH_IMPL=DIR python 01_rumelhart_tinydigits.py

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
    "hidden": 32,          # hidden units: 64 -> 32 -> 10, 2,410 parameters
    "lr": 0.1,             # SGD learning rate ...
    "final_lr": 0.01,      # ... and the smaller one of the last epoch
    "momentum": 0.9,
    "batch_size": 32,
    "epochs": 10,
    "seed": 1986,          # tt.manual_seed: weight init and batch order
}


def prepare(images: np.ndarray, pixel_max: int) -> np.ndarray:
    """Images (N, H, W) uint8 in 0..pixel_max -> (N, H*W) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / pixel_max


def build_model(tt: Any) -> "tt.Sequential":
    """The 1986 MLP for 8x8 digits: 64 inputs -> 32 ReLU units -> 10 class scores."""
    return tt.Sequential(tt.Linear(64, RECIPE["hidden"]), tt.ReLU(), tt.Linear(RECIPE["hidden"], 10))


def train(tt: Any, x_train: np.ndarray, y_train: np.ndarray, *, seed: int = RECIPE["seed"],
          epochs: int = RECIPE["epochs"], on_epoch_end: Optional[Callable[[int, dict], None]] = None,
          x_val: Optional[np.ndarray] = None, y_val: Optional[np.ndarray] = None) -> "tt.Sequential":
    """Train a fresh model with RECIPE and return it.

    tt: the tinytorch package; x_train: (N, 64) float32 from `prepare`; y_train: (N,) int64.
    on_epoch_end(epoch, history), x_val (M, 64), y_val (M,): optional progress reporting,
    as in `Trainer.fit`. The same seed gives the same model.
    """
    tt.manual_seed(seed)
    model = build_model(tt)
    return _milestone.fit(tt, model, x_train, y_train, RECIPE, epochs=epochs,
                          on_epoch_end=on_epoch_end, x_val=x_val, y_val=y_val)


def load_data(args: argparse.Namespace) -> Any:
    """TinyDigits from the course kit: x (N, 8, 8) uint8 in 0..16, y (N,) int64."""
    from grader.datasets import load_tinydigits
    return load_tinydigits()


def main(argv: Optional[list[str]] = None) -> int:
    milestone = _milestone.Milestone(key="tinydigits", title="TinyDigits", doc=__doc__ or "",
                                     script_file=__file__, recipe=RECIPE, prepare=prepare,
                                     train=train, load_data=load_data)
    return _milestone.run(milestone, argv)


if __name__ == "__main__":
    raise SystemExit(main())
