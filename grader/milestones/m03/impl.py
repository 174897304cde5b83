"""Which tinytorch a milestone script runs, and importing it for the duration of a run.

    impl = resolve_impl(args.impl, script_file)   # --impl, else $TINYTORCH_IMPL, else assignments/
    with using_tinytorch(impl) as tt:
        ...

The scripts run the student's code in the student's own process (their own machine); the
grade never does: it trains in the sandbox (`score.py`).
"""
from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

from grader.milestones.m03.readiness import describe_exception

IMPL_ENV_VAR = "TINYTORCH_IMPL"


class SetupError(Exception):
    """tinytorch cannot be used; the message says why and what to do."""


class UsageError(Exception):
    """A bad command-line option or environment variable (exit status 2)."""


def resolve_impl(option: str | None, script_file: str) -> Path:
    """The directory holding `tinytorch/`: `option`, else $TINYTORCH_IMPL, else `assignments/`.

    script_file: the milestone script; its default is `Path(script_file).resolve().parents[2]`
    (the script sits in assignments/milestones/03_1986_mlp/).
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
    running a script's main() twice with different implementations is safe.
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
