"""Probe workers forked from the zygote (zygote.py): the same sandbox as a fresh worker,
nothing of one probe reaching the zygote or the next probe, a fallback when the zygote dies,
and no zygote outliving the process that started it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, SECRET_FIXTURE, make_impl, probe

from grader.config import load_config
from grader.sandbox import cleanup, zygote
from grader.sandbox.runner import RUNS_AS_ROOT

pytestmark = LINUX_ONLY

INTROSPECT = """
import os, resource, signal, sys, threading

def probe(tt, secret):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    outer = os.path.dirname(os.getcwd())
    def neutral(text):
        return text.replace(outer, "<outer>")
    try:
        open(secret).read()
        secret_read = "readable"
    except OSError as exc:
        secret_read = type(exc).__name__
    fds = {}
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        try:
            fds[str(fd)] = neutral(os.readlink(f"/proc/self/fd/{fd}")).split("[")[0]
        except OSError:
            fds[str(fd)] = "gone"
    limits = {name: list(resource.getrlimit(getattr(resource, name)))
              for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_NOFILE")}
    return {
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups())],
        "pids": [os.getpid(), os.getppid()],
        "status": {k: status[k].strip() for k in ("NoNewPrivs", "Seccomp", "CapEff", "CapBnd", "Threads")},
        "limits": limits,
        "env": {k: neutral(v) for k, v in os.environ.items()},
        "cwd": neutral(os.getcwd()),
        "fds": fds,
        "secret": secret_read,
        "flags": [sys.flags.dont_write_bytecode, sys.flags.no_user_site, sys.flags.safe_path, sys.flags.hash_randomization],
        "signals": [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM)],
        "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "threads": threading.active_count(),
        "umask": os.umask(0o022),
    }
"""


@pytest.fixture()
def own_zygote(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A zygote of this test alone (started on first use, ended afterwards); the process's own
    zygote state is restored when the test ends."""
    monkeypatch.delenv(zygote.ENV_SWITCH, raising=False)
    monkeypatch.setattr(zygote, "_SERVER", None)
    monkeypatch.setattr(zygote, "_FAILED", "")
    yield
    if zygote._SERVER is not None:
        zygote._SERVER.close()


def test_a_forked_worker_gets_what_a_fresh_worker_gets(tmp_path: Path, own_zygote: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids, capabilities, no_new_privs, seccomp, rlimits, environment, descriptors, Landlock,
    interpreter flags and signal dispositions: the same whether the worker was forked from the
    zygote or started as a fresh interpreter."""
    impl = make_impl(tmp_path)
    forked = probe(impl, INTROSPECT, {"secret": str(SECRET_FIXTURE)})
    assert zygote.running_pid() is not None, f"no zygote ran the probe: {zygote.status()}"
    monkeypatch.setenv(zygote.ENV_SWITCH, "0")
    fresh = probe(impl, INTROSPECT, {"secret": str(SECRET_FIXTURE)})
    assert zygote.status().startswith("off"), zygote.status()
    assert forked.status == "ok" and fresh.status == "ok", (forked, fresh)
    for key in fresh.values:
        assert forked.values[key] == fresh.values[key], f"{key}: forked {forked.values[key]!r}, fresh {fresh.values[key]!r}"
    assert forked.protections == fresh.protections
    assert forked.values["secret"] != "readable"
    assert not any("socket" in target for target in forked.values["fds"].values()), forked.values["fds"]
    if RUNS_AS_ROOT:
        assert forked.values["ids"][0] != 0 and forked.values["status"]["CapEff"] == "0000000000000000"


POLLUTE = """
import builtins, os, signal, sys
import numpy as np

def probe(tt, zygote_pid):
    np.add = lambda a, b: "patched"
    np.LEAK = 1
    builtins.LEAK = 1
    sys.modules["leak"] = sys
    os.environ["LEAK"] = "1"
    for folder in (os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"]):
        with open(os.path.join(folder, "leak.txt"), "w") as handle:
            handle.write("leak")
    tried = {}
    for name, attempt in (("kill", lambda: os.kill(zygote_pid, signal.SIGKILL)),
                          ("mem", lambda: open(f"/proc/{zygote_pid}/mem", "r+b")),
                          ("environ", lambda: open(f"/proc/{zygote_pid}/environ", "rb").read())):
        try:
            attempt()
            tried[name] = "allowed"
        except Exception as exc:
            tried[name] = type(exc).__name__
    return {"tried": tried}
"""

CHECK = """
import builtins, os, sys
import numpy as np

def probe(tt):
    return {"add": str(np.add(1, 2)), "np_leak": hasattr(np, "LEAK"), "builtins_leak": hasattr(builtins, "LEAK"),
            "module_leak": "leak" in sys.modules, "env_leak": "LEAK" in os.environ,
            "files": sorted(os.listdir(os.getcwd()))}
"""


def test_a_probe_cannot_change_the_zygote_or_the_next_probe(tmp_path: Path, own_zygote: None) -> None:
    """A probe that patches NumPy, sets globals, builtins, modules and variables, leaves files
    and goes for the zygote itself: the next probe starts from the untouched zygote."""
    impl = make_impl(tmp_path)
    assert probe(impl, "def probe(tt):\n    return {}\n").status == "ok"
    zygote_pid = zygote.running_pid()
    assert zygote_pid is not None, zygote.status()
    polluted = probe(impl, POLLUTE, {"zygote_pid": zygote_pid})
    assert polluted.status == "ok", polluted
    if RUNS_AS_ROOT:
        assert all(outcome != "allowed" for outcome in polluted.values["tried"].values()), polluted.values
    after = probe(impl, CHECK)
    assert after.status == "ok", after
    assert after.values == {"add": "3", "np_leak": False, "builtins_leak": False, "module_leak": False,
                            "env_leak": False, "files": ["tinytorch"]}
    assert zygote.running_pid() == zygote_pid, "the zygote was replaced"
    assert os.waitid(os.P_PID, zygote_pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None, "the zygote died"


def test_a_killed_zygote_falls_back_to_fresh_workers(tmp_path: Path, own_zygote: None,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """Probes after the zygote was killed run in fresh workers, with one line on stderr."""
    impl = make_impl(tmp_path)
    assert probe(impl, "def probe(tt):\n    return {}\n").status == "ok"
    zygote_pid = zygote.running_pid()
    assert zygote_pid is not None, zygote.status()
    os.kill(zygote_pid, signal.SIGKILL)
    results = [probe(impl, "def probe(tt, a, b):\n    return {'sum': tt.add(a, b)}\n", {"a": 2, "b": 3}) for _ in range(2)]
    assert [r.status for r in results] == ["ok", "ok"], results
    assert [int(r.values["sum"]) for r in results] == [5, 5]
    assert zygote.running_pid() is None and zygote.status().startswith("unavailable"), zygote.status()
    said = capfd.readouterr().err
    assert said.count("fork server off") == 1, said
    assert not os.path.exists(f"/proc/{zygote_pid}"), "the killed zygote was not reaped"


def test_the_answer_to_an_interrupted_request_is_skipped_and_its_child_reaped(tmp_path: Path, own_zygote: None) -> None:
    """A request whose caller was interrupted before reading the answer (a test timeout): the
    next probe gets its own worker, and the child forked for the abandoned one, which never got
    its go, is reaped rather than left a zombie."""
    impl = make_impl(tmp_path)
    assert probe(impl, "def probe(tt):\n    return {}\n").status == "ok"
    server = zygote._SERVER
    assert server is not None and server._socket is not None, zygote.status()
    before = set(cleanup.children())
    go_read, go_write = os.pipe()
    log = os.open(os.devnull, os.O_WRONLY)
    abandoned = {"seq": -1, "config": "/nonexistent.json", "cwd": "/", "env": {}, "targets": []}
    socket.send_fds(server._socket, [json.dumps(abandoned).encode()], [go_read, log])
    for fd in (go_read, go_write, log):
        os.close(fd)
    result = probe(impl, "def probe(tt, a, b):\n    return {'sum': tt.add(a, b)}\n", {"a": 2, "b": 3})
    assert result.status == "ok" and int(result.values["sum"]) == 5, result
    assert set(cleanup.children()) == before, "the abandoned request's child was left behind"


RUN_ONE_PROBE = """
import os, sys, time
from pathlib import Path
from grader.sandbox import run_probe, zygote
result = run_probe(Path(sys.argv[1]), "def probe(tt):\\n    return {}\\n", "probe")
assert result.status == "ok", result
print(zygote.running_pid(), flush=True)
if sys.argv[2] == "stay":
    time.sleep(60)
"""


@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_the_zygote_ends_with_its_process(tmp_path: Path, ending: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that ran probes, whether it exits or is SIGKILLed, leaves no zygote behind."""
    monkeypatch.delenv(zygote.ENV_SWITCH, raising=False)
    cleanup.become_subreaper()   # an orphaned zygote would be re-parented here, and seen
    impl = make_impl(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(RUN_ONE_PROBE), str(impl),
                                "stay" if ending == "killed" else "leave"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.isdigit(), f"the probe process printed {line!r}"
    zygote_pid = int(line)
    if ending == "killed":
        process.kill()
    process.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if zygote_pid in cleanup.children():
            os.waitpid(zygote_pid, os.WNOHANG)   # re-parented here: reap it once it has exited
        if not os.path.exists(f"/proc/{zygote_pid}"):
            break
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{zygote_pid}"), f"zygote {zygote_pid} outlived its process ({ending})"


def test_the_config_switch_turns_the_zygote_off_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sandbox: fork_server` (on in the kit's config) applies to a grading and its sessions;
    TINYTORCH_SANDBOX_FORK_SERVER, when set, wins."""
    assert load_config().sandbox.fork_server is True
    monkeypatch.delenv(zygote.ENV_SWITCH, raising=False)
    zygote.configure(False)
    assert not zygote.enabled() and os.environ[zygote.ENV_SWITCH] == "0"
    monkeypatch.setenv(zygote.ENV_SWITCH, "1")
    zygote.configure(False)
    assert zygote.enabled()
