"""Typed result rows: one graded or reported item, under the section it belongs to.

    Row(Section.module("06"), "Mul backward: gradient of b", Outcome.PASSED, points=1.0, source=Source.HIDDEN)
    Row(Section.milestone(), "TinyDigits (8×8): test accuracy ≥ 75%", Outcome.FAILED, reason="measured 61.5%")
    Row(Section.session("public tests"), "public tests stopped at the deadline", Outcome.TIMEOUT, reason=...)

This file is where data from another process becomes the grader's: everything a worker or a
test session wrote is decoded here, and nothing it says is trusted beyond its shape.

- `safe_text`: any value as one line of printable, valid UTF-8 of bounded length; control and
  escape characters (ANSI included) shown as `\\x1b`, lone surrogates as U+FFFD. Every Row's
  text fields go through it when the Row is made, so no Row ever holds text that could restyle
  a terminal, break an encoder or forge a line of the report.
- `safe_block`: the same for text of several lines (a test's captured `print()` output): each
  line made safe as above, at most MAX_OUTPUT_LINES lines (the last ones) and MAX_OUTPUT chars.
- `finite_number`: a number only when it is a real int or float, finite and within bounds
  (checked before any conversion, so 10**400 or inf never reaches `float()` or `int()`).
- `Row.from_untrusted` and `read_session_log`: known fields of the right types only, with
  bounded size, count and nesting (a line nested too deeply is skipped, never a RecursionError).

Standard library only.
"""
from __future__ import annotations

import json
import math
import re
import reprlib
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable

from grader.core.outcomes import Outcome, Source, Visibility

MAX_TEXT = 600
MAX_OUTPUT = 4000                  # a failing test's captured output, all lines together
MAX_OUTPUT_LINES = 40
MAX_OUTPUT_LINE = 300
MAX_METRICS = 20
MAX_POINTS = 1e6                   # points of one row (the config's largest module has 14)
MAX_SECONDS = 1e7
MAX_LINE_CHARS = 1_000_000         # one line of a session log; a row is a few hundred
MILESTONE_KEY = "milestone03"
_MODULE_KEY = re.compile(r"[0-9]{1,4}")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_KEEP = frozenset({"\u200d"})      # the zero-width joiner inside emoji
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 200, 200


class SectionKind(str, Enum):
    MODULE = "module"
    MILESTONE = "milestone"
    SESSION = "session"


@dataclass(frozen=True)
class Section:
    """Where a row is shown: a module ("06"), the milestone, or a grading session ("hidden tests")."""

    kind: SectionKind
    key: str

    @classmethod
    def module(cls, number: str) -> "Section":
        return cls(SectionKind.MODULE, number)

    @classmethod
    def milestone(cls) -> "Section":
        return cls(SectionKind.MILESTONE, MILESTONE_KEY)

    @classmethod
    def session(cls, name: str) -> "Section":
        return cls(SectionKind.SESSION, name)


def safe_text(value: Any, limit: int = MAX_TEXT) -> str:
    """`value` as one line of printable, valid UTF-8 text of at most `limit` characters.

    Newlines and tabs become spaces; other control and format characters (ANSI escape
    sequences, bidi overrides, line separators) become visible `\\x1b` / `\\u202e` escapes; lone
    surrogates become U+FFFD. Never raises: a huge int, a deeply nested list or an object
    whose `str()` fails is described instead of printed."""
    limit = max(1, int(limit))
    text = _as_text(value)
    raw = str.__getitem__(text, slice(0, limit + 1))   # escaping only lengthens: this is enough
    if not raw.isprintable():
        out = []
        for ch in raw:
            if ch in "\n\t\r":
                out.append(" ")
            elif ch in _KEEP or unicodedata.category(ch) not in _INVISIBLE:
                out.append(ch)
            elif unicodedata.category(ch) == "Cs":
                out.append("\ufffd")
            else:
                out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else
                           f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        raw = "".join(out)
    return raw if len(raw) <= limit and len(text) <= limit else raw[: limit - 1] + "…"


def safe_block(value: Any, limit: int = MAX_OUTPUT, max_lines: int = MAX_OUTPUT_LINES) -> str:
    """`value` as at most `max_lines` lines (its last ones) of at most `limit` characters in all,
    each line as `safe_text` makes it (escape sequences shown, not kept); "" for "" or None.

    The first line says how many lines were left out, when some were: "… (12 earlier lines)".
    """
    if value is None:
        return ""
    text = _as_text(value)
    scan = str.__getitem__(text, slice(max(0, len(text) - limit * 2), None))   # only the tail can be kept
    lines = [safe_text(line, MAX_OUTPUT_LINE) for line in scan.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if len(kept) >= max(1, max_lines) or size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    kept.reverse()
    left = len(lines) - len(kept) + (text.count("\n", 0, len(text) - len(scan)) if len(scan) < len(text) else 0)
    if left > 0 and kept:
        kept[0] = f"… ({left} earlier line{'s' if left != 1 else ''})"
    return "\n".join(kept)


def _as_text(value: Any) -> str:
    """str(value) for the kinds of value that can be printed safely; a description otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        bits = int.bit_length(value)
        return int.__repr__(value) if bits <= 128 else f"<an integer of {bits} bits>"
    if isinstance(value, float):
        return float.__repr__(value)       # "nan", "inf", "-inf" say what they are
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        try:
            return _REPR.repr(value)        # depth and length bounded
        except Exception:
            return f"<unprintable {type(value).__name__}>"
    try:
        text = str(value)
    except Exception:  # RecursionError, a huge int inside, a failing __str__
        return f"<unprintable {type(value).__name__}>"
    return text if type(text) is str else f"<unprintable {type(value).__name__}>"


def finite_number(value: Any, default: float | None = None, *, low: float = -1e12,
                  high: float = 1e12) -> float | None:
    """`value` as a float when it is an int or float (not a bool), finite and in [low, high];
    `default` otherwise. The range is checked before converting, so nothing overflows."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):          # compared as an int: 10**400 never meets float()
        return float(value) if low <= int(value) <= high else default
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) and low <= value <= high else default
    return default


def finite_count(value: Any, high: int) -> int | None:
    """`value` when it is an int (not a bool) in [0, high]; None otherwise."""
    return value if type(value) is int and 0 <= value <= high else None


def _metrics(raw: Any) -> dict[str, Any]:
    """At most MAX_METRICS plain metrics: finite numbers and short strings, under short keys."""
    if type(raw) is not dict:
        return {}
    kept: dict[str, Any] = {}
    for key, value in list(raw.items())[:MAX_METRICS]:
        if type(value) is str:
            kept[safe_text(key, 60)] = safe_text(value, 200)
        elif finite_number(value) is not None:
            kept[safe_text(key, 60)] = value
    return kept


@dataclass
class Row:
    """One check. `points` is None for an ungraded check (public tests, a student's own run)."""

    section: Section
    title: str
    outcome: Outcome
    reason: str = ""
    points: float | None = None
    visibility: Visibility = Visibility.VISIBLE
    source: Source = Source.PUBLIC
    nodeid: str = ""
    seconds: float = 0.0
    location: str = ""                              # "tinytorch/data.py:42 in __iter__"
    metrics: dict[str, Any] = field(default_factory=dict)
    output: str = ""                                # what a failing test printed (see safe_block)

    def __post_init__(self) -> None:
        # Whoever made the row, its text is safe to print and to encode (see safe_text).
        self.title = safe_text(self.title)
        self.reason = safe_text(self.reason)
        self.nodeid = safe_text(self.nodeid)
        self.location = safe_text(self.location, 200)
        self.output = safe_block(self.output)
        self.seconds = finite_number(self.seconds, 0.0, low=0.0, high=MAX_SECONDS) or 0.0

    @property
    def module(self) -> str | None:
        """The module number of a module row; None for the milestone and sessions."""
        return self.section.key if self.section.kind is SectionKind.MODULE else None

    @property
    def earned(self) -> float:
        return (self.points or 0.0) if self.outcome is Outcome.PASSED else 0.0

    @property
    def graded(self) -> bool:
        return self.points is not None

    def to_json(self) -> dict[str, Any]:
        return {"section": [self.section.kind.value, self.section.key], "title": self.title,
                "outcome": self.outcome.value, "reason": self.reason, "points": self.points,
                "visibility": self.visibility.value, "source": self.source.value, "nodeid": self.nodeid,
                "seconds": self.seconds, "location": self.location, "metrics": self.metrics,
                "output": self.output}

    @classmethod
    def from_untrusted(cls, raw: Any, *, source: Source, keep_points: bool) -> "Row | None":
        """A Row from data another process wrote, or None when it is not a well-formed row.

        source: the source the caller knows the rows came from (never taken from the data).
        keep_points: whether the writer was trusted to say what the row is worth (its points,
        visibility and metrics); otherwise they are dropped.
        """
        if type(raw) is not dict:
            return None
        section = _section(raw.get("section"))
        outcome = _enum(Outcome, raw.get("outcome"))
        visibility = _enum(Visibility, raw.get("visibility", "visible"))
        if section is None or outcome is None or visibility is None:
            return None
        points = None
        if keep_points and raw.get("points") is not None:
            points = finite_number(raw.get("points"), None, low=0.0, high=MAX_POINTS)
            if points is None:
                return None
        return cls(section, _field(raw, "title"), outcome, _field(raw, "reason"), points,
                   visibility if keep_points else Visibility.VISIBLE, source, _field(raw, "nodeid"),
                   finite_number(raw.get("seconds"), 0.0, low=0.0, high=MAX_SECONDS) or 0.0,
                   _field(raw, "location", 200), _metrics(raw.get("metrics")) if keep_points else {},
                   _block(raw.get("output")))


def _field(raw: dict[str, Any], key: str, limit: int = MAX_TEXT) -> str:
    value = raw.get(key, "")
    return safe_text(value, limit) if type(value) is str else ""


def _block(value: Any) -> str:
    """A row's captured output: a bounded string, or "" for anything else."""
    return safe_block(str.__getitem__(value, slice(0, MAX_OUTPUT * 4))) if type(value) is str else ""


def _enum(kind: type[Enum], value: Any) -> Any:
    """kind(value) for a str naming one of its members; None otherwise (never formats `value`)."""
    if type(value) is not str or len(value) > 40:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def _section(raw: Any) -> Section | None:
    """A section from ["module", "06"], ["milestone", "milestone03"] or ["session", name]."""
    if type(raw) is not list or len(raw) != 2 or type(raw[1]) is not str:
        return None
    kind, key = _enum(SectionKind, raw[0]), raw[1]
    if kind is SectionKind.MODULE and _MODULE_KEY.fullmatch(key):
        return Section.module(key)
    if kind is SectionKind.MILESTONE and key == MILESTONE_KEY:
        return Section.milestone()
    if kind is SectionKind.SESSION:
        return Section.session(safe_text(key, 40))
    return None


@dataclass
class SessionLog:
    """What the plugin's JSON-lines file says about a test session, read defensively."""

    rows: list[Row] = field(default_factory=list)
    running: str = ""               # node id of a test that started and never finished
    collected: int | None = None    # how many tests the session meant to run
    stuck_at: str = ""              # the watchdog's "tinytorch/data.py:42 in __iter__"
    finished: bool = False          # pytest reached the end of the session


def read_session_log(text: str, *, source: Source, keep_points: bool, max_rows: int = 5000) -> SessionLog:
    """Parse the plugin's rows file; malformed lines (not JSON, nested too deeply, too long,
    of the wrong shape) are skipped, and nothing in it is trusted beyond what
    `Row.from_untrusted` keeps."""
    log = SessionLog()
    for line in text.splitlines()[: max_rows * 3]:
        if len(line) > MAX_LINE_CHARS:
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            continue
        if type(record) is not dict:
            continue
        kind = record.get("kind")
        if kind == "start":
            log.running = _field(record, "nodeid", 300)
        elif kind == "row":
            row = Row.from_untrusted(record.get("row"), source=source, keep_points=keep_points)
            if row is not None and len(log.rows) < max_rows:
                log.rows.append(row)
                if row.nodeid == log.running:
                    log.running = ""
        elif kind == "collected":
            count = finite_count(record.get("count"), 10**12)
            log.collected = min(count, 100_000) if count is not None else log.collected
        elif kind == "finished":
            log.finished = True
        elif kind == "stuck":
            log.stuck_at = _field(record, "location", 200)
    return log


def all_passed(rows: Iterable[Row]) -> bool:
    """True when every row passed or waits for a later module, and at least one passed."""
    rows = list(rows)
    return any(r.outcome is Outcome.PASSED for r in rows) and all(
        r.outcome in (Outcome.PASSED, Outcome.WAITING) for r in rows)
