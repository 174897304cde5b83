"""Run a probe function against the implementation under test, in the sandbox."""
from __future__ import annotations

import inspect
import os
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional

from grader.config import load_config
from grader.sandbox import Limits, ProbeResult, run_probe

IMPL_ENV = "TINYTORCH_IMPL"
UID_SLOT_ENV = "TINYTORCH_SANDBOX_SLOT"


def current_impl() -> Path:
    """The implementation under test: the directory holding `tinytorch/`, from $TINYTORCH_IMPL."""
    value = os.environ.get(IMPL_ENV)
    if not value:
        raise RuntimeError(f"hidden tests need ${IMPL_ENV}: the directory that contains tinytorch/ "
                           f"(run them through `grader check --hidden`)")
    path = Path(value).resolve()
    if not (path / "tinytorch").is_dir():
        raise RuntimeError(f"${IMPL_ENV}={value} has no tinytorch/ package")
    return path


def sandbox_limits(wall_seconds: Optional[float] = None, memory_mb: Optional[int] = None) -> Limits:
    """Probe limits from the grader config, optionally overridden for one probe."""
    sb = load_config().sandbox
    return Limits(wall_seconds=float(wall_seconds or sb.probe_time_limit_seconds),
                  memory_bytes=int(memory_mb or sb.probe_memory_mb) * 1024 * 1024,
                  file_bytes=sb.file_size_mb * 1024 * 1024,
                  processes=sb.processes)


def probe(fn: Callable[..., dict], /, *, limits: Optional[Limits] = None,
          files: Optional[dict[str, Path]] = None, **inputs: Any) -> ProbeResult:
    """Run `fn(tt, **inputs)` in a fresh sandboxed worker against the implementation under test.

    Only `fn`'s own source crosses over; inputs and outputs are plain data (arrays, numbers,
    strings). Nothing the worker does can change the verdict except the values it returns.
    """
    source = textwrap.dedent(inspect.getsource(fn))
    slot = int(os.environ.get(UID_SLOT_ENV, "0"))
    return run_probe(current_impl(), source, fn.__name__, inputs, limits=limits or sandbox_limits(),
                     files=files, uid_slot=slot)
