"""The milestone's last result, recorded where `grader status` finds it.

    record(impl, "tinydigits", title="TinyDigits (8×8)", passed=True, test_accuracy=0.93,
           train_loss=0.21, seconds=4.2, how="grader check milestone03")
    record_runs(impl, cfg, runs, rows, how="grader check milestone03")  # every dataset of a grading
    last = read(impl)               # {"tinydigits": DatasetRun(...), ...}; {} when none ran yet

Both milestone paths write here, after measuring: `grader check milestone03` (through
`grader.engine.milestone.score_milestone`) and the milestone scripts (`grader.milestones.m03.cli`).
The record lives in `<impl>/.cache/grader/milestone03.json` (`.cache/` is in the kit's and the
student repository's .gitignore), one entry per dataset, each with the sha256 of the tinytorch
files it trained (`files_digest`), so `grader status` can tell a result of the current code from
an older one. It is written atomically (a temp file renamed over it); a record that cannot be
written is skipped (a read-only folder must never fail a milestone run), and a record that
cannot be read (corrupt, foreign, edited by hand) counts as no record: nothing in it is trusted
beyond its shape.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from grader.config import Config
from grader.core.atomic import write_atomically
from grader.core.outcomes import Outcome
from grader.core.rows import Row, finite_number, safe_text

CACHE_DIR = Path(".cache") / "grader"
RECORD_NAME = "milestone03.json"
FORMAT = 1
MAX_RECORD_BYTES = 64 * 1024


@dataclass(frozen=True)
class DatasetRun:
    """The last run of one milestone dataset."""

    key: str                        # "tinydigits" | "mnist"
    title: str                      # "TinyDigits (8×8)"
    passed: bool                    # every criterion passed
    finished_at: float              # time.time() when it was recorded
    how: str                        # "grader check milestone03" | "01_rumelhart_tinydigits.py"
    files_digest: str               # files_digest(impl) of the code it trained
    test_accuracy: float | None = None
    train_loss: float | None = None
    seconds: float = 0.0            # training time
    message: str = ""               # why it did not pass, when it did not

    @property
    def when(self) -> str:
        """'2026-12-01 14:05' in local time."""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.finished_at))


def record_path(impl: Path) -> Path:
    return Path(impl) / CACHE_DIR / RECORD_NAME


def files_digest(impl: Path) -> str:
    """sha256 over every `tinytorch/*.py` of `impl` (names and bytes, sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted((Path(impl) / "tinytorch").glob("*.py")):
        try:
            data = path.read_bytes()
        except OSError:
            data = b"<unreadable>"
        digest.update(path.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temp file in the same folder and a rename."""
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1))


def read(impl: Path) -> dict[str, DatasetRun]:
    """The recorded runs by dataset key; {} when there is no readable record."""
    try:
        with open(record_path(impl), "rb") as handle:
            data = handle.read(MAX_RECORD_BYTES + 1)
        raw = json.loads(data) if len(data) <= MAX_RECORD_BYTES else None
    except (OSError, ValueError, RecursionError):
        return {}
    if type(raw) is not dict or raw.get("format") != FORMAT or type(raw.get("datasets")) is not dict:
        return {}
    runs = {}
    for key, entry in list(raw["datasets"].items())[:8]:
        run = _decode(key, entry)
        if run is not None:
            runs[run.key] = run
    return runs


def _decode(key: Any, entry: Any) -> DatasetRun | None:
    if type(key) is not str or type(entry) is not dict or type(entry.get("passed")) is not bool:
        return None
    finished = finite_number(entry.get("finished_at"), None, low=0.0, high=1e11)
    digest = entry.get("files_digest")
    if finished is None or type(digest) is not str or len(digest) != 64:
        return None
    text = {name: safe_text(entry[name], 200) if type(entry.get(name)) is str else ""
            for name in ("title", "how", "message")}
    return DatasetRun(safe_text(key, 40), text["title"] or safe_text(key, 40), entry["passed"], finished,
                      text["how"], digest, finite_number(entry.get("test_accuracy"), None, low=0.0, high=1.0),
                      finite_number(entry.get("train_loss"), None, low=0.0, high=1e6),
                      finite_number(entry.get("seconds"), 0.0, low=0.0, high=1e7) or 0.0, text["message"])


def record(impl: Path, key: str, *, title: str, passed: bool, test_accuracy: float | None,
           train_loss: float | None, seconds: float, how: str, message: str = "") -> None:
    """Record one dataset's run (replacing its previous one); never raises on a file problem."""
    run = DatasetRun(key, title, bool(passed), time.time(), how, files_digest(impl),
                     finite_number(test_accuracy, None), finite_number(train_loss, None),
                     finite_number(seconds, 0.0) or 0.0, safe_text(message, 200))
    runs = read(impl)
    runs[key] = run
    try:
        write_json_atomically(record_path(impl), {"format": FORMAT,
                                                  "datasets": {k: asdict(r) for k, r in runs.items()}})
    except OSError:
        pass


def record_runs(impl: Path, cfg: Config, runs: Mapping[str, Any], rows: list[Row], *, how: str) -> None:
    """Record every run of one `grader check milestone03` grading.

    runs: the grading's `MilestoneRun`s by dataset key; rows: its milestone rows (two per dataset,
    each titled "<dataset title>: <criterion>"). A dataset passed when all its rows passed."""
    for key, run in runs.items():
        spec = cfg.milestone.get(key)
        if spec is None:
            continue
        mine = [r for r in rows if r.title.startswith(f"{spec.title}:")]
        passed = bool(mine) and all(r.outcome is Outcome.PASSED for r in mine)
        failed = next((r.reason for r in mine if r.outcome is not Outcome.PASSED), "")
        record(impl, key, title=spec.title, passed=passed, test_accuracy=run.test_accuracy,
               train_loss=run.train_loss, seconds=run.train_seconds, how=how, message=failed)
