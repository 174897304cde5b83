"""Shared plumbing of the Milestone 03 scripts (you do not need to edit this file).

Both scripts (`01_rumelhart_tinydigits.py`, `02_rumelhart_mnist.py`) use it to:

  * choose the tinytorch to run: `--impl DIR`, else $TINYTORCH_IMPL, else `assignments/`;
  * check, before training, that every piece of tinytorch the milestone needs exists;
  * train an MLP with the seeded recipe (`fit`), printing one line per epoch;
  * measure the result from the trained `parameters()` with a plain NumPy forward pass (as
    the grader does), and print the milestone's criteria as a PASS/FAIL table.

Only NumPy and the standard library are imported at the top: the grader copies this file
beside a script into a sandbox that holds nothing but NumPy and your tinytorch.
`tinytorch` itself is always passed in as the argument `tt`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Optional

import numpy as np

Array = np.ndarray
Recipe = dict[str, Any]       # hidden, lr, final_lr, momentum, batch_size, epochs, seed
History = dict[str, list[float]]
EpochCallback = Callable[[int, History], None]
Shape = tuple[int, ...]

IMPL_ENV_VAR = "TINYTORCH_IMPL"
VAL_BATCH_SIZE = 1000
MODULE_NAMES: dict[str, str] = {
    "01": "tensor", "02": "activations", "03": "layers", "04": "losses",
    "05": "data", "06": "autograd", "07": "optim", "08": "training",
}


class SetupError(Exception):
    """tinytorch or the data cannot be used; the message says why and what to do."""


class UsageError(Exception):
    """A bad command-line option or environment variable (exit status 2)."""


# ----------------------------------------------------------------------------- the recipe
def phases(recipe: Recipe, epochs: int) -> list[tuple[float, int]]:
    """(learning rate, epochs) per phase: recipe["lr"] for all epochs but the last, which uses
    recipe["final_lr"] (for runs of two or more): a smaller step at the end settles the
    weights near a minimum instead of letting them bounce around it."""
    if epochs >= 2 and recipe["final_lr"] != recipe["lr"]:
        return [(recipe["lr"], epochs - 1), (recipe["final_lr"], 1)]
    return [(recipe["lr"], epochs)]


def fit(tt: ModuleType, model: Any, x_train: Array, y_train: Array, recipe: Recipe, *, epochs: int,
        on_epoch_end: Optional[EpochCallback] = None, x_val: Optional[Array] = None,
        y_val: Optional[Array] = None) -> Any:
    """Train `model` in place with mini-batch SGD + momentum and cross-entropy; return it.

    x_train: (N, D) float32, y_train: (N,) int64 class labels; x_val, y_val likewise (M, D), (M,).
    Each phase (see `phases`) is one `Trainer.fit` with a fresh `SGD`; batches come from a
    shuffled `DataLoader`. `on_epoch_end(epoch, history)` gets the epoch counted from 0 over
    the whole run and the current phase's history (its last entries are the latest epoch).
    """
    loss_fn = tt.CrossEntropyLoss()
    loader = tt.DataLoader(tt.TensorDataset(x_train, y_train), batch_size=recipe["batch_size"], shuffle=True)
    val_loader = None
    if x_val is not None and y_val is not None:
        val_loader = tt.DataLoader(tt.TensorDataset(x_val, y_val), batch_size=VAL_BATCH_SIZE)
    done = 0
    for lr, count in phases(recipe, epochs):
        optimizer = tt.SGD(model.parameters(), lr=lr, momentum=recipe["momentum"])
        callback = on_epoch_end and (lambda offset: lambda epoch, history: on_epoch_end(offset + epoch, history))(done)
        tt.Trainer(model, loss_fn, optimizer).fit(loader, count, val_loader=val_loader, on_epoch_end=callback)
        done += count
    return model


def describe_recipe(recipe: Recipe, epochs: int, seed: int) -> str:
    """One line: 'SGD lr 0.1 (last epoch 0.01), momentum 0.9, batch 128, 3 epochs, seed 1986'."""
    final = f" (last epoch {recipe['final_lr']:g})" if len(phases(recipe, epochs)) > 1 else ""
    return (f"SGD lr {recipe['lr']:g}{final}, momentum {recipe['momentum']:g}, "
            f"batch {recipe['batch_size']}, {epochs} epoch{'s' if epochs != 1 else ''}, seed {seed}")


# ------------------------------------------------- measuring from the trained parameters
def mlp_shapes(n_in: int, hidden: int, n_out: int = 10) -> list[Shape]:
    """Shapes of parameters() of Sequential(Linear(n_in, hidden), ReLU(), Linear(hidden, n_out))."""
    from grader.engine.forward import Architecture
    return Architecture(n_in, hidden, n_out).shapes


def parameter_arrays(model: Any, expected: list[Shape]) -> list[Array]:
    """model.parameters() as float arrays [W1 (in, hidden), b1, W2 (hidden, 10), b2].

    Raises SetupError naming both lists of shapes when they are not `expected`.
    """
    arrays = [np.asarray(getattr(p, "data", p)) for p in model.parameters()]
    got = [a.shape for a in arrays]
    if got != expected:
        raise SetupError(f"model.parameters() gave shapes {got}, expected {expected} "
                         f"(per Linear: weight (in_features, out_features), then bias)")
    return arrays


def numpy_loss_and_accuracy(params: list[Array], x: Array, y: Array) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the MLP `params` on x: (N, D), y: (N,), in float64:
    the grader's own forward pass (`grader.engine.forward`), so this table and the grade agree."""
    from grader.engine import forward
    logits = forward.logits(params, x)
    return forward.cross_entropy(logits, y), forward.accuracy(logits, y)


# ------------------------------------------------------------------ choosing the tinytorch
def resolve_impl(option: Optional[str], script_file: str) -> Path:
    """The directory holding `tinytorch/`: `option`, else $TINYTORCH_IMPL, else `assignments/`.

    script_file: the milestone script; its default is `Path(script_file).resolve().parents[2]`.
    Raises UsageError when the directory has no `tinytorch/__init__.py`.
    """
    if option:
        where, impl = "--impl", Path(option)
    elif os.environ.get(IMPL_ENV_VAR):
        where, impl = f"${IMPL_ENV_VAR}", Path(os.environ[IMPL_ENV_VAR])
    else:
        where, impl = "the default", Path(script_file).resolve().parents[2]
    impl = impl.expanduser().resolve()
    if not (impl / "tinytorch" / "__init__.py").is_file():
        raise UsageError(f"{where} {impl} holds no tinytorch/__init__.py: give the directory that "
                         f"contains your tinytorch/ package")
    return impl


def _is_tinytorch(name: str) -> bool:
    return name == "tinytorch" or name.startswith("tinytorch.")


@contextmanager
def using_tinytorch(impl: Path) -> Iterator[ModuleType]:
    """Import `impl/tinytorch` (impl first on sys.path) for the duration of the block.

    Any tinytorch imported before is set aside and put back afterwards, with sys.path, so
    calling a script's main() twice with different implementations is safe.
    Raises SetupError when the package fails to import or comes from somewhere else.
    """
    saved_path = list(sys.path)
    saved = {name: mod for name, mod in sys.modules.items() if _is_tinytorch(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(impl))
    importlib.invalidate_caches()
    try:
        try:
            tt = importlib.import_module("tinytorch")
        except Exception as exc:  # a student's package can fail to import in any way
            raise SetupError(f"cannot import tinytorch from {impl}: {describe_exception(exc)}") from None
        location = Path(getattr(tt, "__file__", "") or "").resolve()
        if not location.is_relative_to(impl / "tinytorch"):
            raise SetupError(f"imported tinytorch from {location}, not from {impl / 'tinytorch'}")
        yield tt
    finally:
        for name in [n for n in sys.modules if _is_tinytorch(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path[:] = saved_path


def describe_exception(exc: BaseException) -> str:
    """'ValueError: message (tinytorch/layers.py:57 in forward)': the error and its innermost
    frame inside the tinytorch package, else its innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append(traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>"))
    ours = [f for f in frames if Path(f.filename).parent.name == "tinytorch"]
    where = ""
    if ours or frames:
        frame = (ours or frames)[-1]
        path = Path(frame.filename)
        short = f"{path.parent.name}/{path.name}" if ours else path.name
        where = f" ({short}:{frame.lineno} in {frame.name})"
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{type(exc).__name__}: {message}{where}"


# ---------------------------------------------------------------------- readiness checks
@dataclass(frozen=True)
class Problem:
    """One piece of tinytorch that is missing (NotImplementedError) or broken (another error)."""

    module: str                 # "03"
    missing: bool
    text: str                   # "Linear forward" or "ValueError: ... (tinytorch/optim.py:57 in step)"
    check: str = field(default="", compare=False)   # the check that ran into a broken piece

    def line(self, names: dict[str, str]) -> str:
        where = f" [while checking: {self.check}]" if self.check else ""
        return f"Module {self.module} ({names.get(self.module, '?')}): {self.text}{where}"


_STUB_MESSAGE = re.compile(r"^Module (\d\d)\s*:\s*(.+)$", re.DOTALL)
_MODULE_OF_FILE = {f"{name}.py": num for num, name in MODULE_NAMES.items()}


def module_of(exc: BaseException) -> Optional[str]:
    """The module number of the innermost tinytorch file the exception passed through, if any."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.parent.name == "tinytorch" and path.name in _MODULE_OF_FILE:
            return _MODULE_OF_FILE[path.name]
    return None


def problem_from(exc: BaseException, module: str, check: str) -> Problem:
    """Turn an exception raised while running `check` (of `module`) into a Problem.

    A stub's NotImplementedError("Module 06: add backward") names its own module and task;
    other errors are charged to the tinytorch file they came from, else to `module`.
    """
    if isinstance(exc, NotImplementedError):
        match = _STUB_MESSAGE.match(str(exc).strip())
        if match:
            return Problem(match.group(1), True, match.group(2).strip())
        return Problem(module_of(exc) or module, True, f"{check} ({describe_exception(exc)})")
    return Problem(module_of(exc) or module, False, describe_exception(exc), check)


def readiness_problems(tt: ModuleType) -> list[Problem]:
    """Run one tiny call per piece of tinytorch the milestone uses; list what fails.

    The checks are as independent of each other as the API allows, so one missing piece
    hides few others: e.g. `Trainer` is first driven by stand-in model, loss and optimizer
    objects. A check that needs several modules (the MLP's backward pass) reports what it
    hits first; repeated problems are listed once.
    """
    x = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0], [-2.0, 0.75, 1.0, -1.5]], dtype=np.float32)
    y = np.array([0, 2, 1], dtype=np.int64)

    def mlp() -> Any:
        tt.manual_seed(0)
        return tt.Sequential(tt.Linear(4, 5), tt.ReLU(), tt.Linear(5, 3))

    def tensor_ops() -> None:
        a = tt.Tensor(x)
        _ = a + tt.Tensor(np.ones(4, dtype=np.float32))       # broadcasting add (the bias)
        _ = a @ tt.Tensor(np.ones((4, 2), dtype=np.float32))  # matmul (the weights)

    def relu() -> None:
        tt.ReLU()(tt.Tensor(x))

    def module_plumbing() -> None:
        class Holder(tt.Module):  # type: ignore[name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.w = tt.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)

            def forward(self, inputs: Any) -> Any:
                return inputs

        model = tt.Sequential(Holder(), tt.ReLU())
        count = len(model.parameters())
        if count != 1:
            raise ValueError(f"parameters() of Sequential(<module holding one parameter>, ReLU()) "
                             f"returned {count} tensors, expected 1")
        model.eval()
        model.train()

    def linear_init() -> None:
        layer = tt.Linear(4, 5)
        if tuple(layer.weight.shape) != (4, 5) or tuple(layer.bias.shape) != (5,):
            raise ValueError(f"Linear(4, 5) has weight {tuple(layer.weight.shape)} and bias "
                             f"{tuple(layer.bias.shape)}, expected (4, 5) and (5,)")

    def mlp_forward() -> None:
        model = mlp()
        out = model(tt.Tensor(x))
        if tuple(out.shape) != (3, 3):
            raise ValueError(f"a 4-5-3 MLP maps input (3, 4) to {tuple(out.shape)}, expected (3, 3)")
        if len(model.parameters()) != 4:
            raise ValueError(f"parameters() of a 2-layer MLP returned {len(model.parameters())} tensors, expected 4")

    def loss() -> None:
        tt.CrossEntropyLoss()(tt.Tensor(x[:, :3].copy()), y).item()

    def data() -> None:
        loader = tt.DataLoader(tt.TensorDataset(x, y), batch_size=2, shuffle=True)
        sizes = sorted(len(xb) for xb, _ in loader)
        if len(loader) != 2 or sizes != [1, 2]:
            raise ValueError(f"3 samples in batches of 2 gave len(loader) {len(loader)} and batch sizes "
                             f"{sizes}, expected 2 and [1, 2]")

    def backward_engine() -> None:
        leaf = tt.Tensor(x, requires_grad=True)
        leaf.backward(np.ones_like(x))

    def mlp_backward() -> None:
        model = mlp()
        tt.CrossEntropyLoss()(model(tt.Tensor(x)), y).backward()
        empty = [i for i, p in enumerate(model.parameters()) if p.grad is None]
        if empty:
            raise ValueError(f"after loss.backward(), parameters {empty} of a 2-layer MLP have no .grad")

    def sgd() -> None:
        p = tt.Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
        p.grad = np.full((2, 2), 0.5, dtype=np.float32)
        optimizer = tt.SGD([p], lr=0.1, momentum=0.9)
        optimizer.step()
        if not np.allclose(p.data, 0.95):
            raise ValueError(f"one SGD step (lr 0.1, grad 0.5) from 1.0 gave {np.asarray(p.data).ravel()[0]}, "
                             f"expected 0.95")
        optimizer.zero_grad()

    def trainer_alone() -> None:
        batches = [(tt.Tensor(x[:2]), tt.Tensor(y[:2])), (tt.Tensor(x[2:]), tt.Tensor(y[2:]))]
        trainer = tt.Trainer(_StandInModel(tt), _StandInLoss(), _StandInOptimizer())
        trainer.train_epoch(batches)
        trainer.evaluate(batches)

    def trainer() -> None:
        model = mlp()
        loader = tt.DataLoader(tt.TensorDataset(x, y), batch_size=2)
        t = tt.Trainer(model, tt.CrossEntropyLoss(), tt.SGD(model.parameters(), lr=0.1))
        float(t.train_epoch(loader))
        val_loss, val_accuracy = t.evaluate(loader)
        float(val_loss), float(val_accuracy)

    # (module, task, check, report errors other than NotImplementedError?)
    checks: list[tuple[str, str, Callable[[], None], bool]] = [
        ("01", "Tensor add and matmul", tensor_ops, True),
        ("02", "ReLU", relu, True),
        ("03", "Module.parameters, train and eval", module_plumbing, True),
        ("03", "Linear(4, 5)", linear_init, True),
        ("03", "Sequential(Linear, ReLU, Linear) forward", mlp_forward, True),
        ("04", "CrossEntropyLoss", loss, True),
        ("05", "DataLoader over a TensorDataset", data, True),
        ("06", "backward() of a leaf tensor", backward_engine, True),
        ("06", "loss.backward() through the MLP", mlp_backward, True),
        ("07", "SGD step with momentum", sgd, True),
        ("08", "Trainer with stand-in model, loss and optimizer", trainer_alone, False),
        ("08", "Trainer.train_epoch and evaluate", trainer, True),
    ]
    problems: list[Problem] = []
    for module, task, check, report_all in checks:
        try:
            check()
        except Exception as exc:  # any failure of student code is reported, never raised
            if not report_all and not isinstance(exc, NotImplementedError):
                continue          # the stand-ins may not suit every valid Trainer; the real check follows
            problem = problem_from(exc, module, task)
            if problem not in problems:
                problems.append(problem)
    return sorted(problems, key=lambda p: (p.module, not p.missing))


class _StandInModel:
    """Duck-typed model for checking Trainer alone: (N, 4) -> zeros (N, 3)."""

    def __init__(self, tt: ModuleType) -> None:
        self.tt = tt
        self.training = True

    def __call__(self, x: Any) -> Any:
        return self.tt.Tensor(np.zeros((len(x), 3), dtype=np.float32))

    def parameters(self) -> list[Any]:
        return []

    def train(self) -> "_StandInModel":
        return self._mode(True)

    def eval(self) -> "_StandInModel":
        return self._mode(False)

    def _mode(self, training: bool) -> "_StandInModel":
        self.training = training
        return self

    def zero_grad(self) -> None:
        pass


class _StandInLoss:
    """Duck-typed loss for checking Trainer alone: always 0.5, backward does nothing."""

    class _Value:
        data = np.asarray(0.5, dtype=np.float32)
        shape: Shape = ()

        def item(self) -> float:
            return 0.5

        def backward(self, grad: Any = None) -> None:
            pass

    def __call__(self, logits: Any, targets: Any) -> Any:
        return self._Value()


class _StandInOptimizer:
    """Duck-typed optimizer for checking Trainer alone: step and zero_grad do nothing."""

    def step(self) -> None:
        pass

    def zero_grad(self) -> None:
        pass


def report_problems(problems: list[Problem], names: dict[str, str], impl: Path) -> None:
    """Print what is missing or broken, grouped, with what to do next."""
    missing = [p for p in problems if p.missing]
    broken = [p for p in problems if not p.missing]
    print(f"\ntinytorch in {impl / 'tinytorch'} is not ready for this milestone yet.", flush=True)
    if missing:
        print("Missing (still raise NotImplementedError):")
        for p in missing:
            print(f"  {p.line(names)}")
    if broken:
        print("Broken (raise an error):")
        for p in broken:
            print(f"  {p.line(names)}")
    print("Implement or fix these (each module's tests point at the details), then run this script again.", flush=True)


# --------------------------------------------------------------------------- the CLI
@dataclass(frozen=True)
class Criterion:
    """One row of the criteria table."""

    name: str
    measured: str
    threshold: str
    passed: bool


def criteria(test_accuracy: float, train_loss: float, min_accuracy: float, max_loss: float) -> list[Criterion]:
    """The milestone's two criteria: test accuracy >= min_accuracy, final training loss < max_loss."""
    return [
        Criterion("test accuracy", f"{test_accuracy:.2%}", f">= {min_accuracy:.0%}", bool(test_accuracy >= min_accuracy)),
        Criterion("final training loss", f"{train_loss:.4f}", f"< {max_loss:g}", bool(train_loss < max_loss)),
    ]


def print_criteria(title: str, rows: list[Criterion]) -> None:
    """A plain-text table: criterion, measured, threshold, PASS/FAIL."""
    header = ("criterion", "measured", "threshold", "result")
    table = [header] + [(r.name, r.measured, r.threshold, "PASS" if r.passed else "FAIL") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(table):
        print("  " + "  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def build_parser(doc: str, recipe: Recipe, mnist_dir: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", metavar="DIR", help=f"directory containing tinytorch/ (default: ${IMPL_ENV_VAR}, "
                                                     f"else the assignments/ folder)")
    parser.add_argument("--seed", type=int, default=recipe["seed"], help="random seed (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=recipe["epochs"], help="epochs to train (default: %(default)s)")
    if mnist_dir:
        parser.add_argument("--mnist-dir", metavar="DIR", type=Path,
                            help="directory with the four MNIST IDX files, used if MNIST is not cached yet")
    return parser


@dataclass(frozen=True)
class Milestone:
    """What one script contributes to `run`."""

    key: str                                   # "tinydigits" | "mnist": the grader config section
    title: str                                 # "TinyDigits"
    doc: str                                   # the script's docstring (the --help text)
    script_file: str                           # the script's __file__ (locates assignments/)
    recipe: Recipe
    prepare: Callable[[Array, int], Array]
    train: Callable[..., Any]
    load_data: Callable[[argparse.Namespace], Any]   # -> grader.datasets.Digits


def run(milestone: Milestone, argv: Optional[list[str]]) -> int:
    """The body of each script's main(): 0 when every criterion passes, 1 otherwise, 2 on usage errors."""
    parser = build_parser(milestone.doc, milestone.recipe, mnist_dir=milestone.key == "mnist")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # argparse exits 2 on a bad option, 0 after --help
        return int(exc.code or 0)
    if args.epochs < 1:
        parser.print_usage(sys.stderr)
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    try:
        impl = resolve_impl(args.impl, milestone.script_file)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        from grader.config import load_config
        from grader.datasets import DatasetError
    except ImportError as exc:
        print(f"error: the course kit's grader package is not importable ({exc}); "
              f"run `pip install -e .` in the kit's folder", file=sys.stderr)
        return 1
    config = load_config()
    spec = config.milestone[milestone.key]
    names = {num: m.name for num, m in config.modules.items()} or MODULE_NAMES
    try:
        with using_tinytorch(impl) as tt:
            print(f"Milestone 03 · {milestone.title}: using tinytorch from {impl / 'tinytorch'}", flush=True)
            problems = readiness_problems(tt)
            if problems:
                report_problems(problems, names, impl)
                return 1
            print("tinytorch is ready: modules 01–08 passed their smoke checks.", flush=True)
            try:
                data = milestone.load_data(args)
            except DatasetError as exc:
                print(f"\nCannot load the data: {exc}", flush=True)
                return 1
            return train_and_judge(tt, milestone, args, data, spec, names, impl, config.path)
    except SetupError as exc:
        print(f"error: {exc}", flush=True)
        return 1


def train_and_judge(tt: ModuleType, milestone: Milestone, args: argparse.Namespace, data: Any, spec: Any,
                    names: dict[str, str], impl: Path, config_path: Path) -> int:
    """Train with live progress, then print the criteria table; the exit status of `run`."""
    x_train, x_test = milestone.prepare(data.x_train, data.pixel_max), milestone.prepare(data.x_test, data.pixel_max)
    y_train, y_test = data.y_train, data.y_test
    n_in, hidden = x_train.shape[1], milestone.recipe["hidden"]
    print(f"\nTraining a {n_in}-{hidden}-10 MLP on {milestone.title} ({len(x_train)} train / {len(x_test)} test images)")
    print(f"Recipe: {describe_recipe(milestone.recipe, args.epochs, args.seed)}", flush=True)
    start = time.perf_counter()

    def progress(epoch: int, history: History) -> None:
        print(f"  epoch {epoch + 1:>{len(str(args.epochs))}}/{args.epochs}  "
              f"train loss {history['train_loss'][-1]:.4f}  "
              f"test accuracy {history['val_accuracy'][-1]:6.2%}  "
              f"elapsed {time.perf_counter() - start:7.2f} s", flush=True)

    try:
        model = milestone.train(tt, x_train, y_train, seed=args.seed, epochs=args.epochs,
                                on_epoch_end=progress, x_val=x_test, y_val=y_test)
        params = parameter_arrays(model, mlp_shapes(n_in, hidden))
    except SetupError as exc:
        print(f"\nerror: {exc}", flush=True)
        return 1
    except NotImplementedError as exc:
        report_problems([problem_from(exc, "08", "training")], names, impl)
        return 1
    except Exception as exc:  # a bug in student code: say where, without a wall of traceback
        print(f"\nTraining stopped: {describe_exception(exc)}", flush=True)
        return 1
    seconds = time.perf_counter() - start
    train_loss, _ = numpy_loss_and_accuracy(params, x_train, y_train)
    _, test_accuracy = numpy_loss_and_accuracy(params, x_test, y_test)
    print(f"Trained in {seconds:.2f} s (the grader allows {spec.time_limit_seconds:g} s for this milestone).")
    print(f"Measured from model.parameters() with a plain NumPy forward pass: test accuracy on the "
          f"{len(x_test)} test images, training loss = the final model's mean cross-entropy over the "
          f"{len(x_train)} training images.", flush=True)
    rows = criteria(test_accuracy, train_loss, spec.min_test_accuracy, spec.max_train_loss)
    print_criteria(f"Milestone 03 · {milestone.title} criteria (from {config_path})", rows)
    if all(r.passed for r in rows):
        print(f"\nPASS: your tinytorch trains the 1986 MLP on {milestone.title}.", flush=True)
        return 0
    print(f"\nFAIL: {', '.join(r.name for r in rows if not r.passed)} not met. Check the module tests, "
          f"then try again (the recipe is fixed: the grader uses it too).")
    if not np.isfinite(train_loss):
        print("The loss is not finite: training diverged, which usually means a wrong gradient "
              "(Module 06) or optimizer step (Module 07).")
    sys.stdout.flush()
    return 1
