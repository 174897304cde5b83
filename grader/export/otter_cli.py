"""grader otter: this kit's grading for courses on Otter-Grader.

Students:
  grader otter pack                          pack assignments/tinytorch into ./tinytorch_submission.py
  grader otter pack --impl DIR --out FILE    DIR holds tinytorch/ (or is it)

Instructors (needs the extra: pip install -e ".[otter]"):
  grader otter generate --out autograder.zip [--targets all] [--timeout-minutes 10] [--worktree]
                        [--otter-config settings.json]   e.g. {"show_hidden": true}
  otter run -a autograder.zip tinytorch_submission.py     grade one submission locally

Otter grades one notebook or one .py file per submission, so a student submits the bundle that
`pack` writes: one .py holding their eight module files as text (otter_bundle.py). It is never
run; the plugin (otter_plugin.py) reads it, grades it with this kit exactly as `grader grade`
does (hidden tests and the milestone, in the sandbox) and gives Otter the kit's scores.

`generate` builds the zip with Otter's own generator (`otter generate`), then adds:
  otter_config.json   "plugins": [{"grader.export.otter_plugin.TinytorchPlugin": {...}}]
  tests/              empty: Otter's own tests are not used
  kit/                the kit from the commit (grader, reference, hidden tests, stubs, data)
  setup.sh            Otter's, plus: the kit installed into Otter's environment, MNIST fetched
                      now, the kit closed to the sandbox uids, Otter's Python opened to them
`otter run` grades with the kit installed where it runs (the zip's kit/ is for Gradescope).
On Gradescope: upload the zip as the autograder (Otter's base image, Ubuntu 22.04), memory at
least 1 GB; pass --timeout-minutes equal to the assignment's autograder timeout.

Exit status: 0 written, 1 refused (pack: a file that does not compile), 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from grader.config import ConfigError, load_config
from grader.core.atomic import write_atomically
from grader.core.rows import safe_text
from grader.export.otter_bundle import DEFAULT_NAME, MAX_FILE_BYTES, BundleProblem, pack_bundle

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
PLUGIN = "grader.export.otter_plugin.TinytorchPlugin"
AUTOGRADER_DIR = "/autograder"          # Otter's default, where Gradescope unpacks the zip
PYTHON_VERSION = "3.11"                 # what the kit is tested on (Otter's default is newer)
ZIP_TIME = (2020, 1, 1, 0, 0, 0)
SETUP_BLOCK = """
# ---- added by `grader otter generate`: the tinytorch kit in Otter's environment
KIT="{root}/source/kit"
export TINYTORCH_CACHE_DIR="$KIT/.cache"
mamba run -n otter-env python -m pip install --disable-pip-version-check -q -e "$KIT"
mkdir -p "$TINYTORCH_CACHE_DIR"
mamba run -n otter-env grader data fetch
mamba run -n otter-env grader data verify
# student code runs as sandbox uids: Otter's Python must be reachable by them, the kit (hidden
# tests, reference, MNIST) must not, even where Landlock is missing
chmod 700 "$KIT"
chmod o+x /root
chmod -R o+rX /root/miniforge3
"""


class UsageError(ValueError):
    """A bad option; the message says which and why."""


# ---------------------------------------------------------------------------- pack (students)
def _impl(value: str | None) -> Path:
    from grader.paths import assignments_dir

    path = assignments_dir() if value in (None, "assignments") else Path(value).expanduser().resolve()
    if path.name == "tinytorch" and (path / "__init__.py").is_file():
        path = path.parent
    if not (path / "tinytorch").is_dir():
        raise UsageError(f"--impl {safe_text(str(value or path), 500)}: no tinytorch/ folder under {safe_text(str(path), 500)}")
    return path / "tinytorch"


def read_modules(package: Path, wanted: tuple[str, ...]) -> tuple[dict[str, bytes], list[str]]:
    """({name: bytes} of the module files present, [names missing]); raises BundleProblem for a
    file too large or one that does not compile (naming the file and line)."""
    files: dict[str, bytes] = {}
    for name in wanted:
        path = package / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise BundleProblem(f"tinytorch/{name} is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
        try:
            compile(data, f"tinytorch/{name}", "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise BundleProblem(f"tinytorch/{name}:{exc.lineno}: {exc.msg}; fix it first (every test of it would fail)") from None
        except ValueError as exc:
            raise BundleProblem(f"tinytorch/{name}: {exc}") from None
        files[name] = data
    return files, [n for n in wanted if n not in files]


def _pack(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.config) if args.config else None)
    wanted = tuple(f"{spec.name}.py" for spec in cfg.modules.values())
    package = _impl(args.impl)
    try:
        files, missing = read_modules(package, wanted)
        text = pack_bundle(files)
    except BundleProblem as exc:
        print(f"grader otter pack: refused: {safe_text(str(exc), 1000)}", file=sys.stderr)
        return EXIT_REFUSED
    out = Path(args.out)
    write_atomically(out, text)
    note = f"; not found (graded as not started): {', '.join(missing)}" if missing else ""
    print(f"wrote {safe_text(str(out), 1000)}: {len(files)} module files from {safe_text(str(package), 500)}{note}. "
          f"Upload this one file as it is.")
    return EXIT_OK


# ------------------------------------------------------------------------ generate (instructors)
def otter_config(targets: list[str], timeout_minutes: float | None,
                 extra: dict[str, object] | None = None) -> dict[str, object]:
    """otter_config.json: the course's own Otter settings (`extra`), the kit's plugin added to
    its plugins; Otter's language is Python whatever `extra` says."""
    config = dict(extra or {})
    settings: dict[str, object] = {"targets": targets, "cache_dir": f"{_root(config)}/source/kit/.cache"}
    if timeout_minutes is not None:
        settings["timeout_minutes"] = timeout_minutes
    plugins = config.get("plugins", [])
    if not isinstance(plugins, list):
        raise UsageError(f"--otter-config: 'plugins' must be a list, not {type(plugins).__name__}")
    others = [p for p in plugins if p != PLUGIN and not (isinstance(p, dict) and PLUGIN in p)]
    return {**config, "lang": "python", "plugins": [*others, {PLUGIN: settings}]}


def _root(config: dict[str, object]) -> str:
    """Where Otter's autograder runs (its `autograder_dir` setting; Gradescope's /autograder)."""
    return str(config.get("autograder_dir") or AUTOGRADER_DIR).rstrip("/")


def _read_settings(path: str | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--otter-config {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"--otter-config {path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--otter-config {path}: expected a JSON object of Otter settings")
    return data


def build_autograder(out: Path, *, targets: list[str], timeout_minutes: float | None = None,
                     commit: str | None = "HEAD", python_version: str = PYTHON_VERSION,
                     extra: dict[str, object] | None = None) -> dict[str, object]:
    """Write Otter's autograder zip with the plugin configured and the kit inside; returns what it holds."""
    try:
        import otter  # noqa: F401  (only to say clearly that the extra is missing)
    except ModuleNotFoundError:
        raise UsageError('Otter-Grader is not installed: pip install -e ".[otter]"') from None
    try:
        from grader.release.gradescope_zip import REPO, ZipError, kit_files
    except ModuleNotFoundError:
        raise UsageError("grader otter generate needs the instructor's copy of the kit (grader/release)") from None
    try:
        source, files = kit_files(REPO, commit)
    except Exception as exc:  # not a git checkout, an unknown commit
        raise UsageError(f"{REPO}: {exc} (use --worktree to package the files on disk)") from None
    if not any(rel.startswith("solutions/hidden_tests/") for rel in files):
        raise UsageError(f"the kit ({source}) has no hidden tests: build the zip from the instructor's copy")
    with tempfile.TemporaryDirectory(prefix="tinytorch-otter-generate-") as tmp:
        work = Path(tmp)
        (work / "tests").mkdir()
        config = work / "otter_config.json"
        config.write_text(json.dumps(otter_config(targets, timeout_minutes, extra), indent=2), encoding="utf-8")
        generated = work / "otter.zip"
        run = subprocess.run([sys.executable, "-m", "otter", "generate", "--tests-dir", str(work / "tests"),
                              "--output-path", str(generated), "--config", str(config), "--no-requirements",
                              "--no-environment", "--python-version", python_version],
                             cwd=work, capture_output=True, text=True, timeout=300)
        if run.returncode != 0 or not generated.is_file():
            last = ((run.stderr or run.stdout).strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"otter generate failed (exit {run.returncode}): {last} (Otter imports every plugin "
                             f"of --otter-config while generating)")
        tmp_out = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(generated) as otter_zip, zipfile.ZipFile(tmp_out, "w") as archive:
            names = otter_zip.namelist()
            for name in names:
                data = otter_zip.read(name)
                if name == "setup.sh":
                    data = data.rstrip(b"\n") + b"\n" + SETUP_BLOCK.format(root=_root(extra or {})).encode()
                _add(archive, name, data, executable=name in ("setup.sh", "run_autograder"))
            if not any(n.startswith("tests/") for n in names):
                archive.writestr(zipfile.ZipInfo("tests/", ZIP_TIME), b"")   # Otter copies tests/ at grading time
            for rel in sorted(files):
                data, executable = files[rel]
                _add(archive, f"kit/{rel}", data, executable)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out.replace(out)
    return {"path": out, "commit": source, "kit_files": len(files), "bytes": out.stat().st_size}


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _generate(args: argparse.Namespace) -> int:
    cfg = load_config()
    from grader.core.targets import UnknownTarget, resolve_targets

    try:
        resolve_targets(args.targets, cfg)
    except UnknownTarget as exc:
        raise UsageError(str(exc)) from None
    if args.timeout_minutes is not None and args.timeout_minutes <= 0:
        raise UsageError(f"--timeout-minutes {args.timeout_minutes}: must be positive")
    built = build_autograder(Path(args.out), targets=list(args.targets), timeout_minutes=args.timeout_minutes,
                             commit=None if args.worktree else args.commit, extra=_read_settings(args.otter_config))
    print(f"wrote {safe_text(str(built['path']), 1000)}: Otter autograder with the tinytorch plugin, "
          f"kit {built['commit']} ({built['kit_files']} files), {int(built['bytes']) / 1e6:.2f} MB")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader otter", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    pack = sub.add_parser("pack", help="pack your module files into one .py to upload to Otter")
    pack.add_argument("--impl", help="the folder that holds tinytorch/ (default: this kit's assignments)")
    pack.add_argument("--out", default=DEFAULT_NAME, help=f"the bundle to write (default: ./{DEFAULT_NAME})")
    pack.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    pack.set_defaults(func=_pack)
    gen = sub.add_parser("generate", help="build Otter's autograder zip with the tinytorch plugin")
    gen.add_argument("--out", default="autograder.zip", help="the zip to write (default: ./autograder.zip)")
    gen.add_argument("--targets", nargs="+", default=["all"], help="what to grade (default: all)")
    gen.add_argument("--timeout-minutes", type=float, help="fit the kit's limits into Gradescope's timeout")
    gen.add_argument("--commit", default="HEAD", help="the kit's commit to put in the zip (default: HEAD)")
    gen.add_argument("--worktree", action="store_true", help="put the files on disk in the zip instead of a commit")
    gen.add_argument("--otter-config", help="a JSON file of the course's own Otter settings (show_hidden, ...)")
    gen.set_defaults(func=_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help exits 0, a usage error 2
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except (UsageError, ConfigError) as exc:
        print(f"grader otter: {safe_text(str(exc), 2000)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
