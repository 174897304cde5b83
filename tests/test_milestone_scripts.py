"""The Milestone 03 scripts: the reference tinytorch passes them far above the thresholds,
unfinished implementations get a list of what is missing (never a traceback), and the
scripts keep to what the grader's sandbox can run."""
from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np
import pytest

from grader.config import load_config
from grader.datasets import DatasetError, load_mnist, load_tinydigits

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ASSIGNMENTS = REPO / "assignments"
MILESTONE_DIR = ASSIGNMENTS / "milestones" / "03_1986_mlp"
TINY_SCRIPT = MILESTONE_DIR / "01_rumelhart_tinydigits.py"
MNIST_SCRIPT = MILESTONE_DIR / "02_rumelhart_mnist.py"
MODULE_FILES = {num: f"{m.name}.py" for num, m in load_config().modules.items()}   # {"01": "tensor.py", ...}


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
def mnist_script() -> ModuleType:
    return load_script(MNIST_SCRIPT)


@pytest.fixture(scope="module")
def reference_tt(tiny_script: ModuleType) -> Iterator[ModuleType]:
    """The reference tinytorch, imported the way the scripts do; sys.modules is restored after."""
    with tiny_script._milestone.using_tinytorch(SOLUTIONS) as tt:
        yield tt


@pytest.fixture(autouse=True)
def _default_impl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYTORCH_IMPL", raising=False)


def numpy_accuracy(model: Any, x: np.ndarray, y: np.ndarray, hidden: int) -> float:
    """The grader's view: relu(x @ W1 + b1) @ W2 + b2 from parameters() in order, argmax vs labels."""
    w1, b1, w2, b2 = (np.asarray(p.data) for p in model.parameters())
    assert [w1.shape, b1.shape, w2.shape, b2.shape] == [(x.shape[1], hidden), (hidden,), (hidden, 10), (10,)]
    logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    return float(np.mean(logits.argmax(axis=1) == y))


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
def test_tinydigits_reference_reaches_90_percent(tiny_script: ModuleType, reference_tt: ModuleType) -> None:
    """TinyDigits: the script's train() with the reference reaches >= 90% test accuracy."""
    d = load_tinydigits()
    model = tiny_script.train(reference_tt, tiny_script.prepare(d.x_train, d.pixel_max), d.y_train)
    accuracy = numpy_accuracy(model, tiny_script.prepare(d.x_test, d.pixel_max), d.y_test, tiny_script.RECIPE["hidden"])
    assert accuracy >= 0.90, f"TinyDigits test accuracy {accuracy:.2%} with the reference, expected >= 90%"


def test_train_is_reproducible_for_a_seed(tiny_script: ModuleType, reference_tt: ModuleType) -> None:
    """The same seed gives the same trained parameters; another seed gives others."""
    d = load_tinydigits()
    x = tiny_script.prepare(d.x_train, d.pixel_max)
    runs = [[p.data.copy() for p in tiny_script.train(reference_tt, x, d.y_train, seed=s, epochs=2).parameters()]
            for s in (3, 3, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert all(p.dtype == np.float32 for p in runs[0])


def test_tinydigits_main_passes_with_the_reference(tiny_script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """`main(["--impl", solutions])` exits 0 after printing progress and an all-PASS criteria table."""
    assert tiny_script.main(["--impl", str(SOLUTIONS)]) == 0
    out = capsys.readouterr().out
    assert f"using tinytorch from {SOLUTIONS / 'tinytorch'}" in out
    assert re.search(r"epoch +1/\d+ +train loss \d\.\d{4} +test accuracy +\d+\.\d\d%", out), out
    assert re.search(r"test accuracy +\d+\.\d\d% +>= 75% +PASS", out), out
    assert re.search(r"final training loss +0\.\d{4} +< 0\.5 +PASS", out), out
    assert "FAIL" not in out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mnist_reference_reaches_97_percent(mnist_script: ModuleType, reference_tt: ModuleType,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """MNIST: the script's train() with the reference reaches >= 97%, and main() exits 0."""
    try:
        d = load_mnist()
    except DatasetError as exc:
        pytest.skip(f"MNIST is not available here: {str(exc).splitlines()[0]}")
    model = mnist_script.train(reference_tt, mnist_script.prepare(d.x_train, d.pixel_max), d.y_train)
    accuracy = numpy_accuracy(model, mnist_script.prepare(d.x_test, d.pixel_max), d.y_test, mnist_script.RECIPE["hidden"])
    assert accuracy >= 0.97, f"MNIST test accuracy {accuracy:.2%} with the reference, expected >= 97%"
    assert mnist_script.main(["--impl", str(SOLUTIONS)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy +9\d\.\d\d% +>= 94% +PASS", out), out
    assert re.search(r"final training loss +0\.\d{4} +< 0\.2 +PASS", out), out


@pytest.mark.parametrize("script_path", [TINY_SCRIPT, MNIST_SCRIPT], ids=["tinydigits", "mnist"])
def test_prepare_flattens_and_scales_to_float32(script_path: Path) -> None:
    """prepare: (N, H, W) uint8 -> (N, H*W) float32 equal to images / pixel_max."""
    script = load_script(script_path)
    images = np.random.default_rng(0).integers(0, 17, (5, 8, 8), dtype=np.uint8)
    x = script.prepare(images, 16)
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
    for num, file in MODULE_FILES.items():
        assert f"Module {num} ({file[:-3]}):" in captured.out, f"Module {num} not reported:\n{captured.out}"
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


@pytest.mark.parametrize("path", [TINY_SCRIPT, MNIST_SCRIPT, MILESTONE_DIR / "_milestone.py"],
                         ids=lambda p: p.name)
def test_top_level_imports_fit_the_sandbox(path: Path) -> None:
    """At module level the files import only the stdlib, NumPy and _milestone (no grader, tinytorch, rich)."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "_milestone", "__future__"}
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{path.name}:{node.lineno} imports {name} at module level"


@pytest.mark.parametrize("path", [TINY_SCRIPT, MNIST_SCRIPT], ids=["tinydigits", "mnist"])
def test_script_defines_the_grader_interface(path: Path) -> None:
    """RECIPE, prepare, build_model, train and main exist; RECIPE holds the seeded hyperparameters."""
    script = load_script(path)
    for name in ("prepare", "build_model", "train", "main"):
        assert callable(getattr(script, name)), name
    assert {"hidden", "lr", "final_lr", "momentum", "batch_size", "epochs", "seed"} <= set(script.RECIPE)
