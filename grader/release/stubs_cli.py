"""grader stubs: generate the student's tinytorch from the reference, and check the release.

    grader stubs build [--solutions DIR] [--out DIR]
        Write the student files: every solution block of DIR (default: solutions/tinytorch)
        becomes a `# TODO(Module NN)` and a `raise NotImplementedError`; other lines are kept.
        Stale files that the generator wrote earlier are removed.

    grader stubs check [--root DIR] [--solutions DIR] [--hidden DIR] [--assignments DIR] [--out DIR]
        Exit 1, listing each problem with its file and line, if the stubs in --out (default:
        ROOT/assignments/tinytorch) differ from a fresh build, or if any file that ships to
        students (`grader stubs manifest`) holds a solution marker, a solution line, the name
        of a hidden test or of its probe, or a hidden test's title; or is over the size limit.
        Each leak names its origin: solutions/tinytorch/layers.py:42, block "Linear forward" (Module 03).
        --root is the checkout to scan (default: the kit; with --assignments, its parent);
        --hidden the hidden tests (default: solutions/hidden_tests).

    grader stubs manifest [--root DIR] [--tracked]
        Print the files that ship to students, one per line, sorted: the include/exclude rules
        of grader/release/manifest.py applied to the files on disk (--tracked: to git's files).

Examples:
    grader stubs build && grader stubs check
    grader stubs check --root /tmp/kit-copy
    grader stubs manifest --tracked | xargs du -ch | tail -1     # from the repository root: release size

Defaults are found relative to the kit: <repo>/solutions/tinytorch, <repo>/solutions/hidden_tests
and <repo>. Exit codes: 0 all good, 1 problems found, 2 bad usage or missing folders.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .check import check
from .generate import MarkerError, build
from .manifest import shipped_files
from .origins import HiddenTestsError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOLUTIONS = REPO / "solutions" / "tinytorch"
DEFAULT_HIDDEN = REPO / "solutions" / "hidden_tests"
DEFAULT_ASSIGNMENTS = REPO / "assignments"
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A missing folder or a bad combination of options (exit 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader stubs", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="{build,check,manifest}")
    b = commands.add_parser("build", help="write assignments/tinytorch from the reference")
    b.add_argument("--solutions", type=Path, metavar="DIR", default=DEFAULT_SOLUTIONS, help="the reference package (default: %(default)s)")
    b.add_argument("--out", type=Path, metavar="DIR", default=DEFAULT_ASSIGNMENTS / "tinytorch", help="where the stubs go (default: %(default)s)")
    c = commands.add_parser("check", help="fail if the stubs are stale or any shipped file leaks")
    c.add_argument("--root", type=Path, metavar="DIR", default=None, help="the checkout to scan (default: the kit, or the parent of --assignments)")
    c.add_argument("--solutions", type=Path, metavar="DIR", default=DEFAULT_SOLUTIONS, help="the reference package (default: %(default)s)")
    c.add_argument("--hidden", type=Path, metavar="DIR", default=DEFAULT_HIDDEN, help="the hidden tests (default: %(default)s)")
    c.add_argument("--assignments", type=Path, metavar="DIR", default=None, help="the checkout's assignments/ folder (instead of --root)")
    c.add_argument("--out", type=Path, metavar="DIR", default=None, help="the stubs to compare (default: ROOT/assignments/tinytorch)")
    m = commands.add_parser("manifest", help="print the files that ship to students")
    m.add_argument("--root", type=Path, metavar="DIR", default=REPO, help="the checkout to list (default: %(default)s)")
    m.add_argument("--tracked", action="store_true", help="only files git tracks (default: files on disk)")
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
    return EXIT_PROBLEMS if report.foreign else EXIT_OK


def _check_root(args: argparse.Namespace) -> Path:
    if args.assignments is not None and args.assignments.name != "assignments":
        raise UsageError(f"--assignments {args.assignments}: expected a folder named assignments/ inside a "
                         f"checkout (the scan covers every shipped file around it); pass --root DIR instead")
    root = args.root or (args.assignments.parent if args.assignments is not None else REPO)
    for flag, folder in (("--root", root), ("--hidden", args.hidden)):
        if not folder.is_dir():
            raise UsageError(f"{flag} {folder}: no such folder")
    return root


def _check(args: argparse.Namespace) -> int:
    root = _check_root(args)
    problems = check(args.solutions, args.hidden, root, args.out)
    if problems:
        print(f"stubs check: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"stubs check: OK ({args.out or root / 'assignments' / 'tinytorch'} matches {args.solutions}; "
          f"{len(shipped_files(root))} shipped files under {root} hold no markers, solution lines or hidden-test names)")
    return EXIT_OK


def _manifest(args: argparse.Namespace) -> int:
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root}: no such folder")
    try:
        files = shipped_files(args.root, tracked=args.tracked)
    except NotADirectoryError as exc:
        raise UsageError(f"--tracked: {exc}") from exc
    print("\n".join(files))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run `grader stubs build|check|manifest`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "manifest":
            return _manifest(args)
        if not args.solutions.is_dir():
            raise UsageError(f"reference package {args.solutions} not found (pass --solutions DIR)")
        return _build(args) if args.command == "build" else _check(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MarkerError as exc:
        print(f"error: malformed solution markers:\n{exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except HiddenTestsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except SyntaxError as exc:
        print(f"error: a generated stub does not compile: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
