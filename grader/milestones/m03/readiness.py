"""Which pieces of tinytorch Milestone 03 needs, and which are missing or broken, per module.

    problems = readiness_problems(tt, {"01": "tensor", ..., "08": "training"})
    for p in problems: print(p.line(names))    # "Module 03 (layers): Linear init"

One tiny call per piece of modules 01-08 that training an MLP involves (Tensor add and
matmul, ReLU, Module, Linear, Sequential, CrossEntropyLoss, DataLoader, backward, SGD,
Trainer). A stub's `NotImplementedError("Module 06: backward pass")` names its own module and
task; any other error is charged to the tinytorch file it came from. So a student sees a list
of what to do, never a traceback.

Sandbox-safe: NumPy and the standard library only, with tinytorch passed in as `tt`. The
scripts run it in the student's process before training and train only when it finds nothing;
the grade runs it in the sandbox worker (copied as `m03_readiness.py`) before training, and a
missing piece makes the run "not started" with this list.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

ModuleNames = dict[str, str]      # {"01": "tensor", ...}: module number -> tinytorch/<name>.py

_X = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0], [-2.0, 0.75, 1.0, -1.5]], dtype=np.float32)  # (3, 4)
_Y = np.array([0, 2, 1], dtype=np.int64)                                                                  # (3,)
_STUB_MESSAGE = re.compile(r"^Module (\d\d)\s*:\s*(.+)$", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One piece of tinytorch that is missing (NotImplementedError) or broken (another error)."""

    module: str                 # "03"
    missing: bool
    text: str                   # "Linear init" or "ValueError: ... (tinytorch/optim.py:57 in step)"
    check: str = field(default="", compare=False)   # the check that ran into a broken piece

    def line(self, names: ModuleNames) -> str:
        """'Module 03 (layers): Linear init', with the check that found a broken piece."""
        where = f" [while checking: {self.check}]" if self.check else ""
        return f"Module {self.module} ({names.get(self.module, '?')}): {self.text}{where}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data, to return from the sandbox worker."""
        return {"module": self.module, "missing": self.missing, "text": self.text, "check": self.check}


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


def module_of(exc: BaseException, names: ModuleNames) -> str | None:
    """The module number of the innermost tinytorch file the exception passed through, if any."""
    by_file = {f"{name}.py": num for num, name in names.items()}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.parent.name == "tinytorch" and path.name in by_file:
            return by_file[path.name]
    return None


def problem_from(exc: BaseException, module: str, check: str, names: ModuleNames) -> Problem:
    """Turn an exception raised while running `check` (of `module`) into a Problem.

    A stub's NotImplementedError("Module 06: add backward") names its own module and task;
    other errors are charged to the tinytorch file they came from, else to `module`.
    """
    if isinstance(exc, NotImplementedError):
        match = _STUB_MESSAGE.match(str(exc).strip())
        if match:
            return Problem(match.group(1), True, match.group(2).strip())
        return Problem(module_of(exc, names) or module, True, f"{check} ({describe_exception(exc)})")
    return Problem(module_of(exc, names) or module, False, describe_exception(exc), check)


# ------------------------------------------------------------------------------ the checks
def _mlp(tt: ModuleType) -> Any:
    tt.manual_seed(0)
    return tt.Sequential(tt.Linear(4, 5), tt.ReLU(), tt.Linear(5, 3))


def check_tensor_ops(tt: ModuleType) -> None:
    a = tt.Tensor(_X)
    _ = a + tt.Tensor(np.ones(4, dtype=np.float32))       # broadcasting add (the bias)
    _ = a @ tt.Tensor(np.ones((4, 2), dtype=np.float32))  # matmul (the weights)


def check_relu(tt: ModuleType) -> None:
    tt.ReLU()(tt.Tensor(_X))


def check_module_plumbing(tt: ModuleType) -> None:
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


def check_linear_init(tt: ModuleType) -> None:
    layer = tt.Linear(4, 5)
    if tuple(layer.weight.shape) != (4, 5) or tuple(layer.bias.shape) != (5,):
        raise ValueError(f"Linear(4, 5) has weight {tuple(layer.weight.shape)} and bias "
                         f"{tuple(layer.bias.shape)}, expected (4, 5) and (5,)")


def check_mlp_forward(tt: ModuleType) -> None:
    model = _mlp(tt)
    out = model(tt.Tensor(_X))
    if tuple(out.shape) != (3, 3):
        raise ValueError(f"a 4-5-3 MLP maps input (3, 4) to {tuple(out.shape)}, expected (3, 3)")
    if len(model.parameters()) != 4:
        raise ValueError(f"parameters() of a 2-layer MLP returned {len(model.parameters())} tensors, expected 4")


def check_loss(tt: ModuleType) -> None:
    tt.CrossEntropyLoss()(tt.Tensor(_X[:, :3].copy()), _Y).item()


def check_data(tt: ModuleType) -> None:
    loader = tt.DataLoader(tt.TensorDataset(_X, _Y), batch_size=2, shuffle=True)
    sizes = sorted(len(xb) for xb, _ in loader)
    if len(loader) != 2 or sizes != [1, 2]:
        raise ValueError(f"3 samples in batches of 2 gave len(loader) {len(loader)} and batch sizes "
                         f"{sizes}, expected 2 and [1, 2]")


def check_backward_engine(tt: ModuleType) -> None:
    leaf = tt.Tensor(_X, requires_grad=True)
    leaf.backward(np.ones_like(_X))


def check_mlp_backward(tt: ModuleType) -> None:
    model = _mlp(tt)
    tt.CrossEntropyLoss()(model(tt.Tensor(_X)), _Y).backward()
    empty = [i for i, p in enumerate(model.parameters()) if p.grad is None]
    if empty:
        raise ValueError(f"after loss.backward(), parameters {empty} of a 2-layer MLP have no .grad")


def check_sgd(tt: ModuleType) -> None:
    p = tt.Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    p.grad = np.full((2, 2), 0.5, dtype=np.float32)
    optimizer = tt.SGD([p], lr=0.1, momentum=0.9)
    optimizer.step()
    if not np.allclose(p.data, 0.95):
        raise ValueError(f"one SGD step (lr 0.1, grad 0.5) from 1.0 gave {np.asarray(p.data).ravel()[0]}, "
                         f"expected 0.95")
    optimizer.zero_grad()


def check_trainer_alone(tt: ModuleType) -> None:
    """Trainer driven by stand-in model, loss and optimizer, so a missing Module 03, 04 or 07
    piece does not hide a missing Trainer method."""
    batches = [(tt.Tensor(_X[:2]), tt.Tensor(_Y[:2])), (tt.Tensor(_X[2:]), tt.Tensor(_Y[2:]))]
    trainer = tt.Trainer(_StandInModel(tt), _StandInLoss(), _StandInOptimizer())
    trainer.train_epoch(batches)
    trainer.evaluate(batches)
    trainer.fit(batches, 1)


def check_trainer(tt: ModuleType) -> None:
    model = _mlp(tt)
    loader = tt.DataLoader(tt.TensorDataset(_X, _Y), batch_size=2)
    trainer = tt.Trainer(model, tt.CrossEntropyLoss(), tt.SGD(model.parameters(), lr=0.1))
    float(trainer.train_epoch(loader))
    val_loss, val_accuracy = trainer.evaluate(loader)
    float(val_loss), float(val_accuracy)
    trainer.fit(loader, 1)


# (module, task, check, report errors other than NotImplementedError?)
CHECKS: list[tuple[str, str, Callable[[ModuleType], None], bool]] = [
    ("01", "Tensor add and matmul", check_tensor_ops, True),
    ("02", "ReLU", check_relu, True),
    ("03", "Module.parameters, train and eval", check_module_plumbing, True),
    ("03", "Linear(4, 5)", check_linear_init, True),
    ("03", "Sequential(Linear, ReLU, Linear) forward", check_mlp_forward, True),
    ("04", "CrossEntropyLoss", check_loss, True),
    ("05", "DataLoader over a TensorDataset", check_data, True),
    ("06", "backward() of a leaf tensor", check_backward_engine, True),
    ("06", "loss.backward() through the MLP", check_mlp_backward, True),
    ("07", "SGD step with momentum", check_sgd, True),
    ("08", "Trainer with stand-in model, loss and optimizer", check_trainer_alone, False),
    ("08", "Trainer.train_epoch, evaluate and fit", check_trainer, True),
]


def readiness_problems(tt: ModuleType, names: ModuleNames) -> list[Problem]:
    """Run every check in CHECKS; list what fails, by module, missing pieces first.

    The checks are as independent of each other as the API allows, so one missing piece
    hides few others. A check that needs several modules (the MLP's backward pass) reports
    what it hits first; repeated problems are listed once.
    """
    problems: list[Problem] = []
    for module, task, check, report_all in CHECKS:
        try:
            check(tt)
        except Exception as exc:  # any failure of student code is reported, never raised
            if not report_all and not isinstance(exc, NotImplementedError):
                continue          # the stand-ins may not suit every valid Trainer; the real check follows
            problem = problem_from(exc, module, task, names)
            if problem not in problems:
                problems.append(problem)
    return sorted(problems, key=lambda p: (p.module, not p.missing))


def summary(problems: list[Problem], names: ModuleNames) -> str:
    """One line, grouped by module: 'Module 01 (tensor): add forward; Module 03 (layers):
    Module.parameters, Linear init'; broken pieces are marked 'broken: ...'."""
    by_module: dict[str, list[str]] = {}
    for p in problems:
        by_module.setdefault(p.module, []).append(p.text if p.missing else f"broken: {p.text}")
    return "; ".join(f"Module {num} ({names.get(num, '?')}): {', '.join(texts)}" for num, texts in by_module.items())


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
        shape: tuple[int, ...] = ()

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
