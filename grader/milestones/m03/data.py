"""Each Milestone 03 dataset: how its script loads it and what the script's --help says about it.

    digits = load("mnist", source_dir=None, log=print)   # grader.datasets.Digits
    SOURCES["mnist"].dir_option                           # True: the script takes --mnist-dir DIR

The keys are those of the `milestone03:` section of grader/config.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Source:
    """What a script needs to know about one dataset."""

    dir_option: bool        # the script takes --mnist-dir DIR (a folder with the dataset's files)
    note: str               # a paragraph for the script's --help ("" for none)


SOURCES: dict[str, Source] = {
    "tinydigits": Source(dir_option=False, note=""),
    "mnist": Source(dir_option=True, note=(
        "MNIST is fetched once and cached (see `grader data fetch --help`); with no network, download "
        "the four IDX files yourself and pass their folder with --mnist-dir.")),
}


def load(key: str, *, source_dir: Path | None = None, log: Callable[[str], None] = print) -> Any:
    """The dataset `key` as grader.datasets.Digits; raises DatasetError with what to do."""
    from grader.datasets import load_mnist, load_tinydigits
    if key == "tinydigits":
        return load_tinydigits()
    if key == "mnist":
        return load_mnist(source_dir=source_dir, log=log)
    raise KeyError(f"Milestone 03 has no dataset {key!r}; it has {sorted(SOURCES)} "
                   f"(the milestone03 section of grader/config.yaml names no others)")
