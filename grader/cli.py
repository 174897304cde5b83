"""grader — check, grade and manage the tinytorch Milestone 03 course kit.

Students:
  grader check 01                  run Module 01's public tests on assignments/tinytorch
  grader check 01 -k broadcast     only the tests whose names match; -v lists every test with all details
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
import signal
import sys
from pathlib import Path
from typing import Callable

from grader.config import ConfigError
from grader.core.targets import UnknownTarget
from grader.paths import assignments_dir, solutions_dir

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


def _check(args: argparse.Namespace) -> int:
    from grader.report.check_cli import check   # the report's modules load only for `check`
    return check(args)


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,status,submit,grade,release,gradescope,otter,stubs,data}")
    check = sub.add_parser("check", help="run the checks for a module, the milestone or all",
                           description="Run the public tests (and with --hidden the hidden tests) for TARGET.")
    check.add_argument("target", nargs="+", help="01..08, a module name (tensor, activations, ...), milestone03 or all")
    check.add_argument("--impl", help="implementation to check: assignments (default), solutions, or a folder containing tinytorch/")
    check.add_argument("--hidden", action="store_true", help="also run the hidden tests (instructor's copy only)")
    check.add_argument("--hidden-dir", help="hidden tests folder (default: solutions/hidden_tests)")
    check.add_argument("--no-public", action="store_true", help="skip the public tests (graded runs need only hidden tests)")
    check.add_argument("--json", metavar="FILE", help="write Gradescope's results.json schema to FILE")
    check.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    check.add_argument("-k", dest="select", metavar="WORDS", default="",
                       help="run only the public tests whose names match WORDS (pytest -k: 'broadcast', 'add and not div')")
    check.add_argument("-v", "--verbose", action="store_true",
                       help="list every test, passing ones too, with full reasons and everything they printed")
    check.set_defaults(func=_check)
    for verb, module, text in (
            ("status", "grader.report.status_cli", "one table: each module's public tests, the milestone's last run, what to do next"),
            ("submit", "grader.submit.cli", "pack your module files and a manifest into submission.zip, ready to upload"),
            ("otter", "grader.export.otter_cli",
             "Otter-Grader: pack a submission into one .py; build Otter's autograder zip with the kit's plugin"),
            ("grade", "grader.batch.cli",
             "grade a class: folders, zips, Gradescope/Canvas/Moodle exports; resumable, parallel, sharded"),
            ("release", "grader.release.release_cli", "write the student repository (a GitHub Classroom template) to --out DIR"),
            ("gradescope", "grader.release.gradescope_zip", "build the Gradescope autograder zip (hidden tests inside)"),
            ("stubs", "grader.release.stubs_cli", "build or check assignments/tinytorch from the solution"),
            ("data", "grader.datasets.cli", "fetch and verify datasets")):
        verb_parser = sub.add_parser(verb, help=text, add_help=False, description=text)
        verb_parser.set_defaults(func=_delegate(module), delegated=True)  # its own parser reads the rest
    return parser


def _printable_anywhere() -> None:
    """A terminal or pipe whose encoding lacks "—" or "·" (PYTHONIOENCODING=ascii, a C locale)
    gets "?" for them instead of a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    _printable_anywhere()
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
