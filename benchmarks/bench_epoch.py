"""Time one MNIST training epoch: tinytorch vs PyTorch vs a hand-fused NumPy MLP.

All three run the same recipe on one CPU thread: a 784-128-10 ReLU MLP, cross-entropy,
plain SGD (lr 0.1, no momentum), batches of 64 in a fresh shuffled order every epoch,
float32 throughout, each batch's loss read back as a Python float.

  tinytorch   the implementation in --impl, through its public API only:
              Sequential / Linear / ReLU / CrossEntropyLoss / DataLoader / SGD / Trainer.train_epoch
  pytorch     torch.nn with torch.optim.SGD, batches taken by indexing the full tensors with
              a torch.randperm slice (torch's per-sample DataLoader would only add overhead)
  numpy       forward and backward written out by hand: the floor a NumPy library can reach

The runners are timed in turn (interleaved) for --repeats rounds after one warm-up epoch
each, so a machine that gets busier affects them alike; the table gives the median and
the fastest round. PyTorch is skipped with a message when it is not installed
(`pip install torch==2.13.0`, the CPU build, or `pip install -e .[bench]`).

Examples (from the repository root):
    python benchmarks/bench_epoch.py                       # the reference in solutions/
    python benchmarks/bench_epoch.py --impl assignments --repeats 3
    python benchmarks/bench_epoch.py --json epoch.json
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"    # one BLAS thread, set before NumPy (or torch) is first imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, CLASSES, BATCH, LR, SEED = 128, 10, 64, 0.1, 0
Array = np.ndarray


def load_data(log: Callable[[str], None]) -> tuple[Array, Array, str]:
    """MNIST's 60,000 training images as (60000, 784) float32 in [0, 1] and (60000,) int64
    labels from the kit's cache; random data of the same shape when it is not available."""
    try:
        from grader.datasets import DatasetError, load_mnist
        try:
            d = load_mnist(download=False)
            x = d.x_train.reshape(len(d.x_train), -1).astype(np.float32) / d.pixel_max
            return x, d.y_train.astype(np.int64), "MNIST train (60000 x 784)"
        except DatasetError:
            reason = "MNIST is not in the kit's cache (`grader data fetch` puts it there)"
    except ImportError as exc:
        reason = f"grader.datasets is not importable ({exc})"
    log(f"note: {reason}. Timing random data of MNIST's shape instead (same cost per epoch).")
    rng = np.random.default_rng(SEED)
    images = rng.random((60000, 784), dtype=np.float32)
    return images, rng.integers(0, CLASSES, 60000).astype(np.int64), "random data (60000 x 784)"


class Runner:
    """One implementation: `epoch()` trains one epoch and returns the mean training loss."""

    name = ""

    def epoch(self) -> float:
        raise NotImplementedError


class TinytorchRunner(Runner):
    name = "tinytorch"

    def __init__(self, x: Array, y: Array, impl: Path) -> None:
        sys.path.insert(0, str(impl))
        import tinytorch as tt
        self.where = str(Path(tt.__file__).resolve().parent)
        if not Path(self.where).is_relative_to(impl):
            raise SystemExit(f"error: imported tinytorch from {self.where}, not from {impl}")
        tt.manual_seed(SEED)
        model = tt.Sequential(tt.Linear(784, HIDDEN), tt.ReLU(), tt.Linear(HIDDEN, CLASSES))
        self.loader = tt.DataLoader(tt.TensorDataset(x, y), batch_size=BATCH, shuffle=True)
        self.trainer = tt.Trainer(model, tt.CrossEntropyLoss(), tt.SGD(model.parameters(), lr=LR))

    def epoch(self) -> float:
        return float(self.trainer.train_epoch(self.loader))


class TorchRunner(Runner):
    name = "pytorch"

    def __init__(self, x: Array, y: Array) -> None:
        import torch
        torch.set_num_threads(1)
        torch.manual_seed(SEED)
        self.torch = torch
        self.version = torch.__version__
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.model = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES))
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)

    def epoch(self) -> float:
        torch, total = self.torch, 0.0
        order = torch.randperm(len(self.x))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            loss = self.loss_fn(self.model(self.x[idx]), self.y[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(idx)
        return total / len(order)


class NumpyRunner(Runner):
    """The same MLP with forward and backward fused by hand: no graph, no Python objects per op."""

    name = "numpy (fused)"

    def __init__(self, x: Array, y: Array) -> None:
        rng = np.random.default_rng(SEED)
        self.rng, self.x, self.y = rng, x, y
        b1, b2 = 1 / np.sqrt(784), 1 / np.sqrt(HIDDEN)
        self.w1 = rng.uniform(-b1, b1, (784, HIDDEN)).astype(np.float32)
        self.b1 = rng.uniform(-b1, b1, HIDDEN).astype(np.float32)
        self.w2 = rng.uniform(-b2, b2, (HIDDEN, CLASSES)).astype(np.float32)
        self.b2 = rng.uniform(-b2, b2, CLASSES).astype(np.float32)

    def epoch(self) -> float:
        order, total = self.rng.permutation(len(self.x)), 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            xb, yb, n = self.x[idx], self.y[idx], len(idx)
            h = xb @ self.w1 + self.b1                      # (n, 128)
            a = np.maximum(h, 0)
            z = a @ self.w2 + self.b2                       # (n, 10)
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            rows = np.arange(n)
            total += float(np.log(s[:, 0]).mean() - z[rows, yb].mean()) * n
            dz = e / s                                      # softmax, then (p - onehot) / n
            dz[rows, yb] -= 1
            dz /= n
            da = dz @ self.w2.T
            da[h <= 0] = 0
            self.w2 -= LR * (a.T @ dz)
            self.b2 -= LR * dz.sum(axis=0)
            self.w1 -= LR * (xb.T @ da)
            self.b1 -= LR * da.sum(axis=0)
        return total / len(order)


def time_epochs(runner: Runner, epochs: int) -> tuple[float, float]:
    """(seconds per epoch, mean loss of the last epoch) over `epochs` consecutive epochs."""
    start = time.perf_counter()
    loss = float("nan")
    for _ in range(epochs):
        loss = runner.epoch()
    return (time.perf_counter() - start) / epochs, loss


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default=str(ROOT / "solutions"), metavar="DIR",
                        help="directory containing tinytorch/ (default: the reference in solutions/)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed round (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per runner (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    impl = Path(args.impl).expanduser().resolve()
    if args.epochs < 1 or args.repeats < 1:
        print("error: --epochs and --repeats must be at least 1", file=sys.stderr)
        return 2
    if not (impl / "tinytorch" / "__init__.py").is_file():
        print(f"error: --impl {impl} holds no tinytorch/__init__.py", file=sys.stderr)
        return 2

    x, y, data_name = load_data(print)
    ours = TinytorchRunner(x, y, impl)
    runners: list[Runner] = [ours]
    notes = [f"tinytorch from {ours.where}"]
    try:
        torch_runner = TorchRunner(x, y)
        runners.append(torch_runner)
        notes.append(f"PyTorch {torch_runner.version} (CPU, 1 thread)")
    except ImportError:
        notes.append("PyTorch is not installed: skipped (pip install torch==2.13.0)")
    runners.append(NumpyRunner(x, y))
    print(f"Epoch time on {data_name}: 784-{HIDDEN}-{CLASSES} MLP, SGD lr {LR}, batch {BATCH}, float32, "
          f"1 BLAS thread; {args.repeats} interleaved rounds of {args.epochs} epoch(s) after 1 warm-up epoch")
    for note in notes:
        print(f"  {note}")
    sys.stdout.flush()

    for runner in runners:
        runner.epoch()
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    losses: dict[str, float] = {}
    for round_ in range(args.repeats):
        for runner in runners:
            seconds, losses[runner.name] = time_epochs(runner, args.epochs)
            times[runner.name].append(seconds)
        print(f"  round {round_ + 1}/{args.repeats}: " +
              ", ".join(f"{name} {t[-1]:.3f} s" for name, t in times.items()), flush=True)

    median = {name: statistics.median(t) for name, t in times.items()}
    reference = median.get("pytorch")
    print(f"\n{'implementation':<16}{'median s/epoch':>16}{'fastest':>10}{'x PyTorch':>11}{'last loss':>11}")
    for name, t in times.items():
        ratio = f"{median[name] / reference:.2f}" if reference else "-"
        print(f"{name:<16}{median[name]:>16.3f}{min(t):>10.3f}{ratio:>11}{losses[name]:>11.4f}")
    print()
    if reference:
        print(f"tinytorch / PyTorch = {median['tinytorch'] / reference:.2f}")
    print(f"tinytorch / fused NumPy = {median['tinytorch'] / median['numpy (fused)']:.2f}")

    if args.json:
        result = {
            "data": data_name, "hidden": HIDDEN, "batch_size": BATCH, "lr": LR, "epochs_per_round": args.epochs,
            "repeats": args.repeats, "notes": notes, "python": platform.python_version(), "numpy": np.__version__,
            "seconds_per_epoch": times, "median_seconds_per_epoch": median, "last_epoch_loss": losses,
            "ratio_tinytorch_to_pytorch": median["tinytorch"] / reference if reference else None,
            "ratio_tinytorch_to_numpy": median["tinytorch"] / median["numpy (fused)"],
        }
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
