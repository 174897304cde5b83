"""What `grader check TARGET` means: module numbers, module names, milestone03, all."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from grader.config import Config

MILESTONE = "milestone03"


class UnknownTarget(ValueError):
    """A TARGET that names nothing; the message suggests the closest names."""


@dataclass(frozen=True)
class Targets:
    modules: tuple[str, ...]     # "01".."08", in course order
    milestone: bool

    @property
    def label(self) -> str:
        parts = list(self.modules) + ([MILESTONE] if self.milestone else [])
        return "all" if len(parts) == 9 else ", ".join(parts)


def valid_names(cfg: Config) -> list[str]:
    names = ["all", MILESTONE, "milestone", "03_1986_mlp"]
    for num, spec in cfg.modules.items():
        names += [num, num.lstrip("0"), spec.name, f"{num}_{spec.name}"]
    return names


def resolve_targets(words: list[str], cfg: Config) -> Targets:
    """Turn TARGET words into Targets; raise UnknownTarget with "did you mean" for a typo."""
    modules: list[str] = []
    milestone = False
    for word in words:
        w = word.strip().lower()
        if w == "all":
            modules, milestone = list(cfg.modules), True
            continue
        if w in (MILESTONE, "milestone", "03_1986_mlp", "m03"):
            milestone = True
            continue
        match = next((num for num, spec in cfg.modules.items()
                      if w in (num, num.lstrip("0"), spec.name, f"{num}_{spec.name}", spec.title.lower())), None)
        if match is None:
            close = difflib.get_close_matches(w, valid_names(cfg), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            choices = ", ".join(list(cfg.modules) + [s.name for s in cfg.modules.values()] + [MILESTONE, "all"])
            raise UnknownTarget(f"unknown target {word!r}.{hint} Choose from: {choices}.")
        modules.append(match)
    ordered = tuple(num for num in cfg.modules if num in modules)
    return Targets(ordered, milestone)
