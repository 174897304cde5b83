"""The public tests, run inside a sandbox worker: for graded runs, where no student code may
run outside the sandbox (a public test imports the submission into its own process).

The worker gets copies of the public test files and of the grader's pytest plugin, runs
pytest there, and returns the plugin's rows. They carry no points, and the grader keeps only
well-formed fields from them, so a submission that forges them gains nothing.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from grader.engine import pytest_plugin
from grader.core.rows import ERROR, OUTCOMES, Row
from grader.sandbox import Limits, run_probe

PLUGIN_NAME = "grader_rows_plugin"


def _public_tests_probe(tt, tests, per_test_timeout):  # runs in the sandbox, cwd = its box
    import json
    import os
    import pytest
    os.environ["TINYTORCH_IMPL"] = os.getcwd()
    pytest.main(["-q", "-p", "no:cacheprovider", "-p", "grader_rows_plugin", "--grader-rows", "rows.json",
                 "--grader-source", "public", "-o", "addopts=", "--timeout", str(int(per_test_timeout)), *tests])
    with open("rows.json") as fh:
        return {"rows": json.load(fh)}


def _clean(raw: Any) -> Row | None:
    """A public Row from untrusted data: known fields of the right types, never graded."""
    if not isinstance(raw, dict) or raw.get("outcome") not in OUTCOMES:
        return None
    text = {k: str(raw.get(k, ""))[:600] for k in ("module", "title", "reason", "nodeid")}
    seconds = raw.get("seconds")
    return Row(module=text["module"][:16], title=text["title"], outcome=raw["outcome"], reason=text["reason"],
               nodeid=text["nodeid"], source="public", points=None, visibility="visible",
               seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0)


def run_public_tests_sandboxed(files: list[Path], *, impl: Path, per_test_timeout: float, total_timeout: float,
                               memory_mb: int, uid_slot: int) -> list[Row]:
    """Run the public test `files` (plus their conftest and helpers) in one sandbox worker."""
    if not files:
        return []
    folder = files[0].parent
    support = [p for p in folder.glob("*.py") if not p.name.startswith("test_")]
    copies = {p.name: p for p in [*files, *support]}
    copies[f"{PLUGIN_NAME}.py"] = Path(pytest_plugin.__file__)
    result = run_probe(impl, inspect.getsource(_public_tests_probe), "_public_tests_probe",
                       {"tests": [f.name for f in files], "per_test_timeout": per_test_timeout},
                       limits=Limits(wall_seconds=total_timeout, memory_bytes=memory_mb * 1024 * 1024),
                       files=copies, uid_slot=uid_slot)
    rows = [row for row in (_clean(r) for r in (result.values.get("rows") or [])) if row] if result.status == "ok" else []
    if not rows:
        why = result.error_message or result.status
        rows = [Row(module="public", title="public tests", outcome=ERROR, source="public",
                    reason=f"the public tests could not run in the sandbox ({result.status}: {why})"[:600])]
    return rows
