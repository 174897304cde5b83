"""Milestone 03 pictures (grader/milestones/m03/learned.py, pictures.py): a run's loss and
accuracy curves, first-layer features, confusion matrix and mistakes are valid PNGs of their
sizes, drawn from figures the grader measured itself; a run without matplotlib says how to get
them; malformed recorded states never fail the run; measuring in batches changes no figure."""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np
import pytest

from grader.config import DEFAULT_PATH, load_config
from grader.datasets import load_tinydigits
from grader.engine.milestone import rows_for
from grader.milestones.m03 import learned, measure, pictures, recipe, score, verify
from grader.milestones.m03.impl import using_tinytorch

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
TINY_SCRIPT = REPO / "assignments" / "milestones" / "03_1986_mlp" / "01_rumelhart_tinydigits.py"
CFG = load_config(DEFAULT_PATH)
TINY = CFG.milestone["tinydigits"]
SLOT = 32                       # this file's sandbox slot, apart from test_milestone_scripts.py's 30
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SIZES = {"curves.png": (1200, 450), "features.png": (1200, 700),      # (width, height) in pixels
                  "confusion.png": (700, 640), "mistakes.png": (1200, 520)}
HINT = ('pictures: pip install -e ".[pictures]" to get loss curves, the learned features and the '
        'confusion matrix')


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; AssertionError naming the file when it is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name}: no PNG signature, starts with {head[:8]!r}"
    assert head[12:16] == b"IHDR", f"{path.name}: the first chunk is {head[12:16]!r}, expected IHDR"
    return struct.unpack(">II", head[16:24])


def assert_pictures(folder: Path) -> None:
    """Every picture is in `folder`, a PNG of its expected size, with nothing else left there."""
    for name, size in EXPECTED_SIZES.items():
        assert png_size(folder / name) == size, f"{name}: {png_size(folder / name)}, expected {size}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPECTED_SIZES), "temporary files left behind"


@pytest.fixture(scope="module")
def reference_tt() -> Iterator[ModuleType]:
    with using_tinytorch(SOLUTIONS) as tt:
        yield tt


@pytest.fixture(scope="module")
def tiny_run(reference_tt: ModuleType) -> dict[str, Any]:
    """The reference trained on TinyDigits with the grader's loop, checked, and its splits."""
    d = load_tinydigits()
    x_train, x_test = recipe.prepare(d.x_train, d.pixel_max), recipe.prepare(d.x_test, d.pixel_max)
    run = recipe.train(reference_tt, x_train, d.y_train, TINY.architecture, TINY.recipe)
    params = verify.check_run(run.trace, TINY.architecture, TINY.recipe, x_train, d.y_train)
    return {"trace": run.trace, "params": params, "x_train": x_train, "y_train": d.y_train, "x_test": x_test,
            "y_test": d.y_test, "images": d.x_test}


def save_tiny(r: dict[str, Any], folder: Path, trace: recipe.Trace | None = None) -> pictures.Outcome:
    return pictures.save_run(trace or r["trace"], r["params"], TINY.architecture, TINY.title, r["x_train"],
                             r["y_train"], r["x_test"], r["y_test"], r["images"], folder)


def test_learned_figures_are_the_graders_measurements(tiny_run: dict[str, Any]) -> None:
    """One figure per epoch plus the untrained model; the last is what measure.py reports for
    the trained model; the confusion matrix and the mistakes agree with it."""
    r = tiny_run
    figures = learned.collect(r["trace"], r["params"], TINY.architecture, r["x_train"], r["y_train"], r["x_test"],
                              r["y_test"], r["images"])
    m = measure.measure(r["params"], r["x_train"], r["y_train"], r["x_test"], r["y_test"])
    assert figures.epochs == TINY.recipe.epochs
    assert figures.test_accuracy[-1] == m.test_accuracy and figures.train_loss[-1] == m.train_loss
    assert figures.test_accuracy[0] < 0.5 < figures.test_accuracy[-1], figures.test_accuracy
    assert figures.confusion.sum() == len(r["y_test"])
    assert np.trace(figures.confusion) == round(m.test_accuracy * len(r["y_test"]))
    assert figures.first_layer.shape == (64, 32) and figures.side == 8
    assert np.all(figures.mistake_labels != figures.mistake_predictions)
    np.testing.assert_array_equal(figures.mistake_images, r["images"][figures.mistakes])


def test_tinydigits_run_saves_four_pngs_of_their_sizes(tiny_run: dict[str, Any], tmp_path: Path) -> None:
    """The four pictures are valid PNGs of their sizes, and the outcome names their folder."""
    pytest.importorskip("matplotlib", reason='the pictures extra: pip install -e ".[pictures]"')
    outcome = save_tiny(tiny_run, tmp_path / "tinydigits")
    assert not outcome.problem, outcome.problem
    assert [p.name for p in outcome.paths] == list(EXPECTED_SIZES)
    assert_pictures(tmp_path / "tinydigits")
    assert outcome.line() == f"pictures in {tmp_path / 'tinydigits'}: {', '.join(EXPECTED_SIZES)}"


@pytest.mark.parametrize("damage", ["no_epochs", "wrong_shape", "nan", "integers"])
def test_malformed_epoch_states_give_a_reason_not_an_error(tiny_run: dict[str, Any], tmp_path: Path,
                                                           damage: str) -> None:
    """States after an epoch that are missing, of the wrong shape, not finite or not floats:
    no picture, a reason naming the problem, nothing raised."""
    pytest.importorskip("matplotlib", reason='the pictures extra: pip install -e ".[pictures]"')
    trace = tiny_run["trace"]
    epochs = [list(state) for state in trace.epochs]
    if damage == "no_epochs":
        epochs = []
    elif damage == "wrong_shape":
        epochs[3][0] = epochs[3][0].T
    elif damage == "nan":
        epochs[1][2] = np.full_like(epochs[1][2], np.nan)
    else:
        epochs[0][1] = np.zeros(epochs[0][1].shape, dtype=np.int64)
    broken = recipe.Trace(trace.initial, trace.first, trace.tail, trace.losses, epochs)
    outcome = save_tiny(tiny_run, tmp_path / "pictures", broken)
    expected = {"no_epochs": "recorded no state after each epoch", "wrong_shape": "has shape (32, 64)",
                "nan": "NaN", "integers": "dtype int64"}[damage]
    assert expected in outcome.problem and not outcome.paths, outcome
    assert outcome.line().startswith("pictures could not be drawn: ")
    assert not (tmp_path / "pictures").exists()


def test_epoch_states_survive_the_probes_plain_data(tiny_run: dict[str, Any]) -> None:
    """The states after each epoch cross the sandbox as plain data; a malformed count drops them
    (pictures only) and leaves the rest of the trace as it was."""
    trace = tiny_run["trace"]
    steps = len(trace.losses)
    values = trace.as_values()
    rebuilt = recipe.Trace.from_values(values, parameters=4, steps=steps)
    assert len(rebuilt.epochs) == TINY.recipe.epochs
    for a, b in zip(rebuilt.epochs[-1], trace.final):
        np.testing.assert_array_equal(a, b)
    for bad in (True, "10", -1, 10_000):
        dropped = recipe.Trace.from_values({**values, "epoch_count": bad}, parameters=4, steps=steps)
        assert dropped.epochs == [] and len(dropped.tail) == len(trace.tail), bad


def test_graded_run_draws_pictures_and_its_row_names_them(tmp_path: Path) -> None:
    """`grader check milestone03`'s path: the sandboxed TinyDigits run of the reference, checked and
    measured, draws its pictures into pictures_dir/tinydigits, and the accuracy row says where."""
    pytest.importorskip("matplotlib", reason='the pictures extra: pip install -e ".[pictures]"')
    run = score.train_and_measure(SOLUTIONS, TINY, load_tinydigits, uid_slot=SLOT, pictures_dir=tmp_path)
    assert run.status == "ok", run.message
    assert_pictures(tmp_path / "tinydigits")
    assert run.picture_paths == [tmp_path / "tinydigits" / name for name in EXPECTED_SIZES]
    accuracy_row, loss_row = rows_for(run, TINY, CFG.course)
    assert accuracy_row.reason.endswith(f"; pictures in {tmp_path / 'tinydigits'}: {', '.join(EXPECTED_SIZES)}")
    assert "pictures" not in loss_row.reason


def test_only_the_kits_own_implementations_draw_pictures_by_default(tmp_path: Path) -> None:
    """A check of assignments/ or solutions/ draws into the kit's milestone folder; any other
    folder (a batch's or Gradescope's submission) draws none unless asked."""
    assert pictures.folder_for(REPO / "assignments") == REPO / "assignments" / "milestones" / "03_1986_mlp" / "runs"
    assert pictures.folder_for(SOLUTIONS / ".") == pictures.RUNS_DIR
    shutil.copytree(SOLUTIONS / "tinytorch", tmp_path / "tinytorch")
    assert pictures.folder_for(tmp_path) is None


def run_script_copy(tmp_path: Path, prelude: str) -> subprocess.CompletedProcess[str]:
    """The TinyDigits script, copied to tmp_path (so its runs/ folder is there), run on the reference."""
    script = tmp_path / TINY_SCRIPT.name
    shutil.copy(TINY_SCRIPT, script)
    code = (f"{prelude}\nimport runpy, sys\nsys.argv = [{str(script)!r}, '--impl', {str(SOLUTIONS)!r}]\n"
            f"runpy.run_path({str(script)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_script_prints_the_picture_paths(tmp_path: Path) -> None:
    """The student's script saves the pictures in runs/tinydigits beside it and prints each path."""
    pytest.importorskip("matplotlib", reason='the pictures extra: pip install -e ".[pictures]"')
    done = run_script_copy(tmp_path, "")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in EXPECTED_SIZES:
        assert f"\n  runs/tinydigits/{name}" in done.stdout, done.stdout
    assert_pictures(tmp_path / "runs" / "tinydigits")


def test_script_without_matplotlib_says_how_to_get_the_pictures(tmp_path: Path) -> None:
    """Without matplotlib the run still passes and prints one line saying how to get the pictures."""
    done = run_script_copy(tmp_path, "import sys; sys.modules['matplotlib'] = None  # import matplotlib fails")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(HINT) == 1 and "pictures could not" not in done.stdout, done.stdout
    assert not (tmp_path / "runs").exists()


def test_measure_in_batches_gives_the_unbatched_logits() -> None:
    """measure.logits works BATCH_ROWS images at a time; over more images than that, the logits
    are those of one product over all of them."""
    d = load_tinydigits()
    x = np.tile(recipe.prepare(d.x_train, d.pixel_max), (-(-2 * measure.BATCH_ROWS // len(d.x_train)) + 1, 1))
    assert len(x) > 2 * measure.BATCH_ROWS and len(x) % measure.BATCH_ROWS
    rng = np.random.default_rng(8)
    w1, b1, w2, b2 = (rng.normal(0, 0.2, shape) for shape in TINY.architecture.shapes)
    whole = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0) @ w2 + b2
    # bit-identical with OpenBLAS; the tolerance leaves room for a BLAS that blocks rows differently
    np.testing.assert_allclose(measure.logits([w1, b1, w2, b2], x), whole, rtol=1e-12, atol=0)


def test_prepared_images_give_the_prepared_array_and_its_measurement() -> None:
    """recipe.Prepared prepares only the rows asked for, bit for bit as recipe.prepare does, so
    the grader's checks and measurements give the same figures without the whole float32 split."""
    d = load_tinydigits()
    whole, lazy = recipe.prepare(d.x_train, d.pixel_max), recipe.Prepared(d.x_train, d.pixel_max)
    rows = np.random.default_rng(3).permutation(len(whole))[:100]
    assert len(lazy) == len(whole)
    np.testing.assert_array_equal(lazy[rows], whole[rows])
    np.testing.assert_array_equal(lazy[10:50], whole[10:50])
    rng = np.random.default_rng(9)
    params = [rng.normal(0, 0.2, shape) for shape in TINY.architecture.shapes]
    x_test = recipe.prepare(d.x_test, d.pixel_max)
    assert measure.measure(params, lazy, d.y_train, x_test, d.y_test) == \
        measure.measure(params, whole, d.y_train, x_test, d.y_test)
