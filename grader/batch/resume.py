"""When a submission needs grading again: the content hash behind resuming.

    settings = settings_digest(cfg, targets, public=False, hidden_dir=hidden_tests_dir())
    h = content_hash(found.files, settings)
    done = is_done(read_record(out / unit.key), h)     # skip it: same files, same kit, same config

The hash covers what decides a grade and nothing else: the module files the batch would
grade (name and bytes), the kit (its version and every file of the grader, the hidden and
public tests and the tinytorch plumbing and stubs), the config file's bytes, the targets and
whether public tests run. A record written for that hash with a final status (graded,
rejected input, timeout) means "done"; a grading error is retried on the next run.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from grader.config import Config
from grader.core.targets import Targets
from grader.paths import assignments_dir, public_tests_dir, repo_root

FORMAT = 1
RECORD = "record.json"

GRADED, ERROR, REJECTED, TIMEOUT = "graded", "grading error", "rejected input", "timeout"
STATUSES = (GRADED, ERROR, REJECTED, TIMEOUT)
FINAL = (GRADED, REJECTED, TIMEOUT)


def _tree_digest(h: Any, root: Path, label: str) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.suffix in (".py", ".yaml", ".yml", ".sbatch", ".sh"):
            h.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())


def kit_fingerprint(hidden_dir: Path) -> str:
    """The kit's version and the sha256 over the grader, the tests and the tinytorch plumbing."""
    from grader import __version__
    h = hashlib.sha256(f"tinytorch-kit {__version__}\0".encode())
    for label, root in (("grader", repo_root() / "grader"), ("hidden", hidden_dir),
                        ("public", public_tests_dir()), ("tinytorch", assignments_dir() / "tinytorch")):
        if root.is_dir():
            _tree_digest(h, root, label)
    return f"{__version__}+{h.hexdigest()[:16]}"


def settings_digest(cfg: Config, targets: Targets, *, public: bool, hidden_dir: Path) -> str:
    """Everything but the submission that decides its grade, as one hex digest."""
    settings = {"format": FORMAT, "kit": kit_fingerprint(hidden_dir),
                "config": hashlib.sha256(Path(cfg.path).read_bytes()).hexdigest(),
                "targets": [list(targets.modules), targets.milestone], "public": public}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def content_hash(files: dict[str, bytes], settings: str) -> str:
    h = hashlib.sha256(f"{settings}\0".encode())
    for name in sorted(files):
        h.update(f"{name}\0{len(files[name])}\0".encode())
        h.update(files[name])
    return h.hexdigest()


def read_record(folder: Path) -> dict[str, Any] | None:
    """The submission's record.json, or None when absent or unreadable (then it is graded again)."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def is_done(record: dict[str, Any] | None, content: str) -> bool:
    return record is not None and record.get("hash") == content and record.get("status") in FINAL
