"""Render the Milestone 03 student scripts from grader/config.yaml, so they cannot drift.

    python -m grader.milestones.m03.scripts --check    # exit 1 and say which script is stale
    python -m grader.milestones.m03.scripts --write    # rewrite them after a config change

Each script in assignments/milestones/03_1986_mlp/ is a thin wrapper: its docstring is its
--help (what it does, with the architecture, recipe and thresholds from the config, examples,
exit codes), and its code calls the grader's runner (`cli.run`). A kit test asserts the files
on disk equal `render(...)`.

Exit status: 0 when the scripts are up to date (or were written), 1 when one is stale, missing
or extra, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from grader.config import DEFAULT_PATH, Config, MilestoneSpec, load_config
from grader.milestones.m03.data import SOURCES
from grader.paths import milestone_dir

WIDTH = 92

_DOC = '''"""Milestone 03, part {part}: the 1986 MLP learns {title}.

{what}

{passing}
{note}
Examples (run from this folder):
{examples}

Exit status: 0 when every criterion passes; 1 when tinytorch is not ready, a criterion
fails or the data cannot be loaded; 2 on a usage error.
"""
'''

_CODE = '''# Generated from grader/config.yaml by grader/milestones/m03/scripts.py; do not edit: change
# those, then run `python -m grader.milestones.m03.scripts --write`.
from __future__ import annotations

import sys

try:
    from grader.milestones.m03.cli import run
except ImportError as exc:  # this Python does not have the course kit installed
    sys.exit(f"error: cannot import the course kit's grader ({{exc}}); run `pip install -e .` in the kit's folder")


def main(argv: list[str] | None = None) -> int:
    """Run this milestone (options: see the docstring above, or --help); returns the exit status."""
    return run("{key}", argv, doc=__doc__, script=__file__)


if __name__ == "__main__":
    raise SystemExit(main())
'''


def _fill(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_on_hyphens=False, break_long_words=False)


def _examples(spec: MilestoneSpec) -> str:
    rows = [("", "your tinytorch in assignments/tinytorch"), ("--seed 7", "another seed")]
    if SOURCES[spec.key].dir_option:
        rows.append(("--mnist-dir ~/mnist", "MNIST IDX files you downloaded"))
    rows.append(("--impl DIR", "the tinytorch package in DIR/tinytorch"))
    commands = [f"python {spec.script} {option}".rstrip() for option, _ in rows]
    width = max(len(c) for c in commands) + 2
    lines = [f"    {c.ljust(width)}# {comment}" for c, (_, comment) in zip(commands, rows)]
    return "\n".join(lines + [f"    TINYTORCH_IMPL=DIR python {spec.script}"])


def render(spec: MilestoneSpec, part: int) -> str:
    """The full text of the script for `spec`, part `part` of the milestone."""
    arch = spec.architecture
    what = _fill(f"In 1986 Rumelhart, Hinton and Williams showed that backpropagation trains networks with a "
                 f"hidden layer. This script proves your tinytorch (modules 01-08) can do the same: it trains "
                 f"Sequential(Linear({arch.inputs}, {arch.hidden}), ReLU(), Linear({arch.hidden}, {arch.classes})) "
                 f"({arch.parameter_count:,} parameters) on the {spec.title} training images with the grader's "
                 f"training loop and seeded recipe ({spec.recipe.describe()}) and tests it on the held-out test "
                 f"images. The loop calls your model, CrossEntropyLoss, backward() and SGD.step(); the grader "
                 f"replays its first and last steps in NumPy, and a run that does not follow from your code "
                 f"earns nothing.")
    passing = _fill(f"Passing: test accuracy >= {spec.min_test_accuracy:.0%} and final training loss < "
                    f"{spec.max_train_loss:g}, the thresholds the grader uses (grader/config.yaml); the table at "
                    f"the end shows both. Before training it checks that every piece of tinytorch it needs is "
                    f"implemented, and lists what is missing otherwise, module by module.")
    note = SOURCES[spec.key].note
    doc = _DOC.format(part=part, title=spec.title, what=what, passing=passing,
                      note=f"\n{_fill(note)}\n" if note else "", examples=_examples(spec))
    return doc + _CODE.format(key=spec.key)


def expected_scripts(config: Config) -> dict[Path, str]:
    """{path in the milestone folder: its rendered text} for every dataset in the config, in order."""
    folder = milestone_dir()
    return {folder / spec.script: render(spec, part) for part, spec in enumerate(config.milestone.values(), start=1)}


def problems(config: Config) -> list[str]:
    """Scripts that are missing or differ from their rendering, and .py files nobody renders."""
    expected = expected_scripts(config)
    found = []
    for path, text in expected.items():
        if not path.is_file():
            found.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{path}: differs from its rendering from {config.path}")
    for path in sorted(milestone_dir().glob("*.py")):
        if path not in expected:
            found.append(f"{path}: not a script of the config's milestone03 section; delete it")
    return found


def write(config: Config) -> list[Path]:
    """Write every script whose text differs from its rendering; return the paths written."""
    written = []
    for path, text in expected_scripts(config).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.milestones.m03.scripts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report stale scripts (the default)")
    mode.add_argument("--write", action="store_true", help="rewrite the scripts from the config")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    config = load_config(DEFAULT_PATH)       # the kit's own config, whatever $TINYTORCH_GRADER_CONFIG says
    if args.write:
        for path in write(config):
            print(f"wrote {path}")
    stale = problems(config)
    for line in stale:
        print(line, file=sys.stderr)
    if not stale:
        print(f"Milestone 03 scripts are up to date with {config.path}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
