"""Split a batch over machines, and merge what they wrote into one CSV and summary.

    shard = parse_shard("2/8")              # or "auto": Slurm array or Kubernetes Indexed Job
    shard.owns(unit.key)                    # sha256(key) mod 8 == 2
    merge(Path("out"))                      # grades.csv + summary from out/batch.json and the records

A submission belongs to shard `int(sha256(key)) mod N`: every shard computes the same answer
from the key alone, so shards need no coordination beyond a shared output directory, and
adding submissions never moves one that was already assigned (for the same N). Each shard
writes its submissions' folders and `DIR/shards/I-of-N.json`; `grader grade --merge DIR`
builds `grades.csv` and the summary once all have finished, and says which are missing.

`auto` reads, in order: Slurm's job array (`SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN`,
out of `SLURM_ARRAY_TASK_COUNT`), then a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, out
of `GRADER_SHARDS`, which the Job spec sets to its `completions`). A GitHub Actions matrix
passes `--shard ${{ matrix.shard }}/N` explicitly.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


class ShardError(ValueError):
    """A --shard value (or the environment behind `auto`) that names no shard."""


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, key: str) -> bool:
        return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:8], "big") % self.count == self.index

    @property
    def label(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _shard(index: str, count: str, where: str) -> Shard:
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ShardError(f"{where}: expected I/N with whole numbers, got {index!r}/{count!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ShardError(f"{where}: the shard index must be in [0, N) and N >= 1, got {i}/{n}")
    return Shard(i, n)


def parse_shard(value: str, env: Mapping[str, str] | None = None) -> Shard:
    """`I/N` (0-based) or `auto` (see the module docstring)."""
    env = os.environ if env is None else env
    if value != "auto":
        index, sep, count = value.partition("/")
        if not sep:
            raise ShardError(f"--shard {value}: expected I/N (e.g. 0/4) or auto")
        return _shard(index, count, f"--shard {value}")
    if "SLURM_ARRAY_TASK_ID" in env:
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise ShardError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (Slurm >= 18.08 sets it)")
        try:
            index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        except ValueError:
            raise ShardError(f"--shard auto: SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']!r} is not a number") from None
        return _shard(str(index), env["SLURM_ARRAY_TASK_COUNT"], "--shard auto (Slurm array)")
    if "JOB_COMPLETION_INDEX" in env:
        if "GRADER_SHARDS" not in env:
            raise ShardError("--shard auto: JOB_COMPLETION_INDEX is set; set GRADER_SHARDS to the Job's completions "
                             "(or pass --shard $(JOB_COMPLETION_INDEX)/N)")
        return _shard(env["JOB_COMPLETION_INDEX"], env["GRADER_SHARDS"], "--shard auto (Kubernetes Indexed Job)")
    raise ShardError("--shard auto: neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job "
                     "(JOB_COMPLETION_INDEX) is running this; pass --shard I/N")


def shard_marker(out: Path, shard: Shard) -> Path:
    return out / "shards" / f"{shard.label}.json"


def merge(out: Path, *, after_due_date: bool = False, config: Path | None = None) -> tuple[int, list[str]]:
    """Build grades.csv and the summary in `out`; returns (CSV rows, submissions without a result)."""
    from grader.batch.feedback import feedback_markdown
    from grader.batch.outputs import atomic_write, read_manifest, read_records, write_csv
    from grader.batch.summary import build_summary, write_summary
    from grader.config import load_config

    manifest = read_manifest(out)
    if manifest is None:
        raise ShardError(f"--merge {out}: no batch.json there (run `grader grade INPUT... --out {out}` first)")
    cfg = load_config(config or (Path(manifest["config"]) if Path(manifest["config"]).is_file() else None))
    records = read_records(out, manifest)
    for unit in manifest["units"]:
        if unit["key"] in records:
            atomic_write(out / unit["key"] / "feedback.md",
                         feedback_markdown(unit, records[unit["key"]], cfg, after_due_date=after_due_date))
    rows = write_csv(out, manifest, records, cfg)
    write_summary(out, build_summary(manifest, records))
    return rows, [u["key"] for u in manifest["units"] if u["key"] not in records]
