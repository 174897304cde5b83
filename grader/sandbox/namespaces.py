"""The worker's own namespaces: no network, its own process tree, a private sized scratch.

Run by the worker while it is still root (see worker.py), each step best effort; every
function returns a line for the worker's setup record, which the grader reports:

- `unshare(...)`: new mount, network and pid namespaces in one call (one by one if the
  kernel refuses the set). A new network namespace has only a loopback device, and it is
  down: TCP, UDP and abstract unix sockets reach nothing (pathname unix sockets are files;
  seccomp.py denies creating them).
- `mount_scratch(box, ...)`: a tmpfs of `size` bytes mounted over the box, the worker's
  only writable directory, holding a copy of what the grader put there. Filling it fails
  with ENOSPC inside the worker; the shared temp dir never grows. It lives in the worker's
  mount namespace only and is gone when the worker's last process is.
- `fork_into_pid_namespace(...)`: after unshare(CLONE_NEWPID) only children enter the new
  namespace. The worker forks its init (pid 1), which mounts a fresh /proc (hidepid=invisible)
  and forks the probe process (pid 2); the init reaps orphans and reports the probe's wait
  status to the worker, which ends the same way (same exit code, same signal), so the grader
  sees the probe's ending. When the init dies, the kernel kills every process in the
  namespace; the init dies with the worker (PDEATHSIG). Inside, /proc shows only the
  namespace's processes of the probe's own uid: no other grading's command line or
  environment, and not the grader's.
- `user_network_namespace()`: without root, a user namespace holding a network namespace,
  where the kernel allows unprivileged user namespaces.

Only the standard library is imported: the worker loads this file by path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
SCRATCH_INODES = 16384

_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def unshare(flags: int) -> dict[int, str]:
    """Enter new namespaces for `flags`; return flag -> "" when entered, else the reason."""
    if _libc.unshare(flags) == 0:
        return {flag: "" for flag in _bits(flags)}
    outcome = {}
    for flag in _bits(flags):
        outcome[flag] = "" if _libc.unshare(flag) == 0 else _errno_text("unshare")
    return outcome


def make_mounts_private() -> None:
    """Stop mount events propagating to the host (needed before any mount in a new namespace)."""
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private under /")


def mount_scratch(box: str, size: int, uid: int, gid: int) -> str:
    """Mount a tmpfs of `size` bytes over `box` holding a copy of its current contents.

    Raises OSError (with the step) when the tmpfs cannot be mounted or filled; the worker
    then runs in the on-disk box.
    """
    source = os.open(box, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        options = f"size={int(size)},nr_inodes={SCRATCH_INODES},mode=0700,uid={uid},gid={gid}".encode()
        _check(_libc.mount(b"tmpfs", box.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options), f"mount tmpfs on {box!r}")
        try:
            _copy_tree(source, box, uid, gid)
        except OSError:
            _libc.umount2(box.encode(), 2)  # MNT_DETACH: back to the on-disk box
            raise
    finally:
        os.close(source)
    return f"tmpfs of {size // 1024**2} MiB over the box"


def fork_into_pid_namespace(own_mounts: bool) -> str:
    """Called after unshare(CLONE_NEWPID): fork the namespace's init; return (as pid 2, the
    probe process) the setup line. The worker and the init never return. A fresh /proc is
    mounted only in a private mount namespace (`own_mounts`), never over the host's.

    (If the worker dies before the init arms PDEATHSIG, the init is re-parented to the
    grader, which kills it with the worker's process group and reaps it as an orphan.)
    """
    read_end, write_end = os.pipe()
    init = os.fork()
    if init:
        os.close(write_end)
        _worker_waits(init, read_end)
    os.close(read_end)
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    line = _mount_proc() if own_mounts else "private, but /proc is the host's (no private mount namespace)"
    probe = os.fork()
    if probe:
        _init_waits(probe, write_end)
    os.close(write_end)
    return line


def user_network_namespace() -> str:
    """Without root: a user namespace (mapping only our own uid and gid) with a network
    namespace. Returns "" on success, else the reason."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return _errno_text("unshare(CLONE_NEWUSER | CLONE_NEWNET)")
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    except OSError as exc:
        return f"user namespace entered but ids not mapped: {exc}"
    return ""


def _mount_proc() -> str:
    """A fresh /proc for this pid namespace, showing each process only its own uid's."""
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    for options in (b"hidepid=invisible", b"hidepid=2", None):
        if _libc.mount(b"proc", b"/proc", b"proc", flags, options) == 0:
            shown = f", {options.decode()}" if options else ""
            return f"private, own /proc{shown}"
    return f"private, but /proc is the host's: {_errno_text('mount proc')}"


def _worker_waits(init: int, read_end: int) -> None:
    """The worker: wait for the init, then end exactly as the probe process did."""
    _, status = os.waitpid(init, 0)
    data = b""
    while len(data) < 4:
        chunk = os.read(read_end, 4 - len(data))
        if not chunk:
            break
        data += chunk
    end_like(struct.unpack("i", data)[0] if len(data) == 4 else status)


def _init_waits(probe: int, write_end: int) -> None:
    """The init (pid 1): reap every process re-parented here until the probe ends, report its
    wait status and exit, which kills whatever is left in the namespace."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == probe:
            os.write(write_end, struct.pack("i", status))
            os._exit(0)


def end_like(status: int) -> None:
    """Exit with the same exit code, or die of the same signal, as wait status `status`."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _copy_tree(source_fd: int, destination: str, uid: int, gid: int) -> None:
    """Copy directory `source_fd`'s tree (dirs, regular files, symlinks) into `destination`,
    owned by uid/gid, iteratively (the grader bounded its depth and size when it made it)."""
    pending = [(os.dup(source_fd), destination)]
    while pending:
        fd, target = pending.pop()
        try:
            for entry in os.scandir(fd):
                info = entry.stat(follow_symlinks=False)
                path = os.path.join(target, entry.name)
                if stat.S_ISDIR(info.st_mode):
                    os.mkdir(path, stat.S_IMODE(info.st_mode))
                    pending.append((os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd), path))
                elif stat.S_ISLNK(info.st_mode):
                    os.symlink(os.readlink(entry.name, dir_fd=fd), path)
                elif stat.S_ISREG(info.st_mode):
                    _copy_file(fd, entry.name, path, stat.S_IMODE(info.st_mode))
                else:
                    continue
                os.lchown(path, uid, gid)
        finally:
            os.close(fd)


def _copy_file(dir_fd: int, name: str, path: str, mode: int) -> None:
    source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            while True:
                chunk = os.read(source, 1 << 20)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(target, view):]
        finally:
            os.close(target)
    finally:
        os.close(source)


def _bits(flags: int) -> list[int]:
    return [1 << i for i in range(32) if flags & (1 << i)]


def _errno_text(step: str) -> str:
    err = ctypes.get_errno()
    return f"{step}: {os.strerror(err)}"


def _check(result: int, step: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{step} failed: {os.strerror(err)}")
