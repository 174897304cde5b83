"""Tamper suite, sandbox side: side channels, resource tricks and oversized submissions get no
more than the honest equivalent, and leave nothing behind. Each case states its score:

- a trick inside Sigmoid.forward that pays off only if the sandbox fails (it answers
  correctly when it reached a listener outside, read another grading's secret, held more
  memory than the limit or wrote more than its scratch) and otherwise raises
  NotImplementedError, must score exactly what the *control* scores: the reference with
  Sigmoid left unimplemented;
- a trick that floods its result channel instead of answering scores the control too;
- a submission over the copy limits (many small files, a 2 GB sparse file, a deep tree) is
  refused quickly with a message naming the limit, and scores what the stubs score (0);
- after a trick, the next honest submission still gets full marks.

After every grading, checked while its slots are still leased (so no other grading on the
machine can have taken them): no process of those sandbox uids, no worker cgroup of those
slots, and nothing in the grading's temp dir (a private one, for the same reason). Graded
by the real engine with the hidden tests, as in test_tamper.py; Module 02 is the target.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tamper_kit import make_submission, tamper_config

from grader.core.targets import resolve_targets
from grader.engine.grade import SLOTS_PER_GRADING, GradeReport, grade
from grader.sandbox import cgroups, protections
from grader.sandbox.privileges import SANDBOX_BASE_ID
from grader.sandbox.slots import default_pool

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux"),
]

TARGET = "02"
NOT_IMPLEMENTED = 'raise NotImplementedError("Module 02: Sigmoid forward")'
HONEST = """import numpy as np
z = np.exp(-np.abs(x.data))
out = np.where(x.data >= 0, 1 / (1 + z), z / (1 + z))
return make_result(out, (x,), ag.sigmoid_backward, out)"""


def _evil_sigmoid(body: str) -> dict[str, str]:
    """Replace Sigmoid.forward with `body` (indented as a method body; `self`, `x` in scope)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return {"activations.py": f"def _tampered_forward(self, x):\n{indented}\n\nSigmoid.forward = _tampered_forward\n"}


def _pays_off_if(trick: str) -> dict[str, str]:
    """Sigmoid runs `trick` (which sets `worked`), then answers correctly only if it worked."""
    body = f"worked = False\n{trick.strip()}\nif not worked:\n    {NOT_IMPLEMENTED}\n{HONEST}"
    return _evil_sigmoid(body)


def grade_checked(impl: Path, cfg, private_temp: Path) -> GradeReport:
    """Grade `impl` with the hidden tests on freshly leased slots, then check that nothing
    is left (see the module docstring) before the slots are given back."""
    with default_pool().lease(SLOTS_PER_GRADING) as lease:
        report = grade(impl, resolve_targets([TARGET], cfg), cfg=cfg, lease=lease, hidden=True, public=False)
        uids = {SANDBOX_BASE_ID + slot for slot in lease.slots}
        assert _processes_of(uids) == [], "sandbox processes survived the grading"
        groups = [os.path.join(h.parent, f"tinytorch-slot{s}") for h in cgroups.discover().hierarchies for s in lease.slots]
        assert [g for g in groups if os.path.exists(g)] == [], "worker cgroups survived the grading"
    assert os.listdir(private_temp) == [], f"left in the temp dir: {os.listdir(private_temp)}"
    return report


def _processes_of(uids: set[int]) -> list[str]:
    """Processes (zombies included) whose real, effective or saved uid is one of `uids`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text() if entry.isdigit() else ""
        except OSError:
            continue
        line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        if any(int(u) in uids for u in line.split()[1:4]):
            found.append(f"pid {entry}: {status.splitlines()[0]}")
    return found


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def private_temp() -> Iterator[Path]:
    """The gradings' temp dir (TMPDIR for the engine's subprocesses, tempfile here): only
    this suite's gradings write there, so "nothing left behind" can be checked exactly."""
    folder = Path(tempfile.mkdtemp(prefix="tinytorch-tamper-temp-"))
    os.chmod(folder, 0o711)  # sandbox uids must reach their boxes inside it
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper-sandbox")


@pytest.fixture(scope="module")
def cfg(work: Path):
    return tamper_config(work)


@pytest.fixture(scope="module")
def scores(work: Path, cfg, private_temp: Path) -> dict[str, float]:
    """Reference, stubs and the control (Sigmoid.forward not implemented), graded once."""
    out = {
        "reference": grade_checked(make_submission(work, "reference"), cfg, private_temp).score,
        "stubs": grade_checked(make_submission(work, "stubs", base="assignments"), cfg, private_temp).score,
        "control": grade_checked(make_submission(work, "control", append=_evil_sigmoid(NOT_IMPLEMENTED)), cfg, private_temp).score,
        "max": cfg.modules[TARGET].points,
    }
    assert out["reference"] == out["max"] and out["stubs"] == 0 and 0 < out["control"] < out["max"], out
    return out


# ------------------------------------------------- side channels: score exactly the control
@pytest.fixture
def listeners() -> Iterator[dict[str, object]]:
    """UDP and TCP on 127.0.0.1, a world-writable pathname unix socket and an abstract one."""
    folder = tempfile.mkdtemp(prefix="tinytorch-listener-", dir="/tmp")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "listener.sock")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    os.chmod(path, 0o777)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0tinytorch-tamper-{os.getpid()}")
    for s in (tcp, unix, abstract):
        s.listen(64)
    for s in (udp, tcp, unix, abstract):
        s.setblocking(False)
    try:
        yield {"udp": udp, "tcp": tcp, "unix": unix, "abstract": abstract, "path": path}
    finally:
        for s in (udp, tcp, unix, abstract):
            s.close()
        shutil.rmtree(folder)


def test_exfiltration_over_the_network_scores_the_control(listeners, work: Path, cfg, scores, private_temp: Path) -> None:
    """Sigmoid sends its input to listeners in the grader's process over UDP, TCP, a
    pathname and an abstract unix socket; it answers only if one of them got through."""
    trick = f"""
import socket
targets = [(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", {listeners["udp"].getsockname()[1]})),
           (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", {listeners["tcp"].getsockname()[1]})),
           (socket.AF_UNIX, socket.SOCK_STREAM, {listeners["path"]!r}),
           (socket.AF_UNIX, socket.SOCK_STREAM, "\\0tinytorch-tamper-{os.getpid()}")]
for family, kind, address in targets:
    try:
        s = socket.socket(family, kind)
        s.settimeout(0.5)
        if kind == socket.SOCK_DGRAM:
            s.sendto(x.data.tobytes()[:512], address)
        else:
            s.connect(address)
            s.sendall(x.data.tobytes()[:512])
        worked = True
    except OSError:
        pass
"""
    report = grade_checked(make_submission(work, "exfiltrate", append=_pays_off_if(trick)), cfg, private_temp)
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]
    for name in ("udp", "tcp", "unix", "abstract"):
        with pytest.raises(BlockingIOError):
            listeners[name].recvfrom(10) if name == "udp" else listeners[name].accept()


def test_reading_another_gradings_command_line_scores_the_control(work: Path, cfg, scores, private_temp: Path) -> None:
    """Another grading's process carries a secret in its command line and environment;
    Sigmoid answers only if it finds the secret anywhere in /proc."""
    secret = f"OTHER-GRADING-{uuid.uuid4().hex}"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", secret], env={"TOKEN": secret})
    trick = f"""
import os
for entry in os.listdir("/proc"):
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{{entry}}/{{name}}", "rb") as handle:
                worked = worked or {secret!r}.encode() in handle.read()
        except OSError:
            pass
"""
    try:
        report = grade_checked(make_submission(work, "snoop", append=_pays_off_if(trick)), cfg, private_temp)
    finally:
        other.kill()
        other.wait()
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]


# ---------------------------------------------------- resources: the control, then full marks
def test_holding_more_memory_across_processes_than_the_limit_scores_the_control(work: Path, cfg, scores, private_temp: Path) -> None:
    """12 children of 100 MB each (each within its own 1 GB RLIMIT_AS) try to hold 1.2 GB
    at once against the 1 GB probe limit; Sigmoid answers only if all of them did."""
    if "memory" not in [c for h in cgroups.discover().hierarchies for c in h.controllers]:
        pytest.skip(f"no memory cgroup here: {cgroups.describe()}")
    trick = """
import os, select, time
import numpy as np
read_end, write_end = os.pipe()
children = []
for _ in range(12):
    pid = os.fork()
    if pid == 0:
        try:
            hold = np.ones(100 * 1024 * 1024 // 8)
            os.write(write_end, b"x")
            time.sleep(30)
        finally:
            os._exit(0)
    children.append(pid)
os.close(write_end)
held, deadline = 0, time.monotonic() + 10
while held < len(children) and time.monotonic() < deadline:
    if select.select([read_end], [], [], 0.05)[0]:
        held += len(os.read(read_end, 64))
    if any(os.waitpid(pid, os.WNOHANG)[0] for pid in children):
        break
time.sleep(0.2)
worked = held == len(children) and not any(os.waitpid(pid, os.WNOHANG)[0] for pid in children)
for pid in children:
    os.kill(pid, 9)
"""
    report = grade_checked(make_submission(work, "memory_tree", append=_pays_off_if(trick)), cfg, private_temp)
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]


def test_filling_the_temp_space_scores_the_control_and_the_next_grading_is_untouched(work: Path, cfg, scores, private_temp: Path) -> None:
    """Sigmoid writes 60 MB files into its box, $TMPDIR, /tmp, /var/tmp and /dev/shm until
    every write fails; it answers only if it wrote more than its 256 MB scratch. Then the
    reference, graded next, still gets full marks."""
    if protections()["scratch"].startswith("unavailable"):
        pytest.skip(protections()["scratch"])
    trick = """
import os
chunk = b"x" * (1024 * 1024)
written = 0
for place, folder in enumerate((".", os.environ.get("TMPDIR", "."), "/tmp", "/var/tmp", "/dev/shm")):
    for n in range(8):
        try:
            with open(os.path.join(folder, f"fill-{os.getpid()}-{place}-{n}.bin"), "wb") as handle:
                for _ in range(60):
                    handle.write(chunk)
                    written += len(chunk)
        except OSError:
            break
worked = written > 256 * 1024 * 1024
"""
    report = grade_checked(make_submission(work, "filler", append=_pays_off_if(trick)), cfg, private_temp)
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]
    assert grade_checked(make_submission(work, "after_filler"), cfg, private_temp).score == scores["reference"]


def test_a_flood_over_the_result_channel_scores_the_control(work: Path, cfg, scores, private_temp: Path) -> None:
    """Sigmoid writes a 20,000-member archive and a JSON naming its members over the
    worker's result descriptors and exits: every such probe is refused as bad output."""
    trick = """
import io, json, os, stat, zipfile
import numpy as np
def _regular(fd):
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False
buffer, header = io.BytesIO(), io.BytesIO()
np.lib.format.write_array(header, np.zeros(0, np.uint8))
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
    for i in range(20000):
        archive.writestr(f"a{i}.npy", header.getvalue())
envelope = {"status": "ok", "error_type": None, "error_message": "", "values": {f"k{i}": {"A": f"a{i}"} for i in range(20000)}}
json_fd, npz_fd = [fd for fd in range(3, 64) if _regular(fd)][:2]
os.pwrite(npz_fd, buffer.getvalue(), 0)
os.pwrite(json_fd, json.dumps(envelope).encode(), 0)
os._exit(0)
"""
    report = grade_checked(make_submission(work, "flood", append=_pays_off_if(trick)), cfg, private_temp)
    assert report.score == scores["control"], [(r.title, r.outcome, r.reason) for r in report.rows]


# ------------------------------------------- oversized submissions: refused quickly, score 0
def _many_small_files(package: Path) -> None:
    (package / "data").mkdir()
    for i in range(5000):
        (package / "data" / f"f{i}.py").write_text("x = 1\n")


def _sparse_file(package: Path) -> None:
    with open(package / "weights.bin", "wb") as handle:
        handle.truncate(2 * 1024**3)


def _deep_tree(package: Path) -> None:
    fd = os.open(package, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def _remove_deep_tree(package: Path) -> None:
    fds = [os.open(package, os.O_RDONLY | os.O_DIRECTORY)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    os.close(fds.pop())
    while fds:
        os.rmdir("d", dir_fd=fds[-1])
        os.close(fds.pop())


OVERSIZED = {
    "many_small_files": (_many_small_files, "more than 200 files, folders and links"),
    "sparse_2gb_file": (_sparse_file, "holds more than 5242880 bytes"),
    "deep_tree": (_deep_tree, "more than 8 levels deep"),
}


@pytest.mark.parametrize("case", sorted(OVERSIZED))
def test_an_oversized_submission_is_refused_quickly_with_a_message(case: str, work: Path, cfg, scores, private_temp: Path) -> None:
    """The reference plus 5000 small files, a 2 GB sparse file or 1500 nested folders: every
    check fails naming the limit, the grading takes seconds, not minutes, and copies nothing."""
    submission = make_submission(work, f"oversized_{case}")
    grow, needle = OVERSIZED[case]
    grow(submission / "tinytorch")
    started = time.monotonic()
    try:
        report = grade_checked(submission, cfg, private_temp)
    finally:
        if case == "deep_tree":
            _remove_deep_tree(submission / "tinytorch")
    seconds = time.monotonic() - started
    assert report.score == scores["stubs"] == 0
    assert report.rows and any(needle in r.reason for r in report.rows), [r.reason for r in report.rows][:3]
    assert seconds < 90, f"grading an oversized submission took {seconds:.0f} s"
