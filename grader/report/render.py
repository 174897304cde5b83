"""The student-facing report of a GradeReport: one table per module, totals, the next step."""
from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.config import Config
from grader.engine.grade import GradeReport
from grader.core.rows import ERROR, FAILED, NOT_STARTED, PASSED, SKIPPED, Row

MARKS = {PASSED: ("✓ passed", "green"), FAILED: ("✗ failed", "red"), NOT_STARTED: ("○ not started", "yellow"),
         SKIPPED: ("– skipped", "dim"), ERROR: ("! error", "red")}


def _section_title(module: str, cfg: Config) -> str:
    spec = cfg.modules.get(module)
    return f"Module {module} · {spec.title} (tinytorch/{spec.name}.py)" if spec else "Milestone 03 · the MLP revival (1986)"


def _points(row: Row) -> str:
    return "–" if row.points is None else f"{row.earned:g}/{row.points:g}"


def render(report: GradeReport, cfg: Config, console: Console) -> None:
    console.print(f"[bold]tinytorch check[/bold] · {report.targets.label} · implementation: {report.impl}")
    for module, group in groupby(report.rows, key=lambda r: r.module):
        rows = list(group)
        table = Table(title=_section_title(module, cfg), title_justify="left", title_style="bold",
                      expand=True, box=None, padding=(0, 1), show_header=True, header_style="dim")
        table.add_column("Result", width=13, no_wrap=True)
        table.add_column("Test", ratio=1)
        table.add_column("Points", justify="right", width=7, no_wrap=True)
        for row in rows:
            label, style = MARKS.get(row.outcome, (row.outcome, ""))
            title = Text(row.title)
            kind = _kind(row)
            if kind:
                title.append(f"  [{kind}]", style="dim")
            if row.reason and row.outcome != PASSED or row.source == "milestone":
                title.append("\n" + row.reason, style="dim" if row.outcome == PASSED else style)
            table.add_row(Text(label, style=style), title, _points(row))
        console.print(table)
        console.print(_module_summary(rows))
    _totals(report, console)
    console.print(f"[bold]Next:[/bold] {next_step(report, cfg)}")


def _kind(row: Row) -> str:
    if row.source == "hidden":
        return row.visibility.replace("_", " ") if row.visibility != "visible" else "hidden test, visible"
    if row.source == "milestone":
        return "held-out data"
    return ""


def _module_summary(rows: list[Row]) -> str:
    passed = sum(r.outcome == PASSED for r in rows)
    graded = [r for r in rows if r.points is not None]
    points = f" · {sum(r.earned for r in graded):g}/{sum(r.points for r in graded):g} points" if graded else ""
    return f"  {passed}/{len(rows)} passed{points}\n"


def _totals(report: GradeReport, console: Console) -> None:
    by = {k: sum(r.outcome == k for r in report.rows) for k in MARKS}
    parts = [f"{by[k]} {MARKS[k][0].split(' ', 1)[1]}" for k in MARKS if by[k]]
    score = f" · score {report.score:g}/{report.max_score:g}" if report.graded_rows else ""
    console.print(f"[bold]Total:[/bold] {len(report.rows)} checks: {', '.join(parts)}{score} · {report.seconds:.1f} s")


def next_step(report: GradeReport, cfg: Config) -> str:
    """The first thing to do, in course order."""
    for module, group in groupby(report.rows, key=lambda r: r.module):
        rows = [r for r in group if r.outcome != PASSED and r.outcome != SKIPPED]
        if not rows:
            continue
        first = rows[0]
        target = module if module in cfg.modules else "milestone03"
        where = _section_title(module, cfg)
        if first.outcome == NOT_STARTED:
            what = first.reason.removeprefix("not started: ")
            return f"{where} is not finished: implement {what!r}, then run `grader check {target}`."
        reason = first.reason if len(first.reason) <= 200 else first.reason[:200].rsplit(" ", 1)[0] + " …"
        return f"{where}: fix “{first.title}” — {reason} — then run `grader check {target}`."
    return "everything passed. Submit your work."
