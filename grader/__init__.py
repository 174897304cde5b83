"""The tinytorch course kit's grader: `grader check`, the sandbox, datasets and the stub generator."""

import os
import sys


def _drop_working_directory() -> None:
    """`python -m grader...` puts the working directory first on sys.path, so a `numpy.py` or
    `yaml.py` in it (a submission's folder, say) would be imported by the trusted grader. While
    `-m` locates its module, sys.argv[0] is "-m": then, before this package imports anything,
    drop that entry. The `grader` command, `python -P` and the editable install do not need it
    (the package is found through the install, never through the working directory)."""
    if sys.argv[:1] != ["-m"] or not sys.path:
        return
    first = sys.path[0]
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:  # the working directory was removed
        here = None
    if first == "" or (here is not None and os.path.realpath(first) == here):
        del sys.path[0]


_drop_working_directory()

# One BLAS thread in the trusted grader process, set before anything here imports NumPy: its
# own arithmetic is small, the machine's cores belong to the sandbox workers, and a BLAS
# thread pool is one more thread a fork could catch holding a lock. The grader itself (the
# `grader` command, `python -m grader...`) takes one whatever the environment says; a script
# that imports the kit (the milestone scripts) keeps an OPENBLAS_NUM_THREADS it was given.
_GRADER_PROCESS = sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "") == "grader"
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    if _GRADER_PROCESS:
        os.environ[_name] = "1"
    else:
        os.environ.setdefault(_name, "1")
del _name

from importlib.metadata import PackageNotFoundError, version as _version  # noqa: E402

try:
    __version__ = _version("tinytorch-kit")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0+unknown"
