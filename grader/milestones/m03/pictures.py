"""Pictures of what a Milestone 03 network learned, saved as PNG beside the run.

    outcome = save_run(trace, params, arch, "MNIST (28×28)", x_train, y_train, x_test, y_test, images, folder)
    outcome = save(learned, "MNIST (28×28)", folder)   # the same from learned.collect's figures; never raises
    outcome.paths                                      # [folder/curves.png, folder/features.png, ...]
    outcome.line()                                     # 'pictures in FOLDER: curves.png, ...', or why not

Four pictures, drawn from the figures `learned.collect` computed with the grader's own forward
pass on parameters it validated:

- `curves.png`    loss and accuracy per epoch, train and test (epoch 0: before training), with
                  every step's batch loss behind the loss curve;
- `features.png`  the first layer's weights, one side × side tile per hidden unit (what each unit
                  looks for in an image: the "features" of Rumelhart, Hinton and Williams, 1986);
- `confusion.png` the test confusion matrix (rows: true digit, columns: predicted);
- `mistakes.png`  misclassified test digits with their true and predicted labels.

matplotlib is an optional extra (`pip install -e ".[pictures]"`, about 80 MB with its
dependencies, for four PNGs); without it `save` says how to get them. It is imported only here,
lazily, with the Agg canvas and no pyplot, so nothing global changes and drawing works in the
grader's worker threads and without a display. Each file is written to a temporary name and
renamed, so a reader never sees half a picture. A picture that cannot be drawn never fails the
milestone: `save` returns the reason instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.atomic import atomic_file
from grader.milestones.m03.learned import Learned, NoPictures, collect
from grader.milestones.m03.recipe import Architecture, Images, Trace
from grader.paths import assignments_dir, milestone_dir, solutions_dir

Array = np.ndarray
RUNS_DIR = milestone_dir() / "runs"         # a run's pictures go in RUNS_DIR/<dataset>/ (tinydigits, mnist)
DPI = 100
SIZES: dict[str, tuple[int, int]] = {          # (width, height) in pixels of each picture
    "curves.png": (1200, 450),
    "features.png": (1200, 700),
    "confusion.png": (700, 640),
    "mistakes.png": (1200, 520),
}
INSTALL_HINT = ('pictures: pip install -e ".[pictures]" to get loss curves, the learned features and the '
                'confusion matrix')
MISTAKE_COLUMNS = 6


@dataclass
class Outcome:
    """What `save` did: the pictures it wrote, or why it wrote none."""

    folder: Path
    paths: list[Path] = field(default_factory=list)
    problem: str = ""               # "" when every picture was written
    missing_matplotlib: bool = False

    def line(self) -> str:
        """One line for the run's output: where the pictures are, how to get them, or why not."""
        if self.missing_matplotlib:
            return INSTALL_HINT
        if self.problem:
            return f"pictures could not be drawn: {self.problem}"
        return f"pictures in {shown(self.folder)}: {', '.join(p.name for p in self.paths)}"


def folder_for(impl: Path) -> Path | None:
    """Where a grading of the tinytorch in `impl` draws its pictures: RUNS_DIR for the kit's own
    assignments/ (a student's check) and solutions/ (the reference); None (no pictures) for any
    other folder, such as a batch's or Gradescope's submissions, which would overwrite each
    other's pictures there and which nobody looks at."""
    try:
        own = {assignments_dir().resolve(), solutions_dir().resolve()}
        return RUNS_DIR if impl.resolve() in own else None
    except OSError:
        return None


def shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it (shorter in a report's
    column), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_run(trace: Trace, params: list[Array], arch: Architecture, title: str, x_train: Images, y_train: Array,
             x_test: Images, y_test: Array, test_images: Array, folder: Path) -> Outcome:
    """The pictures of a run the grader checked (`learned.collect`, then `save`); never raises.

    trace: the run's record; params: the trained model from `verify.check_run`; x_*, y_*: the
    splits as `learned.collect` takes them; test_images (M, side, side): the test split as stored.
    Without matplotlib nothing is computed and the outcome says how to get the pictures."""
    if not available():
        return Outcome(folder, missing_matplotlib=True)
    try:
        figures = collect(trace, params, arch, x_train, y_train, x_test, y_test, test_images)
    except Exception as exc:  # NoPictures says what is malformed; anything else is a grader bug, named
        return Outcome(folder, problem=str(exc) if isinstance(exc, NoPictures) else f"{type(exc).__name__}: {exc}")
    return save(figures, title, folder)


def save(learned: Learned, title: str, folder: Path) -> Outcome:
    """Draw the four pictures of `learned` into `folder` (created if needed); never raises.

    title: the dataset's title ("TinyDigits (8×8)"), at the top of every picture."""
    outcome = Outcome(folder)
    if not available():
        outcome.missing_matplotlib = True
        return outcome
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, draw in (("curves.png", _curves), ("features.png", _features),
                           ("confusion.png", _confusion), ("mistakes.png", _mistakes)):
            figure = _figure(name)
            draw(figure, learned, title)
            outcome.paths.append(_write(figure, folder / name))
    except Exception as exc:  # a picture is a bonus: say why, keep the milestone's result
        outcome.problem = f"{type(exc).__name__}: {exc}"
    return outcome


def _figure(name: str) -> Any:
    """A matplotlib Figure of SIZES[name] pixels on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    width, height = SIZES[name]
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _write(figure: Any, path: Path) -> Path:
    """Save `figure` as PNG at `path`, atomically (a temporary file in the same folder, renamed)."""
    with atomic_file(path) as out:
        figure.savefig(out, format="png", dpi=DPI)
    return path


def _curves(figure: Any, learned: Learned, title: str) -> None:
    """Loss (left) and accuracy (right) per epoch, train and test; batch losses behind."""
    epochs = np.arange(learned.epochs + 1)
    loss, acc = figure.subplots(1, 2)
    steps = len(learned.step_losses)
    if steps and learned.epochs:
        at = np.arange(1, steps + 1) * (learned.epochs / steps)     # step s ends at epoch s / steps-per-epoch
        loss.plot(at, learned.step_losses, color="0.75", linewidth=0.6, label="batch loss (loss.item())")
    loss.plot(epochs, learned.train_loss, "o-", label="train")
    loss.plot(epochs, learned.test_loss, "s-", label="test")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc.plot(epochs, 100 * learned.train_accuracy, "o-", label="train")
    acc.plot(epochs, 100 * learned.test_accuracy, "s-", label="test")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    for axes in (loss, acc):
        axes.set_xticks(epochs)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(f"{title}: the grader's measurements after each epoch (epoch 0: before training)")
    figure.tight_layout()


def _features(figure: Any, learned: Learned, title: str) -> None:
    """One tile per hidden unit: its input weights as a side × side image, red positive, blue
    negative, each tile on its own symmetric scale."""
    weights = learned.first_layer
    units = weights.shape[1]
    columns = 8 if units <= 32 else 16
    rows = math.ceil(units / columns)
    grid = figure.subplots(rows, columns, squeeze=False)
    for j, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if j >= units:
            continue
        tile = weights[:, j].reshape(learned.side, learned.side)
        limit = float(np.max(np.abs(tile))) or 1.0
        axes.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    figure.suptitle(f"{title}: the first layer's weights, one {learned.side}×{learned.side} tile per hidden "
                    f"unit ({units}; red: the unit likes ink there, blue: it dislikes it)")
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93, wspace=0.06, hspace=0.06)


def _confusion(figure: Any, learned: Learned, title: str) -> None:
    """The test confusion matrix, each cell's count written in it."""
    counts = learned.confusion
    classes = len(counts)
    axes = figure.subplots()
    axes.imshow(np.log1p(counts), cmap="Blues")
    light = np.log1p(counts.max()) / 2
    for t in range(classes):
        for p in range(classes):
            if counts[t, p]:
                axes.text(p, t, str(int(counts[t, p])), ha="center", va="center", fontsize=8,
                          color="white" if np.log1p(counts[t, p]) > light else "black")
    axes.set(xticks=range(classes), yticks=range(classes), xlabel="predicted digit", ylabel="true digit")
    right = int(np.trace(counts))
    axes.set_title(f"{title}: test confusion matrix ({right} of {int(counts.sum())} right)")
    figure.tight_layout()


def _mistakes(figure: Any, learned: Learned, title: str) -> None:
    """Misclassified test digits, each titled with its true and predicted labels."""
    shown = len(learned.mistakes)
    rows = max(1, math.ceil(shown / MISTAKE_COLUMNS))
    grid = figure.subplots(rows, MISTAKE_COLUMNS, squeeze=False)
    for k, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if k < shown:
            axes.imshow(learned.mistake_images[k], cmap="gray_r", interpolation="nearest")
            axes.set_title(f"#{int(learned.mistakes[k])}: {int(learned.mistake_labels[k])} "
                           f"→ {int(learned.mistake_predictions[k])}", fontsize=10)
    wrong = int(learned.confusion.sum() - np.trace(learned.confusion))
    if not shown:
        what = "no test digit misclassified"
    elif shown < wrong:
        what = f"the first {shown} of {wrong} misclassified test digits (true → predicted)"
    else:
        what = f"the {shown} misclassified test digit{'s' if shown > 1 else ''} (true → predicted)"
    figure.suptitle(f"{title}: {what}")
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.86, hspace=0.3)
