"""Batch grading end to end: a generated class of 28 submissions (29 students) in every shape
grades into a complete CSV; a rerun skips what is done; SIGKILL midway and a rerun give the
identical CSV; SIGINT and SIGTERM stop cleanly; timeouts and grader failures are rows.

All through `python -m grader.batch.cli` in a subprocess, with the real engine and sandbox;
targets 01 and 05 (20 points) keep it quick, since the point here is the batch machinery."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.batch.proctree import descendants
from grader.paths import repo_root

from batch_kit import EXPECTED, copy_class, grade_cmd, make_class, read_csv, run_grade

pytestmark = [pytest.mark.timeout(900), pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")]

TARGETS = ("--targets", "01", "05")


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_class(tmp_path_factory.mktemp("batch") / "class")


@pytest.fixture(scope="module")
def graded(klass: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("batch") / "out"
    return out, run_grade(str(klass), "--out", str(out), *TARGETS, "--jobs", "2")


def _job_pids(root: int) -> list[int]:
    found = []
    for pid in descendants(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"grader.batch.job" in cmdline:
            found.append(pid)
    return found


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:          # it just finished
        return ""


def _wait_for_jobs(batch: int, count: int, seconds: float = 60.0) -> list[int]:
    """Pids of the batch's job processes, once at least `count` run."""
    deadline = time.monotonic() + seconds
    while len(jobs := _job_pids(batch)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} grading jobs started in {seconds:g} s"
        time.sleep(0.02)
    return jobs


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


def _wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


def _start(klass: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(grade_cmd(str(klass), "--out", str(out), *TARGETS, "--progress", "lines", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=repo_root())


def _read_until(proc: subprocess.Popen[str], graded: int) -> list[str]:
    """Lines of output until `graded` submissions finished grading (rejected ones do not count)."""
    lines: list[str] = []
    assert proc.stdout is not None
    while sum("]" in line and "  graded  " in line for line in lines) < graded:
        line = proc.stdout.readline()
        assert line, f"the batch ended early:\n{''.join(lines)}"
        lines.append(line)
    return lines


def test_class_grades_into_a_complete_csv_with_one_row_per_student(graded) -> None:
    out, result = graded
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_csv(out / "grades.csv")
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == len(by_id) == len(EXPECTED) == 29
    wrong = {sid: (by_id[sid]["status"], by_id[sid]["total"]) for sid, (status, total) in EXPECTED.items()
             if (by_id[sid]["status"], float(by_id[sid]["total"])) != (status, total)}
    assert not wrong, f"rows that differ from what the submission earns: {wrong}"
    assert all(r["max"] == "20" for r in rows)
    assert (by_id["mix_carol"]["01 tensor"], by_id["mix_carol"]["05 data"]) == ("12", "0")
    assert by_id["2002"]["submission"] == by_id["2003"]["submission"] == "2002+2003"
    assert (by_id["2002"]["name"], by_id["2002"]["email"]) == ("Lee Ho", "lee@uni.edu")
    assert "escapes the submission folder" in by_id["slip_mo"]["reason"]
    assert "duplicate student id '2001'" in by_id["2001"]["reason"] and "submission_9001" in by_id["2001"]["source"]


def test_every_submission_has_results_feedback_and_a_record(graded) -> None:
    out, _ = graded
    manifest = json.loads((out / "batch.json").read_text())
    for unit in manifest["units"]:
        folder = out / unit["key"]
        results = json.loads((folder / "results.json").read_text())
        assert set(results) >= {"score", "tests", "output"}
        assert (folder / "feedback.md").read_text().startswith("# tinytorch · grading feedback")
        assert json.loads((folder / "record.json").read_text())["status"] in ("graded", "rejected input")
    assert not list(out.rglob(".*-*")), "a temporary file of an atomic write was left behind"


def test_feedback_shows_visible_checks_and_counts_hidden_ones(graded) -> None:
    out, _ = graded
    text = (out / "mix_carol" / "feedback.md").read_text()
    assert "## Module 05 · DataLoader: 0 / 8 points" in text and "Hidden checks:" in text
    assert "✓ passed" in text and "○ not started" in text
    rejected = (out / "symlink_ola" / "feedback.md").read_text()
    assert "rejected input" in rejected and "symbolic link" in rejected and "## Module" not in rejected


def test_summary_gives_distribution_pass_rates_slowest_and_every_problem(graded) -> None:
    out, _ = graded
    data = json.loads((out / "summary.json").read_text())
    assert data["by_status"] == {"graded": 17, "grading error": 0, "rejected input": 11, "timeout": 0}
    assert data["distribution"]["count"] == 17 and data["distribution"]["max"] == 20
    assert sum(b["count"] for b in data["distribution"]["bins"]) == 17
    rates = {t["test"]: t for t in data["tests"]}
    assert all(t["graded"] == 17 for t in rates.values())
    assert any(t["test"].startswith("Module 05") and t["passed"] == 11 for t in rates.values())
    problems = {p["submission"] for p in data["problems"] if p["status"] == "rejected input"}
    assert problems == {sid for sid, (status, _) in EXPECTED.items() if status == "rejected input"}
    assert any("duplicate student id '2001'" in p["reason"] for p in data["problems"])
    assert len(data["slowest"]) == 10
    md = (out / "summary.md").read_text()
    for heading in ("## Score distribution", "## Pass rate per test", "## Slowest gradings", "## Problems"):
        assert heading in md


def test_rerun_skips_what_is_graded_and_writes_the_same_csv(graded, klass: Path) -> None:
    out, first = graded
    before = (out / "grades.csv").read_text()
    again = run_grade(str(klass), "--out", str(out), *TARGETS, "--jobs", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already graded") == 17, again.stdout
    assert (out / "grades.csv").read_text() == before


def test_sigkill_midway_then_rerun_gives_the_csv_of_an_uninterrupted_run(graded, klass: Path,
                                                                       tmp_path: Path) -> None:
    reference_out, _ = graded
    out = tmp_path / "killed"
    proc = _start(klass, out, "--jobs", "2")
    _read_until(proc, 5)
    jobs = _wait_for_jobs(proc.pid, 1)      # kill while a grading runs, not between two
    staging = [Path(cwd) for pid in jobs if (cwd := _cwd(pid))]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not _wait_gone(jobs), "a grading job outlived its SIGKILLed batch"
    assert staging
    from grader.batch.run import sweep_staging
    sweep_staging()      # the rerun's first step; a job stopped mid-start may leave its folder to it
    assert not [p for p in staging if p.exists()], "a staging folder of the killed batch was left behind"
    assert not (out / "grades.csv").exists()
    done = [p.parent.name for p in out.glob("*/record.json")
            if json.loads(p.read_text())["status"] == "graded"]
    assert 5 <= len(done) < 17
    rerun = run_grade(str(klass), "--out", str(out), *TARGETS, "--jobs", "2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("already graded") == len(done)
    assert read_csv(out / "grades.csv") == read_csv(reference_out / "grades.csv")


@pytest.fixture()
def small(klass: Path, tmp_path: Path) -> Path:
    root = tmp_path / "small"
    root.mkdir()
    for name in ("ref_alice", "flat_erin", "stubs_bob", "mix_carol"):
        copy_class(klass / name, root / name)
    return root


def test_sigint_finishes_running_gradings_writes_the_csv_of_what_is_done_and_exits_130(small: Path,
                                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(small, out, "--jobs", "1")
    lines = _read_until(proc, 1)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "stopping: nothing new starts" in rest
    rows = read_csv(out / "grades.csv")
    assert 1 <= len(rows) < 4 and all(r["status"] == "graded" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert sum(p["status"] == "not graded" for p in summary["problems"]) == 4 - len(rows)


def test_sigterm_stops_running_gradings_at_once_and_exits_143(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(small, out, "--jobs", "2")
    _wait_for_jobs(proc.pid, 2)
    time.sleep(0.5)
    jobs = _job_pids(proc.pid)
    assert jobs, "no grading job started"
    everything = [p for job in jobs for p in [job, *descendants(job)]]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert time.monotonic() - started < 15, "SIGTERM must not wait for running gradings"
    assert not _wait_gone(everything, 10), "a process of a stopped grading survived"
    assert (out / "grades.csv").exists()
    assert len(read_csv(out / "grades.csv")) < 4


def test_a_grading_past_the_time_limit_is_a_timeout_row(klass: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_grade(str(klass / "ref_alice"), "--out", str(out), *TARGETS, "--timeout", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    [row] = read_csv(out / "grades.csv")
    assert (row["status"], row["total"]) == ("timeout", "0")
    assert "ran past 0.5 s" in row["reason"]


def test_a_grader_failure_is_a_grading_error_row_retried_on_the_next_run(klass: Path, tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "conftest.py").write_text("import os\nos._exit(3)\n")   # the hidden-test session dies at start
    (hidden / "test_01_tensor.py").write_text("def test_x():\n    pass\n")
    out = tmp_path / "out"
    args = (str(klass / "ref_alice"), "--out", str(out), *TARGETS, "--hidden-dir", str(hidden))
    first = run_grade(*args)
    assert first.returncode == 1, first.stdout + first.stderr
    [row] = read_csv(out / "grades.csv")
    assert row["status"] == "grading error" and "hidden tests ended early (exit code 3)" in row["reason"]
    second = run_grade(*args)
    assert "already graded" not in second.stdout, "a grading error must be retried, not skipped"


def test_usage_errors_exit_2_and_say_what_to_give(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from grader.batch.cli import main
    assert main([str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--shard", "4/4"]) == 2
    assert main(["--merge", str(tmp_path)]) == 2
    assert "no batch.json" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "Exit status:" in capsys.readouterr().out


def test_shards_split_the_class_and_merge_says_what_is_missing_until_all_are_done(small: Path, tmp_path: Path) -> None:
    from grader.batch.shard import Shard
    out = tmp_path / "out"
    keys = sorted(p.name for p in small.iterdir())
    first = run_grade(str(small), "--out", str(out), *TARGETS, "--shard", "0/2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "shard 0/2 done" in first.stdout and not (out / "grades.csv").exists()
    mine = sorted(k for k in keys if Shard(0, 2).owns(k))
    assert sorted(p.parent.name for p in out.glob("*/record.json")) == mine
    partial = subprocess.run(grade_cmd("--merge", str(out)), capture_output=True, text=True, cwd=repo_root())
    assert partial.returncode == 1 and f"{len(keys) - len(mine)} submission(s) have no result yet" in partial.stderr
    second = run_grade(str(small), "--out", str(out), *TARGETS, "--shard", "1/2")
    assert second.returncode == 0, second.stdout + second.stderr
    merged = subprocess.run(grade_cmd("--merge", str(out)), capture_output=True, text=True, cwd=repo_root())
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert sorted(r["id"] for r in read_csv(out / "grades.csv")) == keys
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["0-of-2.json", "1-of-2.json"]


def test_relative_paths_work_from_any_working_directory(klass: Path, tmp_path: Path) -> None:
    (tmp_path / "in").symlink_to(klass / "ref_alice")
    config = tmp_path / "my-config.yaml"
    config.write_text((repo_root() / "grader" / "config.yaml").read_text())
    result = subprocess.run(grade_cmd("in/", "--out", "graded", "--config", "my-config.yaml", "--targets", "01",
                                      "--progress", "lines"), capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    [row] = read_csv(tmp_path / "graded" / "grades.csv")
    assert (row["status"], row["total"]) == ("graded", "12")
