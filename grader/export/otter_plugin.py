"""An Otter-Grader plugin that grades a tinytorch submission with this kit and gives Otter its scores.

For courses already on Otter (`otter run`, or Otter's Gradescope autograder): the submission is
one `.py` bundle of the student's module files (`grader otter pack`, see otter_bundle.py), and
`otter_config.json` lists this plugin:

    {"plugins": [{"grader.export.otter_plugin.TinytorchPlugin": {"targets": ["all"]}}]}

`grader otter generate` writes that config into an Otter autograder zip (otter_cli.py). Plugin
settings, all optional: `targets` (default ["all"]: what `grader grade` grades), `config` (a
grader config YAML; default the kit's), `timeout_minutes` (fit every limit into Gradescope's
autograder timeout, as `grader gradescope` does; default: the config's own limits), `cache_dir`
(where setup.sh put MNIST; used when that folder exists and TINYTORCH_CACHE_DIR is not set).

What happens at each of Otter's events (Otter calls them by name; the class does not inherit
Otter's base class, so this module imports without Otter, as the student release requires):
- before_grading: a `.OTTER_LOG` beside the submission is deleted. Otter unpickles that file
  (dill) in the grading process when it exists, which would run a student's code outside any
  sandbox.
- before_execution: Otter would run the submission in a Jupyter kernel, outside the sandbox;
  it gets an empty notebook instead, so no student code ever runs in Otter's process or kernel.
- after_grading: the kit grades the bundle exactly as `grader grade` does (the module files
  over the kit's plumbing, hidden tests and the milestone in sandbox workers, the config's
  points) and Otter's results are replaced: one Otter question per module, the milestone and
  any grading error, one test case per hidden test (hidden cases stay hidden), each question's
  score the kit's. A question "Not graded" holds points of rows that never came back, so the
  maximum is always the config's. The kit's results.json is kept as the plugin's data.
  An unreadable bundle scores 0 with a visible reason; a failure of the kit's grader does too.
- generate_report: the score per part and what was graded, for the instructor's log.

The score Otter writes (the sum of its questions) equals `grader grade`'s total, per module too.
"""
from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

PLUGIN_NAME = "grader.export.otter_plugin.TinytorchPlugin"
OTTER_LOG = ".OTTER_LOG"
NOT_GRADED = "Not graded"
GRADING_ERROR = "Grading error"


class TinytorchPlugin:
    """Otter plugin: see the module docstring. Constructed by Otter's PluginCollection."""

    def __init__(self, submission_path: str, submission_metadata: dict[str, Any] | None,
                 plugin_config: dict[str, Any] | None) -> None:
        self.submission_path = submission_path
        self.submission_metadata = submission_metadata or {}
        self.plugin_config = plugin_config or {}
        self.kit_results: dict[str, Any] | None = None
        self.max_score = 0.0                # what the targets are worth, from the config
        self.titles: dict[str, str] = {}    # "Module 06" -> "Module 06 · Autograd"
        self.found: dict[str, Any] = {}

    # ------------------------------------------------------------------------ Otter's events
    def before_grading(self, config: Any) -> None:
        """Delete a submitted Otter log, which Otter would otherwise unpickle (see module docstring)."""
        log = Path(self.submission_path).parent / OTTER_LOG
        if log.is_file() or log.is_symlink():
            log.unlink()

    def before_execution(self, submission: Any) -> Any:
        """What Otter runs in its kernel: an empty notebook, never the student's file."""
        import nbformat

        cell = nbformat.v4.new_code_cell("# Graded by the tinytorch kit in its sandbox (grader.export.otter_plugin); "
                                         "nothing of the submission runs here.")
        return nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                               "display_name": "Python 3"}})

    def after_grading(self, results: Any) -> None:
        """Grade with the kit and put its scores in Otter's `GradingResults` in place of Otter's."""
        self.kit_results = self.grade()
        replace_results(results, self.kit_results, self.max_score, self.titles)
        results.set_plugin_data(PLUGIN_NAME, self.kit_results)

    def generate_report(self) -> str:
        data = self.kit_results or {}
        lines = [str(data.get("output", "not graded"))]
        lines += [f"  {name}: {score:g} / {possible:g}" for name, score, possible in part_totals(data)]
        if self.found:
            lines.append(f"submission: {self.found}")
        return "\n".join(lines)

    # ------------------------------------------------------------------------ the kit's grading
    def grade(self) -> dict[str, Any]:
        """The kit's results.json for the bundle at `submission_path`. Whatever the submission
        holds it returns a result; only the instructor's settings (a bad config or target) raise,
        as Otter's own OtterRuntimeError, which Otter shows as an "Autograder Error" test."""
        from grader.core.targets import resolve_targets
        from grader.engine.grade import max_points
        from grader.export.results_json import error_report, results_json

        cache = self.plugin_config.get("cache_dir")
        if cache and Path(cache).is_dir() and not os.environ.get("TINYTORCH_CACHE_DIR"):
            os.environ["TINYTORCH_CACHE_DIR"] = str(cache)
        with tempfile.TemporaryDirectory(prefix="tinytorch-otter-") as work:
            try:
                cfg = self._config(Path(work))
                targets = resolve_targets([str(t) for t in self.plugin_config.get("targets", ["all"])], cfg)
            except Exception as exc:
                from otter.run.run_autograder.utils import OtterRuntimeError

                raise OtterRuntimeError(f"{PLUGIN_NAME}: the plugin's settings {self.plugin_config} do not work: "
                                        f"{type(exc).__name__}: {exc}") from exc
            self.max_score = max_points(cfg, targets)
            self.titles = {f"Module {n}": f"Module {n} · {spec.title}" for n, spec in cfg.modules.items()}
            impl = Path(work) / "impl"
            try:
                report = self._grade_bundle(Path(work), cfg, targets)
            except Exception as exc:  # a grader bug: the student still gets a result that says so
                traceback.print_exc()
                report = error_report(impl, targets, hidden=True, max_score=self.max_score,
                                      reason=f"the grader failed: {type(exc).__name__}: {str(exc)[:300]}")
            return results_json(report)

    def _config(self, work: Path) -> Any:
        from grader.config import DEFAULT_PATH, load_config

        path = self.plugin_config.get("config")
        minutes = self.plugin_config.get("timeout_minutes")
        if minutes is None:
            return load_config(Path(path) if path else None)
        import yaml

        from grader.release.gradescope_limits import fitted_config

        raw = yaml.safe_load(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
        fitted = work / "otter-config.yaml"
        fitted.write_text(yaml.safe_dump(fitted_config(raw, float(minutes) * 60), sort_keys=False), encoding="utf-8")
        return load_config(fitted)

    def _grade_bundle(self, work: Path, cfg: Any, targets: Any) -> Any:
        from grader.engine.grade import grade
        from grader.export.otter_bundle import read_bundle
        from grader.export.results_json import error_report
        from grader.release.gradescope_submission import module_files, read_submission

        bundle = read_bundle(Path(self.submission_path), module_files(cfg))
        if bundle.problem:
            self.found = {"problem": bundle.problem}
            return error_report(work / "impl", targets, hidden=True, max_score=self.max_score,
                                reason=f"the submission could not be read: {bundle.problem}")
        upload = work / "upload"
        upload.mkdir()
        for name, data in bundle.files.items():
            (upload / name).write_bytes(data)
        staged = read_submission(upload, work / "impl", cfg)
        self.found = {"files": staged.files, "missing": staged.missing}
        return grade(staged.impl, targets, cfg=cfg, hidden=True, public=False)


# ---------------------------------------------------------------------------- results for Otter
def _part(test: dict[str, Any]) -> str:
    """'Module 06 · Autograd: …' -> 'Module 06', 'Milestone 03 · …' -> 'Milestone 03'."""
    return str(test.get("name", GRADING_ERROR)).split(" · ", 1)[0]


def part_totals(data: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(part, score, possible) per part of a kit results.json, in its order."""
    totals: dict[str, list[float]] = {}
    for test in data.get("tests", []):
        entry = totals.setdefault(_part(test), [0.0, 0.0])
        entry[0] += float(test.get("score", 0.0))
        entry[1] += float(test.get("max_score", 0.0))
    return [(name, score, possible) for name, (score, possible) in totals.items()]


def replace_results(results: Any, data: dict[str, Any], max_score: float, titles: dict[str, str] | None = None) -> None:
    """Empty Otter's `GradingResults` and fill it from the kit's results.json `data`, graded
    against `max_score` points (the config's, for the targets); `titles` names the questions
    ("Module 06" -> "Module 06 · Autograd")."""
    from otter.test_files import OKTestFile
    from otter.test_files.abstract_test import TestCase, TestCaseResult

    results.clear_results()
    results._catastrophic_error = None   # Otter's kernel ran no student code; the grade is the kit's
    groups: dict[str, list[dict[str, Any]]] = {}
    for test in data.get("tests", []):
        groups.setdefault(_part(test), []).append(test)
    possible = 0.0
    for part, tests in groups.items():
        cases = [TestCase(name=str(t.get("name", part)), body="", hidden=t.get("visibility") != "visible",
                          points=float(t.get("max_score", 0.0)), success_message=None, failure_message=None)
                 for t in tests]
        name = (titles or {}).get(part, part)
        question = OKTestFile(name, "", cases, all_or_nothing=False)
        question.test_case_results = [TestCaseResult(case, str(t.get("output", "")), t.get("status") == "passed")
                                      for case, t in zip(cases, tests)]
        question.update_score(sum(float(t.get("score", 0.0)) for t in tests))
        results.results[name] = question
        possible += question.possible
    missing = max_score - possible
    if missing > 1e-9:
        case = TestCase(name=NOT_GRADED, body="", hidden=False, points=missing, success_message=None,
                        failure_message=None)
        question = OKTestFile(NOT_GRADED, "", [case], all_or_nothing=False)
        question.test_case_results = [TestCaseResult(case, "these points' checks did not report a result (see the "
                                                           "grading errors)", False)]
        question.update_score(0.0)
        results.results[NOT_GRADED] = question
    results.set_output(str(data.get("output", "")))

