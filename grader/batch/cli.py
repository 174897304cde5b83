"""grader grade — grade a whole class: folders, zips and LMS exports, resumable, in parallel.

  grader grade submissions/ --out graded/                     every submission in a folder
  grader grade canvas.zip --out graded/ --jobs 2              a Canvas bulk download
  grader grade assignment_7_export/ moodle/ late/ --out graded/   several inputs at once
  grader grade submissions/ --out graded/ --targets 01 05     only Modules 01 and 05
  grader grade submissions/ --out graded/ --shard 3/8         one of 8 machines (or --shard auto)
  grader grade --merge graded/                                grades.csv + summary from all shards
  grader grade submissions/ --list                            what would be graded, and what is refused

INPUT is a submission (a folder holding tinytorch/ or the module files, or a zip of either),
a Gradescope export (submission_metadata.yml + submission_*/), a Canvas bulk download zip, a
Moodle "download all submissions" folder or zip, or a folder of any of these.

Writes DIR/<id>/results.json (Gradescope's schema), DIR/<id>/feedback.md (what the student may
see), DIR/grades.csv (one row per student) and DIR/summary.md + summary.json. Rerunning skips
submissions already graded with the same files, kit and config (--force regrades). Ctrl-C
lets running gradings finish (twice: stops them); SIGTERM stops them; both write the CSV of
what is done. With --shard, each shard writes its submissions only; --merge builds the CSV.

Exit status: 0 every submission has a result and none is a grading error (rejected inputs and
timeouts are the students'; they are rows in the CSV); 1 grading errors, or (--merge)
submissions without a result; 2 usage error; 130 stopped by SIGINT; 143 stopped by SIGTERM.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
HELP = "grade a class: folders, zips, Gradescope/Canvas/Moodle exports; resumable, parallel, sharded"


class UsageError(ValueError):
    """A command line that names nothing gradable; the message says what to give instead."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader grade", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="submission folders or zips, LMS exports, or folders of them")
    parser.add_argument("--out", metavar="DIR", help="output directory (results, feedback, grades.csv, summary)")
    parser.add_argument("--targets", nargs="+", default=["all"], metavar="T",
                        help="what to grade: all (default), 01..08, module names, milestone03; commas work too")
    parser.add_argument("--jobs", type=int, metavar="N", help="gradings at once (default: the number of cores)")
    parser.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    parser.add_argument("--public", action="store_true", help="also run the public tests (shown in feedback, no points)")
    parser.add_argument("--shard", metavar="I/N", help="grade only shard I of N (0-based), or 'auto' (Slurm array, "
                                                       "Kubernetes Indexed Job with GRADER_SHARDS)")
    parser.add_argument("--merge", metavar="DIR", help="build grades.csv and the summary from DIR (after all shards)")
    parser.add_argument("--list", action="store_true", help="list the submissions found and the inputs refused; grade nothing")
    parser.add_argument("--timeout", type=float, metavar="S", help="stop one grading after S seconds (default: the "
                                                                   "config's session limits, summed)")
    parser.add_argument("--after-due-date", action="store_true",
                        help="feedback.md also shows tests whose visibility is after_due_date / after_published")
    parser.add_argument("--hidden-dir", metavar="DIR", help="hidden tests folder (default: solutions/hidden_tests)")
    parser.add_argument("--config", metavar="FILE", help="grader config YAML (default: grader/config.yaml)")
    parser.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                        help="a progress bar (on a terminal by default) or one line per submission")
    return parser


def _targets(words: list[str]) -> list[str]:
    return [w for word in words for w in word.split(",") if w]


def _list(inputs: list[Path], cfg: Config) -> int:
    """Print what `grader grade` would grade (one line per submission) and what it refuses."""
    from grader.batch.collect import collect, module_files
    from grader.batch.extract import Rejected
    from grader.batch.inputs import discover
    wanted = module_files(cfg)
    found = discover(inputs, wanted)
    for unit in found.units:
        try:
            got = collect(unit.members(), unit.source, wanted)
            what = f"{len(got.files)} module file(s) from {got.found_in}" + (f"; missing {', '.join(got.missing)}" if got.missing else "")
        except Rejected as exc:
            what = f"REJECTED: {exc}"
        students = ", ".join(s.id + (f" ({s.name})" if s.name else "") for s in unit.students)
        print(f"{unit.key}\t{students}\t{unit.source}\t{what}")
        for note in unit.notes:
            print(f"\tnote: {note}")
    for note in found.notes:
        print(f"note: {note}")
    print(f"{len(found.units)} submission(s), {sum(len(u.students) for u in found.units)} student(s)")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from grader.batch.run import Plan, run_batch
    from grader.batch.shard import merge, parse_shard
    from grader.config import load_config
    from grader.core.targets import resolve_targets
    from grader.paths import hidden_tests_dir

    if args.merge:
        if args.inputs or args.out:
            raise UsageError("--merge DIR takes no INPUT and no --out (it reads DIR)")
        rows, missing = merge(Path(args.merge), after_due_date=args.after_due_date,
                              config=Path(args.config) if args.config else None)
        print(f"wrote {args.merge}/grades.csv ({rows} rows), summary.md and summary.json")
        if missing:
            print(f"grader grade --merge: {len(missing)} submission(s) have no result yet: {', '.join(missing[:20])}"
                  + (" …" if len(missing) > 20 else ""), file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    if not args.inputs:
        raise UsageError("give at least one INPUT (a submission, an export, or a folder of them), or --merge DIR")
    inputs = [Path(p) for p in args.inputs]
    absent = [str(p) for p in inputs if not p.exists()]
    if absent:
        raise UsageError(f"no such file or folder: {', '.join(absent)}")
    cfg = load_config(Path(args.config) if args.config else None)
    if args.list:
        return _list(inputs, cfg)
    if not args.out:
        raise UsageError("--out DIR is required (where results, feedback and grades.csv go)")
    words = _targets(args.targets)
    targets = resolve_targets(words, cfg)
    hidden_dir = Path(args.hidden_dir).resolve() if args.hidden_dir else hidden_tests_dir()
    if not hidden_dir.is_dir():
        raise UsageError(f"no hidden tests at {hidden_dir} (they ship only with the instructor's copy)")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    plan = Plan(out=Path(args.out), cfg=cfg, targets=targets, hidden_dir=hidden_dir, words=words, public=args.public,
                force=args.force, timeout=args.timeout, shard=parse_shard(args.shard) if args.shard else None,
                after_due_date=args.after_due_date, tty={"auto": None, "bar": True, "lines": False}[args.progress])
    if args.jobs is not None:
        plan.jobs = args.jobs
    result = run_batch(inputs, plan)
    counts = {s: list(result.statuses.values()).count(s) for s in sorted(set(result.statuses.values()))}
    done = ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing"
    print(f"grader grade: {done}" + (f"; {len(result.stopped)} not graded (stopped)" if result.stopped else ""))
    if result.csv_rows is not None:
        print(f"wrote {plan.out}/grades.csv ({result.csv_rows} rows), summary.md and summary.json")
    else:
        print(f"shard {plan.shard} done; when every shard is, run: grader grade --merge {plan.out}")
    return result.code


def main(argv: list[str] | None = None) -> int:
    from grader.batch.shard import ShardError
    from grader.config import ConfigError
    from grader.core.targets import UnknownTarget

    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help exits 0, a usage error 2
        return int(exc.code or 0)
    try:
        return _run(args)
    except (UsageError, UnknownTarget, ConfigError, ShardError) as exc:
        print(f"grader grade: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
