"""The shipped Slurm job array, for real: a single-node Slurm cluster on this machine (munged,
slurmctld and slurmd as root, in a temporary state directory with a generated slurm.conf)
runs grader/batch/slurm/submit.sh (the array of 2 shards, then the merge as a dependent job),
and the merged grades.csv must equal a single local `grader grade` of the same inputs.

Needs Linux, root, and Debian's `slurm-wlm` and `munge` packages; elsewhere it skips saying
so, unless TINYTORCH_REQUIRE_SLURM is set (CI sets it), where a missing Slurm is a failure."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.paths import repo_root

from batch_kit import make_class, read_csv, run_grade

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
SLURM_DIR = repo_root() / "grader" / "batch" / "slurm"
INPUTS = ("ref_alice", "stubs_bob", "mix_carol", "canvas_export.zip", "assignment_77_export", "slip_mo.zip")


def _why_not() -> str:
    if sys.platform != "linux":
        return "Slurm and the sandbox need Linux"
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root"
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} not found; apt-get install slurm-wlm munge)"
    return ""


if _why_not():
    if os.environ.get("TINYTORCH_REQUIRE_SLURM"):
        pytest.fail(f"TINYTORCH_REQUIRE_SLURM is set but {_why_not()}", pytrace=False)
    pytest.skip(_why_not(), allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    return 1024


class Cluster:
    """munged + slurmctld + slurmd on localhost, everything under `state`; stop() ends exactly them."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.conf = state / "slurm.conf"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        s = self.state
        (s / "ctld").mkdir()
        (s / "spool").mkdir()
        key = s / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text("\n".join([
            "ClusterName=tinytorch-test", "SlurmctldHost=localhost", "SlurmUser=root", "SlurmdUser=root",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge", f"AuthInfo=socket={s / 'munge.sock'}", "CredType=cred/munge",
            f"StateSaveLocation={s / 'ctld'}", f"SlurmdSpoolDir={s / 'spool'}",
            f"SlurmctldPidFile={s / 'slurmctld.pid'}", f"SlurmdPidFile={s / 'slurmd.pid'}",
            f"SlurmctldLogFile={s / 'slurmctld.log'}", f"SlurmdLogFile={s / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "ReturnToService=2", "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "SwitchType=switch/none", "MailProg=/bin/true", "KillWait=5",
            f"NodeName=localhost CPUs={os.cpu_count() or 1} RealMemory={_memory_mb()} State=UNKNOWN",
            "PartitionName=grading Nodes=localhost Default=YES MaxTime=INFINITE State=UP", ""]))

    def _daemon(self, *cmd: str, log: str) -> None:
        with open(self.state / log, "wb") as out:
            self.procs.append(subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, cwd=self.state,
                                               env=self.env, start_new_session=True))

    def start(self) -> None:
        self.state.chmod(0o711)
        self.write_config()
        s = self.state
        self._daemon("munged", "--foreground", "--force", f"--key-file={s / 'munge.key'}", f"--socket={s / 'munge.sock'}",
                     f"--pid-file={s / 'munged.pid'}", f"--seed-file={s / 'munged.seed'}",
                     f"--log-file={s / 'munged.log'}", log="munged.out")
        self._wait(lambda: (s / "munge.sock").exists(), 20, "munged did not create its socket")
        self._daemon("slurmctld", "-D", "-c", "-f", str(self.conf), log="slurmctld.out")
        self._daemon("slurmd", "-D", "-f", str(self.conf), "-N", "localhost", log="slurmd.out")
        self._wait(lambda: self.run("sinfo", "-h", "-o", "%t").stdout.strip() == "idle", 60,
                   "the node never became idle")

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, cwd=self.state, timeout=60)

    def _wait(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.3)
        raise AssertionError(f"{what} (exited: {dead if 'dead' in locals() else []})\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.state.glob("*.out")) + sorted(self.state.glob("*.log")))

    def wait_for_jobs(self, jobs: list[str], seconds: float) -> None:
        self._wait(lambda: not self.run("squeue", "-h", "-j", ",".join(jobs)).stdout.strip(), seconds,
                   f"jobs {jobs} did not finish in {seconds:g} s")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    full = make_class(tmp_path_factory.mktemp("full") / "class")
    chosen = tmp_path_factory.mktemp("slurm-in") / "class"
    chosen.mkdir()
    for name in INPUTS:
        (shutil.copytree if (full / name).is_dir() else shutil.copy)(full / name, chosen / name)
    return chosen


def test_slurm_array_and_merge_give_the_csv_of_one_local_run(cluster: Cluster, inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    grade = f"{sys.executable} -m grader.batch.cli"
    env_extra = {"GRADE": grade, "SBATCH_EXTRA": "--cpus-per-task=1 --mem-per-cpu=1G"}
    cluster.env.update(env_extra)
    started = time.monotonic()
    submitted = cluster.run(str(SLURM_DIR / "submit.sh"), "2", str(out), str(inputs), "--targets", "01", "05")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    array, merge = submitted.stdout.split()
    cluster.wait_for_jobs([array, merge], 600)
    took = time.monotonic() - started
    outputs = {p.name: p.read_text() for p in cluster.state.glob("*.out") if p.name.startswith(("grade-", "merge-"))}
    assert (out / "grades.csv").is_file(), f"no merged CSV after {took:.0f} s\n{outputs}\n{cluster.logs()}"
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["0-of-2.json", "1-of-2.json"]
    assert any("shard 0/2 done" in text for text in outputs.values()), outputs
    assert any("shard 1/2 done" in text for text in outputs.values()), outputs
    local = tmp_path / "local"
    result = run_grade(str(inputs), "--out", str(local), "--targets", "01", "05", "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    merged = read_csv(out / "grades.csv")
    assert merged == read_csv(local / "grades.csv")
    assert len(merged) == 11 and {r["status"] for r in merged} == {"graded", "rejected input"}
    print(f"\nSlurm array (2 shards) + merge: {took:.1f} s")
