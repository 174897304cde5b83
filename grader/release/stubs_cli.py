"""grader stubs: generate the student's tinytorch from the reference, and check the release.

    grader stubs build [--solutions DIR] [--out DIR]
        Write the student files: every solution block of DIR (default: solutions/tinytorch)
        becomes a `# TODO(Module NN)` and a `raise NotImplementedError`; other lines are kept.
        Stale files that the generator wrote earlier are removed.

    grader stubs check [--solutions DIR] [--assignments DIR] [--out DIR]
        Exit 1, listing each problem, if the stubs in --out (default: ASSIGNMENTS/tinytorch)
        differ from a fresh build, or if a solution marker or solution line appears in any
        file under --assignments (default: assignments/), tests and milestones included.

Defaults are found relative to the kit: <repo>/solutions/tinytorch and <repo>/assignments.
Exit codes: 0 all good, 1 problems found, 2 bad usage or missing folders.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from .check import check
from .generate import MarkerError, build

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOLUTIONS = REPO / "solutions" / "tinytorch"
DEFAULT_ASSIGNMENTS = REPO / "assignments"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader stubs", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="{build,check}")
    b = commands.add_parser("build", help="write assignments/tinytorch from the reference")
    b.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="the reference package (default: %(default)s)")
    b.add_argument("--out", type=Path, default=DEFAULT_ASSIGNMENTS / "tinytorch", help="where the stubs go (default: %(default)s)")
    c = commands.add_parser("check", help="fail if the stubs are stale or the release leaks solutions")
    c.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS, help="the reference package (default: %(default)s)")
    c.add_argument("--assignments", type=Path, default=DEFAULT_ASSIGNMENTS, help="the student release to scan (default: %(default)s)")
    c.add_argument("--out", type=Path, default=None, help="the stubs to compare (default: ASSIGNMENTS/tinytorch)")
    return parser


def _build(args: argparse.Namespace) -> int:
    report = build(args.solutions, args.out)
    for rel in report.removed:
        print(f"removed stale generated file {args.out / rel}")
    for rel in report.foreign:
        print(f"error: {args.out / rel} has no counterpart in {args.solutions} and was not generated; "
              f"delete it by hand", file=sys.stderr)
    print(f"stubs build: {len(report.written)} written, {len(report.unchanged)} unchanged, "
          f"{report.todos} TODOs -> {args.out}")
    return 1 if report.foreign else 0


def _check(args: argparse.Namespace) -> int:
    problems = check(args.solutions, args.assignments, args.out)
    if problems:
        print(f"stubs check: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"stubs check: OK ({args.out or args.assignments / 'tinytorch'} matches {args.solutions}; "
          f"no markers or solution lines under {args.assignments})")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Run `grader stubs build|check`; returns the exit code."""
    args = _parser().parse_args(argv)
    if not args.solutions.is_dir():
        print(f"error: reference package {args.solutions} not found (pass --solutions DIR)", file=sys.stderr)
        return 2
    try:
        return _build(args) if args.command == "build" else _check(args)
    except MarkerError as exc:
        print(f"error: malformed solution markers:\n{exc}", file=sys.stderr)
        return 1
    except SyntaxError as exc:
        print(f"error: a generated stub does not compile: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
