"""Milestone 03, part 2: the 1986 MLP learns MNIST (28×28).

In 1986 Rumelhart, Hinton and Williams showed that backpropagation trains networks with a
hidden layer. This script proves your tinytorch (modules 01-08) can do the same: it trains
Sequential(Linear(784, 128), ReLU(), Linear(128, 10)) (101,770 parameters) on the MNIST
(28×28) training images with the grader's training loop and seeded recipe (SGD lr 0.1 (last
epoch 0.01), momentum 0.9, batch 128, 3 epochs, seed 1986) and tests it on the held-out test
images. The loop calls your model, CrossEntropyLoss, backward() and SGD.step(); the grader
replays its first and last steps in NumPy, and a run that does not follow from your code
earns nothing.

Passing: test accuracy >= 94% and final training loss < 0.2, the thresholds the grader uses
(grader/config.yaml); the table at the end shows both. Before training it checks that every
piece of tinytorch it needs is implemented, and lists what is missing otherwise, module by
module.

MNIST is fetched once and cached (see `grader data fetch --help`); with no network, download
the four IDX files yourself and pass their folder with --mnist-dir.

Examples (run from this folder):
    python 02_rumelhart_mnist.py                      # your tinytorch in assignments/tinytorch
    python 02_rumelhart_mnist.py --seed 7             # another seed
    python 02_rumelhart_mnist.py --mnist-dir ~/mnist  # MNIST IDX files you downloaded
    python 02_rumelhart_mnist.py --impl DIR           # the tinytorch package in DIR/tinytorch
    TINYTORCH_IMPL=DIR python 02_rumelhart_mnist.py

Exit status: 0 when every criterion passes; 1 when tinytorch is not ready, a criterion
fails or the data cannot be loaded; 2 on a usage error.
"""
# Generated from grader/config.yaml by grader/milestones/m03/scripts.py; do not edit: change
# those, then run `python -m grader.milestones.m03.scripts --write`.
from __future__ import annotations

import sys

try:
    from grader.milestones.m03.cli import run
except ImportError as exc:  # this Python does not have the course kit installed
    sys.exit(f"error: cannot import the course kit's grader ({exc}); run `pip install -e .` in the kit's folder")


def main(argv: list[str] | None = None) -> int:
    """Run this milestone (options: see the docstring above, or --help); returns the exit status."""
    return run("mnist", argv, doc=__doc__, script=__file__)


if __name__ == "__main__":
    raise SystemExit(main())
