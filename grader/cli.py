"""grader — check, grade and manage the tinytorch Milestone 03 course kit.

Students:
  grader check 01                  run Module 01's public tests on assignments/tinytorch
  grader check autograd            modules by name work too: tensor, activations, layers, ...
  grader check milestone03         train both milestone MLPs in the sandbox, score on held-out data
  grader check all                 everything, in course order

Instructors:
  grader check all --impl solutions --hidden      the reference must get full marks
  grader check all --impl path/to/submission --hidden --json results.json
  grader stubs build | check       regenerate assignments/tinytorch from solutions/ | verify it
  grader data fetch | verify       download and verify MNIST; verify TinyDigits

Exit status: 0 when everything checked passed (checks waiting for a later module count as
passed), 1 when something failed, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from grader.config import ConfigError, load_config
from grader.core.targets import UnknownTarget, resolve_targets
from grader.paths import assignments_dir, hidden_tests_dir, solutions_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    cfg = load_config(args.config)
    targets = resolve_targets(args.target, cfg)
    impl = _impl_dir(args.impl)
    hidden_dir = Path(args.hidden_dir).resolve() if args.hidden_dir else hidden_tests_dir()
    if args.hidden and not hidden_dir.is_dir():
        raise UnknownTarget(f"--hidden: no hidden tests at {hidden_dir} (they ship only with the instructor's copy)")

    from rich.console import Console

    from grader.core.rows import all_passed
    from grader.engine.grade import grade
    from grader.export.results_json import write_results_json
    from grader.report.render import render

    console = Console(soft_wrap=False)
    errors = Console(stderr=True, soft_wrap=False)

    def on_wait(wait: object) -> None:  # another grading on this machine holds the sandbox slots
        errors.print(f"grader: {wait}", markup=False, highlight=False)

    with console.status("grading…", spinner="dots"):
        report = grade(impl, targets, cfg=cfg, hidden=args.hidden, hidden_dir=hidden_dir,
                       public=not args.no_public, on_wait=on_wait)
    render(report, cfg, console)
    if args.json:
        write_results_json(report, Path(args.json))
        console.print(f"wrote {args.json}", markup=False)
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,stubs,data}")
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
    for verb, module, text in (("stubs", "grader.release.stubs_cli", "build or check assignments/tinytorch from the solution"),
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
        print(f"grader: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
