"""grader release: write the student repository, ready to push as a GitHub Classroom template.

    grader release --out DIR [--root DIR] [--solutions DIR] [--hidden DIR]

DIR must not exist or be empty. It receives every file git tracks that ships to students
(`grader stubs manifest --tracked`: the stubs, public tests, milestone scripts, the grader
without its instructor-only parts, TinyDigits) and a README.md, .gitignore and pyproject.toml
written for students. Then every file of DIR is scanned for reference lines, solution markers
and hidden-test names and titles, and the bundle's grader must import on its own. Any problem
fails the release: DIR is removed (or emptied) and each problem is listed with its file and line.

Examples:
    grader release --out ../tinytorch-student
    cd ../tinytorch-student && git init -b main && git add . && git commit -m "tinytorch course"
    # push to a new GitHub repository, then mark it as a template (Settings > Template repository)

Exit codes: 0 released, 1 problems found (nothing left in DIR), 2 bad usage or missing folders.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bundle import BundleError, build_bundle

REPO = Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader release", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", type=Path, metavar="DIR", required=True, help="where the student repository goes")
    parser.add_argument("--root", type=Path, metavar="DIR", default=REPO, help="the kit checkout (default: %(default)s)")
    parser.add_argument("--solutions", type=Path, metavar="DIR", default=None,
                        help="the reference package (default: ROOT/solutions/tinytorch)")
    parser.add_argument("--hidden", type=Path, metavar="DIR", default=None,
                        help="the hidden tests (default: ROOT/solutions/hidden_tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `grader release`; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        report = build_bundle(args.root, args.out, solutions=args.solutions, hidden=args.hidden)
    except (BundleError, NotADirectoryError, FileNotFoundError) as exc:
        print(f"grader release: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not report.ok:
        print(f"grader release: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}; "
              f"nothing was left in {report.out}", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"grader release: {len(report.files)} files, {report.bytes / 1e6:.2f} MB -> {report.out}")
    print(f"  leak check over every file: OK ({report.leak_seconds:.2f} s); "
          f"the grader imports without the instructor's files ({report.import_seconds:.1f} s)")
    print(f"  next: cd {report.out} && git init -b main && git add . && git commit -m 'tinytorch course'")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
