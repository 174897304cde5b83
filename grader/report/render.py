"""The terminal report of one grading: a table per section, totals per module, the next step.

Every piece of text is added as plain `rich.text.Text` (table titles and cells included),
never parsed as markup, and text that may come from a submission (titles, reasons, section
keys, the implementation's path, the next step) passes through `safe_text` first: a message
or a folder name with `[/]`, `[bold red]` or an ANSI escape sequence prints as those
characters and cannot restyle, break or forge a line of the report.
"""
from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.config import Config
from grader.core.outcomes import Outcome, Source, Visibility
from grader.core.rows import Row, Section, SectionKind, safe_text
from grader.engine.grade import GradeReport
from grader.report.next_step import next_step

MARKS = {Outcome.PASSED: ("✓ passed", "green"), Outcome.FAILED: ("✗ failed", "red"),
         Outcome.NOT_STARTED: ("○ not started", "yellow"), Outcome.WAITING: ("… waiting", "dim"),
         Outcome.ERROR: ("! error", "red"), Outcome.TIMEOUT: ("⏱ timeout", "red")}


def section_title(section: Section, cfg: Config) -> str:
    if section.kind is SectionKind.MODULE:
        return cfg.course.modules[section.key].heading if section.key in cfg.modules else f"Module {safe_text(section.key, 40)}"
    if section.kind is SectionKind.MILESTONE:
        return "Milestone 03 · the MLP revival (1986)"
    return f"Grading problem · {safe_text(section.key, 40)}"


def _points(row: Row) -> str:
    return "–" if row.points is None else f"{row.earned:g}/{row.points:g}"


def _kind(row: Row) -> str:
    if row.source is Source.HIDDEN:
        return row.visibility.value.replace("_", " ") if row.visibility is not Visibility.VISIBLE else "hidden test, visible"
    if row.source is Source.MILESTONE:
        return "held-out data"
    return ""


def render(report: GradeReport, cfg: Config, console: Console) -> None:
    header = Text("tinytorch check", style="bold")
    header.append(f" · {report.targets.label} · implementation: ")
    header.append(safe_text(str(report.impl), 300))
    console.print(header)
    for section, group in groupby(report.rows, key=lambda r: r.section):
        rows = list(group)
        table = Table(title=Text(section_title(section, cfg)), title_justify="left", title_style="bold",
                      expand=True, box=None, padding=(0, 1), show_header=True, header_style="dim")
        table.add_column(Text("Result"), width=13, no_wrap=True)
        table.add_column(Text("Test"), ratio=1)
        table.add_column(Text("Points"), justify="right", width=7, no_wrap=True)
        for row in rows:
            label, style = MARKS[row.outcome]
            title = Text(safe_text(row.title))
            kind = _kind(row)
            if kind:
                title.append(f"  [{kind}]", style="dim")
            if row.reason and (row.outcome is not Outcome.PASSED or row.source is Source.MILESTONE):
                title.append("\n" + safe_text(row.reason), style="dim" if row.outcome in (Outcome.PASSED, Outcome.WAITING) else style)
            table.add_row(Text(label, style=style), title, Text(_points(row)))
        console.print(table)
        console.print(Text(_section_summary(rows, report.hidden)))
    _totals(report, cfg, console)
    line = Text("Next: ", style="bold")
    line.append(safe_text(next_step(report, cfg), 2000))
    console.print(line)


def _section_summary(rows: list[Row], graded: bool) -> str:
    passed = sum(r.outcome is Outcome.PASSED for r in rows)
    waiting = sum(r.outcome is Outcome.WAITING for r in rows)
    wait = f" · {waiting} waiting for a later module" if waiting else ""
    points = [r for r in rows if r.points is not None]
    score = f" · {sum(r.earned for r in points):g}/{sum(r.points or 0 for r in points):g} points" if graded and points else ""
    return f"  {passed}/{len(rows)} passed{wait}{score}\n"


def _totals(report: GradeReport, cfg: Config, console: Console) -> None:
    counts = {k: sum(r.outcome is k for r in report.rows) for k in MARKS}
    parts = [f"{counts[k]} {MARKS[k][0].split(' ', 1)[1]}" for k in MARKS if counts[k]]
    line = Text("Total: ", style="bold")
    line.append(f"{len(report.rows)} checks: {', '.join(parts) or 'none ran'}")
    if report.hidden:
        line.append(f" · score {report.score:g}/{report.max_score:g}")
    line.append(f" · {report.seconds:.1f} s")
    console.print(line)
