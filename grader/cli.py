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

Exit status: 0 when everything checked passed, 1 when something failed, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from grader.config import ConfigError, load_config
from grader.core.targets import UnknownTarget, resolve_targets
from grader.paths import assignments_dir, hidden_tests_dir, repo_root, solutions_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _impl_dir(value: Optional[str]) -> Path:
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

    from grader.engine.grade import grade
    from grader.export.results_json import write_results_json
    from grader.report.render import render
    from grader.core.rows import all_passed

    console = Console(soft_wrap=False)
    with console.status("grading…", spinner="dots"):
        report = grade(impl, targets, cfg=cfg, hidden=args.hidden, hidden_dir=hidden_dir,
                       public=not args.no_public)
    render(report, cfg, console)
    if args.json:
        write_results_json(report, Path(args.json))
        console.print(f"wrote {args.json}")
    return EXIT_OK if all_passed(report.rows) else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,stubs,data}")
    check = sub.add_parser("check", help="run the checks for a module, the milestone or all",
                           description="Run the public tests (and with --hidden the hidden tests) for TARGET.")
    check.add_argument("target", nargs="+", help="01..08, a module name (tensor, activations, ...), milestone03 or all")
    check.add_argument("--impl", help="implementation to check: assignments (default), solutions, or a folder containing tinytorch/")
    check.add_argument("--hidden", action="store_true", help="also run the hidden tests (instructor's copy only)")
    check.add_argument("--hidden-dir", help=f"hidden tests folder (default {hidden_tests_dir().relative_to(repo_root())})")
    check.add_argument("--no-public", action="store_true", help="skip the public tests (graded runs need only hidden tests)")
    check.add_argument("--json", metavar="FILE", help="write Gradescope's results.json schema to FILE")
    check.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    check.set_defaults(func=_check)
    stubs = sub.add_parser("stubs", help="build or check assignments/tinytorch from the solution", add_help=False)
    stubs.set_defaults(func=None, delegate="grader.release.stubs_cli")
    data = sub.add_parser("data", help="fetch and verify datasets", add_help=False)
    data.set_defaults(func=None, delegate="grader.datasets.cli")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in ("stubs", "data"):
        import importlib
        return importlib.import_module("grader.release.stubs_cli" if argv[0] == "stubs" else "grader.datasets.cli").main(argv[1:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
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
