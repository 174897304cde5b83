"""The terminal report of one grading: a table per section, totals per module, the next step.

    console = terminal_console()                  # honours NO_COLOR, TERM=dumb, pipes, ASCII-only encodings
    render(report, cfg, console)                  # short: what to do, one line per open TODO
    render(report, cfg, console, verbose=True)    # every row, passing ones too, with all details

The short report lists each failing check (its reason, where in `tinytorch/` it raised and
what it printed), groups the checks that fail for the same reason, and shows one line per
open TODO ("12 tests not started: Module 01: add forward") and per later module the checks
wait for; passing checks are counted, not listed (the milestone's measurements always are).

Every piece of text is added as plain `rich.text.Text` (table titles and cells included),
never parsed as markup, and text that may come from a submission (titles, reasons, printed
output, section keys, the implementation's path, the next step) passes through `safe_text`
or `safe_block` first: a message or a folder name with `[/]`, `[bold red]` or an ANSI escape
sequence prints as those characters and cannot restyle, break or forge a line of the report.
On a console whose encoding cannot show "·", "✓" or "×" everything is spelled in ASCII.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from itertools import groupby
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.config import Config
from grader.core.outcomes import Outcome, Source, Visibility, short
from grader.core.rows import Row, Section, SectionKind, safe_block, safe_text
from grader.engine.grade import GradeReport
from grader.report.next_step import module_done, next_step

MARKS = {Outcome.PASSED: ("✓ passed", "green"), Outcome.FAILED: ("✗ failed", "red"),
         Outcome.NOT_STARTED: ("○ not started", "yellow"), Outcome.WAITING: ("… waiting", "dim"),
         Outcome.ERROR: ("! error", "red"), Outcome.TIMEOUT: ("⏱ timeout", "red")}
PROBLEMS = (Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT)
SHORT_REASON = 240          # characters of a reason in the short report (-v: all the row holds)
SHORT_OUTPUT_LINES = 8      # last lines of a failing test's printed output (-v: all the row holds)
SHORT_ENTRIES = 12          # lines per section in the short report; the rest are counted
ASCII = str.maketrans({"·": "-", "✓": "+", "✗": "x", "×": "x", "○": "o", "…": "...", "⏱": "T", "–": "-",
                       "—": "--", "“": '"', "”": '"', "‘": "'", "’": "'", "≥": ">=", "≤": "<=", "→": "->",
                       "≈": "~", "±": "+/-", "²": "^2", "√": "sqrt"})
_PROBE = "·✓✗×○…⏱–—“”≥"


class _Encodable:
    """A text stream that never raises on a character its encoding lacks: it is written as
    `?`. The last resort behind `ascii_only` (rich itself may add "…" when it cuts a cell)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            return self._stream.write(text.encode(self.encoding, "replace").decode(self.encoding, "replace"))

    def __getattr__(self, name: str) -> Any:     # isatty, fileno, flush: the stream's own
        return getattr(self._stream, name)


def ascii_only(console: Console) -> bool:
    """True when the console's encoding cannot print the report's symbols ("·", "✓", "×")."""
    try:
        _PROBE.encode(console.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def terminal_console(*, stderr: bool = False, stream: IO[str] | None = None) -> Console:
    """A Console for the report on stdout (or stderr): no colour or escape codes when NO_COLOR
    is set, TERM is dumb or the output is a pipe or file; never a UnicodeEncodeError."""
    target = stream if stream is not None else (sys.stderr if stderr else sys.stdout)
    plain = os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM", "").lower() in ("dumb", "unknown")
    options: dict[str, Any] = {"color_system": None} if plain else {}
    return Console(file=_Encodable(target), soft_wrap=False, **options)  # type: ignore[arg-type]


def section_title(section: Section, cfg: Config) -> str:
    if section.kind is SectionKind.MODULE:
        return cfg.course.modules[section.key].heading if section.key in cfg.modules else f"Module {safe_text(section.key, 40)}"
    if section.kind is SectionKind.MILESTONE:
        return "Milestone 03 · the MLP revival (1986)"
    return f"Grading problem · {safe_text(section.key, 40)}"


def _short_title(section: Section, cfg: Config) -> str:
    """'Module 01 · Tensor', 'Milestone 03': a line of the totals."""
    if section.kind is SectionKind.MODULE and section.key in cfg.modules:
        return f"Module {section.key} · {cfg.course.title(section.key)}"
    return "Milestone 03" if section.kind is SectionKind.MILESTONE else section_title(section, cfg)


def _kind(row: Row) -> str:
    if row.source is Source.HIDDEN:
        return row.visibility.value.replace("_", " ") if row.visibility is not Visibility.VISIBLE else "hidden test, visible"
    if row.source is Source.MILESTONE:
        return "held-out data"
    return ""


@dataclass
class _Entry:
    """One line of a section's table: a row, or rows that ended the same way for the same reason."""

    rows: list[Row] = field(default_factory=list)

    @property
    def first(self) -> Row:
        return self.rows[0]

    def points(self) -> str:
        graded = [r for r in self.rows if r.points is not None]
        if not graded:
            return "–"
        return f"{sum(r.earned for r in graded):g}/{sum(r.points or 0 for r in graded):g}"


def _entries(rows: list[Row], verbose: bool) -> list[_Entry]:
    """The lines of a section: every row with -v; otherwise failures (same reason, one line),
    one line per open TODO and per awaited module, and the milestone's rows."""
    if verbose:
        return [_Entry([r]) for r in rows]
    groups: dict[tuple[Outcome, str], _Entry] = {}
    shown: list[_Entry] = []
    for row in rows:
        if row.outcome is Outcome.PASSED and row.source is not Source.MILESTONE:
            continue
        if (row.source is Source.MILESTONE and row.outcome is not Outcome.NOT_STARTED) or \
                row.section.kind is SectionKind.SESSION:
            shown.append(_Entry([row]))         # the milestone's measurements, a session's problem
            continue
        keys = [(row.outcome, row.reason)]      # the same failure, or another case of the same test
        if row.outcome in PROBLEMS and "[" in row.nodeid:
            keys.append((row.outcome, "test " + row.nodeid.split("[", 1)[0]))
        entry = next((groups[k] for k in keys if k in groups), None)
        if entry is None:
            entry = _Entry()
            shown.append(entry)
        for key in keys:
            groups.setdefault(key, entry)
        entry.rows.append(row)
    order = {Outcome.FAILED: 0, Outcome.ERROR: 0, Outcome.TIMEOUT: 0, Outcome.NOT_STARTED: 1, Outcome.WAITING: 2}
    return sorted(shown, key=lambda e: 0 if e.first.source is Source.MILESTONE else order.get(e.first.outcome, 0) + 1)


def _describe(entry: _Entry, style: str, verbose: bool) -> Text:
    """The Test cell: the title (or how many tests and why), the reason, where, what was printed."""
    row, count = entry.first, len(entry.rows)
    text = Text()
    grouped = row.outcome is Outcome.NOT_STARTED or (row.outcome is Outcome.WAITING and row.source is not Source.MILESTONE)
    if grouped and not verbose:
        what = row.reason.removeprefix("not started: ")
        if row.module is not None:
            what = what.removeprefix(f"Module {row.module}: ")     # the section says which module
        tests = f"{count} {'check' if row.source is Source.MILESTONE else 'test'}{'s' if count != 1 else ''}"
        what = short(what, SHORT_REASON)
        text.append(f"{tests}: implement {what}" if row.outcome is Outcome.NOT_STARTED else f"{tests} {what}")
        if row.outcome is Outcome.NOT_STARTED and row.location and row.location not in what:   # "tinytorch/tensor.py:310"
            text.append(f" ({row.location.split(' in ', 1)[0]})")
        return text
    text.append(safe_text(row.title))
    kind = _kind(row)
    if kind:
        text.append(f"  [{kind}]", style="dim")
    if row.reason and (row.outcome is not Outcome.PASSED or row.source is Source.MILESTONE):
        reason = row.reason if verbose else short(row.reason, SHORT_REASON)
        if row.outcome is Outcome.NOT_STARTED and row.location and row.location not in reason:
            reason += f" ({row.location})"
        text.append("\n" + reason, style="dim" if row.outcome in (Outcome.PASSED, Outcome.WAITING) else style)
    if row.output and row.outcome in PROBLEMS:
        lines = row.output.splitlines()
        kept = lines if verbose else lines[-SHORT_OUTPUT_LINES:]
        more = f" (last {len(kept)} of {len(lines)} lines; -v shows all)" if len(kept) < len(lines) else ""
        text.append(f"\nprinted{more}:", style="dim")
        for line in kept:
            text.append("\n  " + line, style="dim")
    if verbose and row.nodeid and row.outcome is not Outcome.PASSED and row.source is Source.PUBLIC:
        text.append(f"\nname: {row.nodeid.rsplit('::', 1)[-1]}", style="dim")     # what `-k` matches
    if count > 1:
        same = all(r.reason == row.reason for r in entry.rows)
        text.append(f"\n+ {count - 1} more test{'s' if count > 2 else ''} failing "
                    f"{'the same way' if same else 'like this'} (-v lists them)", style="dim")
    return text


def _plain(text: Text, ascii: bool) -> Text:
    """`text` spelled in ASCII when the console cannot print more (styles kept)."""
    if not ascii:
        return text
    spelled = Text(style=text.style)
    for span_text, style in _pieces(text):
        spelled.append(span_text.translate(ASCII).encode("ascii", "backslashreplace").decode("ascii"), style=style)
    return spelled


def _pieces(text: Text) -> list[tuple[str, Any]]:
    """(text, style) pieces of a Text whose spans do not overlap (as every Text here is built)."""
    plain, pieces, at = text.plain, [], 0
    for span in sorted(text.spans, key=lambda s: s.start):
        if span.start > at:
            pieces.append((plain[at:span.start], None))
        pieces.append((plain[span.start:span.end], span.style))
        at = max(at, span.end)
    if at < len(plain):
        pieces.append((plain[at:], None))
    return pieces


def render(report: GradeReport, cfg: Config, console: Console, *, verbose: bool = False, select: str = "") -> None:
    """Print the report. verbose: every row with all its details; select: the -k expression
    the public tests were chosen with (the report and the next step say only those ran)."""
    ascii = ascii_only(console)

    def say(text: Text) -> None:
        console.print(_plain(text, ascii))

    header = Text("tinytorch check", style="bold")
    header.append(f" · {report.targets.label} · implementation: ")
    header.append(safe_text(str(report.impl), 300))
    if select:
        header.append(f" · only tests matching -k {safe_text(select, 200)!r}")
    say(header)
    sections: list[tuple[Section, list[Row]]] = []
    later: list[str] = []               # modules not begun, after one that is unfinished: one line for all
    unfinished = False
    for section, group in groupby(report.rows, key=lambda r: r.section):
        rows = list(group)
        sections.append((section, rows))
        entries = _entries(rows, verbose)
        if not entries:
            continue                    # nothing to list: the totals count its passing checks
        if section.kind is SectionKind.MODULE and not verbose and not module_done(rows):
            if unfinished and all(r.outcome in (Outcome.NOT_STARTED, Outcome.WAITING) for r in rows):
                later.append(section.key)
                continue
            unfinished = True
        table = Table(title=_plain(Text(section_title(section, cfg)), ascii), title_justify="left",
                      title_style="bold", expand=True, box=None, padding=(0, 1), show_header=False)
        table.add_column(Text("Result"), width=13, no_wrap=True)
        table.add_column(Text("Test"), ratio=1, overflow="fold")
        graded = any(r.points is not None for r in rows)
        if graded:
            table.add_column(Text("Points"), justify="right", width=7, no_wrap=True)
        for entry in entries[: None if verbose else SHORT_ENTRIES]:
            label, style = MARKS[entry.first.outcome]
            cells = [_plain(Text(label, style=style), ascii), _plain(_describe(entry, style, verbose), ascii)]
            table.add_row(*cells, *([_plain(Text(entry.points()), ascii)] if graded else []))
        console.print(table)
        hidden = len(entries) - SHORT_ENTRIES if not verbose else 0
        if hidden > 0:
            say(Text(f"  … {hidden} more lines like these (-v lists them)", style="dim"))
        say(Text(_section_summary(rows, report.hidden, verbose)))
    if later:
        which = f"Module {later[0]}; `grader check {later[0]}` lists its" if len(later) == 1 else \
            f"Modules {', '.join(later)}; `grader check {later[0]}` lists a module's"
        say(Text(f"Not started yet: {which} TODOs, -v every test.\n"))
    _totals(report, cfg, sections, say, verbose)
    line = Text("Next: ", style="bold")
    line.append(safe_text(next_step(report, cfg, select=select), 2000))
    say(line)


def _counts(rows: list[Row]) -> str:
    """'57 not started' or '40 passed, 2 failed, 15 waiting'."""
    counts = {k: sum(r.outcome is k for r in rows) for k in MARKS}
    return ", ".join(f"{counts[k]} {k.label}" for k in MARKS if counts[k]) or "none ran"


def _section_summary(rows: list[Row], graded: bool, verbose: bool) -> str:
    passed = sum(r.outcome is Outcome.PASSED for r in rows)
    waiting = sum(r.outcome is Outcome.WAITING for r in rows)
    later = " for a later module" if rows and rows[0].section.kind is SectionKind.MODULE else ""
    wait = f" · {waiting} waiting{later}" if waiting else ""
    points = [r for r in rows if r.points is not None]
    score = f" · {sum(r.earned for r in points):g}/{sum(r.points or 0 for r in points):g} points" if graded and points else ""
    listed = "" if verbose or not passed or all(r.source is Source.MILESTONE for r in rows) else " (-v lists them)"
    return f"  {passed}/{len(rows)} passed{listed}{wait}{score}\n"


def _totals(report: GradeReport, cfg: Config, sections: list[tuple[Section, list[Row]]], say: Any,
            verbose: bool) -> None:
    """One line per section (tests passed, and points when graded), then the whole run."""
    if len(sections) > 1 or (sections and not _entries(sections[0][1], verbose)):
        say(Text("Totals", style="bold"))
        width = max(len(_short_title(s, cfg)) for s, _ in sections)
        for section, rows in sections:
            passed = sum(r.outcome is Outcome.PASSED for r in rows)
            line = f"  {_short_title(section, cfg):<{width}}  {passed}/{len(rows)} passed"
            others = [r for r in rows if r.outcome is not Outcome.PASSED]
            line += f" · {_counts(others)}" if others else ""
            points = [r for r in rows if r.points is not None]
            if report.hidden and points:
                line += f" · {sum(r.earned for r in points):g}/{sum(r.points or 0 for r in points):g} points"
            say(Text(line))
    line = Text("Total: ", style="bold")
    line.append(f"{len(report.rows)} checks: {_counts(report.rows)}")
    if report.hidden:
        line.append(f" · score {report.score:g}/{report.max_score:g}")
    else:
        line.append(" · public tests, no score")
    line.append(f" · {report.seconds:.1f} s")
    say(line)
