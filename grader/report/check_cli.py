"""`grader check TARGET [-k WORDS] [-v]`: grade, then print the report (see grader.cli for the verb).

    grader check 01                 the short report: failures, one line per open TODO, totals, next step
    grader check 01 -k broadcast    only the public tests whose names match (pytest -k)
    grader check 01 -v              every test, passing ones too, with full reasons and printed output

The report goes through `terminal_console`: no escape codes with NO_COLOR, TERM=dumb or a
pipe, and ASCII only when the terminal's encoding cannot print "·" or "✓".
"""
from __future__ import annotations

import argparse
import os
import signal
import traceback
from pathlib import Path

from rich.text import Text

from grader.cli import EXIT_FAILED, EXIT_OK, EXIT_TERMINATED, _impl_dir
from grader.config import load_config
from grader.core.rows import all_passed, safe_text
from grader.core.targets import UnknownTarget, resolve_targets
from grader.engine.grade import grade, max_points
from grader.engine.watchdog import GradingStop
from grader.export.results_json import error_report, write_results_json, write_unfinished
from grader.paths import hidden_tests_dir
from grader.report.render import ascii_only, render, terminal_console


class _Terminated(Exception):
    """SIGTERM before the grading began."""


def _check_expression(select: str) -> None:
    """A -k expression pytest cannot parse is a usage error here, not a failed test session."""
    if not select:
        return
    try:
        from _pytest.mark.expression import Expression
    except ImportError:                 # another pytest: the session reports it
        return
    try:
        Expression.compile(select)
    except Exception as exc:            # SyntaxError since pytest 8.2, ParseError before
        raise UnknownTarget(f"-k {select!r} is not a pytest -k expression ({exc}); use words joined by "
                            f"and, or, not, e.g. -k 'add and not div'") from None


def check(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    targets = resolve_targets(args.target, cfg)
    impl = _impl_dir(args.impl)
    hidden_dir = Path(args.hidden_dir).resolve() if args.hidden_dir else hidden_tests_dir()
    if args.hidden and not hidden_dir.is_dir():
        raise UnknownTarget(f"--hidden: no hidden tests at {hidden_dir} (they ship only with the instructor's copy)")
    select = getattr(args, "select", "") or ""
    if select and (args.no_public or not targets.modules):
        raise UnknownTarget(f"-k {select!r} chooses public tests of modules; {targets.label} runs none "
                            f"(give a module, e.g. `grader check 01 -k {select}`)")
    _check_expression(select)

    console = terminal_console()
    errors = terminal_console(stderr=True)
    plain = ascii_only(console)
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
        with console.status("grading..." if plain else "grading…", spinner="line" if plain else "dots"):
            report = grade(impl, targets, cfg=cfg, hidden=args.hidden, hidden_dir=hidden_dir,
                           public=not args.no_public, on_wait=on_wait, stop=stop, on_stuck=on_stuck,
                           select=select)
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
    render(report, cfg, console, verbose=bool(getattr(args, "verbose", False)), select=select)
    if out is not None:
        console.print(Text(f"wrote {safe_text(str(out), 1000)}"))
    if report.stopped == "stopped by SIGTERM":
        return EXIT_TERMINATED
    return EXIT_OK if all_passed(report.rows) else EXIT_FAILED
