"""Turn a probe's outcome into values or a student-facing failure."""
from __future__ import annotations

from typing import Any

from grader.sandbox import ProbeResult


class NotStarted(AssertionError):
    """The student's code raised NotImplementedError: shown as "not started", without a traceback."""


class StudentCodeFailed(AssertionError):
    """The student's code raised, crashed, timed out or returned something that is not plain data."""


def values_of(result: ProbeResult, module: str, what: str) -> dict[str, Any]:
    """The probe's returned values, or raise a failure naming the module and what was probed."""
    if result.status == "ok":
        return result.values
    where = f"Module {module} · {what}"
    if result.status == "not_implemented":
        raise NotStarted(f"not started: {result.error_message or where}")
    if result.status == "import_error":
        raise StudentCodeFailed(f"{where}: tinytorch failed to import: {result.error_type}: {result.error_message}")
    if result.status == "raised":
        raise StudentCodeFailed(f"{where}: raised {result.error_type}: {result.error_message}")
    if result.status == "timeout":
        raise StudentCodeFailed(f"{where}: {result.error_message or 'exceeded the time limit'}")
    if result.status == "bad_output":
        raise StudentCodeFailed(f"{where}: returned something that is not plain numeric data ({result.error_message})")
    raise StudentCodeFailed(f"{where}: the worker stopped without a result ({result.error_message})")
