"""`grader submit`: the zip holds exactly the eight module files and MANIFEST.json (right hashes,
the local check's summary), both graders read it without listing the manifest, and what would
make every test fail (a syntax error, a package that does not import) or pack something else
from the student's machine (a link, an oversized file) is refused with the file named and
nothing written. One slow test grades the reference's zip with `grader grade` and compares
it with `grader check all --hidden`."""
from __future__ import annotations

import hashlib
import io
import json
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import grader
from grader.batch.collect import collect
from grader.batch.extract import LIMITS, open_zip, zip_members
from grader.config import load_config
from grader.paths import assignments_dir, repo_root, solutions_dir
from grader.release import gradescope_submission
from grader.submit.pack import (MANIFEST_NAME, MAX_FILE_BYTES, ZIP_TIME, Refused, check_import, module_names,
                                   manifest_problems)

from batch_kit import read_csv, run_grade

CFG = load_config()
MODULE_FILES = tuple(name for _, name in module_names(CFG))
PYTHON = sys.executable


def make_impl(root: Path, *, stubbed: tuple[str, ...] = (), append: dict[str, str] | None = None) -> Path:
    """root/tinytorch: the reference's files (the kit's plumbing included), `stubbed` ones from the
    stubs, `append` text added at the end of a file."""
    package = root / "tinytorch"
    package.mkdir(parents=True)
    for path in sorted((solutions_dir() / "tinytorch").glob("*.py")):
        source = assignments_dir() / "tinytorch" / path.name if path.name in stubbed else path
        shutil.copyfile(source, package / path.name)
    for name, text in (append or {}).items():
        with open(package / name, "a") as handle:
            handle.write("\n" + text)
    return root


def submit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "grader.cli", "submit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


# ----------------------------------------------------------------------------- what is packed
def test_zip_holds_exactly_the_module_files_and_a_manifest_with_their_hashes(tmp_path: Path) -> None:
    """The zip holds the eight module files, byte for byte, and MANIFEST.json with their hashes and the public tests' summary"""
    impl = make_impl(tmp_path / "work", append={"README.md": "not a module file"})
    (impl / "tinytorch" / "notes.txt").write_text("my notes")
    (impl / "secret.txt").write_text("never packed")
    done = submit("--impl", str(impl), cwd=tmp_path)      # --out by default: submission.zip here
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "submission.zip"
    assert "upload submission.zip to Gradescope" in done.stdout and str(out) in done.stdout
    packed = entries(out)
    assert sorted(packed) == sorted([*MODULE_FILES, MANIFEST_NAME])
    for name in MODULE_FILES:
        assert packed[name] == (impl / "tinytorch" / name).read_bytes(), name
    meta = json.loads(packed[MANIFEST_NAME])
    assert meta["kit_version"] == grader.__version__ and meta["python"] == platform.python_version()
    assert meta["created_at"].endswith("Z")
    for number, name in module_names(CFG):
        data = packed[name]
        assert meta["files"][name] == {"module": number, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    check = meta["local_check"]
    assert check["status"] == "ran" and list(check["modules"]) == list(CFG.modules)
    assert check["totals"]["tests"] > 100 and check["totals"]["passed"] == check["totals"]["tests"], check["totals"]
    assert manifest_problems(packed[MANIFEST_NAME], packed) == []


def test_entries_are_sorted_with_fixed_times_and_mode_and_repeat_exactly(tmp_path: Path) -> None:
    """Entries are sorted, dated 2020-01-01 with mode 0644, and packing twice gives the same module entries"""
    impl = make_impl(tmp_path / "work")
    for out in ("one.zip", "two.zip"):
        done = submit("--impl", str(impl), "--out", str(tmp_path / out), "--no-check", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(tmp_path / "one.zip") as one, zipfile.ZipFile(tmp_path / "two.zip") as two:
        infos = one.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {ZIP_TIME} and {i.external_attr >> 16 & 0o777 for i in infos} == {0o644}
        same = [(i.filename, i.CRC, i.compress_size) for i in infos if i.filename != MANIFEST_NAME]
        assert same == [(i.filename, i.CRC, i.compress_size) for i in two.infolist() if i.filename != MANIFEST_NAME]
        assert json.loads(one.read(MANIFEST_NAME))["local_check"] == {"status": "not run"}
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]     # no temporary file left


def test_partial_work_is_packed_and_the_manifest_counts_the_unfinished_modules(tmp_path: Path) -> None:
    """Stubs are not an error: Modules 07 and 08 left as stubs are packed, counted as not started"""
    impl = make_impl(tmp_path / "work", stubbed=("optim.py", "training.py"))
    done = submit("--impl", str(impl), "--out", str(tmp_path / "partial.zip"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    packed = entries(tmp_path / "partial.zip")
    assert packed["optim.py"] == (assignments_dir() / "tinytorch" / "optim.py").read_bytes()
    modules = json.loads(packed[MANIFEST_NAME])["local_check"]["modules"]
    for number in ("07", "08"):
        assert modules[number]["passed"] == 0 and modules[number]["not_started"] == modules[number]["tests"] > 0, modules
    for number in ("01", "02", "03", "04", "05", "06"):
        assert modules[number]["passed"] == modules[number]["tests"] > 0, (number, modules[number])
    assert "07 Optimizers" in done.stdout and "not started" in done.stdout


# ----------------------------------------------------------------------------- refusals
def refused(tmp_path: Path, impl: Path) -> str:
    """Run `grader submit` expecting a refusal: exit 1, an existing zip left as it was; stderr."""
    out = tmp_path / "submission.zip"
    out.write_bytes(b"the previous zip")
    done = submit("--impl", str(impl), "--out", str(out), "--no-check", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert out.read_bytes() == b"the previous zip" and "nothing was written" in done.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    return done.stderr


def test_a_syntax_error_is_refused_naming_each_file_and_line(tmp_path: Path) -> None:
    """A file that does not compile is refused with file:line, the message and the code, for every such file"""
    impl = make_impl(tmp_path / "work", append={"data.py": "def broken(:\n    pass\n", "tensor.py": "x = (\n"})
    line = len((impl / "tinytorch" / "data.py").read_text().splitlines()) - 1
    err = refused(tmp_path, impl)
    assert f"tinytorch/data.py:{line}: invalid syntax" in err and "def broken(:" in err, err
    assert "tinytorch/tensor.py:" in err and "was never closed" in err, err


def test_a_package_that_does_not_import_is_refused_naming_the_last_frame_in_tinytorch(tmp_path: Path) -> None:
    """An exception at import time is refused with the last frame inside tinytorch/ and the exception"""
    impl = make_impl(tmp_path / "work", append={"losses.py": "import numpy as _np\n_TABLE = _np.zeros(3)[5]\n"})
    line = len((impl / "tinytorch" / "losses.py").read_text().splitlines())
    err = refused(tmp_path, impl)
    assert f"tinytorch/losses.py:{line} in <module>: IndexError: index 5 is out of bounds" in err, err


def test_an_import_that_never_finishes_is_refused_after_the_timeout(tmp_path: Path) -> None:
    """A loop at a module's top level is refused once the import has run past its time limit"""
    impl = make_impl(tmp_path / "work", append={"optim.py": "import time\nwhile True:\n    time.sleep(0.05)\n"})
    with pytest.raises(Refused, match=r"did not finish within 1 s"):
        check_import(impl, timeout=1.0)


def test_a_symbolic_link_a_missing_file_and_an_oversized_file_are_refused_together(tmp_path: Path) -> None:
    """A module file that is a link (to anything), is missing, or is over the graders' size limit is refused, each named"""
    impl = make_impl(tmp_path / "work")
    package = impl / "tinytorch"
    (package / "optim.py").unlink()
    (package / "optim.py").symlink_to(solutions_dir() / "tinytorch" / "optim.py")
    (package / "data.py").unlink()
    with open(package / "layers.py", "a") as handle:
        handle.write("#" + "x" * MAX_FILE_BYTES + "\n")
    err = refused(tmp_path, impl)
    assert "tinytorch/optim.py is a symbolic link" in err and "tinytorch/data.py (Module 05) is missing" in err, err
    assert "tinytorch/layers.py is 2.0 MB, more than the 2 MB" in err, err


def test_an_out_that_is_not_a_zip_is_a_usage_error_and_overwrites_nothing(tmp_path: Path) -> None:
    """`--out tinytorch/tensor.py` (a slip) exits 2 and leaves that file as it was"""
    impl = make_impl(tmp_path / "work")
    target = impl / "tinytorch" / "tensor.py"
    before = target.read_bytes()
    done = submit("--impl", str(impl), "--out", str(target), "--no-check", cwd=tmp_path)
    assert done.returncode == 2 and "must end in .zip" in done.stderr, done.stdout + done.stderr
    assert target.read_bytes() == before
    usage = submit("--help", cwd=tmp_path)
    assert usage.returncode == 0 and "MANIFEST.json" in usage.stdout and "--no-check" in usage.stdout


def test_the_size_limit_is_the_one_both_graders_apply() -> None:
    """A file submit accepts is never too large for `grader grade` or the Gradescope reader"""
    assert MAX_FILE_BYTES == LIMITS.max_module_bytes == gradescope_submission.MAX_MODULE_BYTES


# ----------------------------------------------------------------------------- the graders read it
@pytest.fixture(scope="module")
def packed_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packed")
    impl = make_impl(root / "work")
    done = submit("--impl", str(impl), "--out", str(root / "submission.zip"), "--no-check", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "submission.zip"


def _batch_collect(data: bytes) -> dict[str, object]:
    handle = open_zip(data, "submission.zip")
    return collect(zip_members(handle, handle.infolist(), "submission.zip", LIMITS), "submission.zip",
                   MODULE_FILES).to_json()


def test_grader_grade_takes_the_eight_files_and_does_not_list_the_manifest(packed_zip: Path) -> None:
    """`grader grade`'s reader takes the module files at the zip's top; MANIFEST.json is neither graded nor listed"""
    found = _batch_collect(packed_zip.read_bytes())
    assert found["files"] == sorted(MODULE_FILES) and found["missing"] == [] and found["ignored"] == [], found


def test_a_file_changed_after_packing_is_noted_by_grader_grade(packed_zip: Path) -> None:
    """A module file edited after `grader submit` is graded as it is, and the feedback's file list says it changed"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(packed_zip) as original, zipfile.ZipFile(buffer, "w") as edited:
        for info in original.infolist():
            data = original.read(info)
            edited.writestr(info, data + b"\n# edited later\n" if info.filename == "optim.py" else data)
    found = _batch_collect(buffer.getvalue())
    assert found["files"] == sorted(MODULE_FILES)
    assert found["ignored"] == [f"{MANIFEST_NAME} (does not match: optim.py changed after `grader submit` packed it)"]


@pytest.mark.parametrize("text", [b"[" * 100_000, b'{"files": [1]}', b"\xff\xfe", b"{}"])
def test_a_manifest_that_grader_submit_did_not_write_is_named_not_trusted(text: bytes) -> None:
    """Deep nesting, wrong types or bytes that are not JSON: one line saying so, never an exception"""
    assert manifest_problems(text, {"tensor.py": b""}) == [f"{MANIFEST_NAME} is not one `grader submit` wrote"]


@pytest.mark.parametrize("uploaded", ["unpacked", "as a zip"])
def test_the_gradescope_reader_takes_the_eight_files_and_does_not_list_the_manifest(packed_zip: Path, tmp_path: Path,
                                                                                     uploaded: str) -> None:
    """Gradescope's reader (the batch's, and its own built-in one) takes the zip unpacked or as it is"""
    upload = tmp_path / "submission"
    upload.mkdir()
    if uploaded == "unpacked":
        with zipfile.ZipFile(packed_zip) as archive:
            archive.extractall(upload)
    else:
        shutil.copyfile(packed_zip, upload / "submission.zip")
    staged = gradescope_submission.read_submission(upload, tmp_path / "impl", CFG)
    built_in = gradescope_submission._built_in(upload, MODULE_FILES)
    for found in (staged, built_in):
        assert found.files == sorted(MODULE_FILES) and found.missing == [] and found.ignored == [], found.to_json()
    assert all((staged.impl / "tinytorch" / n).read_bytes() == (solutions_dir() / "tinytorch" / n).read_bytes()
               for n in MODULE_FILES)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")
def test_grader_grade_scores_the_zip_as_check_all_hidden_scores_its_folder(packed_zip: Path, tmp_path: Path) -> None:
    """The reference's submission.zip gets from `grader grade` the score `grader check all --hidden` gives its folder: 100"""
    inputs = tmp_path / "class"
    inputs.mkdir()
    shutil.copyfile(packed_zip, inputs / "alice.zip")
    graded = run_grade(str(inputs), "--out", str(tmp_path / "out"), "--targets", "all")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    [row] = read_csv(tmp_path / "out" / "grades.csv")
    checked = subprocess.run([PYTHON, "-m", "grader.cli", "check", "all", "--impl", str(packed_zip.parent / "work"),
                              "--hidden", "--no-public", "--json", str(tmp_path / "check.json")],
                             capture_output=True, text=True, timeout=900, cwd=repo_root())
    score = json.loads((tmp_path / "check.json").read_text())["score"]
    assert float(row["total"]) == score == 100 == float(row["max"]), (row, checked.stdout[-2000:])
    feedback = (tmp_path / "out" / row["id"] / "feedback.md").read_text()
    assert MANIFEST_NAME not in feedback and "Not graded" not in feedback, feedback
