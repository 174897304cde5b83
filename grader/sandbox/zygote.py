"""Probe workers forked from a trusted template process (a zygote), not started from scratch.

    server = zygote.for_this_process()          # None: the zygote is off, or failed (logged once)
    pid = server.spawn(config_path, cwd=box, env=worker_env(box), fds=[...], log_fd=log)

A fresh `python worker.py` pays for an interpreter and a NumPy import on every probe (about
0.12-0.17 CPU-s; a grading runs some 75 probes). The zygote pays them once per process that
runs probes: it is started by exec (subprocess, so the threaded grader never forks), is
single-threaded, imports only NumPy and the worker's trusted setup code (worker.py loaded by
path, with its helpers), and never runs student code. For each probe it forks a child that
then runs `worker.main` exactly as a fresh worker would: the same config file, lock-down in
the same order (cgroup wait, namespaces, rlimits, uid drop, no_new_privs, Landlock,
seccomp), its own workspace, fds, environment, session and deadline.

How the runner keeps its hold on the worker: the zygote forks with clone(CLONE_PARENT), so
the worker is the runner's own child, not the zygote's. Waiting with a pidfd, wait4 and its
CPU usage, killing the process group at the deadline, IN_FLIGHT, the subreaper, /proc parent
checks (proctree.py) and cgroup OOM counts all work unchanged, and the worker's pid cannot be
reused before the runner reaps it. (The alternative, passing a pidfd back over the socket and
having the zygote report exit statuses, would have changed every one of those paths.) The
clone is what os.fork does around fork(): PyOS_BeforeFork, the raw syscall through
ctypes.PyDLL (the GIL stays held), PyOS_AfterFork_Child / _Parent. glibc's fork also has the
kernel write the child's thread id into glibc's thread descriptor (CLONE_CHILD_SETTID); the
zygote finds that field once at start-up (the only int that a real fork changes from the
parent's pid to the child's) and passes it too, so raise() and abort() in the worker signal
the right thread. If the field is not found, or the machine has no known clone layout, the
zygote refuses to start.

Nothing of one probe reaches another: each worker is a copy-on-write copy of the zygote, so a
module global it sets, a NumPy function it replaces or a file it leaves in its box dies with
it; the next probe is a fresh copy of the untouched zygote. The child closes the zygote's
socket before it reads its config, so student code cannot ask for more forks, and after the
uid drop (and in its own pid namespace) it can neither see nor signal the root-owned zygote.
Without root the worker shares the zygote's uid: Landlock keeps it from tracing a process
outside its domain and, from ABI 6, from signalling one (a killed zygote would only turn the
fallback on); without Landlock either, it could reach the grader itself just the same.
A zygote belongs to one process (a grading's grader or one of its test sessions: one
submission) and ends with it: on EOF of its socket, which the kernel closes when that process
dies, and at exit (`close`). Batch jobs are separate processes, so no zygote is ever shared
between submissions.

A child waits for a "go" byte from the runner before it does anything: the runner sends it
only once it knows the child's pid and has registered it (under cleanup.SPAWN_LOCK). A zygote
that dies mid-request leaves a child that reads EOF and exits without reading its config.

Fallback: when the zygote cannot start or stops answering, `for_this_process()` returns None
from then on (one line on stderr says why) and the runner starts a fresh worker per probe,
as before. ENV_SWITCH=0 turns the zygote off (the benchmark compares both); the config's
`sandbox: fork_server` sets it for a grading.

This file is the runner's side; the zygote's own program, the clone and the child's set-up,
is `zygote_process.py`.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from grader.sandbox.zygote_process import MAX_MESSAGE

ENV_SWITCH = "TINYTORCH_SANDBOX_FORK_SERVER"   # "0", "off" or "false": a fresh worker per probe
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote_process.py")
START_SECONDS = 30.0            # the zygote's start-up (Python + NumPy) on a loaded machine
REPLY_SECONDS = 10.0            # one fork


class ZygoteUnavailable(RuntimeError):
    """The zygote could not start, or stopped answering; probes start fresh workers instead."""


# ----------------------------------------------------------------------------- runner side

def enabled() -> bool:
    """Whether probes of this process may use a zygote (ENV_SWITCH, default on)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def configure(fork_server: bool) -> None:
    """Apply the config's `sandbox: fork_server` to this process and the test sessions it starts
    (they inherit its environment); an ENV_SWITCH already set (a benchmark, a debugging run) wins."""
    os.environ.setdefault(ENV_SWITCH, "1" if fork_server else "0")


class ForkServer:
    """The runner's handle on its zygote: start it, ask it for workers, end it."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.owner = os.getpid()
        self._sequence = 0

    def start(self) -> None:
        """Start the zygote and wait until it has imported NumPy and the worker code."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-s", "-P", "-B", "-u", PROGRAM, str(theirs.fileno())],
                cwd="/", env=self._env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
            )
        finally:
            theirs.close()
        self._socket = ours
        self.pid = self._process.pid
        hello = self._receive(START_SECONDS, "start")
        if "error" in hello:
            self.close()
            raise ZygoteUnavailable(f"the fork server could not start: {hello['error']}")

    def spawn(self, config_path: str, *, cwd: str, env: dict[str, str], fds: list[int], log_fd: int) -> int:
        """Fork one worker (a child of this process) for `config_path`; return its pid.

        fds: descriptors the worker keeps under the same numbers (as subprocess's pass_fds);
        log_fd becomes its stdout and stderr, /dev/null its stdin. The caller holds
        cleanup.SPAWN_LOCK and registers the pid before anything may sweep.
        """
        if self._socket is None:
            raise ZygoteUnavailable("the fork server is closed")
        self._sequence += 1
        sequence = self._sequence
        go_read, go_write = os.pipe()
        pid, started = 0, False
        try:
            request = {"seq": sequence, "config": config_path, "cwd": cwd, "env": env, "targets": fds}
            try:
                socket.send_fds(self._socket, [json.dumps(request).encode()], [go_read, log_fd, *fds])
            except OSError as exc:
                raise ZygoteUnavailable(f"the fork server is gone ({exc})") from None
            os.close(go_read)
            go_read = -1
            reply = self._receive(REPLY_SECONDS, "fork")
            while reply.get("seq") != sequence:   # the answer to a request interrupted before its reply
                _reap_unstarted(reply.get("pid"))
                reply = self._receive(REPLY_SECONDS, "fork")
            if "error" in reply:
                raise ZygoteUnavailable(f"the fork server could not fork: {reply['error']}")
            pid = int(reply["pid"])
            os.write(go_write, b"1")
            started = True
            return pid
        finally:
            if go_read >= 0:
                os.close(go_read)
            os.close(go_write)  # a child that got no b"1" reads EOF and exits at once
            if pid and not started:
                _reap_unstarted(pid)

    def close(self) -> None:
        """End the zygote (EOF on its socket) and reap it; killed if it does not exit at once."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None and self.owner == os.getpid():
            try:
                self._process.wait(2.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def _receive(self, timeout: float, what: str) -> dict[str, Any]:
        assert self._socket is not None
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(MAX_MESSAGE)
        except OSError as exc:
            raise ZygoteUnavailable(f"no answer from the fork server ({what}: {exc})") from None
        if not data:
            code = self._process.poll() if self._process is not None else None
            raise ZygoteUnavailable(f"the fork server exited ({what}; exit code {code})")
        try:
            message = json.loads(data)
        except ValueError:
            raise ZygoteUnavailable(f"the fork server sent {data[:80]!r} ({what})") from None
        if type(message) is not dict:
            raise ZygoteUnavailable(f"the fork server sent {message!r} ({what})")
        return message


def _reap_unstarted(pid: object) -> None:
    """Reap a child forked for a request that was given up (it got no go, so it exits at once)."""
    if type(pid) is int and pid > 0:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


_LOCK = threading.Lock()
_SERVER: ForkServer | None = None
_FAILED = ""


def for_this_process(env: dict[str, str]) -> ForkServer | None:
    """This process's zygote, started on first use with `env` (the workers' environment minus
    per-probe paths); None when it is switched off or has failed (said once on stderr)."""
    global _SERVER
    if not enabled() or _FAILED:
        return None
    with _LOCK:
        if _SERVER is not None and _SERVER.owner != os.getpid():
            _SERVER = None  # inherited through a fork: never shared across processes
        if _SERVER is None:
            server = ForkServer(env)
            try:
                server.start()
            except (ZygoteUnavailable, OSError) as exc:
                server.close()
                give_up(str(exc))
                return None
            _SERVER = server
            atexit.register(server.close)
        return _SERVER


def give_up(reason: str) -> None:
    """Stop using the zygote in this process (end it if it runs); say so once on stderr."""
    global _SERVER, _FAILED
    if _FAILED:
        return
    _FAILED = reason or "unknown reason"
    server, _SERVER = _SERVER, None
    if server is not None:
        server.close()
    print(f"grader.sandbox: fork server off for process {os.getpid()}: {_FAILED}; "
          "each probe starts a fresh worker", file=sys.stderr, flush=True)


def running_pid() -> int | None:
    """The pid of this process's zygote, or None when none is running."""
    server = _SERVER
    return server.pid if server is not None and server.owner == os.getpid() else None


def status() -> str:
    """One line for reports: whether this process's probes fork from a zygote."""
    if not enabled():
        return f"off ({ENV_SWITCH}=0)"
    if _FAILED:
        return f"unavailable: {_FAILED}"
    return f"on (pid {_SERVER.pid})" if _SERVER is not None else "on (not started yet)"
