"""What a check's result means: the one place that turns "what happened" into an `Outcome`.

    verdict = classify(exc, own_module="02", course=course)
    verdict.outcome        # Outcome.WAITING when a gradient check of Module 02 hit a Module 06 stub
    verdict.reason         # "waiting for Module 06 (Autograd): come back after it"

The pytest plugin (public and hidden tests), the milestone and the report all use `classify`,
so plain pytest and `grader check` can never disagree. Standard library only: a copy of this
package runs inside the sandbox beside the public tests.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

from grader.core.course import Course


class Outcome(str, Enum):
    """How one check ended. Only PASSED earns points; WAITING does not count against a module."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not_started"     # the student's TODO (or a prerequisite's) still raises NotImplementedError
    WAITING = "waiting"             # needs a module that is neither this one nor one of its prerequisites
    ERROR = "error"                 # the check itself could not run (fixture, collection, grading session)
    TIMEOUT = "timeout"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Source(str, Enum):
    """Where a row comes from."""

    PUBLIC = "public"
    HIDDEN = "hidden"
    MILESTONE = "milestone"
    SESSION = "session"             # the grader's own run of a test session (deadline, crash, collection)


class Visibility(str, Enum):
    """Gradescope's visibility words."""

    VISIBLE = "visible"
    HIDDEN = "hidden"
    AFTER_DUE_DATE = "after_due_date"
    AFTER_PUBLISHED = "after_published"


class NotStarted(AssertionError):
    """Raised by the test harness when the student's code raised NotImplementedError in a probe."""


class TimedOut(AssertionError):
    """Raised by the test harness when the student's code ran past its time limit in a probe."""


STUB_MESSAGE = re.compile(r"(?:not (?:started|implemented): )?Module (\d\d): (.+)", re.DOTALL)
MAX_REASON = 400
MAX_MESSAGE_SCAN = 20_000       # characters of an exception message looked at; the rest is cut


@dataclass(frozen=True)
class StubTodo:
    """An open TODO, parsed from a stub's message "Module 06: mul backward"."""

    module: str
    what: str

    def __str__(self) -> str:
        return f"Module {self.module}: {self.what}"


def parse_stub_message(text: str) -> StubTodo | None:
    """The TODO a stub's NotImplementedError names, or None for any other message."""
    match = STUB_MESSAGE.match(text.strip())
    return StubTodo(match.group(1), " ".join(match.group(2).split())) if match else None


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    waiting_for: str | None = None      # the module a WAITING or NOT_STARTED check needs
    location: str = ""                  # "tinytorch/data.py:42 in __iter__": where student code raised


def short(text: str, limit: int = MAX_REASON) -> str:
    """One line, at most `limit` characters, cut at a word."""
    text = " ".join(str(text)[: max(limit * 4, 64)].split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[: limit - 1]) + "…"


def message_of(exc: BaseException) -> str:
    """str(exc), at most MAX_MESSAGE_SCAN characters; never raises (student code may make
    exceptions whose str() fails, recurses too deeply or is megabytes long)."""
    try:
        text = str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"
    return text[:MAX_MESSAGE_SCAN] if type(text) is str else f"<unprintable {type(exc).__name__}>"


def describe(exc: BaseException) -> str:
    """'TypeError: message' (an AssertionError keeps only its message, without pytest's introspection)."""
    text = message_of(exc).strip()
    if isinstance(exc, AssertionError):
        return text.split("\nassert ")[0] or "assertion failed"
    name = type(exc).__name__
    return f"{name}: {text}" if text and not text.startswith(name) else (text or name)


def student_location(tb: TracebackType | None) -> str:
    """The last traceback frame inside a `tinytorch/` package: 'tinytorch/data.py:42 in __iter__'."""
    found = ""
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        where = frame.filename.replace("\\", "/")
        if "/tinytorch/" in where:
            found = f"tinytorch/{where.rsplit('/tinytorch/', 1)[1]}:{frame.lineno} in {frame.name}"
    return found


def _is_timeout(exc: BaseException) -> bool:
    # pytest-timeout fails the test with "Timeout (>N.0s) from pytest-timeout."
    return isinstance(exc, TimedOut) or (type(exc).__name__ == "Failed" and message_of(exc).startswith("Timeout"))


def classify(exc: BaseException | None, *, own_module: str | None, course: Course,
             during_setup: bool = False) -> Verdict:
    """The outcome of a check that raised `exc` (None: it passed).

    own_module: the module the check belongs to ("02"), or None for the milestone.
    A stub's NotImplementedError ("Module 06: ...") is NOT_STARTED when Module 06 is the
    check's own module or one of its prerequisites (the student has to do it now), and
    WAITING when it is a later module (a gradient check of Module 02 needs Module 06).
    """
    if exc is None:
        return Verdict(Outcome.PASSED)
    location = student_location(exc.__traceback__)
    if isinstance(exc, (NotImplementedError, NotStarted)):
        message = message_of(exc).strip()
        todo = parse_stub_message(message)
        if todo is not None and own_module is not None and not course.needs(own_module, todo.module):
            title = course.title(todo.module)
            return Verdict(Outcome.WAITING, f"waiting for Module {todo.module} ({title}): come back after it",
                           todo.module, location)
        what = str(todo) if todo else (short(message.removeprefix("not started: ")) or "a TODO")
        return Verdict(Outcome.NOT_STARTED, f"not started: {what}", todo.module if todo else None, location)
    if _is_timeout(exc):
        return Verdict(Outcome.TIMEOUT, short(describe(exc)), None, location)
    reason = short(describe(exc))
    if location and location not in reason:
        reason = short(f"{reason} (at {location})")
    return Verdict(Outcome.ERROR if during_setup else Outcome.FAILED, reason, None, location)


def classify_probe(status: str, message: str, *, own_module: str | None, course: Course) -> Verdict:
    """The outcome of a sandboxed run that ended with worker `status` (see grader.sandbox.result)."""
    if status == "ok":
        return Verdict(Outcome.PASSED)
    if status == "not_implemented":
        return classify(NotImplementedError(message), own_module=own_module, course=course)
    if status == "timeout":
        return Verdict(Outcome.TIMEOUT, short(message))
    return Verdict(Outcome.FAILED, short(message))
