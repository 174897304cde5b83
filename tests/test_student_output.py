"""What `grader check` prints is something a student can act on (issue 9, item 5).

- a failure names the last place in `tinytorch/` it raised (file:line in function);
- a public test whose result has the wrong length says what it expected ("expected 3 batches,
  got 2"), never its own IndexError;
- what a failing test printed is shown (bounded, escape sequences as text);
- `-k WORDS` runs only matching tests, `-v` lists every test; the default report of an
  untouched module fits a screen, one line per open TODO;
- totals per module, a score only when the hidden tests ran; "Next" in course order, with
  "implement" for what is not started;
- NO_COLOR, TERM=dumb, a pipe and an ASCII-only encoding: no escape codes, no crash.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from grader.config import load_config
from grader.core.outcomes import Outcome, Source
from grader.core.rows import MAX_OUTPUT, MAX_OUTPUT_LINES, Row, Section, read_session_log
from grader.core.targets import resolve_targets
from grader.engine.grade import GradeReport, grade
from grader.paths import assignments_dir, solutions_dir
from grader.report.next_step import next_step
from grader.report.render import render

CFG = load_config()
ROOT = Path(__file__).resolve().parents[1]
GRADER = [sys.executable, "-m", "grader.cli"]
PLAIN_ENV = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")}


def _submission(tmp: Path, name: str, replace: dict[str, tuple[str, str]]) -> Path:
    """The reference with `old` replaced by `new` (once) in each named tinytorch file."""
    impl = tmp / name
    shutil.copytree(solutions_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    for filename, (old, new) in replace.items():
        path = impl / "tinytorch" / filename
        text = path.read_text()
        assert old in text, f"{filename} no longer holds {old!r}: update this test"
        path.write_text(text.replace(old, new, 1))
    return impl


def _check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`grader check ARGS` as a student runs it, its output piped."""
    return subprocess.run([*GRADER, "check", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**PLAIN_ENV, **(env or {})})


def _render(report: GradeReport, **options: object) -> str:
    out = io.StringIO()
    render(report, CFG, Console(file=out, width=100, color_system=None, soft_wrap=False), **options)  # type: ignore[arg-type]
    return out.getvalue()


def _report(rows: list[Row], targets: list[str], *, hidden: bool = False, max_score: float = 0.0) -> GradeReport:
    return GradeReport(assignments_dir(), resolve_targets(targets, CFG), hidden, rows, 1.0, max_score)


# ------------------------------------------------------------------ where, what was expected, what was printed
def test_a_typo_in_student_code_names_the_file_line_and_function(tmp_path: Path) -> None:
    """'Linear' object has no attribute 'wieght' ends with 'tinytorch/layers.py:N in forward'"""
    impl = _submission(tmp_path, "typo", {"layers.py": ("out = x @ self.weight", "out = x @ self.wieght")})
    result = _check("03", "--impl", str(impl))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no attribute 'wieght'" in result.stdout
    assert re.search(r"tinytorch/layers\.py:\d+ in forward", result.stdout), result.stdout


def test_a_loader_one_batch_short_is_told_how_many_batches_were_expected(tmp_path: Path) -> None:
    """A DataLoader that always drops the short last batch: 'expected 3 batches, got 2', no IndexError"""
    impl = _submission(tmp_path, "short", {"data.py": ("if self.drop_last and len(idx) < self.batch_size:",
                                                      "if len(idx) < self.batch_size:")})
    report = grade(impl, resolve_targets(["05"], CFG), cfg=CFG, hidden=False)
    reasons = {r.title: r.reason for r in report.rows if r.outcome is not Outcome.PASSED}
    assert reasons, "the short loader passed Module 05's public tests"
    assert not [t for t, r in reasons.items() if "IndexError" in r or "StopIteration" in r or "unpack" in r], reasons
    consecutive = next(r for t, r in reasons.items() if t.startswith("Without shuffle, batches are Tensors"))
    assert "expected 3 batches, got 2" in consecutive


PRINTS = '''
_forward = Linear.forward
def _printing_forward(self, x):
    print("debug: Linear input", x.shape)
    print("\\x1b[31mred\\x1b[0m [bold]markup[/bold]")
    raise ValueError("Module 03: deliberately wrong")
Linear.forward = _printing_forward
'''


def test_what_a_failing_test_printed_is_shown_as_plain_text(tmp_path: Path) -> None:
    """print() output of a failing public test reaches the report, escape sequences shown as text"""
    impl = tmp_path / "prints"
    shutil.copytree(solutions_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    with open(impl / "tinytorch" / "layers.py", "a") as handle:
        handle.write(PRINTS)
    result = _check("03", "--impl", str(impl), "-k", "computes_x_times_weight")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "printed" in result.stdout and "debug: Linear input (5, 4)" in result.stdout, result.stdout
    assert "\x1b" not in result.stdout and "\\x1b[31mred" in result.stdout


def test_printed_output_is_bounded_and_rows_with_it_survive_the_session_log() -> None:
    """A flood of printed lines keeps the last MAX_OUTPUT_LINES, says how many were cut, and
    `read_session_log` bounds what a session wrote whatever its size"""
    flood = "\n".join(f"line {i} \x1b[2J" for i in range(10_000))
    row = Row(Section.module("03"), "t", Outcome.FAILED, "boom", output=flood)
    lines = row.output.splitlines()
    assert len(lines) <= MAX_OUTPUT_LINES and len(row.output) <= MAX_OUTPUT
    assert lines[-1] == "line 9999 \\x1b[2J" and lines[0].startswith("… (") and "earlier lines" in lines[0]
    forged = '{"kind": "row", "row": {"section": ["module", "03"], "title": "t", "outcome": "failed", ' \
             '"output": "' + "x" * 200_000 + '"}}'
    log = read_session_log(forged, source=Source.PUBLIC, keep_points=False)
    assert len(log.rows) == 1 and len(log.rows[0].output) <= MAX_OUTPUT
    assert Row.from_untrusted({"section": ["module", "03"], "title": "t", "outcome": "failed", "output": 7},
                              source=Source.PUBLIC, keep_points=False).output == ""


# ------------------------------------------------------------------ -k, -v and a short default
def test_untouched_module_01_fits_a_screen_and_verbose_lists_every_test() -> None:
    """`grader check 01` on the stubs: one line per open TODO, under ~30 lines; -v lists all 57"""
    short = _check("01")
    assert short.returncode == 1, short.stdout + short.stderr
    lines = short.stdout.splitlines()
    assert len(lines) <= 32, f"{len(lines)} lines:\n{short.stdout}"
    total = re.search(r"Total: (\d+) checks: (\d+) not started", short.stdout)
    assert total and total.group(1) == total.group(2), short.stdout
    assert re.search(r"\d+ tests: implement add forward \(tinytorch/tensor\.py:\d+\)", short.stdout), short.stdout
    verbose = _check("01", "-v")
    assert verbose.stdout.count("not started") >= int(total.group(1)), verbose.stdout


def test_check_all_on_the_stubs_details_only_the_first_module() -> None:
    """`grader check all` on the stubs: Module 01's TODOs, one line for the modules after it, totals for each"""
    result = _check("all")
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stdout.splitlines()) <= 60, f"{len(result.stdout.splitlines())} lines:\n{result.stdout}"
    assert "Not started yet: Modules 02, 03, 04, 05, 06, 07, 08" in result.stdout, result.stdout
    totals = result.stdout.split("Totals")[1]
    for number, spec in CFG.modules.items():
        assert re.search(rf"Module {number} · {spec.title} +0/\d+ passed", totals), totals


def test_k_runs_only_matching_tests_and_v_shows_passing_rows() -> None:
    """`grader check 01 -k matmul --impl solutions`: only those tests run; -v lists them as passed"""
    everything = grade(solutions_dir(), resolve_targets(["01"], CFG), cfg=CFG, hidden=False)
    chosen = _check("01", "--impl", "solutions", "-k", "matmul", "-v")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    ran = re.search(r"Total: (\d+) checks: (\d+) passed", chosen.stdout)
    assert ran and ran.group(1) == ran.group(2) and 0 < int(ran.group(1)) < len(everything.rows), chosen.stdout
    assert "matmul" in chosen.stdout and "passed" in chosen.stdout.split("Totals")[0]
    assert "-k 'matmul'" in chosen.stdout.split("Next:")[1], "Next must not call a partial run a finished module"
    bad = _check("01", "-k", "(((")
    assert bad.returncode == 2 and "-k '((('" in bad.stderr and "Traceback" not in bad.stderr, bad.stdout + bad.stderr
    quiet = _check("01", "--impl", "solutions")
    assert "✓ passed" not in quiet.stdout and "+ passed" not in quiet.stdout, quiet.stdout


# ------------------------------------------------------------------ totals and next
def _rows(module: str, outcome: Outcome, count: int, reason: str = "", points: float | None = None) -> list[Row]:
    return [Row(Section.module(module), f"test {module}.{i}", outcome, reason, points, nodeid=f"test_{module}.py::t{i}")
            for i in range(count)]


def test_totals_show_each_module_and_a_score_only_when_graded() -> None:
    """`grader check all` without --hidden: tests per module, and no score; with --hidden, points per module"""
    milestone = [Row(Section.milestone(), "TinyDigits accuracy", Outcome.PASSED, "measured 99%", 16.0,
                     source=Source.MILESTONE)]
    rows = [r for m in CFG.modules for r in _rows(m, Outcome.PASSED if m == "01" else Outcome.NOT_STARTED, 3,
                                                    "" if m == "01" else f"not started: Module {m}: x")] + milestone
    text = _render(_report(rows, ["all"]))
    totals = text.split("Totals")[1]
    for number in CFG.modules:
        assert re.search(rf"Module {number} .*\d+/3 passed", totals), totals
    assert not re.search(r"score \d", totals) and "16/16" not in totals, totals
    graded = [Row(r.section, r.title, r.outcome, r.reason, 1.0, source=r.source) for r in rows]
    text = _render(_report(graded, ["all"], hidden=True, max_score=float(len(graded))))
    assert re.search(r"Module 01 .*3/3 passed · 3/3 points", text) and f"score 4/{len(graded)}" in text, text


def test_next_names_the_next_module_in_course_order() -> None:
    """Module 01 done: Module 02 next; Module 08 done: the milestone; never 'everything passed' for one module"""
    one = next_step(_report(_rows("01", Outcome.PASSED, 3), ["01"]), CFG)
    assert "Next in course order: Module 02" in one and "everything passed" not in one
    last = next_step(_report(_rows("08", Outcome.PASSED, 3), ["08"]), CFG)
    assert "milestone03" in last and "Module 01" not in last, last


def test_a_milestone_that_is_not_started_says_implement() -> None:
    """The milestone on the stubs: 'implement add forward, then run grader check 01', never 'fix … not started'"""
    row = Row(Section.milestone(), "TinyDigits (8×8): test accuracy ≥ 75%", Outcome.NOT_STARTED,
              "not started: Module 01 (tensor): add forward; Module 02 (activations): ReLU forward", 5.0,
              source=Source.MILESTONE)
    text = next_step(_report([row], ["milestone03"]), CFG)
    assert "implement 'add forward'" in text and "grader check 01" in text and "fix" not in text, text


# ------------------------------------------------------------------ NO_COLOR, dumb terminals, pipes, ASCII
@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii", "NO_COLOR": "1", "TERM": "dumb"},
                                 {"PYTHONIOENCODING": "ascii"}, {"NO_COLOR": "1"}, {"TERM": "dumb"}],
                         ids=["all", "ascii", "no-color", "dumb"])
def test_check_output_works_on_plain_terminals(env: dict[str, str]) -> None:
    """`grader check 01` piped, with NO_COLOR, TERM=dumb or PYTHONIOENCODING=ascii: no crash, no escape codes"""
    result = _check("01", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Next:" in result.stdout, result.stderr[-2000:]
    assert "\x1b" not in result.stdout + result.stderr
    if env.get("PYTHONIOENCODING") == "ascii":
        assert result.stdout.isascii(), [c for c in result.stdout if not c.isascii()][:5]
        assert "Module 01 - Tensor" in result.stdout and "o not started" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["status", "--help"], ["submit", "--help"]])
def test_help_prints_on_an_ascii_terminal(args: list[str]) -> None:
    """`PYTHONIOENCODING=ascii grader --help`: the help's "—" and "·" become "?" instead of a crash"""
    result = subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, timeout=120,
                            env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout.isascii() and b"usage:" in result.stdout


def test_the_milestone_script_says_implement_for_missing_pieces_and_fix_for_broken_ones(capsys) -> None:
    """A milestone script on stubs says 'Implement these', never 'Implement or fix'; broken pieces say 'Fix'"""
    from grader.milestones.m03.readiness import Problem
    from grader.milestones.m03.report import print_problems
    names = {"01": "tensor", "06": "autograd"}
    print_problems([Problem("01", True, "add forward")], names, Path("impl"))
    missing = capsys.readouterr().out
    assert "Implement these" in missing and "fix" not in missing.lower(), missing
    print_problems([Problem("06", False, "ValueError: bad (tinytorch/autograd.py:3 in backward)")], names, Path("impl"))
    assert "Fix these" in capsys.readouterr().out


def test_a_transposed_weight_is_named_not_a_numpy_shape_error(tmp_path: Path) -> None:
    """Linear storing weight as (out, in): hidden tests of Modules 03 and 08 name the weight's shape,
    never NumPy's 'mismatch in its core dimension' from their own expected-value code"""
    impl = _submission(tmp_path, "transposed", {"layers.py": ("size=(in_features, out_features)", "size=(out_features, in_features)")})
    path = impl / "tinytorch" / "layers.py"
    path.write_text(path.read_text().replace("out = x @ self.weight\n", "out = x @ self.weight.transpose()\n", 1))
    report = grade(impl, resolve_targets(["03", "08"], CFG), cfg=CFG, hidden=True, public=True)
    failed = [r for r in report.rows if r.outcome is Outcome.FAILED]
    assert failed, "a transposed weight passed every test"
    assert not [r.reason for r in failed if "core dimension" in r.reason or "gufunc" in r.reason], \
        [r.reason for r in failed if "gufunc" in r.reason]
    assert any("expected (in_features, out_features)" in r.reason for r in failed if r.source is Source.HIDDEN)


def test_an_evaluate_that_returns_one_number_is_told_what_was_expected(tmp_path: Path) -> None:
    """evaluate returning the loss alone: public and hidden tests say 'expected a (mean loss, accuracy)
    tuple', never their own 'cannot unpack non-iterable float object'"""
    impl = _submission(tmp_path, "loss_only", {"training.py": ("return total / count, correct / count", "return total / count")})
    report = grade(impl, resolve_targets(["08"], CFG), cfg=CFG, hidden=True, public=True)
    evaluate = [r for r in report.rows if "evaluate" in r.nodeid and r.outcome is Outcome.FAILED]
    assert {r.source for r in evaluate} == {Source.PUBLIC, Source.HIDDEN}, [(r.nodeid, r.reason) for r in evaluate]
    for row in evaluate:
        assert "(mean loss, accuracy) tuple" in row.reason and "unpack" not in row.reason, (row.nodeid, row.reason)


RAW_CRASH = re.compile(r"^(IndexError|KeyError|TypeError|ValueError|AttributeError|StopIteration)\b|gufunc|core dimension|"
                       r"not subscriptable|cannot unpack|has no len|cannot be interpreted as an integer")


@pytest.mark.parametrize("module, filename, old, new, said", [
    ("03", "layers.py", "        visit(self)\n        return found\n", "        visit(self)\n        return iter(found)\n",
     "should return a list, got a list_iterator"),
    ("05", "data.py", "return full + (1 if rest and not self.drop_last else 0)", "return len(self.dataset) / self.batch_size",
     "(an int), got 3.3"),
], ids=["parameters-as-iterator", "len-as-float"])
def test_a_wrong_return_type_is_named_by_the_tests_not_by_their_own_crash(module: str, filename: str, old: str, new: str,
                                                                         said: str, tmp_path: Path) -> None:
    """parameters() returning an iterator, DataLoader.__len__ a float: every failing test says what
    it expected; none fails with its own TypeError from len() without a place in tinytorch/"""
    impl = _submission(tmp_path, "wrong_type", {filename: (old, new)})
    report = grade(impl, resolve_targets([module], CFG), cfg=CFG, hidden=True, public=True)
    failed = [r for r in report.rows if r.outcome is Outcome.FAILED]
    assert failed, "the wrong return type passed every test"
    crashes = [(r.nodeid, r.reason) for r in failed if RAW_CRASH.search(r.reason) and "(at tinytorch/" not in r.reason]
    assert not crashes, crashes
    assert any(said in r.reason for r in failed), [r.reason for r in failed]


def _on_a_terminal(env: dict[str, str]) -> bytes:
    """What `grader check 01` writes to a pseudo-terminal."""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([*GRADER, "check", "01"], stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                            env={**PLAIN_ENV, **env})
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:             # the terminal closed: the grader has exited
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 1, out[-2000:]
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as Linux has them")
def test_on_a_terminal_term_dumb_writes_no_escapes_and_no_color_writes_no_colours() -> None:
    """On a real terminal: TERM=dumb gets no escape sequence at all, NO_COLOR no colour or style (SGR)"""
    dumb = _on_a_terminal({"TERM": "dumb"})
    assert b"\x1b" not in dumb and b"Next:" in dumb, dumb[-2000:]
    plain = _on_a_terminal({"TERM": "xterm", "NO_COLOR": "1"})
    assert not re.search(rb"\x1b\[[0-9;]*m", plain) and b"Next:" in plain, plain[-2000:]


def test_the_first_unfinished_module_is_listed_even_after_modules_that_wait(tmp_path: Path) -> None:
    """Losses and Autograd still stubs: Modules 02-03 only wait, Losses' TODOs are listed, Autograd gets one line"""
    impl = _submission(tmp_path, "mid_course", {})
    for name in ("losses.py", "autograd.py"):
        shutil.copyfile(assignments_dir() / "tinytorch" / name, impl / "tinytorch" / name)
    report = grade(impl, resolve_targets(["all"], CFG), cfg=CFG, hidden=False)
    text = _render(report)
    assert re.search(r"implement CrossEntropyLoss forward \(tinytorch/losses\.py:\d+\)", text), text
    assert "Not started yet: Module 06;" in text and "Module 04" in next_step(report, CFG), text
