"""Train the Milestone 03 models on many seeds and print the spread of the results.

Each seed calls the milestone script's own `train(tt, prepare(x_train), y_train, seed=s)`,
exactly as the grader does, then measures the trained `parameters()` with a NumPy forward
pass: test accuracy, training loss of the final model over the whole training set, and
training time. The summary gives min / median / max over the seeds and how many seeds
meet the grader's thresholds (from grader/config.yaml).

Examples (from the repository root):
    python benchmarks/seed_spread.py                          # both milestones, 20 seeds, the reference
    python benchmarks/seed_spread.py --which mnist --seeds 5
    python benchmarks/seed_spread.py --impl assignments       # the student tinytorch
    python benchmarks/seed_spread.py --json spread.json       # also write every figure as JSON

Exit status: 0 when every seed meets the grader's thresholds, 1 otherwise, 2 on a usage error.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the milestone scripts do: set before NumPy loads

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any, Optional  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MILESTONE_DIR = ROOT / "assignments" / "milestones" / "03_1986_mlp"
SCRIPTS = {"tinydigits": "01_rumelhart_tinydigits.py", "mnist": "02_rumelhart_mnist.py"}

sys.path.insert(0, str(MILESTONE_DIR))
import _milestone  # noqa: E402


def load_script(name: str) -> ModuleType:
    """Import a milestone script (its file name starts with a digit) by path."""
    path = MILESTONE_DIR / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_digits(key: str) -> Any:
    from grader.datasets import load_mnist, load_tinydigits
    return load_tinydigits() if key == "tinydigits" else load_mnist(log=lambda line: print(line, flush=True))


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run_milestone(tt: ModuleType, key: str, seeds: list[int], epochs: Optional[int], spec: Any) -> dict[str, Any]:
    """Train `key`'s model once per seed; return per-seed rows and the summary."""
    script = load_script(SCRIPTS[key])
    data = load_digits(key)
    x_train, x_test = script.prepare(data.x_train, data.pixel_max), script.prepare(data.x_test, data.pixel_max)
    y_train, y_test = data.y_train, data.y_test
    epochs = epochs or script.RECIPE["epochs"]
    shapes = _milestone.mlp_shapes(x_train.shape[1], script.RECIPE["hidden"])
    print(f"\n{key}: {len(seeds)} seeds, recipe {_milestone.describe_recipe(script.RECIPE, epochs, seeds[0])} (seed varies)",
          flush=True)
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        model = script.train(tt, x_train, y_train, seed=seed, epochs=epochs)
        seconds = time.perf_counter() - start
        params = _milestone.parameter_arrays(model, shapes)
        train_loss, _ = _milestone.numpy_loss_and_accuracy(params, x_train, y_train)
        _, test_accuracy = _milestone.numpy_loss_and_accuracy(params, x_test, y_test)
        rows.append({"seed": seed, "test_accuracy": test_accuracy, "train_loss": train_loss, "seconds": seconds})
        print(f"  seed {seed:>4}  test accuracy {test_accuracy:7.2%}  train loss {train_loss:.4f}  {seconds:6.2f} s",
              flush=True)
    passing = sum(r["test_accuracy"] >= spec.min_test_accuracy and r["train_loss"] < spec.max_train_loss for r in rows)
    summary = {name: spread([r[name] for r in rows]) for name in ("test_accuracy", "train_loss", "seconds")}
    return {"recipe": dict(script.RECIPE, epochs=epochs), "rows": rows, "summary": summary,
            "thresholds": {"min_test_accuracy": spec.min_test_accuracy, "max_train_loss": spec.max_train_loss},
            "seeds_passing": passing}


def print_summary(key: str, result: dict[str, Any]) -> None:
    s, t = result["summary"], result["thresholds"]
    print(f"\n{key} over {len(result['rows'])} seeds      min     median      max")
    acc = s["test_accuracy"]
    print(f"  test accuracy        {acc['min']:7.2%}  {acc['median']:7.2%}  {acc['max']:7.2%}"
          f"   (grader: >= {t['min_test_accuracy']:.0%})")
    loss = s["train_loss"]
    print(f"  final train loss     {loss['min']:7.4f}  {loss['median']:7.4f}  {loss['max']:7.4f}"
          f"   (grader: < {t['max_train_loss']:g})")
    sec = s["seconds"]
    print(f"  training time (s)    {sec['min']:7.2f}  {sec['median']:7.2f}  {sec['max']:7.2f}")
    print(f"  seeds meeting both grader thresholds: {result['seeds_passing']}/{len(result['rows'])}", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--which", choices=("tinydigits", "mnist", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds (default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed+1, ...")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--impl", default=str(ROOT / "solutions"), metavar="DIR",
                        help="directory containing tinytorch/ (default: the reference in solutions/)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        print("error: --seeds and --epochs must be at least 1", file=sys.stderr)
        return 2
    try:
        impl = _milestone.resolve_impl(args.impl, __file__)
    except _milestone.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from grader.config import load_config
    from grader.datasets import DatasetError

    config = load_config()
    keys = ["tinydigits", "mnist"] if args.which == "both" else [args.which]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results: dict[str, Any] = {}
    try:
        with _milestone.using_tinytorch(impl) as tt:
            print(f"tinytorch from {impl / 'tinytorch'}", flush=True)
            for key in keys:
                results[key] = run_milestone(tt, key, seeds, args.epochs, config.milestone[key])
    except (DatasetError, _milestone.SetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for key in keys:
        print_summary(key, results[key])
    if args.json:
        args.json.write_text(json.dumps({"impl": str(impl), "seeds": seeds, "results": results}, indent=2))
        print(f"\nwrote {args.json}")
    return 0 if all(r["seeds_passing"] == len(seeds) for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
