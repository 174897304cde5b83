"""grader gradescope: build the Gradescope autograder zip (the instructor's: hidden tests inside).

    grader gradescope --out autograder.zip [--timeout-minutes 10] [--summary-visibility visible]
                      [--hidden-visibility hidden] [--commit HEAD | --worktree]

The zip, to Gradescope's autograder specification:
    setup.sh            installs Python >= 3.11 (apt), a virtualenv with the kit, and MNIST
    run_autograder      grades /autograder/submission into /autograder/results/results.json
    gradescope.json     the settings below, read at grading time
    kit/                the kit as the commit has it: grader/, solutions/ (reference and hidden
                        tests), assignments/ (the stubs: the plumbing every submission is put on),
                        data/, pyproject.toml; not tests/, benchmarks/ or .ci/

--timeout-minutes must equal the assignment's "Autograder timeout" on Gradescope (default 10):
the grading limits are fitted into it (grader/release/gradescope_limits.py), so a submission
that hangs still gets every part graded or reported. --summary-visibility sets the per-module
summary rows' visibility (default visible); --hidden-visibility overrides the hidden tests'
own markers (default: keep them).

Examples:
    grader gradescope --out autograder.zip
    grader gradescope --out autograder.zip --timeout-minutes 20 --hidden-visibility after_due_date

On Gradescope: a Programming Assignment, "Autograder" > upload autograder.zip, base image
Ubuntu 22.04; set the timeout you passed here. Memory: see the kit README's Gradescope section.

Exit codes: 0 written, 2 bad usage (the zip is not written).
"""
from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

from . import git_tree
from .gradescope_limits import Settings
from .manifest import EXCLUDE, INCLUDE, Rule, is_shipped, shipped_files

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).with_name("gradescope")
EXIT_OK, EXIT_USAGE = 0, 2
ZIP_TIME = (2020, 1, 1, 0, 0, 0)        # fixed: the same commit gives the same zip

KIT_RULES: tuple[Rule, ...] = (
    Rule(INCLUDE, "grader/**", "the grader, with release/ (this runner) and testing/ (the hidden tests' helpers)"),
    Rule(INCLUDE, "solutions/**", "the reference and the hidden tests"),
    Rule(INCLUDE, "assignments/**", "the stubs: a submission's module files go over their plumbing"),
    Rule(INCLUDE, "data/**", "TinyDigits"),
    Rule(INCLUDE, "pyproject.toml", "pip install -e kit"),
    Rule(INCLUDE, "README.md", "the kit's README, for whoever opens the zip"),
    Rule(EXCLUDE, "assignments/milestones/*/runs/**", "pictures of local milestone runs"),
    Rule(EXCLUDE, "**/.cache/**", "grader status's cache and the milestone's last-run record"),
    Rule(EXCLUDE, "**/__pycache__/**", "bytecode caches"),
    Rule(EXCLUDE, "**/*.py[co]", "stray bytecode"),
    Rule(EXCLUDE, "**/.pytest_cache/**", "pytest's cache"),
    Rule(EXCLUDE, "**/*.egg-info/**", "setuptools metadata"),
    Rule(EXCLUDE, "**/.DS_Store", "Finder litter"),
)


class ZipError(Exception):
    """The zip cannot be built (bad options, not a git checkout)."""


def kit_files(repo: Path, commit: str | None) -> tuple[str, dict[str, tuple[bytes, bool]]]:
    """(commit id or "worktree", {kit path: (bytes, executable)})."""
    if commit is None:
        files = {}
        for rel in shipped_files(repo, rules=KIT_RULES):
            path = repo / rel
            files[rel] = (path.read_bytes(), bool(path.stat().st_mode & 0o111))
        return "worktree", files
    sha = git_tree.resolve(repo, commit)
    entries = [e for e in git_tree.tree_files(repo, sha) if is_shipped(e.path, KIT_RULES)
               and e.mode in (git_tree.REGULAR, git_tree.EXECUTABLE)]
    blobs = git_tree.read_blobs(repo, [e.sha for e in entries])
    return sha, {e.path: (blobs[e.sha], e.executable) for e in entries}


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_zip(out: Path, settings: Settings, *, repo: Path = REPO, commit: str | None = "HEAD") -> dict[str, object]:
    """Write the autograder zip to `out` (atomically); returns what it holds."""
    try:
        source, files = kit_files(repo, commit)
    except git_tree.GitError as exc:
        raise ZipError(f"{repo}: {exc} (use --worktree to package the files on disk)") from None
    missing = [need for need in ("grader/release/gradescope_run.py", "solutions/hidden_tests", "assignments/tinytorch/__init__.py")
               if not any(rel == need or rel.startswith(need + "/") for rel in files)]
    if missing:
        raise ZipError(f"the kit ({source}) lacks {', '.join(missing)}: build the zip from the instructor's copy")
    settings = Settings(**{**settings.__dict__, "kit_commit": source})
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _add(archive, "setup.sh", (SCRIPTS / "setup.sh").read_bytes(), True)
        _add(archive, "run_autograder", (SCRIPTS / "run_autograder").read_bytes(), True)
        _add(archive, "gradescope.json", settings.to_json().encode(), False)
        for rel in sorted(files):
            data, executable = files[rel]
            _add(archive, f"kit/{rel}", data, executable)
    tmp.replace(out)
    return {"path": out, "commit": source, "files": len(files) + 3, "bytes": out.stat().st_size}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader gradescope", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", type=Path, metavar="FILE", required=True, help="the zip to write (autograder.zip)")
    parser.add_argument("--timeout-minutes", type=float, default=10.0,
                        help="the assignment's autograder timeout on Gradescope, 1 to 40 (default: %(default)g)")
    parser.add_argument("--summary-visibility", default="visible",
                        choices=["visible", "hidden", "after_due_date", "after_published"],
                        help="visibility of each module's summary row (default: %(default)s)")
    parser.add_argument("--hidden-visibility", default=None,
                        choices=["visible", "hidden", "after_due_date", "after_published"],
                        help="override the visibility the hidden tests' markers give (default: keep them)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--commit", default="HEAD", help="package the kit as this commit has it (default: HEAD)")
    where.add_argument("--worktree", action="store_true", help="package the files on disk instead (uncommitted edits too)")
    parser.add_argument("--root", type=Path, default=REPO, help="the kit checkout (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `grader gradescope`; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        settings = Settings(timeout_seconds=round(args.timeout_minutes * 60), summary_visibility=args.summary_visibility,
                            hidden_visibility=args.hidden_visibility)
        started = time.perf_counter()
        built = build_zip(args.out.resolve(), settings, repo=args.root.resolve(),
                          commit=None if args.worktree else args.commit)
    except (ValueError, ZipError) as exc:
        print(f"grader gradescope: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"grader gradescope: {built['path']} ({built['files']} files, {int(built['bytes']) / 1e6:.2f} MB, "
          f"kit {str(built['commit'])[:12]}, timeout {settings.timeout_seconds} s) in {time.perf_counter() - started:.1f} s")
    print("  on Gradescope: upload it as the autograder (base image Ubuntu 22.04) and set the autograder timeout "
          f"to {settings.timeout_seconds // 60:g} minutes")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
