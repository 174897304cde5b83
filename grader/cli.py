"""grader — check, grade and manage the tinytorch Milestone 03 course kit.

Students:
  grader check 01                  run Module 01's public tests on assignments/tinytorch
  grader check autograd            modules by name work too: tensor, activations, layers, ...
  grader check milestone03         train both milestone MLPs in the sandbox, score on held-out data
  grader check all                 everything, in course order
  grader status                    where you are: each module, the milestone, the next command
  grader submit                    pack your module files into submission.zip for upload

Instructors:
  grader check all --impl solutions --hidden      the reference must get full marks
  grader check all --impl path/to/submission --hidden --json results.json
  grader grade submissions/ --out graded/   grade a class (folders, zips, LMS exports); grades.csv
  grader release --out DIR              the student repository, leak-checked
  grader gradescope --out autograder.zip [--timeout-minutes 10]
  grader stubs build | check | manifest   regenerate the stubs | verify what ships | list it
  grader data fetch | verify       download and verify MNIST; verify TinyDigits

With --json FILE, FILE is written before grading starts (a "grading error: the grader did
not finish" result, replaced atomically at the end), so a grader killed midway still leaves a
valid results.json. Each grading has a deadline from the config (the sum of its parts' time
limits plus a margin); at the deadline, or on SIGTERM, everything it started is killed and
FILE keeps what finished, with a visible "grading error" test saying why.

Exit status: 0 when everything checked passed (checks waiting for a later module count as
passed), 1 when something failed, 2 on a usage error, 143 when stopped by SIGTERM.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Callable

from grader.config import ConfigError, load_config
from grader.core.targets import UnknownTarget, resolve_targets
from grader.paths import assignments_dir, hidden_tests_dir, solutions_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_TERMINATED = 128 + signal.SIGTERM


def _impl_dir(value: str | None) -> Path:
    """`assignments` (default), `solutions`, or a path to a directory that contains tinytorch/."""
    if value in (None, "assignments"):
        path = assignments_dir()
    elif value in ("solutions", "reference"):
        path = solutions_dir()
    else:
        path = Path(value).expanduser().resolve()
        if path.name == "tinytorch" and (path / "__init__.py").exists():
            path = path.parent
    if not (path / "tinytorch" / "__init__.py").is_file():
        raise UnknownTarget(f"--impl {value or path}: no tinytorch/__init__.py under {path} "
                            f"(give the folder that contains tinytorch/, e.g. assignments)")
    return path


class _Terminated(Exception):
    """SIGTERM before the grading began."""


def _check(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    targets = resolve_targets(args.target, cfg)
    impl = _impl_dir(args.impl)
    hidden_dir = Path(args.hidden_dir).resolve() if args.hidden_dir else hidden_tests_dir()
    if args.hidden and not hidden_dir.is_dir():
        raise UnknownTarget(f"--hidden: no hidden tests at {hidden_dir} (they ship only with the instructor's copy)")

    from rich.console import Console
    from rich.text import Text

    from grader.core.rows import all_passed, safe_text
    from grader.engine.grade import grade, max_points
    from grader.engine.watchdog import GradingStop
    from grader.export.results_json import error_report, write_results_json, write_unfinished
    from grader.report.render import render

    console = Console(soft_wrap=False)
    errors = Console(stderr=True, soft_wrap=False)
    out = Path(args.json) if args.json else None
    maximum = max_points(cfg, targets) if args.hidden else 0.0

    def write_error(reason: str) -> None:
        if out is not None:
            write_results_json(error_report(impl, targets, hidden=args.hidden, max_score=maximum, reason=reason), out)

    if out is not None:  # replaced at the end; what a grader killed midway leaves behind
        try:
            write_unfinished(out, impl, targets, hidden=args.hidden, max_score=maximum)
        except OSError as exc:
            raise UnknownTarget(f"--json {out}: cannot write there ({exc.strerror})") from None
    stop = GradingStop(alarm=True)
    finished = False

    def on_term(signum: int, _frame: object) -> None:
        if finished:
            return                      # the results are being written: let that end
        if not stop.began:
            raise _Terminated()
        stop.stop("stopped by SIGTERM")

    def on_stuck(reason: str) -> None:  # the watchdog thread: the grading did not return after its stop
        write_error(f"{reason}; the grader did not stop in time")
        errors.print(Text(f"grader: {reason}; the grading did not stop, giving up"))
        os._exit(EXIT_FAILED)

    def on_wait(wait: object) -> None:  # another grading on this machine holds the sandbox slots
        errors.print(Text(f"grader: {safe_text(str(wait), 2000)}"))

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with console.status("grading…", spinner="dots"):
            report = grade(impl, targets, cfg=cfg, hidden=args.hidden, hidden_dir=hidden_dir,
                           public=not args.no_public, on_wait=on_wait, stop=stop, on_stuck=on_stuck)
        finished = True
    except KeyboardInterrupt:
        write_error("interrupted (Ctrl-C)")
        raise
    except _Terminated:
        write_error("stopped by SIGTERM before the grading began")
        errors.print("grader: stopped by SIGTERM", markup=False)
        return EXIT_TERMINATED
    except Exception as exc:  # a grader bug: the student still gets a result that says so
        traceback.print_exc()
        write_error(f"the grader failed: {type(exc).__name__}: {safe_text(str(exc), 300)}")
        return EXIT_FAILED
    finally:
        finished = True
        signal.signal(signal.SIGTERM, previous)
    if out is not None:
        write_results_json(report, out)
    render(report, cfg, console)
    if out is not None:
        console.print(Text(f"wrote {safe_text(str(out), 1000)}"))
    if report.stopped == "stopped by SIGTERM":
        return EXIT_TERMINATED
    return EXIT_OK if all_passed(report.rows) else EXIT_FAILED


def _delegate(module: str) -> Callable[[argparse.Namespace], int]:
    """A verb whose package parses its own arguments: `grader stubs build` -> grader.release.stubs_cli.main(["build"])."""
    def run(args: argparse.Namespace) -> int:
        import importlib
        try:
            verb = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(module.rsplit(".", 1)[0]):
                raise
            print(f"grader {args.command}: not part of this copy of the kit (it ships only with the "
                  f"instructor's copy)", file=sys.stderr)
            return EXIT_USAGE
        return int(verb.main(list(args.args)))
    return run


def build_parser() -> argparse.ArgumentParser:
    from grader import __version__

    parser = argparse.ArgumentParser(prog="grader", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,status,submit,grade,release,gradescope,stubs,data}")
    check = sub.add_parser("check", help="run the checks for a module, the milestone or all",
                           description="Run the public tests (and with --hidden the hidden tests) for TARGET.")
    check.add_argument("target", nargs="+", help="01..08, a module name (tensor, activations, ...), milestone03 or all")
    check.add_argument("--impl", help="implementation to check: assignments (default), solutions, or a folder containing tinytorch/")
    check.add_argument("--hidden", action="store_true", help="also run the hidden tests (instructor's copy only)")
    check.add_argument("--hidden-dir", help="hidden tests folder (default: solutions/hidden_tests)")
    check.add_argument("--no-public", action="store_true", help="skip the public tests (graded runs need only hidden tests)")
    check.add_argument("--json", metavar="FILE", help="write Gradescope's results.json schema to FILE")
    check.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    check.set_defaults(func=_check)
    for verb, module, text in (
            ("status", "grader.report.status_cli", "one table: each module's public tests, the milestone's last run, what to do next"),
            ("submit", "grader.submit.cli", "pack your module files and a manifest into submission.zip, ready to upload"),
            ("grade", "grader.batch.cli",
             "grade a class: folders, zips, Gradescope/Canvas/Moodle exports; resumable, parallel, sharded"),
            ("release", "grader.release.release_cli", "write the student repository (a GitHub Classroom template) to --out DIR"),
            ("gradescope", "grader.release.gradescope_zip", "build the Gradescope autograder zip (hidden tests inside)"),
            ("stubs", "grader.release.stubs_cli", "build or check assignments/tinytorch from the solution"),
            ("data", "grader.datasets.cli", "fetch and verify datasets")):
        verb_parser = sub.add_parser(verb, help=text, add_help=False, description=text)
        verb_parser.set_defaults(func=_delegate(module), delegated=True)  # its own parser reads the rest
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        if rest and not getattr(args, "delegated", False):
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.args = rest
    except SystemExit as exc:  # argparse: --help and --version exit 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (UnknownTarget, ConfigError) as exc:
        from grader.core.rows import safe_text  # a folder name may hold escape sequences
        print(f"grader: {safe_text(str(exc), 2000)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
