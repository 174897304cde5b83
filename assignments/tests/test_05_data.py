"""Module 05 — DataLoader: TensorDataset and mini-batches."""
from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from _gradcheck import assert_close


def _dataset(n: int = 10) -> tuple[np.ndarray, np.ndarray, tt.TensorDataset]:
    """Features whose first column is the sample's index, and integer labels."""
    features = np.stack([np.arange(n), np.arange(n) * 10], axis=1).astype(np.float32)
    labels = (np.arange(n) % 3).astype(np.int64)
    return features, labels, tt.TensorDataset(features, labels)


def _batches(loader: tt.DataLoader, where: str, count: int | None = None) -> list[tuple[tt.Tensor, tt.Tensor]]:
    """One epoch's batches, each checked to be a (features, labels) tuple of Tensors with
    features (B, D); with `count`, checked first to be that many ("expected 3 batches, got 2")."""
    batches = list(loader)
    if count is not None:
        assert len(batches) == count, f"{where}: expected {count} batches, got {len(batches)}"
    for i, batch in enumerate(batches):
        assert isinstance(batch, tuple) and len(batch) == 2, \
            f"{where}: batch {i} should be a (features, labels) tuple, got {type(batch).__name__} {batch!r:.80}"
        xb, yb = batch
        assert isinstance(xb, tt.Tensor) and isinstance(yb, tt.Tensor), \
            f"{where}: batch {i} should hold two Tensors, got {type(xb).__name__}, {type(yb).__name__}"
        assert xb.data.ndim == 2, f"{where}: batch {i} features have shape {xb.shape}, expected (batch_size, 2)"
    return batches


def _epoch(loader: tt.DataLoader, where: str = "Module 05 · DataLoader.__iter__", count: int | None = None) -> list[list[int]]:
    """The sample indices of one epoch, batch by batch."""
    return [xb.data[:, 0].astype(int).tolist() for xb, _ in _batches(loader, where, count)]


def test_tensor_dataset_len_and_items():
    """TensorDataset has len N and ds[i] == (features[i], labels[i])"""
    features, labels, ds = _dataset(6)
    assert len(ds) == 6, f"Module 05 · TensorDataset.__len__ with arrays (6, 2) and (6,): expected 6, got {len(ds)}"
    item = ds[4]
    assert isinstance(item, tuple) and len(item) == 2, f"Module 05 · TensorDataset.__getitem__: expected a 2-tuple, got {item!r}"
    assert_close(item[0], features[4], "Module 05 · TensorDataset.__getitem__(4): features")
    assert int(np.asarray(getattr(item[1], "data", item[1]))) == labels[4], "Module 05 · TensorDataset.__getitem__(4): label"
    with pytest.raises(ValueError):
        tt.TensorDataset(features, labels[:5])


@pytest.mark.parametrize("batch_size", [1, 3, 4, 10, 12])
@pytest.mark.parametrize("shuffle", [False, True])
def test_an_epoch_yields_each_sample_once(batch_size, shuffle):
    """Each epoch visits every sample exactly once, with or without shuffle"""
    _, _, ds = _dataset(10)
    loader = tt.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=0)
    for epoch in range(2):
        seen = sorted(i for batch in _epoch(loader) for i in batch)
        assert seen == list(range(10)), f"Module 05 · DataLoader.__iter__, N=10, batch_size={batch_size}, shuffle={shuffle}, " \
                                        f"epoch {epoch}: visited samples {seen}"


@pytest.mark.parametrize("batch_size, drop_last, batches", [(3, False, 4), (3, True, 3), (5, False, 2), (5, True, 2),
                                                             (1, False, 10), (12, False, 1), (12, True, 0)])
def test_len_counts_batches(batch_size, drop_last, batches):
    """len(loader) is the number of batches: the short last one counts unless drop_last"""
    _, _, ds = _dataset(10)
    loader = tt.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    got = loader.__len__()                      # len() itself would only say "cannot be interpreted as an integer"
    assert got == batches and isinstance(got, int), f"Module 05 · DataLoader.__len__, N=10, batch_size={batch_size}, " \
                                                    f"drop_last={drop_last}: expected {batches} (an int), got {got!r}"
    _epoch(loader, f"Module 05 · DataLoader.__iter__, N=10, batch_size={batch_size}, drop_last={drop_last}", batches)


def test_drop_last_removes_only_the_incomplete_batch():
    """drop_last=True yields only full batches; without it the last batch is short"""
    _, _, ds = _dataset(10)
    kept = [len(b) for b in _epoch(tt.DataLoader(ds, batch_size=4))]
    dropped = [len(b) for b in _epoch(tt.DataLoader(ds, batch_size=4, drop_last=True))]
    assert kept == [4, 4, 2], f"Module 05 · DataLoader, N=10, batch_size=4: batch sizes {kept}, expected [4, 4, 2]"
    assert dropped == [4, 4], f"Module 05 · DataLoader, N=10, batch_size=4, drop_last: batch sizes {dropped}, expected [4, 4]"


def test_batches_are_tensors_in_order_without_shuffle():
    """Without shuffle, batches are Tensors holding consecutive samples"""
    features, labels, ds = _dataset(10)
    batches = _batches(tt.DataLoader(ds, batch_size=4), "Module 05 · DataLoader.__iter__, N=10, batch_size=4", 3)
    xb, yb = batches[1]
    assert_close(xb, features[4:8], "Module 05 · DataLoader.__iter__, batch 1 features, N=10, batch_size=4")
    assert_close(yb, labels[4:8], "Module 05 · DataLoader.__iter__, batch 1 labels, N=10, batch_size=4")


def test_labels_keep_their_integer_dtype():
    """Batches keep float32 features and int64 labels"""
    _, _, ds = _dataset(10)
    xb, yb = _batches(tt.DataLoader(ds, batch_size=3, shuffle=True, seed=1),
                      "Module 05 · DataLoader(N=10, batch_size=3, shuffle=True).__iter__", 4)[0]
    assert xb.dtype == np.float32 and xb.shape == (3, 2), \
        f"Module 05 · DataLoader.__iter__: features {xb.shape} {xb.dtype}, expected (3, 2) float32"
    assert yb.dtype == np.int64 and yb.shape == (3,), f"Module 05 · DataLoader.__iter__: labels {yb.shape} {yb.dtype}, expected (3,) int64"


def test_shuffle_is_reproducible_with_a_seed():
    """Two loaders with the same seed give the same orders, epoch after epoch"""
    _, _, ds = _dataset(20)
    a, b = tt.DataLoader(ds, batch_size=5, shuffle=True, seed=7), tt.DataLoader(ds, batch_size=5, shuffle=True, seed=7)
    for epoch in range(2):
        first, second = _epoch(a), _epoch(b)
        assert first == second, f"Module 05 · DataLoader(shuffle=True, seed=7), epoch {epoch}: {first} vs {second}"
    other = _epoch(tt.DataLoader(ds, batch_size=5, shuffle=True, seed=8))
    assert other != _epoch(tt.DataLoader(ds, batch_size=5, shuffle=True, seed=7)), \
        "Module 05 · DataLoader: seeds 7 and 8 gave the same order"


def test_shuffle_gives_a_new_order_every_epoch():
    """With shuffle, each epoch has a different order (and without, the same 0..N-1)"""
    _, _, ds = _dataset(20)
    loader = tt.DataLoader(ds, batch_size=20, shuffle=True, seed=3)
    where = "Module 05 · DataLoader(N=20, batch_size=20).__iter__"
    one, two = _epoch(loader, where, 1)[0], _epoch(loader, where, 1)[0]
    assert one != two, f"Module 05 · DataLoader(shuffle=True): epochs 0 and 1 have the same order {one}"
    assert one != list(range(20)), "Module 05 · DataLoader(shuffle=True): the order was not shuffled"
    plain = tt.DataLoader(ds, batch_size=20)
    assert _epoch(plain, where, 1)[0] == list(range(20)) == _epoch(plain, where, 1)[0], \
        "Module 05 · DataLoader(shuffle=False) must keep 0..N-1"


def test_shuffle_without_seed_follows_manual_seed():
    """Without a seed, shuffling draws from tinytorch's generator: tt.manual_seed reproduces it"""
    _, _, ds = _dataset(20)
    tt.manual_seed(11)
    first = _epoch(tt.DataLoader(ds, batch_size=20, shuffle=True))
    tt.manual_seed(11)
    again = _epoch(tt.DataLoader(ds, batch_size=20, shuffle=True))
    assert first == again, f"Module 05 · DataLoader(shuffle=True, seed=None) after tt.manual_seed(11): {first} vs {again}"


def test_batch_size_must_be_at_least_one():
    """batch_size=1 yields single samples; batch_size < 1 is a ValueError"""
    _, _, ds = _dataset(4)
    assert [len(b) for b in _epoch(tt.DataLoader(ds, batch_size=1))] == [1, 1, 1, 1], \
        "Module 05 · DataLoader(batch_size=1): expected 4 batches of one sample"
    for bad in (0, -2):
        with pytest.raises(ValueError):
            tt.DataLoader(ds, batch_size=bad)


class _Squares(tt.Dataset):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.array([i, i * i], dtype=np.float32), i % 2


def test_any_dataset_with_len_and_getitem_can_be_batched():
    """A Dataset subclass with __len__ and __getitem__ is batched too"""
    xb, yb = _batches(tt.DataLoader(_Squares(), batch_size=3), "Module 05 · DataLoader(_Squares(), batch_size=3)", 2)[1]
    assert_close(xb, [[3, 9], [4, 16]], "Module 05 · DataLoader.__iter__ on a custom Dataset, batch 1 features")
    assert_close(yb, [1, 0], "Module 05 · DataLoader.__iter__ on a custom Dataset, batch 1 labels")
