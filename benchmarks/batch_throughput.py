"""CPU-seconds per graded submission and submissions per minute of `grader grade`, with the
sandbox's fork server (zygote) on and off, `--jobs 1` and `--jobs 2`, in one run.

Each configuration grades --copies copies of the reference solution (distinct student ids, so
nothing is skipped as already graded) with `grader grade --targets all` in a fresh output
folder. CPU time is the user + system time of the `grader grade` process and every process
below it that was reaped (os.wait4 of the batch: jobs, test sessions, sandbox workers, zygotes,
milestone training); wall time is the whole command. Every copy must score full marks, or the
row says how many did not. Configurations run interleaved for --rounds rounds (on, off, on,
off, ...), so a machine that gets busier affects them alike; the table gives each one's totals
over all rounds and the ratios measured side by side.

Examples (from the repository root; as root, as a graded run is):
    python benchmarks/batch_throughput.py                          # 4 copies, 1 round
    python benchmarks/batch_throughput.py --copies 6 --rounds 2 --json /tmp/batch.json
    python benchmarks/batch_throughput.py --modes on --jobs 2      # one configuration
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "solutions" / "tinytorch"
SWITCH = "TINYTORCH_SANDBOX_FORK_SERVER"    # grader/sandbox/zygote.py ENV_SWITCH


@dataclass
class Measure:
    mode: str               # "on" | "off": the fork server
    jobs: int
    submissions: int = 0
    full_marks: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def per_minute(self) -> float:
        return 60.0 * self.submissions / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_per_submission(self) -> float:
        return self.cpu_seconds / self.submissions if self.submissions else 0.0


def make_class(folder: Path, copies: int, tag: str) -> Path:
    """`copies` submission folders student-<tag>-<i>/ holding the reference module files."""
    modules = [p for p in sorted(REFERENCE.glob("*.py")) if not p.name.startswith("_")]
    for index in range(copies):
        target = folder / f"student-{tag}-{index:02d}"
        target.mkdir(parents=True)
        for module in modules:
            shutil.copyfile(module, target / module.name)
    return folder


def grader_command() -> list[str]:
    script = Path(sys.executable).with_name("grader")
    return [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from grader.cli import main; sys.exit(main())"]


def grade_once(work: Path, measure: Measure, copies: int, targets: str, round_index: int) -> None:
    """One `grader grade` of a fresh class; adds its wall and CPU time to `measure`."""
    tag = f"{measure.mode}{measure.jobs}r{round_index}"
    inputs = make_class(work / f"class-{tag}", copies, tag)
    out = work / f"graded-{tag}"
    env = {**os.environ, SWITCH: "1" if measure.mode == "on" else "0"}
    command = [*grader_command(), "grade", str(inputs), "--out", str(out), "--jobs", str(measure.jobs),
               "--targets", targets, "--progress", "lines"]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    measure.wall_seconds += time.monotonic() - started
    measure.cpu_seconds += usage.ru_utime + usage.ru_stime
    measure.submissions += copies
    full, problems = full_marks(out / "grades.csv")
    measure.full_marks += full
    for problem in problems:
        print(f"batch_throughput: ({tag}) {problem}", file=sys.stderr)
    if process.returncode != 0:
        tail = output.decode("utf-8", "replace")[-2000:]
        print(f"batch_throughput: grader grade ({tag}) exited with {process.returncode}:\n{tail}", file=sys.stderr)


def full_marks(grades_csv: Path) -> tuple[int, list[str]]:
    """(rows of grades.csv graded with total == max, a line for every other row)."""
    try:
        with open(grades_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        return 0, [f"no grades.csv: {exc}"]
    full = [row for row in rows if row.get("status") == "graded" and float(row.get("total") or 0) == float(row.get("max") or -1)]
    problems = [f"{row.get('id')}: {row.get('status')}, {row.get('total')}/{row.get('max')}: {row.get('reason', '')[:300]}"
                for row in rows if row not in full]
    return len(full), problems


def table(measures: list[Measure]) -> str:
    lines = ["| fork server | --jobs | submissions (full marks) | wall s | submissions/min | CPU-s per submission |",
             "| --- | --- | --- | --- | --- | --- |"]
    for m in measures:
        lines.append(f"| {m.mode} | {m.jobs} | {m.submissions} ({m.full_marks}) | {m.wall_seconds:.1f} | "
                     f"{m.per_minute:.1f} | {m.cpu_per_submission:.2f} |")
    found = {(m.mode, m.jobs): m for m in measures}
    notes = []
    for jobs in sorted({m.jobs for m in measures}):
        on, off = found.get(("on", jobs)), found.get(("off", jobs))
        if on and off and on.cpu_per_submission:
            notes.append(f"--jobs {jobs}: CPU per submission off/on = {off.cpu_per_submission / on.cpu_per_submission:.2f}x, "
                         f"submissions/min on/off = {on.per_minute / max(off.per_minute, 1e-9):.2f}x")
    for mode in ("on", "off"):
        one, two = found.get((mode, 1)), found.get((mode, 2))
        if one and two and one.per_minute:
            notes.append(f"fork server {mode}: --jobs 2 / --jobs 1 submissions/min = {two.per_minute / one.per_minute:.2f}x")
    return "\n".join(lines + [""] + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="reference submissions per grading run (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every configuration (default 1)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to compare (default 1 2)")
    parser.add_argument("--modes", nargs="+", choices=["on", "off"], default=["on", "off"], help="fork server on/off")
    parser.add_argument("--targets", default="all", help="what each grading grades (default all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    measures = [Measure(mode, jobs) for jobs in args.jobs for mode in args.modes]
    work = Path(tempfile.mkdtemp(prefix="batch-throughput-"))
    try:
        for round_index in range(args.rounds):
            order = measures if round_index % 2 == 0 else measures[::-1]
            for measure in order:
                before = measure.wall_seconds
                grade_once(work, measure, args.copies, args.targets, round_index)
                print(f"round {round_index + 1}: fork server {measure.mode}, --jobs {measure.jobs}: "
                      f"{args.copies} submissions in {measure.wall_seconds - before:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(measures)
    print(f"\n{platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end, "
          f"targets {args.targets}\n")
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"targets": args.targets, "copies": args.copies, "rounds": args.rounds,
                                         "measures": [asdict(m) | {"per_minute": m.per_minute,
                                                                   "cpu_per_submission": m.cpu_per_submission}
                                                      for m in measures]}, indent=2))
    incomplete = [m for m in measures if m.full_marks != m.submissions]
    return 1 if incomplete else 0


if __name__ == "__main__":
    raise SystemExit(main())
