"""Tamper suite: submissions that try to cheat or break the grader get no more than they earned
and never stop grading. Each case states its score:

- a trick at import time, or a forgery on top of the stubs, must score what the stubs score (0);
- a trick inside one function must score exactly what the *control* scores: the reference
  with that same function left unimplemented (an honest, incomplete submission);
- a trick that fails because the sandbox blocks it must leave the reference's full marks.

All graded by the real engine: hidden tests in a pytest subprocess, student code only in
sandbox workers. Module 02 (activations) is the target: small, and its Sigmoid is used by
several hidden tests.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from grader.core.outcomes import Outcome, Source

PASSED = Outcome.PASSED
from grader.paths import hidden_tests_dir, repo_root

from tamper_kit import grade_hidden, grade_leased, make_submission, sandbox_processes, tamper_config

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux"),
]

TARGET = "02"
IN_SIGMOID = "activations.py"


def _evil_sigmoid(body: str) -> dict[str, str]:
    """Replace Sigmoid.forward with `body` (indented as a method body; `self`, `x` in scope)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return {IN_SIGMOID: f"def _tampered_forward(self, x):\n{indented}\n\nSigmoid.forward = _tampered_forward\n"}


def _returns(expr: str) -> dict[str, str]:
    """Sigmoid.forward returns Tensor(expr) (NumPy as np, the input as x)."""
    return _evil_sigmoid(f"import numpy as np\nreturn Tensor({expr})")


ZEROS = "np.zeros(x.shape, dtype=x.data.dtype)"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper")


@pytest.fixture(scope="module")
def cfg(work: Path):
    return tamper_config(work)


@pytest.fixture(scope="module")
def scores(work: Path, cfg) -> dict[str, float]:
    """Reference, stubs, the control (Sigmoid.forward not implemented) and an honest wrong
    answer (Sigmoid returns zeros of the right shape and dtype), graded once."""
    control = make_submission(work, "control", append=_evil_sigmoid('raise NotImplementedError("Module 02: Sigmoid forward")'))
    out = {
        "reference": grade_hidden(make_submission(work, "reference"), TARGET, cfg).score,
        "stubs": grade_hidden(make_submission(work, "stubs", base="assignments"), TARGET, cfg).score,
        "control": grade_hidden(control, TARGET, cfg).score,
        "zeros": grade_hidden(make_submission(work, "zeros", append=_returns(ZEROS)), TARGET, cfg).score,
        "max": cfg.modules[TARGET].points,
    }
    assert out["reference"] == out["max"], f"the reference must get full marks on module {TARGET}: {out}"
    assert out["stubs"] == 0, f"the stubs must score 0: {out}"
    assert 0 < out["control"] < out["max"], f"the control must lose some points, not all: {out}"
    return out


# ------------------------------------------------------------------ tricks at import: score 0
IMPORT_TRICKS = {
    "sys_exit_at_import": {"__init__.py": "import sys\nsys.exit(0)\n"},
    "os_exit_at_import": {"__init__.py": "import os\nos._exit(0)\n"},
    "exception_at_end_of_file": {"__init__.py": "raise RuntimeError('end of file')\n"},
    "infinite_loop_at_import": {"__init__.py": "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"},
}


@pytest.mark.parametrize("trick", sorted(IMPORT_TRICKS))
def test_trick_at_import_scores_zero(trick: str, work: Path, cfg, scores) -> None:
    report = grade_hidden(make_submission(work, trick, append=IMPORT_TRICKS[trick]), TARGET, cfg)
    assert report.score == 0, [(r.title, r.outcome, r.reason) for r in report.rows if r.outcome == PASSED]
    assert report.rows and all(r.reason for r in report.rows), "every failure must say why"


FORGERIES = {
    # on top of the stubs: try to make every check pass without implementing anything
    "patch_pytest_and_builtins": """
        import builtins, sys
        try:
            import pytest
            pytest.fail = lambda *a, **k: None
        except Exception:
            pass
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        for name in list(sys.modules):
            if name.startswith(("grader", "_pytest")):
                sys.modules[name] = None
    """,
    "patch_grader_modules": """
        try:
            import grader.testing.verdict as v
            v.values_of = lambda *a, **k: {}
        except Exception:
            pass
        try:
            import grader.core.rows as r
            r.Row.earned = property(lambda self: self.points or 0)
        except Exception:
            pass
    """,
    "patch_numpy_comparisons": """
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
    """,
    "write_fake_results_then_exit": """
        import atexit, json, os
        for name in ("result.json", "results.json", "rows.json", "output.json"):
            try:
                with open(name, "w") as fh:
                    json.dump({"status": "ok", "score": 100, "values": {}}, fh)
            except OSError:
                pass
        atexit.register(lambda: os._exit(0))
    """,
}


@pytest.mark.parametrize("trick", sorted(FORGERIES))
def test_forged_results_on_the_stubs_score_zero(trick: str, work: Path, cfg, scores) -> None:
    sub = make_submission(work, f"forge_{trick}", base="assignments", append={"__init__.py": FORGERIES[trick]})
    report = grade_hidden(sub, TARGET, cfg)
    assert report.score == scores["stubs"] == 0


# ------------------------------------------------------- tricks inside one call: score == control
CALL_TRICKS = {
    "sys_exit_in_call": "import sys\nsys.exit(0)",
    "os_exit_in_call": "import os\nos._exit(0)",
    "infinite_loop_catching_base_exception": "while True:\n    try:\n        pass\n    except BaseException:\n        pass",
    "sleep_past_the_deadline": "import time\ntime.sleep(10_000)",
    "disarm_signals_and_timers": (
        "import signal\nfor s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\nsignal.setitimer(signal.ITIMER_REAL, 0)\nsignal.alarm(0)\n"
        "while True:\n    pass"),
    "memory_bomb": "hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))",
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
    "huge_output": "import sys\nwhile True:\n    sys.stdout.write('x' * 1_000_000)",
}


@pytest.mark.parametrize("trick", sorted(CALL_TRICKS))
def test_trick_inside_a_call_scores_exactly_the_control(trick: str, work: Path, cfg, scores) -> None:
    body = CALL_TRICKS[trick]
    start = time.monotonic()
    report = grade_hidden(make_submission(work, trick, append=_evil_sigmoid(body)), TARGET, cfg)
    assert report.score == scores["control"], (
        f"{trick}: scored {report.score}, an honest submission without Sigmoid scores {scores['control']}")
    assert time.monotonic() - start < 240, "grading must not hang on a misbehaving submission"
    assert sandbox_processes() == []


# ------------------------------------- wrong values: no more than an honest wrong answer earns
@pytest.mark.parametrize("trick,expr", [
    ("returns_nan", "np.full(x.shape, np.nan, dtype=x.data.dtype)"),
    ("returns_inf", "np.full(x.shape, np.inf, dtype=x.data.dtype)"),
])
def test_nan_and_inf_score_what_a_wrong_answer_scores(trick: str, expr: str, work: Path, cfg, scores) -> None:
    """NaN and inf answers earn exactly what zeros of the right shape and dtype earn: only the
    checks that do not look at Sigmoid's values (e.g. its dtype)."""
    report = grade_hidden(make_submission(work, trick, append=_returns(expr)), TARGET, cfg)
    assert report.score == scores["zeros"] < scores["reference"]


def test_wrong_shapes_score_no_more_than_a_wrong_answer(work: Path, cfg, scores) -> None:
    sub = make_submission(work, "wrong_shape", append=_returns("np.zeros((1,) + x.shape, dtype=x.data.dtype)"))
    assert grade_hidden(sub, TARGET, cfg).score <= scores["zeros"]


# ------------------------------------------------- blocked by the sandbox: the reference's marks
def test_orphaned_children_are_killed_and_the_answer_still_counts(work: Path, cfg, scores) -> None:
    """A call that leaves a setsid'ed, double-forked child behind, then answers correctly."""
    body = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(10_000)
    os._exit(0)
import numpy as np
z = np.exp(-np.abs(x.data))
out = np.where(x.data >= 0, 1 / (1 + z), z / (1 + z))
return make_result(out, (x,), ag.sigmoid_backward, out)
"""
    report = grade_hidden(make_submission(work, "orphans", append=_evil_sigmoid(body)), TARGET, cfg)
    assert report.score == scores["reference"]
    assert sandbox_processes() == []


def test_reading_hidden_tests_and_data_from_disk_is_blocked(work: Path, cfg, scores) -> None:
    """The submission tries to read the hidden tests, the reference and the test data; if it
    could, it would fail loudly with their text. Blocked, it just computes Sigmoid."""
    secrets = [hidden_tests_dir() / "test_02_activations.py", repo_root() / "solutions" / "tinytorch" / "activations.py",
               repo_root() / "data" / "tinydigits.npz", Path.home() / ".cache" / "tinytorch-kit" / "mnist" / "mnist.npz"]
    body = f"""
leaked = []
for path in {[str(p) for p in secrets]!r}:
    try:
        with open(path, "rb") as fh:
            leaked.append(fh.read(4000).decode("latin1"))
    except OSError:
        pass
if leaked:
    raise AssertionError("LEAKED " + " ".join(leaked))
import numpy as np
z = np.exp(-np.abs(x.data))
out = np.where(x.data >= 0, 1 / (1 + z), z / (1 + z))
return make_result(out, (x,), ag.sigmoid_backward, out)
"""
    report = grade_hidden(make_submission(work, "reader", append=_evil_sigmoid(body)), TARGET, cfg)
    assert not any("LEAKED" in r.reason for r in report.rows), "a hidden file was read and shown"
    assert report.score == scores["reference"]


def test_writing_outside_the_work_dir_is_blocked(work: Path, cfg, scores) -> None:
    victim = hidden_tests_dir() / "test_02_activations.py"
    before = victim.read_bytes()
    outside = work / "outside-marker"
    code = f"""
for path in ({str(victim)!r}, {str(outside)!r}, {str(repo_root() / 'grader' / 'pwned.py')!r}):
    try:
        with open(path, "a") as fh:
            fh.write("# pwned\\n")
    except OSError:
        pass
"""
    report = grade_hidden(make_submission(work, "writer", append={"__init__.py": code}), TARGET, cfg)
    assert victim.read_bytes() == before
    assert not outside.exists()
    assert not (repo_root() / "grader" / "pwned.py").exists()
    assert report.score == scores["reference"]


def test_grading_twice_gives_the_same_rows(work: Path, cfg, scores) -> None:
    sub = make_submission(work, "twice", append=_evil_sigmoid("import os\nos._exit(3)"))
    first, second = grade_hidden(sub, TARGET, cfg), grade_hidden(sub, TARGET, cfg)
    assert [(r.title, r.outcome, r.reason) for r in first.rows] == [(r.title, r.outcome, r.reason) for r in second.rows]
    assert first.score == second.score == scores["control"]


def test_no_sandbox_process_survives_the_suite() -> None:
    assert sandbox_processes() == []


# ----------------------------------------------- the public tests of a graded run are sandboxed too
def test_public_tests_in_a_graded_run_cannot_touch_the_hidden_tests(work: Path, cfg, scores) -> None:
    """Public tests import the submission into their process: in a graded run that process is a
    sandbox worker, so rewriting a hidden test from there fails and changes no score."""
    victim = hidden_tests_dir() / "test_02_activations.py"
    before = victim.read_bytes()
    code = f"""
try:
    with open({str(victim)!r}, "w") as fh:
        fh.write("def test_everything_passes():\\n    pass\\n")
except OSError:
    pass
"""
    sub = make_submission(work, "public_writer", base="assignments", append={"__init__.py": code})
    report = grade_leased(sub, TARGET, cfg, hidden=True, public=True)
    assert victim.read_bytes() == before
    assert report.score == 0
    assert any(r.source is Source.PUBLIC for r in report.rows)


def test_forged_public_rows_earn_no_points(work: Path, cfg) -> None:
    """The stubs, plus code that makes every row the plugin writes claim 100 points, passed."""
    code = """
import json
_dumps = json.dumps
def _forged(obj, *args, **kwargs):
    if isinstance(obj, dict) and isinstance(obj.get("row"), dict):  # the plugin's row records
        obj = dict(obj, row=dict(obj["row"], outcome="passed", points=100, source="hidden", reason=""))
    return _dumps(obj, *args, **kwargs)
json.dumps = _forged
"""
    sub = make_submission(work, "public_forger", base="assignments", append={"__init__.py": code})
    report = grade_leased(sub, TARGET, cfg, hidden=True, public=True)
    forged = [r for r in report.rows if r.outcome == PASSED]
    assert forged, "the forgery should reach the grader (else this test proves nothing)"
    assert all(r.points is None and r.source is Source.PUBLIC for r in forged)
    assert report.score == 0
