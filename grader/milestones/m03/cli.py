"""The student-facing runner behind the Milestone 03 scripts.

    run("tinydigits", argv, doc=__doc__, script=__file__)   # the whole body of a script's main()

It chooses the tinytorch (`--impl DIR`, else $TINYTORCH_IMPL, else assignments/), checks that
every piece the milestone needs is there (listing what is missing per module otherwise),
trains with the grader's loop and the recipe from grader/config.yaml (`--seed`, `--epochs` to
experiment), prints one line per epoch, replays the first and last steps in NumPy as the
grader does, measures the trained parameters with the grader's own NumPy forward pass,
prints the criteria table and saves pictures of what the network learned in runs/<dataset>/
beside the script (with matplotlib: `pip install -e ".[pictures]"`). Exit status: 0 when
every criterion passes; 1 when tinytorch is not ready, a criterion fails or the data cannot
be loaded; 2 on a usage error.
"""
from __future__ import annotations

import os

# These matrices are small: one BLAS thread is as fast as several and stays fast when the
# machine is busy (set before NumPy loads; an explicit setting of the user's wins).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

from grader.config import Config, ConfigError, MilestoneSpec, load_config  # noqa: E402
from grader.datasets import DatasetError  # noqa: E402
from grader.milestones.m03 import data, measure, pictures, readiness, recipe, report, verify  # noqa: E402
from grader.milestones.m03.impl import IMPL_ENV_VAR, SetupError, UsageError, resolve_impl, using_tinytorch  # noqa: E402
from grader.report import last_run  # noqa: E402

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser(doc: str, spec: MilestoneSpec) -> argparse.ArgumentParser:
    """The script's options; `doc` (the script's docstring) is the --help text."""
    parser = argparse.ArgumentParser(prog=spec.script, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", metavar="DIR", help=f"directory containing tinytorch/ (default: ${IMPL_ENV_VAR}, "
                                                     f"else the assignments/ folder)")
    parser.add_argument("--seed", type=int, default=spec.recipe.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=spec.recipe.epochs, help="epochs to train (default: %(default)s)")
    if data.SOURCES[spec.key].dir_option:
        parser.add_argument("--mnist-dir", metavar="DIR", type=Path,
                            help="directory with the four MNIST IDX files, used if MNIST is not cached yet")
    return parser


def run(key: str, argv: list[str] | None, *, doc: str | None, script: str) -> int:
    """The body of each script's main(): 0 when every criterion passes, 1 otherwise, 2 on usage errors.

    key: "tinydigits" | "mnist" (the config's milestone03 section); doc: the script's
    docstring; script: the script's __file__ (its folder locates the default assignments/).
    """
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if key not in config.milestone:
        print(f"error: {config.path} has no milestone03.{key} section (it has {sorted(config.milestone)})",
              file=sys.stderr)
        return EXIT_FAILED
    spec = config.milestone[key]
    parser = build_parser(doc or "", spec)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # argparse exits 2 on a bad option, 0 after --help
        return int(exc.code or 0)
    if args.epochs < 1:
        parser.print_usage(sys.stderr)
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return EXIT_USAGE
    try:
        impl = resolve_impl(args.impl, script)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    names = {num: m.name for num, m in config.modules.items()}
    try:
        with using_tinytorch(impl) as tt:
            print(f"Milestone 03 · {spec.title}: using tinytorch from {impl / 'tinytorch'}", flush=True)
            problems = readiness.readiness_problems(tt, names)
            if problems:
                report.print_problems(problems, names, impl)
                return EXIT_FAILED
            print("tinytorch is ready: modules 01–08 passed their smoke checks.", flush=True)
            return _load_train_and_judge(tt, spec, args, config, names, impl, Path(script).resolve().parent / "runs")
    except SetupError as exc:
        print(f"error: {exc}", flush=True)
        return EXIT_FAILED


def _load_train_and_judge(tt: ModuleType, spec: MilestoneSpec, args: argparse.Namespace, config: Config,
                          names: readiness.ModuleNames, impl: Path, pictures_dir: Path) -> int:
    try:
        digits = data.load(spec.key, source_dir=getattr(args, "mnist_dir", None),
                           log=lambda line: print(line, flush=True))
    except DatasetError as exc:
        print(f"\nCannot load the data: {exc}", flush=True)
        return EXIT_FAILED
    return train_and_judge(tt, spec, digits, seed=args.seed, epochs=args.epochs, names=names, impl=impl,
                           config_path=config.path, pictures_dir=pictures_dir)


def train_and_judge(tt: ModuleType, spec: MilestoneSpec, digits: Any, *, seed: int, epochs: int,
                    names: readiness.ModuleNames, impl: Path, config_path: Path,
                    pictures_dir: Path | None = None) -> int:
    """Train with live progress, measure as the grader does, print the criteria table; the exit
    status. pictures_dir: draw the run's pictures into pictures_dir/<key>/ and print their paths
    (or how to get them, or why they could not be drawn: never a failure); None: no pictures."""
    x_train, x_test = recipe.prepare(digits.x_train, digits.pixel_max), recipe.prepare(digits.x_test, digits.pixel_max)
    y_train, y_test = digits.y_train, digits.y_test
    arch = spec.architecture
    print(f"\nTraining a {arch.inputs}-{arch.hidden}-{arch.classes} MLP on {spec.title} "
          f"({len(x_train)} train / {len(x_test)} test images)")
    print(f"Recipe: {spec.recipe.describe(epochs, seed)}", flush=True)
    start = time.perf_counter()

    def progress(epoch: int, history: dict[str, list[float]]) -> None:
        print(report.progress_line(epoch, epochs, history["train_loss"][-1], history["val_accuracy"][-1],
                                   time.perf_counter() - start), flush=True)

    try:
        run = recipe.train(tt, x_train, y_train, arch, spec.recipe, seed=seed, epochs=epochs,
                           on_epoch_end=progress, x_val=x_test, y_val=y_test)
        seconds = time.perf_counter() - start
        params = verify.check_run(run.trace, arch, spec.recipe, x_train, y_train, seed=seed, epochs=epochs)
    except measure.BadParameters as exc:
        print(f"\nThe trained model cannot be measured: {exc}.", flush=True)
        if "NaN" in str(exc):
            print(report.DIVERGED, flush=True)
        return EXIT_FAILED
    except verify.StepMismatch as exc:
        print(f"\n{exc}", flush=True)
        print(f"\nFAIL: the grader replays training steps like this one and gives no {spec.title} points "
              f"when they do not follow from your code.", flush=True)
        return EXIT_FAILED
    except NotImplementedError as exc:
        report.print_problems([readiness.problem_from(exc, "08", "training", names)], names, impl)
        return EXIT_FAILED
    except Exception as exc:  # a bug in student code: say where, without a wall of traceback
        print(f"\nTraining stopped: {readiness.describe_exception(exc)}", flush=True)
        return EXIT_FAILED
    m = measure.measure(params, x_train, y_train, x_test, y_test)
    print(f"Trained in {seconds:.2f} s (the grader allows {spec.time_limit_seconds:g} s for this milestone).")
    print(f"Replayed in NumPy: the first and the last {recipe.TAIL_STEPS} training steps follow from your forward "
          f"pass, backward pass and SGD step.")
    print(f"Measured from model.parameters() with the grader's NumPy forward pass: test accuracy on the "
          f"{len(x_test)} test images, training loss = the final model's mean cross-entropy over the "
          f"{len(x_train)} training images.", flush=True)
    rows = report.criteria(m, spec)
    if (seed, epochs) == (spec.recipe.seed, spec.recipe.epochs):    # the graded recipe: `grader status` shows it
        last_run.record(impl, spec.key, title=spec.title, passed=all(r.passed for r in rows),
                        test_accuracy=m.test_accuracy, train_loss=m.train_loss, seconds=seconds, how=spec.script)
    report.print_criteria(f"Milestone 03 · {spec.title} criteria (from {config_path})", rows)
    report.print_verdict(spec.title, rows, m.train_loss)
    if pictures_dir is not None:
        report.print_pictures(pictures.save_run(run.trace, params, arch, spec.title, x_train, y_train, x_test, y_test,
                                                digits.x_test, pictures_dir / spec.key))
    return EXIT_PASSED if all(r.passed for r in rows) else EXIT_FAILED
