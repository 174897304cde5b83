"""grader submit: pack your tinytorch module files into submission.zip, ready to hand in.

    grader submit                          assignments/tinytorch -> ./submission.zip, public tests run first
    grader submit --out ~/hw/submission.zip
    grader submit --no-check               pack without running the public tests (faster)
    grader submit --impl path/to/folder    a folder that holds tinytorch/

The zip holds exactly the eight module files (tensor.py ... training.py) and MANIFEST.json
(the kit's version, each file's sha256 and size, the time, your Python version and the public
tests' results per module). Nothing else from your machine goes in: the grader uses its own
`__init__.py` and helpers. Unfinished modules are fine (their TODOs are graded as not
started); a file with a syntax error, or a tinytorch that fails to import, is refused with the
file and line, because every test of it would fail.

Exit status: 0 when the zip was written, 1 when the submission was refused (nothing is
written), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from grader.config import Config, ConfigError, load_config
from grader.core.rows import safe_text
from grader.submit.pack import (MANIFEST_NAME, Refused, check_import, local_check, manifest,
                                   read_module_files, refuse_syntax_errors, summary_lines, write_zip)

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _impl(value: str) -> Path:
    """The folder holding tinytorch/: `assignments` (the default, this kit's), or a path."""
    from grader.paths import assignments_dir

    path = assignments_dir() if value == "assignments" else Path(value).expanduser().resolve()
    if path.name == "tinytorch" and (path / "__init__.py").is_file():
        path = path.parent
    if not (path / "tinytorch" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"no tinytorch/__init__.py under {safe_text(str(path), 500)} "
                                         f"(give the folder that contains tinytorch/, e.g. assignments)")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader submit", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default="assignments", type=_impl,
                        help="the folder that holds tinytorch/ (default: this kit's assignments)")
    parser.add_argument("--out", default="submission.zip", type=Path,
                        help="where to write the zip (default: submission.zip in the current folder)")
    parser.add_argument("--no-check", action="store_true",
                        help="do not run the public tests first; the manifest records 'not run'")
    parser.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    return parser


def _local_check(impl: Path, cfg: Config) -> dict[str, Any]:
    """The public tests' summary; when they cannot run here at all, a status saying why (the
    zip is still written: the local check informs the student, it does not gate the submission)."""
    try:
        return local_check(impl, cfg, on_wait=lambda wait: print(
            f"grader submit: {safe_text(str(wait), 500)}", file=sys.stderr, flush=True))
    except Exception as exc:    # the sandbox or the machine, not the student's code (that becomes rows)
        reason = f"could not run: {type(exc).__name__}: {safe_text(str(exc), 300)}"
        print(f"grader submit: the public tests {reason}; packing without them", file=sys.stderr)
        return {"status": reason}


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1000:.1f} kB"


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:       # --help exits 0, usage errors 2
        return int(exc.code or 0)
    try:
        cfg = load_config(Path(args.config) if args.config else None)
    except ConfigError as exc:
        print(f"grader submit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out: Path = args.out.expanduser().resolve()
    if out.is_dir():
        out = out / "submission.zip"
    if out.suffix.lower() != ".zip":    # never over a module file, say, by a slip of the tab key
        print(f"grader submit: --out {safe_text(str(args.out), 500)}: the file name must end in .zip", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        files = read_module_files(args.impl, cfg)
        refuse_syntax_errors(files)
        check_import(args.impl)
        summary = None
        if not args.no_check:
            print("grader submit: running the public tests of every module (skip with --no-check)…", flush=True)
            summary = _local_check(args.impl, cfg)
    except Refused as exc:
        lines = [safe_text(line, 1000) for line in str(exc).splitlines()[:60]]     # it quotes the student's code
        print("grader submit: " + "\n".join(lines) + "\nnothing was written.", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"grader submit: cannot read {safe_text(str(exc.filename or args.impl), 500)}: {exc.strerror or exc}; "
              f"nothing was written.", file=sys.stderr)
        return EXIT_REFUSED
    try:
        size = write_zip(out, files, manifest(files, summary))
    except OSError as exc:
        print(f"grader submit: cannot write {safe_text(str(out), 500)}: {exc.strerror or exc}; nothing was written.",
              file=sys.stderr)
        return EXIT_REFUSED
    print(f"grader submit: packed {len(files)} module files and {MANIFEST_NAME} from "
          f"{safe_text(str(args.impl / 'tinytorch'), 500)}")
    for f in files:
        print(f"  {f.label:<24} {_size(f.size):>10}  sha256 {f.sha256[:12]}")
    if summary is None:
        print("local check: not run (--no-check); `grader check all` runs it")
    else:
        print("\n".join((["local check (public tests):"] if summary["status"] == "ran" else []) + summary_lines(summary)))
    print(f"wrote {safe_text(str(out), 500)} ({_size(size)}) in {time.perf_counter() - started:.1f} s")
    print(f"next: upload {out.name} to Gradescope, or hand it in as your instructor asks.")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
