"""Tamper suite, the trusted grader's side: submissions that attack the grader process itself
(its decoding, its report, its imports, its lifetime) rather than the sandbox. Each case
states the score it must get, the score of the honest equivalent:

- garbage from inside Sigmoid.forward (deeply nested values, hostile text, forged numbers,
  10 MB messages, 100 MB of output) is a Sigmoid that does not work: the *control*'s score
  (the reference with Sigmoid.forward left unimplemented);
- garbage that only touches what earns nothing (the public tests' rows, the folder's name, the
  working directory) leaves the reference's full marks.

After every case: no process of the grading's sandbox uids is left, its private temp folder
(TMPDIR) is empty, the report renders with no raw escape character of the submission's, and
results.json is strict JSON. The CLI cases check the real `grader check` process: the working
directory's modules are never imported, a killed grader leaves a valid results.json, SIGTERM
writes what finished.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from rich.console import Console

from grader.config import load_config
from grader.core.outcomes import Outcome, Source
from grader.core.rows import SectionKind
from grader.engine.grade import GradeReport
from grader.export.results_json import write_results_json
from grader.paths import assignments_dir, hidden_tests_dir, public_tests_dir, repo_root
from grader.report.render import render
from grader.testing.probe import neutral_source

from tamper_kit import grade_leased, leftovers, make_submission, sandbox_processes, sigmoid_forward, tamper_config

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux"),
]

TARGET = "02"
CFG = load_config()
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE_TEXT = "\ud800 \x1b[2J\x1b[32m✓ passed  Total: 277 checks: 277 passed\x1b[0m [/] [bold red]forged[/bold red] \u202e"
CORRECT_SIGMOID = """
import numpy as np
z = np.exp(-np.abs(x.data))
out = np.where(x.data >= 0, 1 / (1 + z), z / (1 + z))
return make_result(out, (x,), ag.sigmoid_backward, out)
"""


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def private_tmp() -> Iterator[Path]:
    """A TMPDIR of this module's own (traversable by the sandbox uids), so leftovers are ours."""
    folder = Path(tempfile.mkdtemp(prefix="tamper-grader-tmp-", dir="/tmp"))
    os.chmod(folder, 0o711)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder
    os.rmdir(folder)  # fails (and so flags it) if a case left anything behind


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper-grader")


@pytest.fixture(scope="module")
def cfg(work: Path):
    return tamper_config(work)


@pytest.fixture(scope="module")
def scores(work: Path, cfg, private_tmp: Path) -> dict[str, float]:
    """The reference and the control (Sigmoid.forward not implemented), graded once."""
    control = make_submission(work, "control", append=sigmoid_forward('raise NotImplementedError("Module 02: Sigmoid forward")'))
    out = {"reference": graded(make_submission(work, "reference"), cfg, private_tmp).score,
           "control": graded(control, cfg, private_tmp).score, "max": cfg.modules[TARGET].points}
    assert out["reference"] == out["max"] and 0 < out["control"] < out["max"], out
    return out


def graded(sub: Path, cfg, tmp: Path, *, public: bool = False, **options: Any) -> GradeReport:
    """Grade `sub` on Module 02 (hidden tests, and the public ones with `public`), then check
    that nothing is left behind and that the report and results.json come out clean."""
    report = grade_leased(sub, TARGET, cfg, hidden=True, public=public, **options)
    assert sandbox_processes() == [], sandbox_processes()
    assert leftovers(tmp) == [], f"temp space left behind: {leftovers(tmp)}"
    check_outputs(report, tmp.parent / f"{tmp.name}-results.json")
    return report


def check_outputs(report: GradeReport, path: Path) -> dict[str, Any]:
    """The rendered report has no escape but rich's own colours; results.json is strict JSON."""
    for colour in (False, True):
        out = io.StringIO()
        render(report, CFG, Console(file=out, width=120, force_terminal=colour,
                                                   color_system="truecolor" if colour else None))
        assert "\x1b" not in RICH_SGR.sub("", out.getvalue()), "a raw escape sequence reached the report"
    write_results_json(report, path)
    try:
        return strict_json(path.read_text(encoding="utf-8"))
    finally:
        path.unlink()


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")
    data = json.loads(text, parse_constant=refuse)
    assert "\x1b" not in text
    return data


def reasons(report: GradeReport) -> list[str]:
    return [r.reason for r in report.rows]


# ------------------------------------------------------------- garbage from inside Sigmoid.forward
_REPORTER = ("import sys\nframe = sys._getframe()\nwhile 'reporter' not in frame.f_locals:\n    frame = frame.f_back\n"
             "reporter = frame.f_locals['reporter']\n")
NESTED = {
    "returns_a_deep_list": "deep = []\nfor _ in range(100_000):\n    deep = [deep]\nreturn deep",
    "tensor_with_deep_data": ("deep = []\nfor _ in range(100_000):\n    deep = [deep]\n"
                              "t = Tensor.__new__(Tensor)\nt.data = deep\nreturn t"),
    "raises_with_deep_args": "deep = []\nfor _ in range(100_000):\n    deep = [deep]\nraise ValueError(deep)",
    # the worker's own reporter sends the probe's result: 400 levels deep, or two million values
    "worker_sends_a_deep_tree": (_REPORTER + "deep = {'L': []}\nfor _ in range(400):\n    deep = {'L': [deep]}\n"
                                 "reporter.send('ok', tree={'out': deep})"),
    "worker_sends_two_million_values": _REPORTER + "reporter.send('ok', tree={'out': {'L': [1] * 2_000_000}})",
}


@pytest.mark.parametrize("trick", sorted(NESTED))
def test_deeply_nested_values_score_the_control(trick: str, work: Path, cfg, scores, private_tmp: Path) -> None:
    report = graded(make_submission(work, f"nested_{trick}", append=sigmoid_forward(NESTED[trick])), cfg, private_tmp,
                    public=True)
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]


MESSAGES = {
    "surrogate_ansi_markup": f"raise ValueError({HOSTILE_TEXT!r})",
    "ten_megabytes": "raise ValueError('x' * 10_000_000)",
    "ten_megabytes_of_words": "raise ValueError('[/] \\x1b[2J ' * 1_000_000)",
    "unprintable": "class Bad(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Bad()",
    "hostile_class_name": f"raise type({HOSTILE_TEXT!r}, (Exception,), {{}})('boom')",
}


@pytest.mark.parametrize("trick", sorted(MESSAGES))
def test_hostile_exception_messages_score_the_control_and_print_as_plain_text(trick: str, work: Path, cfg, scores,
                                                                              private_tmp: Path) -> None:
    start = time.monotonic()
    report = graded(make_submission(work, f"message_{trick}", append=sigmoid_forward(MESSAGES[trick])), cfg, private_tmp,
                    public=True)
    assert report.score == scores["control"]
    assert time.monotonic() - start < 120
    if trick == "surrogate_ansi_markup":
        shown = " ".join(reasons(report))
        assert "[/]" in shown and "\\x1b[2J" in shown and "\ufffd" in shown, "the message should show, made visible"


def test_forged_worker_results_with_inf_and_huge_counts_score_the_control(work: Path, cfg, scores,
                                                                          private_tmp: Path) -> None:
    """Sigmoid.forward finds the worker's result descriptor and writes its own envelope:
    Infinity, NaN and a 4000-digit integer where arrays and counts belong."""
    body = _REPORTER + """
import os
big = "9" * 4000
envelope = ('{"status": "ok", "error_type": null, "error_message": "", "values": {"out": Infinity, '
            '"relu": NaN, "tanh": -Infinity, "count": ' + big + ', "shapes": {"L": [' + big + ']}}}')
os.ftruncate(reporter.npz_fd, 0)
os.ftruncate(reporter.json_fd, 0)
os.pwrite(reporter.json_fd, envelope.encode(), 0)
os._exit(0)
"""
    report = graded(make_submission(work, "forged_envelope", append=sigmoid_forward(body)), cfg, private_tmp)
    assert report.score == scores["control"]
    assert any("shape (), expected (3, 6)" in r for r in reasons(report)), \
        f"the forged infinity should reach the tests as a value: {reasons(report)}"


def test_a_probe_that_prints_100_megabytes_scores_the_control(work: Path, cfg, scores, private_tmp: Path) -> None:
    """100 MB of output is past the probe's file-size limit: the worker is stopped, as for any
    resource limit, and only the checks that need Sigmoid lose their points."""
    body = "import sys\nchunk = 'y' * 1_000_000\nfor _ in range(100):\n    sys.stdout.write(chunk)\nsys.stdout.flush()\n" \
        + CORRECT_SIGMOID.strip()
    start = time.monotonic()
    report = graded(make_submission(work, "prints_100mb", append=sigmoid_forward(body)), cfg, private_tmp)
    assert report.score == scores["control"], [(r.title, r.reason) for r in report.rows if r.outcome is not Outcome.PASSED]
    assert time.monotonic() - start < 180


# ------------------------------------------------ hostile data where nothing can be earned
def test_forged_public_rows_with_hostile_data_earn_nothing_and_crash_nothing(work: Path, cfg, scores,
                                                                             private_tmp: Path) -> None:
    """The public tests run beside the submission, which appends hostile lines to the plugin's
    rows file: nested 100,000 deep, Infinity and 4000-digit counts and times, lone surrogates,
    ANSI, markup in section keys, unknown modules, a forged "grading error"."""
    big = "9" * 4000
    lines = [
        "[" * 100_000,
        '{"kind": "collected", "count": 1e999}',
        '{"kind": "collected", "count": ' + big + "}",
        '{"kind": "row", "row": {"section": ["module", "02"], "title": "\\ud800\\u001b[2J forged", "outcome": "passed", '
        '"seconds": Infinity, "points": 100, "nodeid": "x::y"}}',
        '{"kind": "row", "row": {"section": ["module", "99"], "title": "[bold red]x", "outcome": "passed", "seconds": ' + big + "}}",
        '{"kind": "row", "row": {"section": ["module", "\\u00b2"], "title": "superscript", "outcome": "passed"}}',
        '{"kind": "row", "row": {"section": ["session", "[/]"], "title": "grading error: everything passed", '
        '"outcome": "error", "reason": "[/] \\u001b[31m"}}',
        '{"kind": "stuck", "location": "\\u001b[2J[/]"}',
        '{"kind": "row", "row": {"section": ["module", "02"], "title": "t", "outcome": [[[[]]]], "visibility": {"x": 1}}}',
    ]
    code = f"""
import os
if os.path.exists("rows.jsonl"):
    with open("rows.jsonl", "a") as fh:
        fh.write("\\n".join({lines!r}) + "\\n")
"""
    sub = make_submission(work, "hostile_public_rows", append={"__init__.py": code})
    report = graded(sub, cfg, private_tmp, public=True)
    assert report.score == scores["reference"]
    forged = [r for r in report.rows if "forged" in r.title or r.section.key in ("99", "[/]")]
    assert forged, "the forged rows should reach the grader (else this test proves nothing)"
    assert all(r.source is Source.PUBLIC and r.points is None for r in forged)
    assert not report.session_errors, [(r.title, r.reason) for r in report.session_errors]


def test_a_submission_folder_named_with_markup_and_escapes(work: Path, cfg, scores, private_tmp: Path) -> None:
    """`grader check --impl '<folder>'` where the folder's name is rich markup with an escape."""
    sub = make_submission(work, "[bold red]forged[link=x] \x1b[2J\u202e")
    out = private_tmp.parent / f"{private_tmp.name}-markup.json"
    run = run_cli(["check", TARGET, "--impl", str(sub), "--hidden", "--no-public", "--json", str(out)],
                  cwd=work, tmp=private_tmp)
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        data = strict_json(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    assert data["score"] == scores["reference"]
    assert "[bold red]forged[link=x] \\x1b[2J\\u202e" in run.stdout.replace("\n", "")
    assert "\x1b" not in run.stdout + run.stderr
    assert leftovers(private_tmp) == []


def test_a_preview_of_another_folder_cannot_modify_the_kit(work: Path, cfg, private_tmp: Path) -> None:
    """`grader check 02 --impl SUBMISSION` without --hidden (an instructor's preview) runs the
    public tests in a sandbox worker: the submission's attempt to rewrite the grader, a hidden
    test and the stubs changes nothing, and the next grading of the stubs still scores 0."""
    victims = [repo_root() / "grader" / "engine" / "grade.py", repo_root() / "grader" / "core" / "rows.py",
               hidden_tests_dir() / "test_02_activations.py", assignments_dir() / "tinytorch" / "__init__.py"]
    before = {p: p.read_bytes() for p in victims}
    created = repo_root() / "grader" / "engine" / "results.py"
    code = f"""
for path in {[str(p) for p in victims] + [str(created)]!r}:
    try:
        with open(path, "a") as fh:
            fh.write("\\nraise SystemExit('pwned')\\n")
    except OSError:
        pass
"""
    sub = make_submission(work, "preview_writer", append={"__init__.py": code})
    try:
        report = grade_leased(sub, TARGET, cfg, hidden=False, public=True)
        changed = [str(p) for p in victims if p.read_bytes() != before[p]] + ([str(created)] if created.exists() else [])
    finally:  # should the sandbox fail, leave the kit as it was for the next test
        for path, data in before.items():
            if path.read_bytes() != data:
                path.write_bytes(data)
        created.unlink(missing_ok=True)
    assert changed == [], f"a preview changed the kit: {changed}"
    assert any(r.source is Source.PUBLIC for r in report.rows) and report.score == 0
    assert sandbox_processes() == [] and leftovers(private_tmp) == []
    assert graded(make_submission(work, "stubs_after_preview", base="assignments"), cfg, private_tmp).score == 0


# ---------------------------------------------------------------------- names of hidden tests
def hidden_names(path: Path) -> set[str]:
    """What must never reach a worker: the file's name, its tests' names and titles, and the
    names of the probes they call (where the probe's code does not show that word anyway)."""
    text = path.read_text()
    tree = ast.parse(text)
    names = {path.stem}
    for test in [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]:
        names.add(test.name)
        doc = ast.get_docstring(test) or ""
        if doc.strip():
            names.add(doc.strip().splitlines()[0].strip())
        nested = {n.name: n for n in ast.walk(test) if isinstance(n, ast.FunctionDef) and n is not test}
        for call in ast.walk(test):
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "probe" and call.args \
                    and isinstance(call.args[0], ast.Name) and call.args[0].id in nested:
                node = nested[call.args[0].id]
                sent = neutral_source(textwrap.dedent(ast.get_source_segment(text, node, padded=True)), node.name)
                if node.name not in sent:
                    names.add(node.name)
    return names


def test_probe_names_and_hidden_test_names_never_reach_the_worker(work: Path, cfg, scores, private_tmp: Path) -> None:
    """Sigmoid.forward searches everything the worker can see (every frame's code and
    variables, the probe's source, the environment, its command line, the files beside it)
    for the names of Module 02's hidden tests and probes, and relays any it finds into its
    error message, which visible rows show. None may be found."""
    public = "\n".join(f"{p.name}\n{p.read_text()}" for p in sorted(public_tests_dir().glob("*.py")))  # shipped anyway
    secrets = sorted(n for n in hidden_names(hidden_tests_dir() / "test_02_activations.py") if n not in public)
    assert "sigmoid_forward" in secrets and "test_sigmoid_forward_matches_the_logistic_function" in secrets
    body = f"""
import os, sys, types
secrets = {secrets!r}
seen = []
def strings(value, depth=0):
    if depth > 4:
        return
    if isinstance(value, str):
        seen.append(value)
    elif isinstance(value, types.CodeType):
        seen.extend([value.co_name, value.co_qualname, value.co_filename, *value.co_names, *value.co_varnames])
        for const in value.co_consts:
            strings(const, depth + 1)
    elif isinstance(value, dict):
        for key, item in list(value.items())[:200]:
            strings(key, depth + 1)
            strings(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in list(value)[:200]:
            strings(item, depth + 1)
frame = sys._getframe()
while frame is not None:
    if "tinytorch" not in frame.f_code.co_filename:     # not this very code, which holds the list
        strings(frame.f_code)
        strings(frame.f_locals)
    frame = frame.f_back
strings(dict(os.environ))
strings(sys.argv)
for name in ("/proc/self/cmdline", "/proc/self/environ"):
    try:
        seen.append(open(name, "rb").read().decode("latin1"))
    except OSError:
        pass
for entry in os.listdir("."):
    seen.append(entry)
    try:
        if os.path.isfile(entry) and os.path.getsize(entry) < 1_000_000:
            seen.append(open(entry, "rb").read().decode("latin1"))
    except OSError:
        pass
text = "\\n".join(seen)
found = [s for s in secrets if s in text]
if found:
    raise ValueError("LEAKED " + ", ".join(found))
raise ValueError("nothing found")
"""
    report = graded(make_submission(work, "relay_names", append=sigmoid_forward(body)), cfg, private_tmp, public=True)
    assert report.score == scores["control"]
    assert any("nothing found" in r for r in reasons(report)), "the search should have run (else this test proves nothing)"
    assert not any("LEAKED" in r for r in reasons(report)), [r for r in reasons(report) if "LEAKED" in r]


# -------------------------------------------------------------------------- a grading's lifetime
SLEEPING_SIGMOID = "import time\ntime.sleep(10_000)"


def test_a_grading_past_its_deadline_is_stopped_and_keeps_what_finished(work: Path, cfg, scores,
                                                                          private_tmp: Path) -> None:
    sub = make_submission(work, "deadline", append=sigmoid_forward(SLEEPING_SIGMOID))
    start = time.monotonic()
    report = graded(sub, cfg, private_tmp, public=True, deadline_seconds=6)
    took = time.monotonic() - start
    assert took < 6 + 20, f"the grading took {took:.0f} s past a 6 s deadline"
    errors = [r for r in report.session_errors if r.title.startswith("grading error: deadline")]
    assert len(errors) == 1 and errors[0].outcome is Outcome.ERROR, [(r.title, r.reason) for r in report.rows]
    assert report.score <= scores["control"]
    assert any(r.outcome is Outcome.PASSED and r.source is Source.HIDDEN for r in report.rows), "finished rows are kept"


def test_a_session_killed_mid_probe_leaves_no_temp_dirs(work: Path, cfg, private_tmp: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A hidden-test session SIGKILLed (not SIGTERMed) while its probe's worker sleeps cannot
    remove that probe's temp dir: the grader removes it."""
    from grader.engine import watchdog
    signal_child = watchdog.signal_child
    monkeypatch.setattr(watchdog, "signal_child", lambda pid, parent, _sig: signal_child(pid, parent, signal.SIGKILL))
    sub = make_submission(work, "no-grace", append=sigmoid_forward(SLEEPING_SIGMOID))
    report = graded(sub, cfg, private_tmp, deadline_seconds=4)
    assert [r.title for r in report.session_errors if r.title.startswith("grading error: deadline")], \
        [(r.title, r.reason) for r in report.rows]


def run_cli(args: list[str], *, cwd: Path, tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "400"})


def test_modules_in_the_working_directory_are_never_imported(work: Path, private_tmp: Path) -> None:
    """`python -m grader.cli check` run from a submission's folder that holds numpy.py, yaml.py
    and rich.py (and sitecustomize.py): none is imported, and grading works."""
    sub = make_submission(work, "cwd_modules")
    marker = work / "cwd-markers"
    marker.mkdir()
    for name in ("numpy", "yaml", "rich", "sitecustomize", "pytest", "json", "zipfile", "csv"):
        (sub / f"{name}.py").write_text(f"open({str(marker / name)!r}, 'w').close()\nraise ImportError('{name} from cwd')\n")
    out = private_tmp.parent / f"{private_tmp.name}-cwd.json"
    run = run_cli(["check", "01", "--impl", str(sub), "--hidden", "--json", str(out)], cwd=sub, tmp=private_tmp)
    try:
        assert sorted(p.name for p in marker.iterdir()) == [], "a module of the working directory was imported"
        assert run.returncode == 0, run.stdout + run.stderr
        assert strict_json(out.read_text(encoding="utf-8"))["score"] == 12
    finally:
        out.unlink(missing_ok=True)
    assert leftovers(private_tmp) == []


@contextlib.contextmanager
def cli_in_background(sub: Path, out: Path, tmp: Path, work: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """`grader check 01 02 --hidden --json out` on `sub`, started and left running."""
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "check", "01", "02", "--impl", str(sub), "--hidden",
                             "--json", str(out), *extra], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp)})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def wait_until_midway(proc: subprocess.Popen[str], tmp: Path, sessions: int, seconds: float = 90) -> None:
    """Until `sessions` test sessions have run at once and one of them (Module 01's hidden
    tests, which do not need Sigmoid) has finished: then the grading is midway."""
    deadline = time.monotonic() + seconds
    most = 0
    while time.monotonic() < deadline and proc.poll() is None:
        running = len([p for p in leftovers(tmp) if p.startswith("grader-session-")])
        most = max(most, running)
        if most == sessions and running == sessions - 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"the grading did not reach its midpoint (exit code {proc.poll()}, {most} sessions seen)")


def grader_children(pid: int) -> list[int]:
    """Processes whose environment names `pid` as their grader (its hidden-test sessions)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and f"TINYTORCH_GRADER_PID={pid}".encode() in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_killed_grader_leaves_a_valid_results_json_saying_so(work: Path, private_tmp: Path) -> None:
    """Without public tests: the grader itself then runs no probe, and everything it started
    (the hidden-test sessions and their workers) must end with it."""
    sub = make_submission(work, "sigkill", append=sigmoid_forward(SLEEPING_SIGMOID))
    out = work / "sigkill-results.json"
    with cli_in_background(sub, out, private_tmp, work, "--no-public") as proc:
        wait_until_midway(proc, private_tmp, sessions=2)
        assert grader_children(proc.pid), "the hidden sessions should be running"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while (grader_children(proc.pid) or leftovers(private_tmp)) and time.monotonic() < deadline:
            time.sleep(0.2)
    data = strict_json(out.read_text(encoding="utf-8"))
    assert data["score"] == 0 and "/ 20 points" in data["output"]
    assert [t["name"] for t in data["tests"]] == ["Grading error · grading error: the grader did not finish"]
    assert data["tests"][0]["visibility"] == "visible" and data["tests"][0]["score"] == 0
    assert grader_children(proc.pid) == [], "the hidden sessions must die with the grader"
    assert leftovers(private_tmp) == [], "the sessions remove their temp dirs and their probes'"


def test_sigterm_writes_what_finished(work: Path, private_tmp: Path) -> None:
    sub = make_submission(work, "sigterm", append=sigmoid_forward(SLEEPING_SIGMOID))
    out = work / "sigterm-results.json"
    with cli_in_background(sub, out, private_tmp, work) as proc:
        wait_until_midway(proc, private_tmp, sessions=3)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stdout + stderr
    data = strict_json(out.read_text(encoding="utf-8"))
    names = [t["name"] for t in data["tests"]]
    assert "Grading error · grading error: stopped by SIGTERM" in names, names
    module_01 = [t for t in data["tests"] if t["name"].startswith("Module 01")]
    assert module_01 and all(t["status"] == "passed" for t in module_01), "Module 01 finished before the SIGTERM"
    assert data["score"] >= 12
    assert grader_children(proc.pid) == [] and sandbox_processes() == []
    assert leftovers(private_tmp) == []
