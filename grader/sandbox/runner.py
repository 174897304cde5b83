"""`run_probe`: run a small probe function against student code in a sandboxed worker.

Example (from a hidden test):

    PROBE = '''
    import numpy as np
    def probe(tt, a, b):
        out = tt.Tensor(a) * tt.Tensor(b)
        return {"out": out.data, "dtype": str(out.data.dtype)}
    '''
    result = run_probe(Path("assignments"), PROBE, "probe", {"a": a, "b": b}, limits=Limits(wall_seconds=5))
    assert result.status == "ok", result.error_message
    np.testing.assert_allclose(result.values["out"], a * b)

Student code never runs in the grader process. The worker (`worker.py`) gets a private copy
of `impl_dir/tinytorch` only (measured first: workspace.py), resource limits, a cgroup for
its whole tree (cgroups.py), and, when the grader is root, the sandbox uid and its own mount,
network and pid namespaces with a sized scratch tmpfs (namespaces.py); then Landlock and a
seccomp socket filter. The grader enforces the deadline, decides "timeout" and "crashed"
itself, decodes the result defensively, and leaves no process, file or cgroup behind.
`ProbeResult.protections` says what this probe's worker got (`protections()` for the machine).

Each probe runs on a sandbox uid slot held for it alone (`slots.py`): leased for the probe
when the caller passes no `uid_slot`, or one of the caller's own leased slots.

The worker is forked from this process's zygote (`zygote.py`: Python and NumPy imported once,
no student code) as this process's own child, or started as a fresh interpreter when the
zygote is off (`sandbox: fork_server`) or has failed; everything after its start is the same.
"""

from __future__ import annotations

import ast
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.sandbox import cgroups, cleanup, landlock, privileges, protocol, slots, waiting, zygote
from grader.sandbox.cgroups import WorkerCgroup
from grader.sandbox.limits import Limits
from grader.sandbox.result import ProbeResult, crash_message, stack_dump_after, timeout_message
from grader.sandbox.workspace import Workspace, WorkspaceError

WORKER = Path(__file__).resolve().with_name("worker.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNS_AS_ROOT = os.geteuid() == 0
MAX_INPUT_BYTES = 1 << 40  # inputs come from the grader itself; only results are capped

# Transitional, until grader/engine leases its slots: an int uid_slot this process has not
# leased is leased for the one probe (waiting, and reporting the wait, while another
# process holds it), as every probe did before slots were leased. When False, it is refused.
IMPLICIT_LEASE_FOR_UNLEASED_SLOTS = True


def worker_env(box: Path) -> dict[str, str]:
    """The worker's whole environment: nothing is inherited from the grader."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(box),
        "TMPDIR": str(box),
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_probe(
    impl_dir: Path,
    source: str,
    func_name: str,
    inputs: dict[str, Any] | None = None,
    *,
    limits: Limits = Limits(),
    files: dict[str, Path] | None = None,
    uid_slot: int | None = None,
    workspace_dir: str | None = None,
) -> ProbeResult:
    """Run `func_name(tt, **inputs)` from probe `source` against impl_dir/tinytorch, sandboxed.

    impl_dir: directory containing a `tinytorch/` package; only that package is copied.
    source: Python source defining `func_name(tt, **inputs) -> dict[str, plain value]`.
    inputs: plain data (ndarrays of bool/int/uint/float, scalars, str, None, lists/tuples/dicts).
    files: extra files for the worker's directory, destination name -> source path.
    uid_slot: None (default) leases a free slot for this probe alone; an int must be a slot
        this process leased (slots.SlotPool) or was handed by its parent. The worker runs as
        uid 61000 + slot. Probes on one slot from several threads run one after another.
    workspace_dir: where the probe's temp dir is made (default: the system's temp dir); a
        grader that may kill this process gives it a folder of its own to remove afterwards.

    `ProbeResult.seconds` is the worker's own wall time; time spent waiting for a slot is
    `ProbeResult.waited_seconds`, never part of it.

    Raises ValueError/FileNotFoundError only for mistakes of the test author (bad probe
    source, inputs that are not plain data, bad `files`, a slot not leased); never because
    of student code.
    """
    tree, npz = _check_request(source, func_name, inputs, limits)
    cleanup.become_subreaper()
    with _slot_for_probe(uid_slot) as (slot, waited):
        uid = privileges.sandbox_id(slot) if RUNS_AS_ROOT else None
        result = _run_in_slot(Path(impl_dir), source, func_name, tree, npz, limits, files, uid, workspace_dir)
    return replace(result, waited_seconds=waited)


RLIMITS_NOTE = "always: CPU time, address space and file size per process, processes per uid"


@contextlib.contextmanager
def _slot_for_probe(uid_slot: int | None) -> Iterator[tuple[int, float]]:
    """Yield (slot, seconds waited for it), held by this thread for the whole probe."""
    pool = slots.default_pool()
    if uid_slot is None:
        lease = pool.lease(1)
    else:
        privileges.sandbox_id(uid_slot)  # validates type and range
        try:
            use = pool.using(uid_slot)
        except slots.NotLeased:
            if not IMPLICIT_LEASE_FOR_UNLEASED_SLOTS:
                raise slots.NotLeased(
                    f"run_probe: uid_slot={uid_slot} is not leased by this process (pid {os.getpid()}); "
                    "lease it with grader.sandbox.SlotPool().lease(...), or pass uid_slot=None"
                ) from None
        else:
            with use:
                yield uid_slot, use.waited_seconds
            return
        lease = pool.lease_exactly([uid_slot])
    with lease, pool.using(lease.slots[0]) as use:
        yield use.slot, lease.waited_seconds + use.waited_seconds


def _run_in_slot(
    impl_dir: Path,
    source: str,
    func_name: str,
    tree: Any,
    npz: bytes,
    limits: Limits,
    files: dict[str, Path] | None,
    uid: int | None,
    workspace_dir: str | None = None,
) -> ProbeResult:
    """The probe itself, on a slot this thread holds: workspace, worker, cleanup."""
    if uid is not None:
        cleanup.sweep(None, uid)  # leftovers of an earlier holder of this slot that died mid-run
    workspace = Workspace.create(uid, workspace_dir)
    pid = None
    group: WorkerCgroup | None = None
    try:
        try:
            workspace.populate(impl_dir, files)
        except WorkspaceError as exc:
            return ProbeResult("import_error", {}, "WorkspaceError", protocol.truncate(str(exc)), 0.0, "")
        if uid is not None:
            group = WorkerCgroup.create(uid - privileges.SANDBOX_BASE_ID, limits)
        forbidden = [p for p in (PROJECT_ROOT, impl_dir.resolve()) if p != Path("/")]
        ready = os.pipe() if group is not None else None  # _execute closes both ends
        try:
            config_path = _write_request(workspace, source, func_name, tree, npz, limits, uid, forbidden, ready)
        except BaseException:
            for fd in ready or ():
                os.close(fd)
            raise
        run = _execute(workspace, config_path, limits, group, ready)
        pid = run.pid
        if group is not None:
            group.kill()
        cleanup.sweep(pid, uid)
        result = _interpret(run, workspace, limits, group.oom_kills() if group else 0)
        return replace(result, protections=_protections_of(workspace, group),
                       peak_memory_bytes=group.peak_memory_bytes() if group else None)
    finally:
        if pid is None:
            cleanup.sweep(None, uid)
        if group is not None:
            group.remove()
        workspace.close()


def _protections_of(workspace: Workspace, group: WorkerCgroup | None) -> dict[str, str]:
    """The worker's own setup record, with the cgroup it joined described by the grader."""
    record = workspace.setup_record()
    if record.get("cgroup") == "joined" and group is not None:
        record["cgroup"] = group.describe()
    elif group is None:
        record["cgroup"] = cgroups.describe() if RUNS_AS_ROOT else "unavailable: the grader is not root; rlimits only"
    record["rlimits"] = RLIMITS_NOTE
    return record


@dataclass
class _Run:
    """How the worker process ended."""

    pid: int
    timed_out: bool
    returncode: int
    cpu_seconds: float
    seconds: float


def _check_request(source: str, func_name: str, inputs: dict[str, Any] | None, limits: Limits) -> tuple[Any, bytes]:
    """Validate the test author's request; return the encoded inputs."""
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
    if not func_name.isidentifier():
        raise ValueError(f"func_name must be an identifier, got {func_name!r}")
    try:
        module = ast.parse(source, filename="<probe>")
    except SyntaxError as exc:
        raise ValueError(f"probe source does not parse: {exc}") from exc
    defined = [node.name for node in module.body if isinstance(node, ast.FunctionDef)]
    if func_name not in defined:
        raise ValueError(f"probe source defines no top-level function {func_name!r}; it defines {defined}")
    inputs = {} if inputs is None else inputs
    bad_keys = [key for key in inputs if not (isinstance(key, str) and key.isidentifier() and key != "tt")]
    if bad_keys:
        raise ValueError(f"input names must be identifiers other than 'tt', got {bad_keys}")
    return protocol.encode(dict(inputs), MAX_INPUT_BYTES)


def _write_request(
    workspace: Workspace,
    source: str,
    func_name: str,
    tree: Any,
    npz: bytes,
    limits: Limits,
    uid: int | None,
    forbidden: list[Path],
    ready: tuple[int, int] | None,
) -> Path:
    """Write inputs and the worker's config beside the box; return the config path."""
    inputs_json = workspace.write_grader_file("inputs.json", protocol.dumps_json(tree))
    inputs_npz = workspace.write_grader_file("inputs.npz", npz) if npz else None
    processes = limits.processes if uid is not None else limits.processes + _processes_of_this_user()
    config = {
        "box": str(workspace.box),
        "func_name": func_name,
        "source": source,
        "inputs_json": str(inputs_json),
        "inputs_npz": str(inputs_npz) if inputs_npz else "",
        "result_json_fd": workspace.result_json_fd,
        "result_npz_fd": workspace.result_npz_fd,
        "setup_fd": workspace.setup_fd,
        "rlimits": {
            "cpu": limits.effective_cpu_seconds,
            "memory": limits.memory_bytes,
            "file": limits.file_bytes,
            "processes": processes,
        },
        "uid": uid,
        "gid": uid,
        "landlock_abi": landlock.ABI,
        "forbidden_roots": sorted({str(p) for p in forbidden}),
        "max_input_bytes": MAX_INPUT_BYTES,
        "max_array_bytes": limits.file_bytes,
        "cgroup_ready_fd": ready[0] if ready is not None else -1,
        "scratch_bytes": limits.scratch_bytes,
        "stack_dump_after": stack_dump_after(limits),
    }
    return workspace.write_grader_file("config.json", protocol.dumps_json(config))


def _execute(workspace: Workspace, config_path: Path, limits: Limits, group: WorkerCgroup | None,
             ready: tuple[int, int] | None) -> _Run:
    """Start the worker, move it into its cgroup, enforce the deadline, SIGKILL its group, reap it."""
    fds = (workspace.result_json_fd, workspace.result_npz_fd, workspace.setup_fd, *(ready[:1] if ready else ()))
    started = time.monotonic()
    try:
        with cleanup.SPAWN_LOCK:
            pid, process = _start_worker(workspace, config_path, fds)
            cleanup.IN_FLIGHT.add(pid)
    except BaseException:
        if ready is not None:
            os.close(ready[1])
        raise
    finally:
        if ready is not None:
            os.close(ready[0])
    if ready is not None and group is not None:
        _move_into(group, pid, ready[1])
    reaped = False
    try:
        exited = waiting.wait_for_exit(pid, limits.wall_seconds)
        # Alive or a zombie, the worker still holds its pid, so its group id cannot be reused.
        cleanup.kill_group(pid)
        _, status, usage = os.wait4(pid, 0)
        reaped = True
    finally:
        if not reaped:  # interrupted (e.g. by a test timeout): never leave the worker running
            cleanup.kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        with cleanup.SPAWN_LOCK:
            cleanup.IN_FLIGHT.discard(pid)
    seconds = time.monotonic() - started
    returncode = os.waitstatus_to_exitcode(status)
    if process is not None:
        process.returncode = returncode  # reaped here, not by Popen (which must never poll it)
    return _Run(pid, not exited, returncode, usage.ru_utime + usage.ru_stime, seconds)


def _start_worker(workspace: Workspace, config_path: Path, fds: tuple[int, ...]) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start the worker, a child of this process in a session of its own; return its pid (and
    its Popen when started fresh, kept until it is reaped). Forked from this process's zygote
    (zygote.py) when there is one; otherwise, or when the zygote fails, a fresh interpreter.
    The caller holds cleanup.SPAWN_LOCK."""
    server = zygote.for_this_process(worker_env(Path("/")))
    if server is not None:
        try:
            pid = server.spawn(str(config_path), cwd=str(workspace.box), env=worker_env(workspace.box),
                               fds=list(fds), log_fd=workspace.log_fd)
            return pid, None
        except zygote.ZygoteUnavailable as exc:
            zygote.give_up(str(exc))
    process = subprocess.Popen(
        [sys.executable, "-s", "-P", "-B", "-u", str(WORKER), str(config_path)],
        cwd=workspace.box,
        env=worker_env(workspace.box),
        stdin=subprocess.DEVNULL,
        stdout=workspace.log_fd,
        stderr=subprocess.STDOUT,
        pass_fds=fds,
        start_new_session=True,
    )
    return process.pid, process


def _move_into(group: WorkerCgroup, pid: int, ready_fd: int) -> None:
    """Move the starting worker into its cgroup, then tell it (b"1") or say it failed (b"0");
    the worker forks nothing before it reads the answer."""
    try:
        group.add(pid)
        answer = b"1"
    except OSError:
        answer = b"0"
    try:
        os.write(ready_fd, answer)
    except OSError:
        pass  # the worker is already gone
    finally:
        os.close(ready_fd)


def _interpret(run: _Run, workspace: Workspace, limits: Limits, oom_kills: int) -> ProbeResult:
    """Turn how the worker ended, and what it wrote, into a ProbeResult."""
    tail = workspace.output_tail()
    if run.timed_out:
        return ProbeResult("timeout", {}, None, timeout_message(limits, tail), run.seconds, tail)
    try:
        json_bytes, npz_bytes = workspace.result_bytes(limits.file_bytes + 1024**2)
        if not json_bytes:
            message = crash_message(run.returncode, run.cpu_seconds, limits, oom_kills)
            return ProbeResult("crashed", {}, None, message, run.seconds, tail)
        envelope = protocol.loads_json(json_bytes)
        status, error_type, message, tree = _unpack(envelope)
        if status == "setup_failed":
            return ProbeResult("crashed", {}, None, message, run.seconds, tail)
        values = protocol.decode(tree, npz_bytes, limits.file_bytes) if status == "ok" else {}
    except protocol.PlainDataError as exc:
        return ProbeResult("bad_output", {}, "PlainDataError", protocol.truncate(str(exc)), run.seconds, tail)
    return ProbeResult(status, values, error_type, message, run.seconds, tail)


def _unpack(envelope: Any) -> tuple[str, str | None, str, Any]:
    """Check the worker's envelope field by field; raise PlainDataError when malformed."""
    if type(envelope) is not dict:
        raise protocol.PlainDataError(f"worker result is a {type(envelope).__name__}, not an object")
    status = envelope.get("status")
    error_type = envelope.get("error_type")
    message = envelope.get("error_message", "")
    if status not in protocol.WORKER_STATUSES:
        raise protocol.PlainDataError(f"worker reported unknown status {protocol.truncate(repr(status), 60)}")
    if error_type is not None and type(error_type) is not str:
        raise protocol.PlainDataError(f"worker reported error_type of type {type(error_type).__name__}")
    if type(message) is not str:
        raise protocol.PlainDataError(f"worker reported error_message of type {type(message).__name__}")
    error_type = None if error_type is None else protocol.truncate(error_type, 100)
    return status, error_type, protocol.truncate(message), envelope.get("values", {})


def _processes_of_this_user() -> int:
    """Threads this (non-root) user runs now: RLIMIT_NPROC counts every one of them."""
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "status"), "rb") as handle:
                fields = dict(line.split(b":", 1) for line in handle.read().splitlines() if b":" in line)
            if int(fields[b"Uid"].split()[0]) == uid:
                count += int(fields[b"Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return count
