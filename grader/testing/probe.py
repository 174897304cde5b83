"""Run a probe function against the implementation under test, in the sandbox."""
from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any, Callable

from grader.config import Config
from grader.core.context import current
from grader.sandbox import Limits, ProbeResult, run_probe


def current_impl() -> Path:
    """The implementation under test (the directory holding `tinytorch/`), from the grading context."""
    path = Path(current().impl).resolve()
    if not (path / "tinytorch").is_dir():
        raise RuntimeError(f"the grading context names {path}, which has no tinytorch/ package")
    return path


def grading_config() -> Config:
    """The grader config of the running grading (the one `grader check --config` named)."""
    from grader.config import load_config
    return load_config(Path(current().config_path) if current().config_path else None)


def sandbox_limits(wall_seconds: float | None = None, memory_mb: int | None = None) -> Limits:
    """Probe limits from the grading context (the config's `sandbox:`), optionally overridden for one probe."""
    sb = current().probe_limits
    return Limits(wall_seconds=float(wall_seconds or sb.wall_seconds),
                  memory_bytes=int(memory_mb or sb.memory_mb) * 1024 * 1024,
                  file_bytes=sb.file_size_mb * 1024 * 1024,
                  processes=sb.processes)


def probe(fn: Callable[..., dict], /, *, limits: Limits | None = None,
          files: dict[str, Path] | None = None, **inputs: Any) -> ProbeResult:
    """Run `fn(tt, **inputs)` in a fresh sandboxed worker against the implementation under test.

    Only `fn`'s own source crosses over; inputs and outputs are plain data (arrays, numbers,
    strings). Nothing the worker does can change the verdict except the values it returns.
    """
    source = textwrap.dedent(inspect.getsource(fn))
    ctx = current()
    return run_probe(current_impl(), source, fn.__name__, inputs, limits=limits or sandbox_limits(),
                     files=files, uid_slot=ctx.uid_slot)
