"""The course's modules and their prerequisite graph, as plain data (from `grader/config.yaml`).

    course = Course.from_dict({"01": {"name": "tensor", "title": "Tensor", "requires": []}, ...})
    course.needs("02", "01")        # True: Module 02 builds on Module 01
    course.needs("02", "06")        # False: a gradient check of 02 that hits a 06 stub is *waiting*
    course.order                    # ("01", ..., "08"): course order

Standard library only (it travels into the sandbox inside the grading context).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModuleInfo:
    number: str                 # "06"
    name: str                   # "autograd": the file tinytorch/autograd.py
    title: str                  # "Autograd"
    points: float = 0.0
    requires: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        return f"Module {self.number} · {self.title} (tinytorch/{self.name}.py)"


@dataclass(frozen=True)
class Course:
    modules: dict[str, ModuleInfo]
    milestone_requires: tuple[str, ...] = ()
    _closure: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for number, info in self.modules.items():
            unknown = [r for r in info.requires if r not in self.modules]
            if unknown:
                raise ValueError(f"Module {number} requires unknown module(s) {unknown}")
        for number in self.modules:
            self._closure[number] = frozenset(self._walk(number, ()))

    def _walk(self, number: str, path: tuple[str, ...]) -> set[str]:
        if number in path:
            raise ValueError(f"the prerequisite graph has a cycle: {' -> '.join(path + (number,))}")
        found: set[str] = set()
        for req in self.modules[number].requires:
            found |= {req} | self._walk(req, path + (number,))
        return found

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(sorted(self.modules))

    def title(self, number: str) -> str:
        info = self.modules.get(number)
        return info.title if info else "?"

    def prerequisites(self, number: str) -> frozenset[str]:
        """Every module that `number` builds on, directly or not."""
        return self._closure.get(number, frozenset())

    def needs(self, number: str, other: str) -> bool:
        """Whether a check of module `number` may fairly fail because `other` is unfinished."""
        return other == number or other in self.prerequisites(number)

    def to_dict(self) -> dict[str, Any]:
        return {"modules": {n: {"name": m.name, "title": m.title, "points": m.points, "requires": list(m.requires)}
                            for n, m in self.modules.items()},
                "milestone_requires": list(self.milestone_requires)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Course":
        modules = {str(n): ModuleInfo(str(n), str(m["name"]), str(m["title"]), float(m.get("points", 0)),
                                      tuple(str(r) for r in m.get("requires", ())))
                   for n, m in data["modules"].items()}
        return cls(modules, tuple(str(r) for r in data.get("milestone_requires", modules)))
