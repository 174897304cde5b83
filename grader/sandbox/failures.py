"""How a sandbox worker words what student code raised; loaded by worker.py by file path.

    message = at_last_frame(exc, box)     # "shapes differ (at tinytorch/layers.py:116 in forward)"
    message = with_location(exc, box)     # the message, then the last few frames in the package

Everything here runs after student code did, on an exception it made: each function catches
whatever `str()` or the traceback raises and falls back to less, never to an exception of its
own. Standard library only.
"""
from __future__ import annotations

import os
import traceback
from typing import Any

TRACEBACK_FRAMES = 3
LOG_TRACEBACK_CHARS = 4000


def frames_in(exc: BaseException, box: str) -> list[traceback.FrameSummary]:
    """The traceback frames of `exc` in files under `box` (the student's package), outermost first."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(box + os.sep)]


def error_type(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):  # NumPy raises a private subclass
        return "MemoryError"
    return safe_str(type(exc).__name__)


def safe_str(value: Any) -> str:
    try:
        text = str(value)
        return text if type(text) is str else "<non-str message>"
    except BaseException:
        return f"<unprintable {type(value).__name__}>"


def with_location(exc: BaseException, box: str) -> str:
    """The message plus the last few traceback frames inside the student's package."""
    message = safe_str(exc)
    try:
        lines = [f"  {os.path.relpath(f.filename, box)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
                 for f in frames_in(exc, box)[-TRACEBACK_FRAMES:]]
    except BaseException:
        lines = []
    return "\n".join([message, *lines]) if lines else message


def at_last_frame(exc: BaseException, box: str) -> str:
    """The message and where in the student's package it was raised: "… (at tinytorch/layers.py:116 in forward)"."""
    message = safe_str(exc)
    try:
        frames = frames_in(exc, box)
        if frames:
            last = frames[-1]
            return f"{message} (at {os.path.relpath(last.filename, box)}:{last.lineno} in {last.name})"
    except BaseException:
        pass
    return message


def log_traceback(exc: BaseException) -> None:
    """Write the traceback to the worker's log (stderr fd), bypassing any replaced sys.stderr."""
    try:
        text = "".join(traceback.format_exception(exc))[-LOG_TRACEBACK_CHARS:]
        os.write(2, text.encode("utf-8", "replace"))
    except BaseException:
        pass
