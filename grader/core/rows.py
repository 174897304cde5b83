"""Typed result rows: one graded or reported item, under the section it belongs to.

    Row(Section.module("06"), "Mul backward: gradient of b", Outcome.PASSED, points=1.0, source=Source.HIDDEN)
    Row(Section.milestone(), "TinyDigits (8×8): test accuracy ≥ 75%", Outcome.FAILED, reason="measured 61.5%")
    Row(Section.session("public tests"), "public tests stopped at the deadline", Outcome.TIMEOUT, reason=...)

A row that crossed a process boundary is rebuilt with `Row.from_untrusted`, which keeps only
known fields of the right types, bounded and with control characters made visible.
Standard library only.
"""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable

from grader.core.outcomes import Outcome, Source, Visibility

MAX_TEXT = 600
MILESTONE_KEY = "milestone03"


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
    """`value` as printable, valid UTF-8 text of at most `limit` characters.

    Control and escape characters (ANSI sequences included) become visible `\\xNN` escapes,
    lone surrogates become U+FFFD, so nothing a submission wrote can restyle a terminal or
    break an encoder."""
    text = str(value).encode("utf-8", "replace").decode("utf-8", "replace")
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch != "\u200d":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e12 else default


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
                "seconds": self.seconds, "location": self.location, "metrics": self.metrics}

    @classmethod
    def from_untrusted(cls, raw: Any, *, source: Source, keep_points: bool) -> "Row | None":
        """A Row from data another process wrote, or None when it is not a well-formed row.

        source: the source the caller knows the rows came from (never taken from the data).
        keep_points: whether the writer was trusted to say what the row is worth.
        """
        if not isinstance(raw, dict):
            return None
        try:
            kind, key = raw["section"]
            section = Section(SectionKind(kind), safe_text(key, 40))
            outcome = Outcome(raw["outcome"])
            visibility = Visibility(raw.get("visibility", "visible"))
        except (KeyError, TypeError, ValueError):
            return None
        points = _number(raw.get("points"), None) if keep_points else None
        if points is not None and points < 0:
            return None
        metrics = raw.get("metrics") if keep_points and isinstance(raw.get("metrics"), dict) else {}
        metrics = {safe_text(k, 60): v for k, v in list(metrics.items())[:20]
                   if isinstance(v, (str, int, float)) and not isinstance(v, bool) and _number(v, 0.0) is not None}
        return cls(section, safe_text(raw.get("title", "")), outcome, safe_text(raw.get("reason", "")),
                   points, visibility if keep_points else Visibility.VISIBLE, source,
                   safe_text(raw.get("nodeid", "")), _number(raw.get("seconds"), 0.0) or 0.0,
                   safe_text(raw.get("location", ""), 200), metrics)


@dataclass
class SessionLog:
    """What the plugin's JSON-lines file says about a test session, read defensively."""

    rows: list[Row] = field(default_factory=list)
    running: str = ""               # node id of a test that started and never finished
    collected: int | None = None    # how many tests the session meant to run
    stuck_at: str = ""              # the watchdog's "tinytorch/data.py:42 in __iter__"
    finished: bool = False          # pytest reached the end of the session


def read_session_log(text: str, *, source: Source, keep_points: bool, max_rows: int = 5000) -> SessionLog:
    """Parse the plugin's rows file; malformed lines are skipped, nothing in it is trusted
    beyond what `Row.from_untrusted` keeps."""
    log = SessionLog()
    for line in text.splitlines()[: max_rows * 3]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        kind = record.get("kind")
        if kind == "start":
            log.running = safe_text(record.get("nodeid", ""), 300)
        elif kind == "row":
            row = Row.from_untrusted(record.get("row"), source=source, keep_points=keep_points)
            if row is not None and len(log.rows) < max_rows:
                log.rows.append(row)
                if row.nodeid == log.running:
                    log.running = ""
        elif kind == "collected" and isinstance(record.get("count"), int) and not isinstance(record["count"], bool):
            log.collected = max(0, min(record["count"], 100_000))
        elif kind == "finished":
            log.finished = True
        elif kind == "stuck":
            log.stuck_at = safe_text(record.get("location", ""), 200)
    return log


def all_passed(rows: Iterable[Row]) -> bool:
    """True when every row passed or waits for a later module, and at least one passed."""
    rows = list(rows)
    return any(r.outcome is Outcome.PASSED for r in rows) and all(
        r.outcome in (Outcome.PASSED, Outcome.WAITING) for r in rows)
