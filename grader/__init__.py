"""The tinytorch course kit's grader: `grader check`, the sandbox, datasets and the stub generator."""

import os

# One BLAS thread in the trusted grader process, set before anything here imports NumPy: its
# own arithmetic is small, the machine's cores belong to the sandbox workers, and a BLAS
# thread pool is one more thread a fork could catch holding a lock.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
del _name

from importlib.metadata import PackageNotFoundError, version as _version  # noqa: E402

try:
    __version__ = _version("tinytorch-kit")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0+unknown"
