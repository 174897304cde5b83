"""grader status: one table of modules 01–08, the milestone's last run, and the one next command.

    grader status                  your tinytorch in assignments/
    grader status --impl DIR       the tinytorch package in DIR/tinytorch
    grader status --json           the same as JSON on stdout
    grader status --no-cache       run every module's public tests again

Each module shows its public tests passed of total and its state: not started, in progress,
waiting for a prerequisite (its own checks pass but some stop at a module it builds on) or
done. The public tests run as `grader check` runs them; a module's results are reused while
none of the files that decide them changed (cache: DIR/.cache/grader/status.json). The
milestone is not trained here: the table shows its last run (`grader check milestone03` or
the scripts in assignments/milestones/03_1986_mlp/), and whether it trained the current code.

Exit status: 0 when nothing fails (modules not started or waiting are not failures), 1 when a
public test fails or the checks could not run, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.config import Config, ConfigError, load_config
from grader.core.rows import safe_text
from grader.core.targets import UnknownTarget
from grader.report.render import ASCII, ascii_only, terminal_console
from grader.report.status import State, Status

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="grader status", description=doc.split("\n")[0],
                                     epilog=doc.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", help="implementation: assignments (default), solutions, or a folder containing tinytorch/")
    parser.add_argument("--json", action="store_true", help="print the status as JSON instead of a table")
    parser.add_argument("--no-cache", action="store_true", help="run every module's public tests again")
    parser.add_argument("--config", help="grader config YAML (default: grader/config.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:          # --help exits 0, a usage error 2
        return int(exc.code or 0)
    from grader.cli import _impl_dir
    try:
        cfg = load_config(args.config)
        impl = _impl_dir(args.impl)
    except (UnknownTarget, ConfigError) as exc:
        print(f"grader status: {safe_text(str(exc), 2000)}", file=sys.stderr)
        return EXIT_USAGE
    from grader.report.status import compute_status
    console = terminal_console()
    errors = terminal_console(stderr=True)

    def on_wait(wait: object) -> None:
        errors.print(f"grader: {safe_text(str(wait), 2000)}", markup=False, highlight=False)

    try:
        if args.json or not console.is_terminal:
            status = compute_status(impl, cfg, use_cache=not args.no_cache, on_wait=on_wait)
        else:
            with console.status("running the public tests…" if console.encoding.lower().startswith("utf")
                                else "running the public tests...", spinner="line"):
                status = compute_status(impl, cfg, use_cache=not args.no_cache, on_wait=on_wait)
    except KeyboardInterrupt:
        print("grader status: interrupted", file=sys.stderr)
        return 130
    if args.json:
        sys.stdout.write(json.dumps(status.to_json(), indent=1, ensure_ascii=True) + "\n")
    else:
        render_status(status, cfg, console)
    return EXIT_FAILED if status.failing else EXIT_OK


# ---------------------------------------------------------------------------------- output
STYLES = {State.DONE: "green", State.IN_PROGRESS: "yellow", State.NOT_STARTED: "", State.WAITING: "cyan",
          State.ERROR: "red"}


def render_status(status: Status, cfg: Config, console: Console) -> None:
    """The status table, the milestone line and the next command."""
    plain = ascii_only(console)

    def text(value: str, style: str = "") -> Text:
        value = safe_text(value, 2000)
        return Text(value.translate(ASCII) if plain else value, style=style)

    header = text("tinytorch status", "bold")
    header.append_text(text(f" · implementation: {status.impl}"))
    console.print(header)
    table = Table(box=None, padding=(0, 1), show_header=True, header_style="bold", expand=False)
    for name, justify in (("Module", "left"), ("File", "left"), ("Tests", "right"), ("State", "left"),
                          ("Notes", "left")):
        table.add_column(text(name), justify=justify, no_wrap=name != "Notes", overflow="fold",
                         min_width=24 if name == "Notes" else None)
    for m in status.modules:
        notes = m.detail
        if m.state in (State.NOT_STARTED, State.IN_PROGRESS) and m.todos_left:
            todos = f"{m.todos_left} TODO{'s' if m.todos_left != 1 else ''} left"
            notes = f"{todos}; {notes}" if notes else todos
        table.add_row(text(f"{m.number} {m.title}"), text(m.file.removeprefix("tinytorch/")), text(f"{m.passed}/{m.total}"),
                      text(m.state.value, STYLES[m.state]), text(notes, "dim" if m.state is State.DONE else ""))
    console.print(table)
    console.print(_milestone_line(status, cfg, text))
    for problem in status.problems[:3]:
        console.print(text(f"grader: {problem}", "red"))
    line = text("Next: ", "bold")
    line.append_text(text(status.next_command, "bold cyan"))
    line.append_text(text(f" — {status.next_reason}"))
    console.print(line)
    reused = sum(m.cached for m in status.modules)
    ran = f"{len(status.modules) - reused} modules' public tests ran" if reused < len(status.modules) else \
        "nothing changed since the last status: results reused"
    console.print(text(f"{ran} · {status.seconds:.1f} s", "dim"))


def _milestone_line(status: Status, cfg: Config, text: Callable[..., Text]) -> Text:
    line = text("Milestone 03: ", "bold")
    runs = status.milestone.runs
    if not runs:
        line.append_text(text("not run yet (it trains once modules 01–08 pass)"))
        return line
    parts = []
    for key, spec in cfg.milestone.items():
        run = runs.get(key)
        if run is None:
            parts.append(f"{spec.title} not run yet")
            continue
        figures = []
        if run.test_accuracy is not None:
            figures.append(f"test accuracy {run.test_accuracy:.1%}")
        if run.train_loss is not None:
            figures.append(f"loss {run.train_loss:.3f}")
        verdict = "passed" if run.passed else "failed"
        parts.append(f"{spec.title} {verdict} ({', '.join(figures) or run.message or 'no figures'}) "
                     f"on {run.when} by {run.how}")
    line.append_text(text("; ".join(parts)))
    if status.milestone.state == "older code":
        line.append_text(text(" - your tinytorch changed since, so it needs to run again", "yellow"))
    return line
