"""Train the Milestone 03 models on many seeds and print the spread of the results.

Each seed trains with the grader's own training loop and milestone recipe
(`grader.milestones.m03.recipe.train`, the architecture and recipe from grader/config.yaml),
exactly as the grader does in the sandbox, checks the run as the grader does (its first and
last steps replayed in NumPy, `grader.milestones.m03.verify`), then measures the trained
parameters with the grader's NumPy forward pass (`grader.milestones.m03.measure`): test
accuracy, training loss of the final model over the whole training set, and training time. The summary gives min / median / max over the seeds and how many seeds
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
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any, Optional  # noqa: E402

from grader.config import MilestoneSpec, load_config  # noqa: E402
from grader.milestones.m03 import data, measure, recipe, verify  # noqa: E402
from grader.milestones.m03.impl import SetupError, UsageError, resolve_impl, using_tinytorch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run_milestone(tt: ModuleType, spec: MilestoneSpec, seeds: list[int], epochs: Optional[int]) -> dict[str, Any]:
    """Train `spec`'s model once per seed; return per-seed rows and the summary."""
    digits = data.load(spec.key, log=lambda line: print(line, flush=True))
    x_train, x_test = recipe.prepare(digits.x_train, digits.pixel_max), recipe.prepare(digits.x_test, digits.pixel_max)
    y_train, y_test = digits.y_train, digits.y_test
    epochs = epochs or spec.recipe.epochs
    print(f"\n{spec.key}: {len(seeds)} seeds, recipe {spec.recipe.describe(epochs, seeds[0])} (seed varies)", flush=True)
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        run = recipe.train(tt, x_train, y_train, spec.architecture, spec.recipe, seed=seed, epochs=epochs)
        seconds = time.perf_counter() - start
        params = verify.check_run(run.trace, spec.architecture, spec.recipe, x_train, y_train, seed=seed, epochs=epochs)
        m = measure.measure(params, x_train, y_train, x_test, y_test)
        rows.append({"seed": seed, "test_accuracy": m.test_accuracy, "train_loss": m.train_loss, "seconds": seconds})
        print(f"  seed {seed:>4}  test accuracy {m.test_accuracy:7.2%}  train loss {m.train_loss:.4f}  {seconds:6.2f} s",
              flush=True)
    passing = sum(r["test_accuracy"] >= spec.min_test_accuracy and r["train_loss"] < spec.max_train_loss for r in rows)
    summary = {name: spread([r[name] for r in rows]) for name in ("test_accuracy", "train_loss", "seconds")}
    return {"recipe": dict(spec.recipe.as_dict(), epochs=epochs), "architecture": spec.architecture.as_dict(),
            "rows": rows, "summary": summary,
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
    config = load_config()
    parser.add_argument("--which", choices=(*config.milestone, "both"), default="both")
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
        impl = resolve_impl(args.impl, __file__)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from grader.datasets import DatasetError

    keys = list(config.milestone) if args.which == "both" else [args.which]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results: dict[str, Any] = {}
    try:
        with using_tinytorch(impl) as tt:
            print(f"tinytorch from {impl / 'tinytorch'}", flush=True)
            for key in keys:
                results[key] = run_milestone(tt, config.milestone[key], seeds, args.epochs)
    except (DatasetError, SetupError, measure.BadParameters, verify.StepMismatch) as exc:
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
