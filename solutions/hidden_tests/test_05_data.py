"""Hidden tests, Module 05 — DataLoader: TensorDataset, batching, shuffling and drop_last.

Needs Modules 01 and 05 only. Each sample's features hold its own index, so the test can see
exactly which samples every batch contained. Probes copy every batch as it arrives: a loader
may reuse its buffers between batches.
"""
from __future__ import annotations

import numpy as np
import pytest

from _numeric import rng_for
from grader.testing import assert_close, assert_equal_array, probe, values_of

M = "Module 05"


def indexed_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x[i] = [i, 10 i] as float32 (exact), y[i] = (7 i) mod 5 as int64: both identify sample i."""
    ids = np.arange(n)
    x = np.stack([ids, 10 * ids], axis=1).astype(np.float32)
    y = (7 * ids) % 5
    return x, y.astype(np.int64)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_tensor_dataset_len_getitem_and_length_check() -> None:
    """TensorDataset: len, ds[i] as a tuple of rows; arrays of unequal length raise ValueError"""
    x, y = indexed_data(6)

    def dataset(tt, x, y):
        import numpy as np
        ds = tt.TensorDataset(x, y)
        item = ds[4]
        def length(obj):                          # an int, or what __len__ returned instead (len() would raise)
            n = obj.__len__()
            return n if isinstance(n, int) and not isinstance(n, bool) else f"{type(n).__name__} {n!r:.40}"

        if not (isinstance(item, tuple) and len(item) == 2):
            return {"item": type(item).__name__ + (f" of {len(item)}" if isinstance(item, (tuple, list)) else "")}
        out = {"len": length(ds), "is tuple": isinstance(item, tuple), "n parts": len(item),
               "x[4]": np.array(item[0].data if isinstance(item[0], tt.Tensor) else item[0], copy=True),
               "y[4]": np.array(item[1].data if isinstance(item[1], tt.Tensor) else item[1], copy=True)}
        out["len from tensors"] = length(tt.TensorDataset(tt.Tensor(x.copy()), tt.Tensor(y.copy())))
        try:
            tt.TensorDataset(x, y[:5])
            out["error"] = None
        except NotImplementedError:
            raise
        except Exception as e:
            out["error"] = type(e).__name__
        return out

    out = values_of(probe(dataset, x=x, y=y), "05", "TensorDataset")
    assert "item" not in out, f"{M} · TensorDataset(x, y)[4]: expected a tuple of 2 items, got a {out.get('item')}"
    assert out["len"] == 6 and out["len from tensors"] == 6, \
        f"{M} · TensorDataset: len is {out['len']} (from arrays) and {out['len from tensors']} (from Tensors), expected 6"
    assert out["is tuple"] and out["n parts"] == 2, f"{M} · TensorDataset(x, y)[4]: expected a tuple of 2 items"
    assert_close(out["x[4]"], x[4], where=f"{M} · TensorDataset(x, y)[4][0]")
    assert int(np.asarray(out["y[4]"])) == y[4], f"{M} · TensorDataset(x, y)[4][1] is {out['y[4]']}, expected {y[4]}"
    assert out["error"] == "ValueError", f"{M} · TensorDataset(x (6, 2), y (5,)): raised {out['error']}, expected ValueError"


def epochs_probe(tt, x, y, batch_size, shuffle, drop_last, seed, epochs):
    """Shared probe source: iterate `epochs` epochs, recording ids and batch sizes."""
    import numpy as np
    loader = tt.DataLoader(tt.TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    n = loader.__len__()                            # an int, or what __len__ returned instead (len() would raise)
    out = {"len": n if isinstance(n, int) and not isinstance(n, bool) else f"{type(n).__name__} {n!r:.40}"}
    for e in range(epochs):
        xs, ys, sizes = [], [], []
        for xb, yb in loader:
            xs.append(np.array(xb.data, copy=True))
            ys.append(np.array(yb.data, copy=True))
            sizes.append(len(xb.data))
        out[f"x{e}"] = np.concatenate(xs) if xs else np.zeros((0, x.shape[1]), x.dtype)
        out[f"y{e}"] = np.concatenate(ys) if ys else np.zeros((0,), y.dtype)
        out[f"sizes{e}"] = sizes
    return out


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_every_sample_is_visited_exactly_once_per_epoch() -> None:
    """Each epoch visits every sample exactly once, shuffled or not, keeping the short last batch"""
    x, y = indexed_data(23)
    for shuffle in (False, True):
        out = values_of(probe(epochs_probe, x=x, y=y, batch_size=5, shuffle=shuffle, drop_last=False, seed=3, epochs=2),
                        "05", f"DataLoader epochs (shuffle={shuffle})")
        where = f"{M} · DataLoader(23 samples, batch_size=5, shuffle={shuffle})"
        assert out["len"] == 5, f"{where}: len(loader) is {out['len']}, expected 5"
        for e in range(2):
            assert out[f"sizes{e}"] == [5, 5, 5, 5, 3], f"{where}, epoch {e}: batch sizes {out[f'sizes{e}']}, expected [5, 5, 5, 5, 3]"
            ids = np.asarray(out[f"x{e}"])[:, 0].astype(int)
            assert sorted(ids.tolist()) == list(range(23)), \
                f"{where}, epoch {e}: samples seen {sorted(ids.tolist())}, expected each of 0..22 once"
            assert_close(out[f"x{e}"], x[ids], where=f"{where}, epoch {e}: feature rows (rows must stay whole)")
            assert_equal_array(out[f"y{e}"], y[ids], where=f"{where}, epoch {e}: labels paired with their rows")
            if not shuffle:
                assert ids.tolist() == list(range(23)), f"{where}, epoch {e}: without shuffle the order must be 0..22"


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_drop_last_drops_only_the_short_batch() -> None:
    """drop_last drops only a short last batch; len(loader) counts the batches actually yielded"""
    cases = [(23, 5, True, [5, 5, 5, 5]), (20, 5, True, [5, 5, 5, 5]), (3, 5, True, []), (3, 5, False, [3]),
             (7, 1, True, [1] * 7), (7, 7, False, [7])]

    def drop_last(tt, cases):
        import numpy as np
        out = {}
        for i, (n, batch, drop) in enumerate(cases):
            x = np.arange(n, dtype=np.float32)[:, None]
            loader = tt.DataLoader(tt.TensorDataset(x), batch_size=batch, shuffle=True, drop_last=drop, seed=11)
            batches = [np.array(b[0].data[:, 0], copy=True) for b in loader]
            got = loader.__len__()                  # an int, or what __len__ returned instead (len() would raise)
            out[f"len {i}"] = got if isinstance(got, int) and not isinstance(got, bool) else f"{type(got).__name__} {got!r:.40}"
            out[f"sizes {i}"] = [len(b) for b in batches]
            out[f"ids {i}"] = [int(v) for b in batches for v in b]
        return out

    out = values_of(probe(drop_last, cases=[[n, b, d] for n, b, d, _ in cases]), "05", "DataLoader drop_last")
    for i, (n, batch, drop, sizes) in enumerate(cases):
        where = f"{M} · DataLoader({n} samples, batch_size={batch}, shuffle=True, drop_last={drop})"
        assert out[f"sizes {i}"] == sizes, f"{where}: batch sizes {out[f'sizes {i}']}, expected {sizes}"
        assert out[f"len {i}"] == len(sizes), f"{where}: len(loader) is {out[f'len {i}']}, expected {len(sizes)}"
        ids = out[f"ids {i}"]
        assert len(set(ids)) == len(ids) == sum(sizes) and set(ids) <= set(range(n)), \
            f"{where}: samples {ids} repeat or are not in 0..{n - 1}"


@pytest.mark.points(1.5)
@pytest.mark.visibility("hidden")
def test_shuffle_is_reproducible_and_new_each_epoch() -> None:
    """Shuffling: the same seed gives the same orders; each epoch has a new order; manual_seed works too"""
    x, y = indexed_data(23)

    def orders(tt, x, y):
        def epoch_order(loader):
            return [int(v) for xb, _ in loader for v in xb.data[:, 0]]

        ds = tt.TensorDataset(x, y)
        a, b = tt.DataLoader(ds, batch_size=4, shuffle=True, seed=5), tt.DataLoader(ds, batch_size=4, shuffle=True, seed=5)
        other = tt.DataLoader(ds, batch_size=4, shuffle=True, seed=6)
        out = {"a0": epoch_order(a), "a1": epoch_order(a), "b0": epoch_order(b), "b1": epoch_order(b),
               "other0": epoch_order(other)}
        tt.manual_seed(42)
        g1 = tt.DataLoader(ds, batch_size=4, shuffle=True)
        out["global first"] = epoch_order(g1)
        out["global first, epoch 2"] = epoch_order(g1)
        tt.manual_seed(42)
        out["global again"] = epoch_order(tt.DataLoader(ds, batch_size=4, shuffle=True))
        return out

    out = values_of(probe(orders, x=x, y=y), "05", "DataLoader shuffling")
    ident = list(range(23))
    where = f"{M} · DataLoader(23 samples, shuffle=True"
    assert out["a0"] != ident, f"{where}, seed=5): the first epoch is in the original order (not shuffled)"
    assert out["a0"] == out["b0"] and out["a1"] == out["b1"], f"{where}, seed=5): two loaders with the same seed gave different orders"
    assert out["a0"] != out["a1"], f"{where}, seed=5): epochs 1 and 2 had the same order; each epoch needs a new one"
    assert out["a0"] != out["other0"], f"{where}): seeds 5 and 6 gave the same order"
    assert out["global first"] == out["global again"], \
        f"{where}, no seed): after manual_seed(42) twice the orders differ; draw from the global generator"
    assert out["global first"] != out["global first, epoch 2"], f"{where}, no seed): epochs 1 and 2 had the same order"
    for key, order in out.items():
        assert sorted(order) == ident, f"{where}): epoch {key} is not a permutation of 0..22: {order}"


@pytest.mark.points(1)
@pytest.mark.visibility("hidden")
def test_batches_are_tensors_keeping_dtype_and_item_shape() -> None:
    """Batches are Tensors of shape (B, *item_shape); float32/float64 and int32/int64 dtypes are kept"""
    rng = rng_for("test_batches_are_tensors_keeping_dtype_and_item_shape")
    images = rng.normal(size=(10, 2, 3)).astype(np.float32)
    targets64 = rng.normal(size=(10,))
    labels64 = rng.integers(0, 3, size=10).astype(np.int64)
    labels32 = labels64.astype(np.int32)

    def batch_types(tt, images, targets64, labels64, labels32):
        import numpy as np
        loader = tt.DataLoader(tt.TensorDataset(images, targets64, labels64, labels32), batch_size=4)
        seen = []
        for batch in loader:                      # describe each batch as it arrives
            seen.append({"n parts": len(batch), "all tensors": all(isinstance(t, tt.Tensor) for t in batch),
                         "shapes": [list(t.shape) for t in batch], "dtypes": [str(t.dtype) for t in batch],
                         "images": np.array(batch[0].data, copy=True), "labels": np.array(batch[2].data, copy=True)})
        first = seen[0]
        return {"n": len(seen), "parts": first["n parts"], "all tensors": all(b["all tensors"] for b in seen),
                "shapes": first["shapes"], "last shapes": seen[-1]["shapes"], "dtypes": first["dtypes"],
                "images": first["images"], "labels": first["labels"]}

    out = values_of(probe(batch_types, images=images, targets64=targets64, labels64=labels64, labels32=labels32),
                    "05", "DataLoader batch types")
    where = f"{M} · DataLoader over (images (10, 2, 3) float32, targets float64, labels int64, labels int32), batch_size=4"
    assert out["n"] == 3 and out["parts"] == 4, f"{where}: {out['n']} batches of {out['parts']} items, expected 3 of 4"
    assert out["all tensors"], f"{where}: every batch item should be a Tensor"
    assert out["shapes"] == [[4, 2, 3], [4], [4], [4]], f"{where}: first batch shapes {out['shapes']}"
    assert out["last shapes"] == [[2, 2, 3], [2], [2], [2]], f"{where}: last batch shapes {out['last shapes']}"
    assert out["dtypes"] == ["float32", "float64", "int64", "int32"], f"{where}: dtypes {out['dtypes']}"
    assert_close(out["images"], images[:4], where=f"{where}: first batch of images", dtype=np.float32)
    assert_equal_array(out["labels"], labels64[:4], where=f"{where}: first batch of labels")


@pytest.mark.points(0.25)
@pytest.mark.visibility("hidden")
def test_batch_size_below_one_is_rejected() -> None:
    """DataLoader(batch_size=0) and batch_size=-1 raise ValueError"""
    x, y = indexed_data(4)

    def bad_batch_size(tt, x, y):
        ds = tt.TensorDataset(x, y)
        out = {"ok batches": len(list(tt.DataLoader(ds, batch_size=3)))}
        for bs in (0, -1):
            try:
                tt.DataLoader(ds, batch_size=bs)
                out[f"batch_size={bs}"] = None
            except NotImplementedError:
                raise
            except Exception as e:
                out[f"batch_size={bs}"] = type(e).__name__
        return out

    out = values_of(probe(bad_batch_size, x=x, y=y), "05", "DataLoader batch_size check")
    assert out["ok batches"] == 2, f"{M} · DataLoader(4 samples, batch_size=3): {out['ok batches']} batches, expected 2"
    for bs in (0, -1):
        assert out[f"batch_size={bs}"] == "ValueError", \
            f"{M} · DataLoader(batch_size={bs}): raised {out[f'batch_size={bs}']}, expected ValueError"


@pytest.mark.points(0.75)
@pytest.mark.visibility("hidden")
def test_loader_batches_a_custom_dataset() -> None:
    """DataLoader over a custom Dataset subclass: samples are stacked into batched Tensors"""
    def custom(tt):
        import numpy as np

        class Squares(tt.Dataset):
            def __len__(self):
                return 7

            def __getitem__(self, i):
                return np.array([i, i * i], dtype=np.float32), np.int64(i % 3)

        xs, ys, sizes = [], [], []
        for xb, yb in tt.DataLoader(Squares(), batch_size=3):
            xs.append(np.array(xb.data, copy=True))
            ys.append(np.array(yb.data, copy=True))
            sizes.append(len(xb.data))
        return {"x": np.concatenate(xs), "y": np.concatenate(ys), "sizes": sizes}

    out = values_of(probe(custom), "05", "DataLoader over a custom Dataset")
    ids = np.arange(7)
    where = f"{M} · DataLoader(a custom Dataset of 7 samples, batch_size=3)"
    assert out["sizes"] == [3, 3, 1], f"{where}: batch sizes {out['sizes']}, expected [3, 3, 1]"
    assert_close(out["x"], np.stack([ids, ids * ids], axis=1), where=f"{where}: features")
    assert_equal_array(out["y"], ids % 3, where=f"{where}: labels")


@pytest.mark.points(0.5)
@pytest.mark.visibility("hidden")
def test_tensor_dataset_is_batched_by_array_indexing() -> None:
    """A TensorDataset is batched by indexing its arrays, not by a Python loop over ds[i]"""
    x, y = indexed_data(12)

    def spy(tt, x, y):
        import numbers

        calls = {"int": 0, "other": 0}

        class Spy(tt.TensorDataset):
            def __getitem__(self, index):
                calls["int" if isinstance(index, numbers.Integral) else "other"] += 1
                return super().__getitem__(index)

        loader = tt.DataLoader(Spy(x, y), batch_size=4, shuffle=True, seed=0)
        seen = sorted(int(v) for xb, _ in loader for v in xb.data[:, 0])
        return {"int calls": calls["int"], "seen": seen}

    out = values_of(probe(spy, x=x, y=y), "05", "TensorDataset batching")
    assert out["seen"] == list(range(12)), f"{M} · DataLoader over a TensorDataset subclass: samples seen {out['seen']}"
    assert out["int calls"] == 0, (f"{M} · DataLoader over a TensorDataset: {out['int calls']} calls ds[i] with one "
                                   f"integer index for 12 samples; index the arrays with each batch's index array instead")
