"""Turn a probe's outcome into values or a student-facing failure."""
from __future__ import annotations

from typing import Any

from grader.core.outcomes import NotStarted, TimedOut
from grader.sandbox import ProbeResult

__all__ = ["NotStarted", "StudentCodeFailed", "TimedOut", "values_of"]


class StudentCodeFailed(AssertionError):
    """The student's code raised, crashed or returned something that is not plain data."""


def values_of(result: ProbeResult, module: str, what: str, *, label: str | None = None) -> dict[str, Any]:
    """The probe's returned values, or raise a failure naming the module and what was probed.

    label: what the reader sees instead of "Module {module}", for checks that are not a
    module's ("Milestone 03 · TinyDigits build_model").
    """
    if result.status == "ok":
        return result.values
    where = f"{label or f'Module {module}'} · {what}"
    if result.status == "not_implemented":
        raise NotStarted(f"not started: {result.error_message or where}")
    if result.status == "import_error":
        raise StudentCodeFailed(f"{where}: tinytorch failed to import: {result.error_type}: {result.error_message}")
    if result.status == "raised":
        raise StudentCodeFailed(f"{where}: raised {result.error_type}: {result.error_message}")
    if result.status == "timeout":
        raise TimedOut(f"{where}: {result.error_message or 'exceeded the time limit'}")
    if result.status == "bad_output":
        raise StudentCodeFailed(f"{where}: returned something that is not plain numeric data ({result.error_message})")
    raise StudentCodeFailed(f"{where}: the worker stopped without a result ({result.error_message})")
