"""Unpickle NumPy arrays and nothing else.

`pickle.load` runs whatever callables a file names, so a downloaded pickle could run any
code. `safe_load` resolves only the few names a pickled ndarray needs (numpy.ndarray,
numpy.dtype and the array reconstructor) and refuses every other name before it is
imported or called. Tuples, lists, numbers and strings need no names and load as usual.

    >>> with gzip.open("mnist.pkl.gz") as f:
    ...     (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = safe_load(f, "mnist.pkl.gz")
"""
from __future__ import annotations

import pickle
import zlib
from typing import IO, Any

import numpy as np

from .digits import DatasetError

try:                                    # NumPy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:                     # NumPy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,     # pickles written by NumPy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,    # pickles written by NumPy 2.x
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An Unpickler whose `find_class` returns only the objects in `ALLOWED`."""

    def __init__(self, file: IO[bytes], what: str) -> None:
        super().__init__(file, encoding="latin1")
        self.what = what

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for `module.name`; any other name raises `DatasetError`."""
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DatasetError(
                f"safe_load: {self.what} refers to {module}.{name}, which is not a NumPy array "
                f"type; refusing to load it (the file may be malicious or not the expected one)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids never occur in plain array pickles; refuse them."""
        raise DatasetError(f"safe_load: {self.what} uses persistent id {pid!r}; refusing to load it")


def safe_load(file: IO[bytes], what: str) -> Any:
    """Unpickle one object from `file`, allowing only NumPy arrays as non-builtin objects.

    file: a binary stream (e.g. gzip.open(...)); what: names the file in error messages.
    Python 2 strings are decoded as latin1, which is what NumPy expects for array bytes.
    """
    try:
        return ArrayOnlyUnpickler(file, what).load()
    except DatasetError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, OSError, zlib.error) as e:
        raise DatasetError(f"safe_load: {what} is not a readable pickle "
                           f"({type(e).__name__}: {e})") from e
