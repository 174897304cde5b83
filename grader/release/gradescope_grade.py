"""Grade one Gradescope submission in stages, rewriting results.json after each.

    python -m grader.release.gradescope_grade --submission DIR --results FILE --settings FILE --work DIR

Run by the supervisor (gradescope_run.py), which kills it if it runs past the timeout and then
marks what was never graded. Steps:
1. fit the kit's limits into the assignment's timeout (gradescope_limits.py) and write that
   config into the work folder (hidden tests read it back from the grading context);
2. stage the submission (gradescope_submission.py) and record the sandbox's protections;
3. write results.json with every part pending (valid from the first second);
4. grade Modules 01-08 (hidden tests only; the public tests carry no points) and rewrite it;
5. grade Milestone 03 (training on held-out data, its hidden tests) and rewrite it.
The modules come first: they are most of the grade and the cheapest, and the MNIST training,
the heaviest step in time and memory, can then lose only its own points.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from grader.config import DEFAULT_PATH, Config, load_config
from grader.core.atomic import write_atomically
from grader.core.targets import Targets
from grader.engine.grade import GradeReport, grade, max_points
from grader.export.gradescope import MILESTONE_PART, MODULES_PART, gradescope_results, schema_problems
from grader.paths import assignments_dir, repo_root

from .gradescope_limits import Settings, fitted_config
from .gradescope_sandbox import sandbox_report
from .gradescope_submission import StagedSubmission, read_submission


def fitted(settings: Settings, work: Path) -> Config:
    """The kit's config with its limits fitted into the timeout, written to work/ and loaded."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    path = work / "gradescope-config.yaml"
    path.write_text(yaml.safe_dump(fitted_config(raw, settings.timeout_seconds), sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return load_config(path)


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write atomically: a temporary file beside `path`, then a rename."""
    problems = schema_problems(data)
    if problems:
        raise ValueError(f"results.json would not follow Gradescope's schema: {problems[:5]}")
    write_atomically(path, json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False))


class Grading:
    """The parts graded so far, and the results.json they make."""

    def __init__(self, cfg: Config, settings: Settings, staged: StagedSubmission, sandbox: dict[str, Any],
                 results: Path) -> None:
        self.cfg, self.settings, self.staged, self.sandbox, self.results = cfg, settings, staged, sandbox, results
        self.all = Targets(tuple(cfg.modules), True)
        self.reports: list[GradeReport] = []
        self.pending = [MODULES_PART, MILESTONE_PART]

    def report(self) -> GradeReport:
        rows = [row for r in self.reports for row in r.rows]
        runs = {k: v for r in self.reports for k, v in r.milestone_runs.items()}
        return GradeReport(self.staged.impl, self.all, True, rows, sum(r.seconds for r in self.reports),
                           max_points(self.cfg, self.all), runs, sum(r.waited_seconds for r in self.reports))

    def write(self) -> dict[str, Any]:
        data = gradescope_results(self.report(), self.cfg, sandbox=self.sandbox, submission=self.staged.to_json(),
                                  pending=tuple(self.pending), summary_visibility=self.settings.summary_visibility,
                                  hidden_visibility=self.settings.hidden_visibility)
        data["extra_data"]["limits"] = {"timeout_seconds": self.settings.timeout_seconds,
                                        "probe_seconds": self.cfg.sandbox.probe_time_limit_seconds,
                                        "hidden_session_seconds": self.cfg.hidden_session_seconds,
                                        **{f"{k}_seconds": s.time_limit_seconds for k, s in self.cfg.milestone.items()}}
        write_json(data, self.results)
        return data

    def run(self, part: str, targets: Targets) -> None:
        started = time.monotonic()
        self.reports.append(grade(self.staged.impl, targets, cfg=self.cfg, hidden=True, public=False))
        self.pending.remove(part)
        self.write()
        log(f"{part}: graded in {time.monotonic() - started:.1f} s")


def log(message: str) -> None:
    """The instructor-only log (Gradescope shows stdout to instructors; results.json hides it)."""
    print(f"[tinytorch autograder] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.release.gradescope_grade", description=__doc__.split("\n")[0])
    parser.add_argument("--submission", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings.load(args.settings)
    cfg = fitted(settings, args.work)
    staged = read_submission(args.submission, args.work / "impl", cfg)
    log(f"submission: {staged.found_in}; files {staged.files}; missing {staged.missing}"
        + (f"; problem: {staged.problem}" if staged.problem else ""))
    sandbox = sandbox_report(repo_root(), assignments_dir())
    log(f"sandbox: {json.dumps(sandbox)}")
    grading = Grading(cfg, settings, staged, sandbox, args.results)
    grading.write()
    grading.run(MODULES_PART, Targets(tuple(cfg.modules), False))
    grading.run(MILESTONE_PART, Targets((), True))
    final = grading.report()
    log(f"score {final.score:g} / {final.max_score:g} in {final.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
