# tinytorch/data.py: your file to complete for Module 05. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 05 — DataLoader: datasets and mini-batches.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    for xb, yb in loader:      # xb: (64, 784) float32 Tensor, yb: (64,) int64 Tensor
        ...

A `TensorDataset` is batched by indexing its arrays with an index array (one NumPy call
per batch), never by a Python loop over samples.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from ._random import generator
from .tensor import Tensor


class Dataset:
    """A sized collection of samples: subclasses define `__len__` and `__getitem__`."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays: ds[i] == (a0[i], a1[i], ...).

    arrays: ndarrays or Tensors, all with the same first dimension N (else ValueError).
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays: tuple[np.ndarray, ...] = tuple(np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, got shapes {shapes}")

    def __len__(self) -> int:
        # TODO(Module 05): the shared first dimension of the arrays
        raise NotImplementedError("Module 05: TensorDataset.__len__")

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        # TODO(Module 05): a tuple with row `index` of every array
        raise NotImplementedError("Module 05: TensorDataset.__getitem__")


class DataLoader:
    """Iterates a dataset in mini-batches of Tensors.

    DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, seed=None)
      Each epoch (each `iter()`) visits every sample exactly once; the last short batch is
      kept unless drop_last. With shuffle, every epoch draws a new permutation from the
      loader's own generator (`np.random.default_rng(seed)`, made once in __init__) or, when
      seed is None, from tinytorch's global generator. Yields tuple(Tensor, ...) with batch
      shapes (B, *item_shape); integer labels keep their dtype.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: Optional[int] = None) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self._rng: Optional[np.random.Generator] = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """The number of batches per epoch."""
        # TODO(Module 05): len(dataset) // batch_size, plus one for a short last batch unless drop_last
        raise NotImplementedError("Module 05: DataLoader.__len__")

    def _order(self) -> np.ndarray:
        """The sample order of one epoch: a fresh permutation when shuffling, else 0..N-1."""
        n = len(self.dataset)
        # TODO(Module 05): rng.permutation(n) when shuffling (self._rng or the global generator()), else np.arange(n)
        raise NotImplementedError("Module 05: DataLoader order")

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._order()
        # TODO(Module 05): slice `order` into batches; TensorDataset: index each array with the batch indices; other datasets: stack per-sample items
        raise NotImplementedError("Module 05: DataLoader.__iter__")
