"""Milestone 03: the grader's recipe, training loop and replay check (grader/milestones/m03) and
the two student scripts that wrap them. The reference passes far above the thresholds and its
steps replay exactly, unfinished implementations get a list of what is missing (never a
traceback), the scripts are exactly their rendering from the config, and the files the sandbox
receives import nothing but NumPy."""
from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np
import pytest
import yaml

from grader.config import DEFAULT_PATH, ConfigError, load_config
from grader.datasets import DatasetError, load_mnist, load_tinydigits
from grader.milestones.m03 import measure, readiness, recipe, score, scripts, verify
from grader.milestones.m03.impl import using_tinytorch
from grader.sandbox import DROPS_PRIVILEGES, Limits, run_probe

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ASSIGNMENTS = REPO / "assignments"
MILESTONE_DIR = ASSIGNMENTS / "milestones" / "03_1986_mlp"
CFG = load_config(DEFAULT_PATH)
TINY, MNIST = CFG.milestone["tinydigits"], CFG.milestone["mnist"]
TINY_SCRIPT, MNIST_SCRIPT = MILESTONE_DIR / TINY.script, MILESTONE_DIR / MNIST.script
NAMES = {num: m.name for num, m in CFG.modules.items()}          # {"01": "tensor", ...}
MODULE_FILES = {num: f"{name}.py" for num, name in NAMES.items()}
SLOT = 30                       # this file's sandbox slot (uid 61030), apart from the tamper suite's


def load_script(path: Path) -> ModuleType:
    """Import a milestone script by path (its name starts with a digit)."""
    spec = importlib.util.spec_from_file_location(f"milestone_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_script() -> ModuleType:
    return load_script(TINY_SCRIPT)


@pytest.fixture(scope="module")
def reference_tt() -> Iterator[ModuleType]:
    """The reference tinytorch, imported the way the scripts do; sys.modules is restored after."""
    with using_tinytorch(SOLUTIONS) as tt:
        yield tt


@pytest.fixture(autouse=True)
def _default_impl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYTORCH_IMPL", raising=False)
    monkeypatch.delenv("TINYTORCH_GRADER_CONFIG", raising=False)


def trained_accuracy(run: recipe.Trained, digits: Any, arch: recipe.Architecture) -> float:
    params = measure.check_parameters([p.data for p in run.model.parameters()], arch)
    x_test = recipe.prepare(digits.x_test, digits.pixel_max)
    return measure.accuracy(measure.logits(params, x_test), digits.y_test)


# ---------------------------------------------------------------- stub and hybrid packages
_SOLUTION_BLOCK = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION (?P<num>\d\d) \| (?P<task>[^|]+?) \|[^\n]*\n"
                             r".*?^[ \t]*### END SOLUTION[ \t]*\n", re.MULTILINE | re.DOTALL)


def _stub_source(text: str) -> str:
    """Every solution block becomes `raise NotImplementedError("Module NN: task")`."""
    return _SOLUTION_BLOCK.sub(lambda m: f'{m["indent"]}raise NotImplementedError("Module {m["num"]}: '
                                         f'{m["task"].strip()}")\n', text)


@pytest.fixture(scope="module")
def stubs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the untouched stub package tinytorch/: assignments/ when it has been
    generated, else a copy made here from the reference's solution markers."""
    if (ASSIGNMENTS / "tinytorch" / "__init__.py").is_file():
        return ASSIGNMENTS
    root = tmp_path_factory.mktemp("stubs")
    (root / "tinytorch").mkdir()
    for source in (SOLUTIONS / "tinytorch").glob("*.py"):
        (root / "tinytorch" / source.name).write_text(_stub_source(source.read_text()))
    return root


def hybrid(tmp_path: Path, stubs_dir: Path, stubbed: list[str]) -> Path:
    """The reference with the files of the `stubbed` modules replaced by their stubs."""
    shutil.copytree(SOLUTIONS / "tinytorch", tmp_path / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    for num in stubbed:
        shutil.copy(stubs_dir / "tinytorch" / MODULE_FILES[num], tmp_path / "tinytorch" / MODULE_FILES[num])
    return tmp_path


# ------------------------------------------------------------------------- the reference
def test_tinydigits_reference_reaches_90_percent(reference_tt: ModuleType) -> None:
    """TinyDigits: the grader's recipe with the reference reaches >= 90% test accuracy."""
    d = load_tinydigits()
    run = recipe.train(reference_tt, recipe.prepare(d.x_train, d.pixel_max), d.y_train, TINY.architecture, TINY.recipe)
    accuracy = trained_accuracy(run, d, TINY.architecture)
    assert accuracy >= 0.90, f"TinyDigits test accuracy {accuracy:.2%} with the reference, expected >= 90%"


def test_train_is_reproducible_for_a_seed(reference_tt: ModuleType) -> None:
    """The same seed gives the same trained parameters; another seed gives others."""
    d = load_tinydigits()
    x = recipe.prepare(d.x_train, d.pixel_max)
    runs = [[p.data.copy() for p in recipe.train(reference_tt, x, d.y_train, TINY.architecture, TINY.recipe,
                                                 seed=s, epochs=2).model.parameters()]
            for s in (3, 3, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert all(p.dtype == np.float32 for p in runs[0])


def test_recipe_phases_end_with_the_final_learning_rate() -> None:
    """The last epoch uses final_lr; a one-epoch run uses lr only."""
    r = TINY.recipe
    assert r.phases() == [(r.lr, r.epochs - 1), (r.final_lr, 1)]
    assert r.phases(1) == [(r.lr, 1)]
    assert r.describe(3, 7) == (f"SGD lr {r.lr:g} (last epoch {r.final_lr:g}), momentum {r.momentum:g}, "
                                f"batch {r.batch_size}, 3 epochs, seed 7")


def test_tinydigits_main_passes_with_the_reference(tiny_script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """`main(["--impl", solutions])` exits 0 after printing progress and an all-PASS criteria table."""
    assert tiny_script.main(["--impl", str(SOLUTIONS)]) == 0
    out = capsys.readouterr().out
    assert f"using tinytorch from {SOLUTIONS / 'tinytorch'}" in out
    assert re.search(r"epoch +1/\d+ +train loss \d\.\d{4} +test accuracy +\d+\.\d\d%", out), out
    assert re.search(r"test accuracy +\d+\.\d\d% +>= 75% +PASS", out), out
    assert re.search(r"final training loss +0\.\d{4} +< 0\.5 +PASS", out), out
    assert "Replayed in NumPy: the first and the last 2 training steps follow" in out
    assert "FAIL" not in out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mnist_reference_reaches_97_percent(reference_tt: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """MNIST: the grader's recipe with the reference reaches >= 97%, and the script's main() exits 0."""
    try:
        d = load_mnist()
    except DatasetError as exc:
        pytest.skip(f"MNIST is not available here: {str(exc).splitlines()[0]}")
    run = recipe.train(reference_tt, recipe.prepare(d.x_train, d.pixel_max), d.y_train, MNIST.architecture, MNIST.recipe)
    accuracy = trained_accuracy(run, d, MNIST.architecture)
    assert accuracy >= 0.97, f"MNIST test accuracy {accuracy:.2%} with the reference, expected >= 97%"
    assert load_script(MNIST_SCRIPT).main(["--impl", str(SOLUTIONS)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy +9\d\.\d\d% +>= 94% +PASS", out), out
    assert re.search(r"final training loss +0\.\d{4} +< 0\.2 +PASS", out), out


# ------------------------------------------------------------- the grader's loop and its replay
def test_schedule_visits_every_image_once_per_epoch() -> None:
    """The grader's batch order: steps numbered from 1, each epoch a permutation of all images
    in batches (the last one shorter), the phase's learning rate, a fresh SGD per phase; the
    same seed gives the same order, another seed another."""
    r = recipe.Recipe(lr=0.1, final_lr=0.01, momentum=0.9, batch_size=32, epochs=3, seed=5)
    steps = list(recipe.schedule(100, r))
    assert [s.number for s in steps] == list(range(1, 13))
    for epoch in range(3):
        batches = [s for s in steps if s.epoch == epoch]
        assert [len(s.rows) for s in batches] == [32, 32, 32, 4]
        assert sorted(np.concatenate([s.rows for s in batches]).tolist()) == list(range(100))
        assert [s.last_of_epoch for s in batches] == [False, False, False, True]
    assert [s.lr for s in steps] == [0.1] * 8 + [0.01] * 4
    assert [s.number for s in steps if s.fresh] == [1, 9]
    again, other = list(recipe.schedule(100, r)), list(recipe.schedule(100, r, seed=6))
    assert all(np.array_equal(a.rows, b.rows) for a, b in zip(steps, again))
    assert not np.array_equal(steps[0].rows, other[0].rows)


def test_grader_gradient_matches_centred_differences() -> None:
    """verify.gradients: the grader's backward pass through Linear-ReLU-Linear and cross-entropy
    equals centred differences of its loss (float64, a 5-4-3 MLP, no pre-activation near 0)."""
    rng = np.random.default_rng(2024)
    params = [rng.normal(size=(5, 4)), rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)]
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    assert np.min(np.abs(x @ params[0] + params[1])) > 1e-3
    g = verify.gradients(params, x, y)
    for name, p, grad in zip(verify.NAMES, params, g.grads):
        numeric = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            saved = p[index]
            p[index] = saved + 1e-6
            up = verify.gradients(params, x, y).loss
            p[index] = saved - 1e-6
            down = verify.gradients(params, x, y).loss
            p[index] = saved
            numeric[index] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg=f"gradient of {name}")
    assert all(not np.any(s) for s in g.slack), "no pre-activation is near 0, so nothing may be uncertain"


def test_grader_gradient_accepts_either_relu_derivative_at_zero() -> None:
    """A pre-activation of exactly 0 may round to either side in float32: the slack of W1 and
    b1 covers the gradient taken with ReLU'(0) = 1 instead of 0."""
    x = np.array([[1.0, 0.5], [0.25, -1.0]])
    params = [np.array([[0.5, 1.0], [1.0, -0.5]]), np.array([-1.0, 0.25]), np.array([[1.0, -1.0], [0.5, 2.0]]),
              np.zeros(2)]
    y = np.array([1, 0])
    z1 = x @ params[0] + params[1]
    assert z1[0, 0] == 0.0
    g = verify.gradients(params, x, y)
    probs = np.exp(np.maximum(z1, 0) @ params[2])
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(2), y] -= 1
    dz1 = (probs / 2) @ params[2].T * (z1 >= 0)            # the other derivative at 0
    other = [x.T @ dz1, dz1.sum(axis=0)]
    for got, honest, slack in zip(other, g.grads[:2], g.slack[:2]):
        assert np.all(np.abs(got - honest) <= slack + 1e-15)
        assert np.any(got != honest)


@pytest.fixture(scope="module")
def reference_run(reference_tt: ModuleType) -> tuple[recipe.Trained, Any]:
    """A two-epoch TinyDigits run of the reference with the grader's loop, and its data."""
    d = load_tinydigits()
    run = recipe.train(reference_tt, recipe.prepare(d.x_train, d.pixel_max), d.y_train, TINY.architecture,
                       TINY.recipe, epochs=2)
    return run, d


def _check(trace: recipe.Trace, d: Any) -> list[np.ndarray]:
    return verify.check_run(trace, TINY.architecture, TINY.recipe, recipe.prepare(d.x_train, d.pixel_max),
                            d.y_train, epochs=2)


def test_reference_run_replays_and_its_trace_survives_plain_data(reference_run: Any) -> None:
    """The reference's run follows from its code; the trace, sent as the probe's plain data and
    rebuilt, checks the same; the trained parameters are the model's."""
    run, d = reference_run
    steps = 2 * -(-len(d.x_train) // TINY.recipe.batch_size)
    assert run.trace.losses.shape == (steps,) and len(run.trace.tail) == recipe.TAIL_STEPS + 2
    final = _check(run.trace, d)
    for got, p in zip(final, run.model.parameters()):
        np.testing.assert_array_equal(got, p.data)
    rebuilt = recipe.Trace.from_values(run.trace.as_values(), parameters=4, steps=steps)
    for a, b in zip(_check(rebuilt, d), final):
        np.testing.assert_array_equal(a, b)


def _edited(trace: recipe.Trace, **changes: Any) -> recipe.Trace:
    copy = recipe.Trace([p.copy() for p in trace.initial], [p.copy() for p in trace.first],
                        [[p.copy() for p in state] for state in trace.tail], trace.losses.copy())
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.first[0].__setitem__((3, 4), t.first[0][3, 4] + 1e-3),
     r"the first training step does not follow from your forward/backward/step: W1 off by 0\.001 at \(3, 4\): "
     r"expected \S+, got \S+ \(the grader's SGD step: lr 0\.1, momentum starting at the gradient, on the same 32 "
     r"images, from your parameters before it\)"),
    (lambda t: t.tail[-1][3].__setitem__(7, t.tail[-1][3][7] - 1e-4),
     r"the last training step \(step 64 of 64\) does not follow from your forward/backward/step: b2 off by 0\.0001 "
     r"at \(7\)"),
    (lambda t: t.tail[-2][2].__setitem__((0, 0), t.tail[-2][2][0, 0] * 1.01 + 1e-4),
     r"training step 63 of 64 does not follow"),
    (lambda t: t.losses.__setitem__(0, t.losses[0] * 0.5),
     r"the loss at the first training step does not follow from your parameters: loss.item\(\) gave"),
    (lambda t: t.losses.__setitem__(-1, t.losses[-1] + 0.01), r"the loss at the last training step"),
    (lambda t: setattr(t, "initial", t.final), r"training does not start from a fresh model: before the first step "
                                               r"your parameters already classify 9\d\.\d% of the training images"),
], ids=["first-step", "last-step", "step-before-last", "first-loss", "last-loss", "trained-start"])
def test_replay_names_what_does_not_follow(edit: Any, message: str, reference_run: Any) -> None:
    """One recorded number moved by a little more than float32 noise: StepMismatch names the
    step, the parameter, the element, expected and got."""
    run, d = reference_run
    trace = _edited(run.trace)
    edit(trace)
    with pytest.raises(verify.StepMismatch, match=r"^Milestone 03 · " + message):
        _check(trace, d)


@pytest.mark.parametrize("edit, message", [
    (lambda v: v.update(count=5), "the trained model has 5 parameter tensors, expected 4"),
    (lambda v: v.update(count=True), "parameter count of True"),
    (lambda v: v.update(tail_count=9), "holds 9 final states, expected 4"),
    (lambda v: v.update(losses=v["losses"][:-1]), "losses of shape (63,), expected (64,) floats"),
    (lambda v: v.pop("first2"), "lacks the arrays first0..first3"),
], ids=["count", "bool-count", "tail-count", "losses", "missing-array"])
def test_malformed_trace_values_say_what_is_wrong(edit: Any, message: str, reference_run: Any) -> None:
    """Plain data that is not a trace of this run is a ValueError naming what is off."""
    values = reference_run[0].trace.as_values()
    edit(values)
    with pytest.raises(ValueError, match=re.escape(message)):
        recipe.Trace.from_values(values, parameters=4, steps=64)


def test_prepare_flattens_and_scales_to_float32() -> None:
    """prepare: (N, H, W) uint8 -> (N, H*W) float32 equal to images / pixel_max."""
    images = np.random.default_rng(0).integers(0, 17, (5, 8, 8), dtype=np.uint8)
    x = recipe.prepare(images, 16)
    assert x.dtype == np.float32 and x.shape == (5, 64)
    np.testing.assert_array_equal(x, images.reshape(5, -1).astype(np.float32) / 16)


# ------------------------------------------------------------- unfinished implementations
def test_stubs_report_missing_modules_without_traceback(tiny_script: ModuleType, stubs_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """With the untouched stubs main() exits 1 and lists a missing piece of every module."""
    before = sys.modules.get("tinytorch")
    assert tiny_script.main(["--impl", str(stubs_dir)]) == 1
    captured = capsys.readouterr()
    assert "Missing" in captured.out
    for num, name in NAMES.items():
        assert f"Module {num} ({name}):" in captured.out, f"Module {num} not reported:\n{captured.out}"
    assert "Traceback" not in captured.out + captured.err
    assert sys.modules.get("tinytorch") is before, "main() must put back the tinytorch it found"


def test_default_impl_is_the_assignments_folder(tiny_script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --impl or $TINYTORCH_IMPL the script uses assignments/tinytorch."""
    if not (ASSIGNMENTS / "tinytorch" / "__init__.py").is_file():
        pytest.skip("assignments/tinytorch has not been generated")
    assert tiny_script.main([]) == 1
    assert f"using tinytorch from {ASSIGNMENTS / 'tinytorch'}" in capsys.readouterr().out


def test_impl_from_environment(tiny_script: ModuleType, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """$TINYTORCH_IMPL chooses the implementation when --impl is not given."""
    monkeypatch.setenv("TINYTORCH_IMPL", str(SOLUTIONS))
    assert tiny_script.main(["--epochs", "3"]) == 0
    assert f"using tinytorch from {SOLUTIONS / 'tinytorch'}" in capsys.readouterr().out


@pytest.mark.parametrize("num", sorted(MODULE_FILES))
def test_one_stubbed_module_is_the_only_one_reported(num: str, tiny_script: ModuleType, stubs_dir: Path,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reference with one module's file stubbed: main() exits 1 and names only that module."""
    impl = hybrid(tmp_path, stubs_dir, [num])
    assert tiny_script.main(["--impl", str(impl)]) == 1
    out = capsys.readouterr().out
    reported = set(re.findall(r"^  Module (\d\d) \(", out, re.MULTILINE))
    assert reported == {num}, f"stubbing Module {num} reported modules {sorted(reported)}:\n{out}"
    assert "Broken" not in out and "Traceback" not in out


def test_error_in_student_code_is_reported_briefly(tiny_script: ModuleType, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A bug (not a stub) in SGD.step is reported as Broken with file and line, exit 1."""
    impl = hybrid(tmp_path, SOLUTIONS, [])
    optim = impl / "tinytorch" / "optim.py"
    text = optim.read_text()
    assert "p.data -= self.lr * g\n" in text
    optim.write_text(text.replace("p.data -= self.lr * g\n", "p.data -= self.lr * g.T[None]\n"))
    assert tiny_script.main(["--impl", str(impl)]) == 1
    out = capsys.readouterr().out
    broken = re.findall(r"^  Module (\d\d) \((\w+)\): (\w+Error): .*\(tinytorch/(\w+)\.py:\d+ in (\w+)\)", out, re.MULTILINE)
    assert "Broken" in out and broken and all((b[0], b[2]) == ("07", "ValueError") for b in broken), out
    assert all(b[1] == b[3] == "optim" and b[4] == "step" for b in broken), out
    assert "Traceback" not in out


def test_diverging_training_is_reported_without_a_table(tiny_script: ModuleType, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An SGD step that blows large weights up to NaN (the readiness checks' small ones pass):
    exit 1, named as divergence, no criteria table."""
    impl = hybrid(tmp_path, SOLUTIONS, [])
    optim = impl / "tinytorch" / "optim.py"
    optim.write_text(optim.read_text().replace("p.data -= self.lr * g\n",
                                               "p.data -= self.lr * g * (1e30 if p.data.size > 100 else 1)\n"))
    assert tiny_script.main(["--impl", str(impl)]) == 1
    out = capsys.readouterr().out
    assert "NaN or inf" in out and "diverged" in out and "criteria" not in out, out


def test_momentum_bug_is_caught_by_the_replay(tiny_script: ModuleType, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An SGD that forgets its momentum after each step passes the one-step readiness check and
    still trains, but the replayed last steps differ: exit 1, naming the step and the element."""
    impl = hybrid(tmp_path, SOLUTIONS, [])
    with open(impl / "tinytorch" / "optim.py", "a") as fh:
        fh.write("\n_step = SGD.step\ndef _forgetful(self):\n    self.velocity = [None] * len(self.params)\n"
                 "    _step(self)\nSGD.step = _forgetful\n")
    assert tiny_script.main(["--impl", str(impl)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"Milestone 03 · training step \d+ of \d+ does not follow from your forward/backward/step: "
                     r"(W1|b1|W2|b2) off by \S+ at \(\d+(, \d+)?\): expected \S+, got \S+", out), out
    assert "criteria" not in out and "Traceback" not in out


# ------------------------------------------------------------------------- CLI behaviour
@pytest.mark.parametrize("argv", [["--bogus"], ["--epochs", "0"], ["--seed", "x"]])
def test_usage_errors_exit_2(tiny_script: ModuleType, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options exit 2 with a message on stderr."""
    assert tiny_script.main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_impl_without_tinytorch_exits_2(tiny_script: ModuleType, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """--impl naming a folder without tinytorch/ is a usage error that names the folder."""
    assert tiny_script.main(["--impl", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_dataset_error_is_printed_and_exits_1(tiny_script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A missing TinyDigits file gives the loader's actionable message and exit 1."""
    monkeypatch.setenv("TINYTORCH_DATA_DIR", str(tmp_path))
    assert tiny_script.main(["--impl", str(SOLUTIONS)]) == 1
    out = capsys.readouterr().out
    assert "Cannot load the data" in out and "tinydigits.npz" in out and "Traceback" not in out


@pytest.mark.parametrize("which, code", [("reference", 0), ("stubs", 1)])
def test_script_runs_with_stdin_closed(which: str, code: int, stubs_dir: Path) -> None:
    """`python 01_rumelhart_tinydigits.py` from its folder never reads stdin and ends by itself."""
    impl = SOLUTIONS if which == "reference" else stubs_dir
    done = subprocess.run([sys.executable, TINY_SCRIPT.name, "--impl", str(impl)], cwd=MILESTONE_DIR,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if which == "stubs":
        assert all(f"Module {num} ({name}):" in done.stdout for num, name in NAMES.items()), done.stdout


@pytest.mark.parametrize("spec", [TINY, MNIST], ids=["tinydigits", "mnist"])
def test_help_is_the_script_docstring(spec: Any) -> None:
    """--help prints the script's docstring (what it does, examples, exit codes) and exits 0."""
    done = subprocess.run([sys.executable, spec.script, "--help"], cwd=MILESTONE_DIR, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for needle in (f"Milestone 03, part", spec.title, f"python {spec.script} --impl DIR", "Exit status: 0",
                   f"test accuracy >= {spec.min_test_accuracy:.0%}", "--seed SEED"):
        assert needle in done.stdout, f"{needle!r} not in --help:\n{done.stdout}"


# ------------------------------------------------------------ the scripts are their rendering
def test_scripts_on_disk_equal_their_rendering_from_the_config() -> None:
    """Every script is exactly what scripts.py renders from grader/config.yaml, and no other
    .py file sits beside them (run `python -m grader.milestones.m03.scripts --write`)."""
    assert scripts.problems(CFG) == []


@pytest.mark.parametrize("spec", [TINY, MNIST], ids=["tinydigits", "mnist"])
def test_scripts_are_thin_wrappers(spec: Any) -> None:
    """Apart from the docstring a script is at most 30 lines and defines only main()."""
    tree = ast.parse((MILESTONE_DIR / spec.script).read_text())
    docstring = ast.get_docstring(tree)
    assert docstring and spec.title in docstring
    code_lines = tree.body[-1].end_lineno - tree.body[1].lineno + 1
    assert code_lines <= 30, f"{spec.script}: {code_lines} lines of code after the docstring"
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions == ["main"], functions


def test_rendering_follows_the_config() -> None:
    """A changed threshold or recipe in the config changes the rendered --help text."""
    import dataclasses
    changed = dataclasses.replace(TINY, min_test_accuracy=0.8, recipe=dataclasses.replace(TINY.recipe, epochs=12))
    text = scripts.render(changed, 1)
    assert "test accuracy >= 80%" in text and "12 epochs" in text
    assert text != scripts.render(TINY, 1)


# ------------------------------------------------------------------- what the sandbox gets
@pytest.mark.parametrize("module", [recipe, readiness], ids=["recipe", "readiness"])
def test_sandbox_files_import_only_numpy_and_the_standard_library(module: ModuleType) -> None:
    """recipe.py and readiness.py are copied into the sandbox worker: every import in them
    (at any level) is the standard library or NumPy, never the grader or tinytorch."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    tree = ast.parse(Path(module.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else ["<relative import>"]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{module.__file__}:{node.lineno} imports {name}"


def test_sandbox_recipe_comes_from_the_grader_not_the_student_folder() -> None:
    """The files the training probe copies into the worker are the grader's own modules."""
    own = Path(recipe.__file__).resolve().parent
    for name, source in score._files().items():
        assert source.resolve().parent == own, f"{name} is copied from {source}, not from {own}"
        assert not source.resolve().is_relative_to(ASSIGNMENTS)


def test_grade_of_the_stubs_is_not_started_with_every_missing_module(stubs_dir: Path) -> None:
    """The held-out grade of the stubs: "not started", its reason listing a missing piece of
    every module (checked in the sandbox), no traceback."""
    cfg = load_config(DEFAULT_PATH)
    runs = score.run_milestones(stubs_dir, _only_tinydigits(cfg), {"tinydigits": load_tinydigits}, uid_slot=SLOT)
    run = runs["tinydigits"]
    assert run.status == "not_implemented", run
    assert run.message.startswith("not started: Module 01 (tensor): "), run.message
    for num, name in NAMES.items():
        assert f"Module {num} ({name}): " in run.message, run.message
    assert "Traceback" not in run.message


def test_grade_of_the_reference_measures_held_out_data() -> None:
    """The held-out grade of the reference on TinyDigits: the same figures as measuring
    in-process with the same recipe (the worker only returns the parameters)."""
    run = score.train_and_measure(SOLUTIONS, TINY, load_tinydigits, uid_slot=SLOT)
    assert run.status == "ok", run.message
    assert run.test_accuracy >= 0.90 and run.train_loss < 0.1, run
    assert run.metrics["train_seconds"] == round(run.train_seconds, 3) and run.train_seconds > 0


def test_training_time_excludes_waiting_for_the_sandbox_slot() -> None:
    """While another probe holds the slot for 2 s, the milestone waits for it, and that wait
    is not part of its training time (the worker's own wall time)."""
    started = threading.Event()

    def hold_slot() -> None:
        started.set()
        run_probe(SOLUTIONS, "def sleep_probe(tt):\n    import time\n    time.sleep(2)\n    return {}\n", "sleep_probe",
                  limits=Limits(wall_seconds=20), uid_slot=SLOT)

    holder = threading.Thread(target=hold_slot)
    holder.start()
    started.wait()
    time.sleep(0.3)                               # the holder's worker is running by now
    begin = time.perf_counter()
    run = score.train_and_measure(SOLUTIONS, TINY, load_tinydigits, uid_slot=SLOT)
    elapsed = time.perf_counter() - begin
    holder.join()
    if elapsed < 1.2:
        pytest.skip(f"this sandbox ran both probes at once (DROPS_PRIVILEGES={DROPS_PRIVILEGES}): nothing to wait for")
    assert run.status == "ok", run.message
    assert run.train_seconds < elapsed - 1.0, (f"training time {run.train_seconds:.2f} s includes the wait "
                                               f"(the call took {elapsed:.2f} s)")


def _only_tinydigits(cfg: Any) -> Any:
    import dataclasses
    return dataclasses.replace(cfg, milestone={"tinydigits": cfg.milestone["tinydigits"]})


# ------------------------------------------------------------------------------ the config
@pytest.mark.parametrize("edit, needle", [
    (lambda m: m["tinydigits"].pop("architecture"), "milestone03.tinydigits has no 'architecture'"),
    (lambda m: m["mnist"]["recipe"].update(batch_size=0), "milestone03.mnist.recipe.batch_size must be an integer >= 1"),
    (lambda m: m["mnist"]["architecture"].update(hidden="128"), "milestone03.mnist.architecture.hidden must be an integer"),
    (lambda m: m["tinydigits"].update(script="../evil.py"), "milestone03.tinydigits.script must be a plain file name"),
    (lambda m: m["tinydigits"].update(recipe=[0.1]), "milestone03.tinydigits.recipe must be a mapping"),
    (lambda m: m["tinydigits"].update(min_test_accuracy=75), "milestone03.tinydigits.min_test_accuracy must be a number in [0, 1]"),
], ids=["no-architecture", "batch-size-0", "hidden-as-string", "script-path", "recipe-list", "accuracy-percent"])
def test_bad_milestone_config_names_the_entry(edit: Any, needle: str, tmp_path: Path) -> None:
    """A missing or ill-typed milestone03 entry is a ConfigError naming the entry and the value."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    edit(raw["milestone03"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(path)
