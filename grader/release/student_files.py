"""The three files the student repository gets in place of the kit's own: README.md, .gitignore
and pyproject.toml, each rendered from what the kit already says (config.yaml, pyproject.toml).

    files = student_files(Path("pyproject.toml").read_text(), load_config())   # {"README.md": "...", ".gitignore": ..., ...}

- README.md: `student_readme.md` with its `{{name}}` fields filled in from the config: the
  course order and prerequisite graph, the module names, the milestone thresholds, the time
  limits of a student's own check.
- pyproject.toml: the kit's own, with the same name, version, dependencies and `grader`
  script, without the instructor's extras (INSTRUCTOR_EXTRAS), and with pytest pointed at
  assignments/tests (the kit's tests/ does not ship).
- .gitignore: virtualenvs, caches and results files.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from grader.config import Config

README_TEMPLATE = Path(__file__).with_name("student_readme.md")
INSTRUCTOR_EXTRAS = frozenset({"bench", "otter"})    # torch, for benchmarks/; Otter-Grader (neither ships)
GENERATED = ("README.md", ".gitignore", "pyproject.toml")
_FIELD = re.compile(r"\{\{(\w+)\}\}")

GITIGNORE = """\
# Your virtual environment and everything Python or pytest writes while you work.
.venv/
venv/
__pycache__/
*.py[co]
*.egg-info/
build/
dist/
.pytest_cache/
.cache/
.ipynb_checkpoints/
results*.json
.DS_Store
# pictures of your milestone runs
runs/
submission.zip
"""


class TemplateError(ValueError):
    """The README template names a field the renderer does not know, or is missing one."""


def student_files(pyproject: str, cfg: Config) -> dict[str, str]:
    """The generated files of the student repository, by repo-relative path, from the kit's
    pyproject.toml text and config."""
    project = tomllib.loads(pyproject)
    return {"README.md": render_readme(cfg, project), ".gitignore": GITIGNORE,
            "pyproject.toml": render_pyproject(project, cfg)}


# ------------------------------------------------------------------------------- README.md
def render_readme(cfg: Config, project: dict[str, Any], template: Path = README_TEMPLATE) -> str:
    """Fill every `{{field}}` of the template; TemplateError if one is unknown or unused."""
    requires = str(project["project"].get("requires-python", ">=3.11")).lstrip(">= ")
    fields = {
        "python": requires,
        "dependencies": ", ".join(_package_name(d) for d in project["project"].get("dependencies", [])),
        "course_rows": "\n".join(_course_row(cfg, num) for num in cfg.modules),
        "course_graph": "\n".join(_graph_lines(cfg)),
        "module_names": ", ".join(m.name for m in cfg.modules.values()),
        "milestone_rows": "\n".join(_milestone_lines(cfg)),
        **_check_limits(cfg),
    }
    text = template.read_text(encoding="utf-8")
    named = set(_FIELD.findall(text))
    if named - fields.keys() or fields.keys() - named:
        raise TemplateError(f"{template}: unknown fields {sorted(named - fields.keys())}, "
                            f"unused fields {sorted(fields.keys() - named)}")
    return _FIELD.sub(lambda m: fields[m.group(1)], text)


def _check_limits(cfg: Config) -> dict[str, str]:
    """The limits of a student's own `grader check`: the config's `student_check:` section when it
    has one, else the public-test limits of `tests:` (which then apply to it)."""
    student = getattr(cfg, "student_check", None)
    test, session = ((student.test_seconds, student.session_seconds) if student is not None
                     else (cfg.public_timeout_seconds, cfg.public_session_seconds))
    return {"test_seconds": f"{test:g}", "session_seconds": f"{session:g}"}


def _package_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]


def _course_row(cfg: Config, num: str) -> str:
    spec = cfg.modules[num]
    builds_on = ", ".join(f"{r} {cfg.modules[r].title}" for r in _direct_prerequisites(cfg, num)) or "—"
    return f"| {num} {spec.title} | `tinytorch/{spec.name}.py` | {_WHAT.get(spec.name, spec.title)} | {builds_on} |"


_WHAT = {   # one line per module for the README's table; a module not listed shows its title
    "tensor": "`Tensor`: arithmetic with broadcasting, reductions, reshaping, indexing",
    "activations": "`ReLU`, `Sigmoid`, `Tanh`, `Softmax`, numerically stable",
    "layers": "`Module`, `Linear`, `Sequential`, `Flatten`",
    "losses": "`CrossEntropyLoss`, `MSELoss`, `softmax`, `log_softmax`",
    "data": "`Dataset`, `TensorDataset`, `DataLoader` with batching and shuffling",
    "autograd": "`backward()`: gradients for every operation, accumulated",
    "optim": "`SGD` with momentum and weight decay, `Adam`",
    "training": "`Trainer`: train, evaluate, fit; `accuracy`",
}


def _closure(cfg: Config, num: str) -> set[str]:
    """Every module `num` builds on, directly or through others."""
    seen: set[str] = set()
    stack = list(cfg.modules[num].requires)
    while stack:
        r = stack.pop()
        if r not in seen:
            seen.add(r)
            stack.extend(cfg.modules[r].requires)
    return seen


def _direct_prerequisites(cfg: Config, num: str) -> list[str]:
    """The prerequisites of `num` not implied by another one (the graph's transitive reduction)."""
    requires = list(cfg.modules[num].requires)
    implied = {x for r in requires for x in _closure(cfg, r)}
    return [r for r in requires if r not in implied]


def _graph_lines(cfg: Config) -> list[str]:
    lines = [f'  m{num}["{num} {spec.title}"]' for num, spec in cfg.modules.items()]
    lines += [f"  m{r} --> m{num}" for num in cfg.modules for r in _direct_prerequisites(cfg, num)]
    return lines


def _milestone_lines(cfg: Config) -> list[str]:
    lines = ["| script | model | passes when |", "| --- | --- | --- |"]
    for spec in cfg.milestone.values():
        a = spec.architecture
        lines.append(f"| `{spec.script}` | {spec.title}: {a.inputs} → {a.hidden} → {a.classes} | "
                     f"test accuracy ≥ {spec.min_test_accuracy:.0%}, final training loss < {spec.max_train_loss:g} |")
    return lines


# -------------------------------------------------------------------------- pyproject.toml
def render_pyproject(project: dict[str, Any], cfg: Config) -> str:
    """The student's pyproject.toml: the kit's project table without INSTRUCTOR_EXTRAS."""
    meta = dict(project["project"])
    extras = {k: v for k, v in meta.pop("optional-dependencies", {}).items() if k not in INSTRUCTOR_EXTRAS}
    scripts = meta.pop("scripts", {})
    setuptools = project.get("tool", {}).get("setuptools", {})
    pytest_options = {
        "testpaths": ["assignments/tests"],
        "timeout": int(cfg.public_timeout_seconds),
        "addopts": "-ra",
    }
    out = ["# The student repository's project file, generated by `grader release` from the course kit's.",
           "# `pip install -e .` installs the grader and its dependencies; your tinytorch is in assignments/.",
           ""]
    out += _table("build-system", project["build-system"])
    out += _table("project", meta)
    if extras:
        out += _table("project.optional-dependencies", extras)
    out += _table("project.scripts", scripts)
    out += _table("tool.setuptools.packages.find", setuptools.get("packages", {}).get("find", {"include": ["grader*"]}))
    if "package-data" in setuptools:
        out += _table("tool.setuptools.package-data", setuptools["package-data"])
    out += _table("tool.pytest.ini_options", pytest_options)
    text = "\n".join(out).rstrip("\n") + "\n"
    tomllib.loads(text)     # a renderer bug fails the release, not the student's install
    return text


def _table(name: str, values: dict[str, Any]) -> list[str]:
    return [f"[{name}]", *(f"{_key(k)} = {_value(v)}" for k, v in values.items()), ""]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    """A TOML value for the plain data a pyproject holds: strings, numbers, booleans, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)    # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"pyproject value {value!r} ({type(value).__name__}) has no TOML rendering here")
