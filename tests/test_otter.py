"""Otter-Grader interop (grader/export/otter_*.py): real `otter run` on packed submissions gives
the scores `grader grade` gives, per module and in total.

The bundle tests need nothing beyond the kit. The others need the `[otter]` extra
(otter-grader with its `grading` extra, for the Jupyter kernel Otter always starts); without it
they skip saying so, unless TINYTORCH_REQUIRE_OTTER is set (CI sets it), where a missing Otter
is a failure. The three gradings (reference, stubs, a partial submission) each run once through
`otter run` and once through `grader grade`."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.config import load_config
from grader.engine.grade import max_points
from grader.core.targets import resolve_targets
from grader.export.otter_bundle import VARIABLE, pack_bundle, parse_bundle, read_bundle
from grader.export.otter_cli import main as otter_main
from grader.paths import repo_root

from batch_kit import MODULES, package, read_csv, run_grade, write_tree

CFG = load_config()
ALL = resolve_targets(["all"], CFG)
MAX = max_points(CFG, ALL)
PARTIAL_STUBS = ("losses.py", "optim.py")       # Modules 04, 07, then 08 and the milestone, lose their points


def _why_no_otter() -> str:
    missing = [name for name in ("otter", "ipykernel") if importlib.util.find_spec(name) is None]
    if missing:
        return (f"Otter-Grader is not installed ({', '.join(missing)} not importable; "
                f"pip install -e '.[otter]')")
    return ""


@pytest.fixture(scope="module")
def otter_installed() -> None:
    why = _why_no_otter()
    if why and os.environ.get("TINYTORCH_REQUIRE_OTTER"):
        pytest.fail(f"TINYTORCH_REQUIRE_OTTER is set but {why}", pytrace=False)
    if why:
        pytest.skip(why)


def _modules(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name in MODULES}


# ------------------------------------------------------------------------------- the bundle
def test_bundle_round_trip_keeps_every_byte_and_names_what_is_missing(tmp_path: Path) -> None:
    """A packed bundle reads back byte for byte; a module it lacks is listed as missing"""
    files = _modules(package("solutions"))
    files["tensor.py"] += "\n# ünïcode, 'quotes', \"double\", \\backslash and \t tab\n".encode()
    del files["optim.py"]
    bundle = tmp_path / "b.py"
    bundle.write_text(pack_bundle(files), encoding="utf-8")
    read = read_bundle(bundle, MODULES)
    assert read.problem == ""
    assert read.files == files
    assert read.missing == ["optim.py"]


@pytest.mark.parametrize("text, says", [
    (f"import os\nos.system('touch PWNED')\n{VARIABLE} = {{}}\n", "exactly one assignment"),
    (f"{VARIABLE} = {{'tensor.py': open('/etc/passwd').read()}}\n", "plain strings"),
    (f"{VARIABLE} = dict(a=1)\n", "must be a dict"),
    (f"{VARIABLE} = {{'tensor.py': 'a', 'tensor.py': 'b'}}\n", "appears twice"),
    (f"{VARIABLE} = {{\n", "not valid Python"),
    ("x\0 = 1\n", "not a tinytorch bundle"),
])
def test_a_bundle_that_is_not_plain_data_is_refused_without_running_it(tmp_path: Path, text: str, says: str) -> None:
    """A bundle holding code, calls or anything but name -> text pairs is refused, and never run"""
    bundle = tmp_path / "b.py"
    bundle.write_text(text, encoding="utf-8")
    read = read_bundle(bundle, MODULES)
    assert says in read.problem and read.files == {} and read.missing == list(MODULES), read.problem
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_a_bundle_naming_a_file_that_is_not_a_module_is_refused(tmp_path: Path) -> None:
    """The kit's own __init__.py (or any other name) cannot be replaced through a bundle"""
    bundle = tmp_path / "b.py"
    bundle.write_text(f"{VARIABLE} = {{'__init__.py': 'raise SystemExit', 'tensor.py': ''}}\n", encoding="utf-8")
    read = read_bundle(bundle, MODULES)
    assert "'__init__.py'" in read.problem and read.files == {}


def test_pack_writes_the_module_files_and_refuses_one_that_does_not_compile(tmp_path: Path) -> None:
    """`grader otter pack` bundles the eight module files; a syntax error is refused with file and line"""
    impl = write_tree(tmp_path / "impl" / "tinytorch", package("solutions")).parent
    out = tmp_path / "out" / "sub.py"
    assert otter_main(["pack", "--impl", str(impl), "--out", str(out)]) == 0
    assert parse_bundle(out.read_text(encoding="utf-8"), "sub.py") == _modules(package("solutions"))
    (impl / "tinytorch" / "optim.py").write_text("def step(:\n    pass\n", encoding="utf-8")
    out.unlink()
    assert otter_main(["pack", "--impl", str(impl), "--out", str(out)]) == 1
    assert not out.exists()


def test_pack_without_a_tinytorch_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--impl must hold tinytorch/; otherwise exit 2 naming the folder"""
    assert otter_main(["pack", "--impl", str(tmp_path), "--out", str(tmp_path / "x.py")]) == 2
    assert "no tinytorch/ folder" in capsys.readouterr().err


# ------------------------------------------------------------------------- the plugin's events
def test_plugin_removes_a_submitted_otter_log_and_runs_no_submission_code(tmp_path: Path, otter_installed: None) -> None:
    """Otter would unpickle a submitted .OTTER_LOG and run the submission in its kernel: neither happens"""
    from grader.export.otter_plugin import TinytorchPlugin

    submission = tmp_path / "tinytorch_submission.py"
    submission.write_text(pack_bundle({"tensor.py": b"import os\nos.system('touch PWNED')\n"}), encoding="utf-8")
    (tmp_path / ".OTTER_LOG").write_bytes(b"\x80\x04 not a log")
    plugin = TinytorchPlugin(str(submission), {}, {})
    plugin.before_grading(None)
    assert not (tmp_path / ".OTTER_LOG").exists()
    notebook = plugin.before_execution(submission.read_text(encoding="utf-8"))
    sources = "".join(cell["source"] for cell in notebook["cells"])
    assert "PWNED" not in sources and VARIABLE not in sources


def test_an_unreadable_bundle_scores_zero_out_of_the_maximum_with_a_visible_reason(tmp_path: Path,
                                                                                  otter_installed: None) -> None:
    """Otter's results become one visible grading error and the config's maximum, never an empty result"""
    from otter.run import AutograderConfig
    from otter.test_files import GradingResults

    from grader.export.otter_plugin import TinytorchPlugin

    submission = tmp_path / "notebook_export.py"
    submission.write_text("print('I am not a bundle')\n", encoding="utf-8")
    results = GradingResults([])
    TinytorchPlugin(str(submission), {}, {}).after_grading(results)
    assert (results.total, results.possible) == (0, MAX)
    data = results.to_gradescope_dict(AutograderConfig({}))
    public = next(t for t in data["tests"] if t["name"] == "Public Tests")
    assert "could not be read" in public["output"] and "exactly one assignment" in public["output"]


# --------------------------------------------------------------- otter run vs grader grade, for real
def _otter_total(results: dict[str, object]) -> tuple[float, float, dict[str, float]]:
    tests = [t for t in results["tests"] if "score" in t]          # type: ignore[index, union-attr]
    parts = {t["name"]: float(t["score"]) for t in tests}
    return sum(float(t["score"]) for t in tests), sum(float(t["max_score"]) for t in tests), parts


def _csv_parts(row: dict[str, str]) -> dict[str, float]:
    parts = {f"Module {n} · {spec.title}": float(row[f"{n} {spec.name}"]) for n, spec in CFG.modules.items()}
    parts["Milestone 03"] = float(row["milestone03"])
    return parts


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_otter_run_gives_grader_grades_scores_on_reference_stubs_and_a_partial_submission(
        tmp_path: Path, otter_installed: None) -> None:
    """`otter run` with the generated autograder scores three submissions as `grader grade` does"""
    submissions = {
        "reference": package("solutions"),
        "stubs": package("assignments"),
        "partial": package("solutions", stubbed=PARTIAL_STUBS),
    }
    klass = tmp_path / "class"
    for name, files in submissions.items():
        write_tree(klass / name / "tinytorch", files)

    graded = tmp_path / "graded"
    run = run_grade(str(klass), "--out", str(graded), "--jobs", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    expected = {row["submission"]: row for row in read_csv(graded / "grades.csv")}
    assert set(expected) == set(submissions), expected.keys()

    autograder = tmp_path / "autograder.zip"
    assert otter_main(["generate", "--out", str(autograder)]) == 0
    seconds = {}
    for name in submissions:
        bundle = tmp_path / "bundles" / name / "tinytorch_submission.py"
        assert otter_main(["pack", "--impl", str(klass / name), "--out", str(bundle)]) == 0
        out = tmp_path / "otter" / name
        out.mkdir(parents=True)
        started = time.monotonic()
        otter = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(autograder), "-o", str(out), str(bundle)],
                               capture_output=True, text=True, timeout=600, cwd=tmp_path)
        seconds[name] = time.monotonic() - started
        assert otter.returncode == 0, otter.stdout[-3000:] + otter.stderr[-3000:]
        total, possible, parts = _otter_total(json.loads((out / "results.json").read_text(encoding="utf-8")))
        row = expected[name]
        assert (total, possible) == (float(row["total"]), float(row["max"])), \
            f"{name}: otter run {total:g} / {possible:g}, grader grade {row['total']} / {row['max']}"
        assert parts == _csv_parts(row), f"{name}: per part, otter run {parts}, grader grade {_csv_parts(row)}"
        assert f"Total Score: {total:.3f} / {possible:.3f}" in otter.stdout
    assert float(expected["reference"]["total"]) == MAX
    assert float(expected["stubs"]["total"]) == 0
    assert 0 < float(expected["partial"]["total"]) < MAX
    print(f"otter run seconds: {seconds}; grader grade totals: { {n: expected[n]['total'] for n in submissions} }")


def test_generate_writes_otters_zip_with_the_plugin_the_kit_and_its_setup(tmp_path: Path, otter_installed: None) -> None:
    """The autograder zip: the course's Otter settings with the plugin (configured once), an empty
    tests/, the kit with its hidden tests, and setup.sh ending with the kit installed into Otter's environment"""
    import zipfile

    settings = tmp_path / "course.json"
    course = {"show_hidden": True, "plugins": [{"grader.export.otter_plugin.TinytorchPlugin": {"targets": ["01"]}}]}
    settings.write_text(json.dumps(course), encoding="utf-8")
    out = tmp_path / "autograder.zip"
    assert otter_main(["generate", "--out", str(out), "--timeout-minutes", "10",
                       "--otter-config", str(settings)]) == 0
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        config = json.loads(z.read("otter_config.json"))
        setup = z.read("setup.sh").decode()
    assert {"run_autograder", "run_otter.py", "environment.yml", "tests/"} <= names
    assert "kit/grader/export/otter_plugin.py" in names and any(n.startswith("kit/solutions/hidden_tests/") for n in names)
    assert config["show_hidden"] is True
    assert config["plugins"] == [{"grader.export.otter_plugin.TinytorchPlugin": {
        "targets": ["all"], "cache_dir": "/autograder/source/kit/.cache", "timeout_minutes": 10.0}}]
    assert setup.index("mamba env create") < setup.index('pip install --disable-pip-version-check -q -e "$KIT"')
    assert 'chmod 700 "$KIT"' in setup and "grader data fetch" in setup


def test_generate_with_settings_that_are_not_an_object_is_a_usage_error(tmp_path: Path, otter_installed: None,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """--otter-config must hold a JSON object; otherwise exit 2 and no zip"""
    settings = tmp_path / "course.json"
    settings.write_text("[1, 2]", encoding="utf-8")
    out = tmp_path / "autograder.zip"
    assert otter_main(["generate", "--out", str(out), "--otter-config", str(settings)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err and not out.exists()


def test_a_plugin_setting_that_does_not_work_is_otters_autograder_error(tmp_path: Path, otter_installed: None) -> None:
    """An unknown target in otter_config.json stops the grading with Otter's own error, naming it"""
    from otter.run.run_autograder.utils import OtterRuntimeError

    from grader.export.otter_plugin import TinytorchPlugin

    submission = tmp_path / "tinytorch_submission.py"
    submission.write_text(pack_bundle({}), encoding="utf-8")
    with pytest.raises(OtterRuntimeError, match="modul 06"):
        TinytorchPlugin(str(submission), {}, {"targets": ["modul 06"]}).grade()
