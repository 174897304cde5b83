"""The zygote's own program: `python -s -P -B -u zygote_process.py FD`, started by zygote.py.

It loads worker.py by file path (NumPy and the worker's helpers with it), then serves one
request at a time on the socket FD: each is one clone(CLONE_PARENT) child that arranges its
descriptors, waits for the runner's "go" byte and runs `worker.main` (see zygote.py for why
the child is the runner's own, and how nothing of one probe reaches another). It imports only
the standard library at the top, so the zygote never imports the grader package.
"""
from __future__ import annotations

import ctypes
import fcntl
import importlib.util
import json
import os
import platform
import signal
import socket
import sys
from types import ModuleType
from typing import Any

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
MAX_MESSAGE = 1 << 16
MAX_FDS = 16
_TID_WINDOW = 1024              # bytes of glibc's thread descriptor searched for the tid field

# clone(2) syscall numbers and where its child_tid argument goes, per architecture.
_CLONE = {"x86_64": (56, "x86"), "aarch64": (220, "generic"), "riscv64": (220, "generic")}
_CLONE_PARENT = 0x00008000
_CLONE_CHILD_CLEARTID = 0x00200000
_CLONE_CHILD_SETTID = 0x01000000


def _load_worker() -> ModuleType:
    """worker.py by file path (it imports NumPy and its helpers the same way)."""
    spec = importlib.util.spec_from_file_location("_sandbox_worker", WORKER)
    assert spec is not None and spec.loader is not None, f"cannot load the sandbox worker from {WORKER}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _Cloner:
    """fork() as os.fork does it, but with CLONE_PARENT: the child is the zygote's sibling."""

    def __init__(self) -> None:
        machine = platform.machine()
        if machine not in _CLONE:
            raise OSError(f"no clone() layout known for {machine}")
        self.number, self.layout = _CLONE[machine]
        libc = ctypes.PyDLL(None, use_errno=True)   # PyDLL: the GIL stays held across the call
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_void_p]
        pthread_self = ctypes.CDLL(None).pthread_self
        pthread_self.restype = ctypes.c_void_p
        self._thread = int(pthread_self())
        self.tid_address = self._thread + _tid_offset(self._thread)
        for name in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"):
            getattr(ctypes.pythonapi, name).restype = None

    def fork(self) -> int:
        """0 in the child; the child's pid in the zygote. Raises OSError when clone fails."""
        flags = _CLONE_PARENT | _CLONE_CHILD_SETTID | _CLONE_CHILD_CLEARTID | signal.SIGCHLD
        tid = ctypes.c_void_p(self.tid_address)
        ctypes.pythonapi.PyOS_BeforeFork()
        if self.layout == "x86":   # clone(flags, stack, parent_tid, child_tid, tls)
            pid = self._syscall(self.number, flags, None, None, tid, None)
        else:                      # clone(flags, stack, parent_tid, tls, child_tid)
            pid = self._syscall(self.number, flags, None, None, None, tid)
        if pid == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
            return 0
        err = ctypes.get_errno()
        ctypes.pythonapi.PyOS_AfterFork_Parent()
        if pid < 0:
            raise OSError(err, f"clone(CLONE_PARENT) failed: {os.strerror(err)}")
        return pid


def _tid_offset(thread: int) -> int:
    """Where glibc keeps this thread's id in its descriptor: the one int that equals our pid
    here and, after a real fork, the child's pid in the child. Raises OSError if not exactly one."""
    me = os.getpid()
    window = ctypes.string_at(thread, _TID_WINDOW)
    candidates = [o for o in range(0, _TID_WINDOW, 4) if int.from_bytes(window[o:o + 4], sys.byteorder) == me]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        seen = ctypes.string_at(thread, _TID_WINDOW)
        mine = os.getpid()
        hits = [o for o in candidates if int.from_bytes(seen[o:o + 4], sys.byteorder) == mine]
        os.write(write_end, json.dumps(hits).encode())
        os._exit(0)
    os.close(write_end)
    try:
        hits = json.loads(os.read(read_end, 4096) or b"[]")
    finally:
        os.close(read_end)
        os.waitpid(child, 0)
    if len(hits) != 1:
        raise OSError(f"cannot find glibc's thread id field (candidates {candidates}, after fork {hits})")
    return int(hits[0])


def _arrange_fds(received: list[int], targets: list[int]) -> None:
    """In the child: stdin from /dev/null, received[1] as stdout and stderr, received[2:] at
    `targets`, every other descriptor closed (what subprocess does with pass_fds)."""
    keep = sorted({0, 1, 2, *targets})
    high = keep[-1] + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, high) for fd in received[1:]]
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(moved[0], 1)
    os.dup2(moved[0], 2)
    for source, target in zip(moved[1:], targets):
        os.dup2(source, target)
    previous = 2
    for fd in keep[3:]:
        if fd > previous + 1:
            os.closerange(previous + 1, fd)
        previous = fd
    os.closerange(previous + 1, 1 << 20)


def _child(worker: ModuleType, request: dict[str, Any], received: list[int]) -> None:
    """The forked worker: wait for the runner's go, set up as subprocess would, run the worker."""
    code = 1
    try:
        os.setsid()
        go = received[0]
        if os.read(go, 1) != b"1":
            os._exit(1)
        targets = [int(t) for t in request["targets"]]
        _arrange_fds(received, targets)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        sys.argv = [WORKER, request["config"]]
        code = worker.main(sys.argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code if isinstance(code, int) else 1)


def serve(fd: int) -> None:
    """The zygote's loop: one fork per request until the runner closes its end."""
    channel = socket.socket(fileno=fd)
    try:
        worker = _load_worker()
        cloner = _Cloner()
    except BaseException as exc:
        channel.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os._exit(1)
    import gc
    gc.collect()
    gc.freeze()   # the imported objects stay shared with the children instead of being copied
    channel.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    while True:
        try:
            data, received, _, _ = socket.recv_fds(channel, MAX_MESSAGE, MAX_FDS)
        except OSError:
            os._exit(1)
        if not data:
            os._exit(0)   # the runner closed its end, or died
        request: Any = None
        try:
            request = json.loads(data)
            if len(received) != len(request["targets"]) + 2:
                raise ValueError(f"{len(received)} descriptors for {len(request['targets'])} targets")
            pid = cloner.fork()
            if pid == 0:
                channel.close()
                _child(worker, request, received)
            reply: dict[str, Any] = {"pid": pid}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for descriptor in received:
                os.close(descriptor)
        reply["seq"] = request.get("seq") if isinstance(request, dict) else None
        channel.send(json.dumps(reply).encode())


if __name__ == "__main__":
    serve(int(sys.argv[1]))
