"""A student's own check (`grader check` without --hidden, public tests in a plain subprocess)
answers fast and says where when the student's code hangs or explodes: an infinite loop, a
loop that swallows the time limit, a memory bomb, a syntax error, a milestone that fails.

Each case plants one fault in a copy of the reference and grades it with the real engine; each
checks the wall time, the message naming tinytorch/<file>:<line> and the rows that were kept.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

import pytest

from grader.config import load_config
from grader.core.outcomes import Outcome
from grader.core.rows import Row, SectionKind
from grader.core.targets import resolve_targets
from grader.engine.grade import GradeReport, grade
from grader.paths import solutions_dir

CFG = load_config()
LIMITS = CFG.student_check


def _plant(tmp: Path, filename: str, anchor: str, fault: str) -> tuple[Path, int]:
    """A copy of the reference with `fault` (lines, indented like `anchor`) inserted before the
    line holding `anchor`; returns the implementation folder and the fault's first line."""
    impl = tmp / "impl"
    shutil.copytree(solutions_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    path = impl / "tinytorch" / filename
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if anchor in line)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at:at] = [indent + line for line in fault.splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return impl, at + 1


def _check(impl: Path, targets: list[str], cfg=CFG) -> tuple[GradeReport, float]:
    """`grader check TARGETS` as a student runs it on their own checkout: not graded, public
    tests in a plain subprocess."""
    started = time.monotonic()
    report = grade(impl, resolve_targets(targets, cfg), cfg=cfg, hidden=False, sandbox_public=False)
    return report, time.monotonic() - started


def _module_rows(report: GradeReport, module: str) -> list[Row]:
    return [r for r in report.rows if r.module == module]


def _session_rows(report: GradeReport) -> list[Row]:
    return [r for r in report.rows if r.section.kind is SectionKind.SESSION]


def test_an_infinite_loop_in_fit_costs_each_test_its_short_limit_and_names_the_line(tmp_path: Path) -> None:
    impl, line = _plant(tmp_path, "training.py", "for epoch in range(epochs):", "while True:\n    pass")
    report, seconds = _check(impl, ["08"])
    rows = _module_rows(report, "08")
    timeouts = [r for r in rows if r.outcome is Outcome.TIMEOUT]
    assert len(timeouts) == 4 and all(r.outcome is Outcome.PASSED for r in rows if r not in timeouts), \
        [(r.title, r.outcome) for r in rows]
    where = f"tinytorch/training.py:{line} in fit"
    assert all(where in row.reason for row in timeouts), [row.reason for row in timeouts]
    # Two tests meet the loop at their full limit; from then on a test gets the shorter one.
    assert [f"after {LIMITS.test_seconds:g} s" in row.reason for row in timeouts] == [True, True, False, False]
    assert all(f"after {LIMITS.repeat_test_seconds:g} s" in row.reason and "same line" in row.reason
               for row in timeouts[2:]), [row.reason for row in timeouts]
    assert not _session_rows(report), [(r.title, r.reason) for r in _session_rows(report)]
    assert not any("Timeout +++" in r.output or "threading.py" in r.output for r in timeouts), \
        "pytest-timeout's own stack dump is not the student's output"
    # The four limits, plus starting pytest; a loaded machine gets a margin.
    assert seconds < 2 * LIMITS.test_seconds + 2 * LIMITS.repeat_test_seconds + 10, f"check 08 took {seconds:.1f} s"


SWALLOWING_LOOP = """\
while True:
    try:
        while True:
            pass
    except BaseException:
        pass"""


def test_a_loop_that_swallows_the_time_limit_is_killed_when_results_stop_and_named(tmp_path: Path) -> None:
    impl, line = _plant(tmp_path, "data.py", "for start in range(0, len(order)", SWALLOWING_LOOP)
    report, seconds = _check(impl, ["05"])
    rows = _module_rows(report, "05")
    assert [r for r in rows if r.outcome is Outcome.PASSED], "the tests before the loop keep their rows"
    session = _session_rows(report)
    assert len(session) == 1 and session[0].outcome is Outcome.TIMEOUT, [(r.title, r.reason) for r in session]
    found = re.search(r"tinytorch/data\.py:(\d+) in __iter__", session[0].reason)
    assert found and line <= int(found.group(1)) <= line + 5, session[0].reason
    assert "test_05_data.py::" in session[0].reason, session[0].reason
    assert seconds < LIMITS.stall_seconds + 15, f"check 05 took {seconds:.1f} s"


MEMORY_BOMB = """\
hoard = []
try:
    while True:
        hoard.append(np.ones(2 ** 21))
finally:
    del hoard
    with open(PEAK_FILE, "w") as out:
        out.write(open("/proc/self/status").read())"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the memory limit is Linux-only")
def test_a_memory_bomb_ends_with_a_clear_row_and_the_process_stays_under_its_limit(tmp_path: Path) -> None:
    impl, line = _plant(tmp_path, "data.py", "for start in range(0, len(order)", MEMORY_BOMB)
    peak_file = tmp_path / "peak.txt"
    data = impl / "tinytorch" / "data.py"
    data.write_text(data.read_text() + f"\nPEAK_FILE = {str(peak_file)!r}\n")
    cfg = dataclasses.replace(CFG, student_check=dataclasses.replace(LIMITS, memory_mb=512))
    report, seconds = _check(impl, ["05"], cfg)
    rows = _module_rows(report, "05")
    bombs = [r for r in rows if "MB" in r.reason]
    assert bombs and all(r.outcome is Outcome.FAILED for r in bombs), [(r.title, r.reason) for r in rows]
    assert "used more than 512 MB" in bombs[0].reason, bombs[0].reason
    assert f"tinytorch/data.py:{line + 3} in __iter__" in bombs[0].reason, bombs[0].reason
    assert [r for r in rows if r.outcome is Outcome.PASSED], "the other tests keep their rows"
    peak_kb = int(next(x for x in peak_file.read_text().splitlines() if x.startswith("VmPeak:")).split()[1])
    assert peak_kb <= 512 * 1024, f"the public-test process reached {peak_kb // 1024} MB"
    assert seconds < 30, f"check 05 took {seconds:.1f} s"


def test_a_syntax_error_in_optim_is_named_once_and_costs_only_the_modules_that_need_it(tmp_path: Path) -> None:
    impl, line = _plant(tmp_path, "optim.py", "def zero_grad(self)", "def broken(self)\n    pass")
    report, seconds = _check(impl, ["01", "02", "03", "04", "05", "06", "07", "08"])
    named = [r for r in report.rows if f"tinytorch/optim.py:{line}" in r.reason]
    assert len(named) == 1 and named[0].module == "07" and "SyntaxError" in named[0].reason, \
        [(r.module, r.title, r.reason) for r in named]
    assert not [r for r in report.rows if r.title.startswith("collecting")], "no file fails to collect"
    for module in ("01", "02", "03", "04", "05", "06"):
        rows = _module_rows(report, module)
        assert rows and all(r.outcome in (Outcome.PASSED, Outcome.WAITING) for r in rows), \
            [(r.title, r.outcome, r.reason) for r in rows if r.outcome is not Outcome.PASSED]
    for module in ("07", "08"):
        assert any(r.outcome is Outcome.FAILED and "optim.py could not be imported" in r.reason
                   for r in _module_rows(report, module)), module
    assert not _session_rows(report), [(r.title, r.reason) for r in _session_rows(report)]
    assert seconds < 30, f"check took {seconds:.1f} s"


def test_the_milestone_does_not_train_mnist_after_tinydigits_timed_out(tmp_path: Path) -> None:
    impl, line = _plant(tmp_path, "optim.py", "p.data -= self.lr * g", "while True:\n    pass")
    cfg = dataclasses.replace(CFG, student_check=dataclasses.replace(LIMITS, milestone_seconds={"tinydigits": 4}))
    loaders = {"tinydigits": __import__("grader.datasets", fromlist=["load_tinydigits"]).load_tinydigits,
               "mnist": lambda: pytest.fail("MNIST was loaded although TinyDigits failed")}
    started = time.monotonic()
    report = grade(impl, resolve_targets(["milestone03"], cfg), cfg=cfg, hidden=False, public=False,
                   sandbox_public=False, loaders=loaders)
    seconds = time.monotonic() - started
    rows = [r for r in report.rows if r.section.kind is SectionKind.MILESTONE]
    tiny = [r for r in rows if r.title.startswith(CFG.milestone["tinydigits"].title)]
    assert tiny and all(r.outcome is Outcome.TIMEOUT for r in tiny), [(r.title, r.outcome, r.reason) for r in rows]
    assert "graded runs allow" in tiny[0].reason, tiny[0].reason
    assert any(f"at tinytorch/optim.py:{n} in step" in tiny[0].reason for n in (line, line + 1)), tiny[0].reason  # its stack
    mnist = [r for r in rows if r.title.startswith(CFG.milestone["mnist"].title)]
    assert len(mnist) == 1 and mnist[0].outcome is Outcome.WAITING, [(r.title, r.reason) for r in mnist]
    assert "not run because TinyDigits" in mnist[0].reason, mnist[0].reason
    assert "mnist" not in report.milestone_runs
    assert seconds < 30, f"the milestone took {seconds:.1f} s"
