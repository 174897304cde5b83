"""The worker's identity: a dedicated unprivileged uid/gid per sandbox slot.

When the grader runs as root, each worker switches to uid = gid = SANDBOX_BASE_ID + slot
before any student code runs. That uid owns nothing but the worker's temp dir, so
RLIMIT_NPROC counts only sandbox processes, the worker cannot signal or ptrace the grader,
and cleanup can kill every process of that uid.

A Python installation under a directory the sandbox uid cannot search (pyenv under a 0700
`/root`, say) would be unusable after the switch. `prepare_mounts` fixes that inside a
private mount namespace: it mounts a small root-owned 0755 tmpfs over the blocking
directory and bind-mounts only the needed paths back into it; everything else under the
blocking directory disappears from the worker's view. In the same namespace it covers the
project checkout the same way (keeping only a virtualenv inside it, if the interpreter
lives there), so not even file names there can be probed (Landlock denies reading them,
not stat-ing them). The host's mounts are never touched: the worker enters the namespace
and makes it MS_PRIVATE first (namespaces.py).

Only the standard library is imported: the worker loads this file by path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat
from collections.abc import Iterable

SANDBOX_BASE_ID = 61000
MAX_SLOTS = 1000

_MS_NOSUID = 2
_MS_NODEV = 4
_MS_BIND = 4096
_MS_REC = 16384
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def sandbox_id(slot: int) -> int:
    """The uid (and gid) of sandbox slot `slot`."""
    if type(slot) is not int or not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"uid_slot must be an int in [0, {MAX_SLOTS}), got {slot!r}")
    return SANDBOX_BASE_ID + slot


def can_search(path: str, uid: int, gid: int) -> bool:
    """Whether uid/gid (without supplementary groups) may traverse directory `path`."""
    info = os.stat(path)
    mode = info.st_mode
    if info.st_uid == uid:
        return bool(mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def blocking_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The topmost proper ancestor of `path` that uid/gid cannot traverse, or None."""
    ancestor = "/"
    for part in os.path.realpath(path).strip("/").split("/")[:-1]:
        if not can_search(ancestor, uid, gid):
            return ancestor
        ancestor = os.path.join(ancestor, part)
    if ancestor != "/" and not can_search(ancestor, uid, gid):
        return ancestor
    return None


def prepare_mounts(reachable: Iterable[str], hidden: Iterable[str], uid: int, gid: int, *, private: bool) -> str:
    """Make uid/gid able to reach `reachable` and see `hidden` empty; return a setup line.

    `private`: the caller already is in its own mount namespace with mounts made private
    (namespaces.unshare + make_mounts_private). Each directory to cover (a blocking
    ancestor of a reachable path, or a hidden directory such as the project checkout) gets
    a root-owned 0755 tmpfs, and the reachable paths inside it (a virtualenv inside the
    checkout, say) are bind-mounted back at their own paths. Requires CAP_SYS_ADMIN.
    Raises OSError naming the step if a reachable path cannot be made reachable; hiding
    alone is best effort (Landlock denies reading those paths anyway).
    """
    targets = _outermost(sorted({os.path.realpath(p) for p in reachable if os.path.exists(p)}))
    blockers = {b for b in (blocking_ancestor(t, uid, gid) for t in targets) if b is not None}
    if "/" in blockers:
        raise OSError(f"uid {uid} cannot search '/'; refusing to cover the root directory")
    to_hide = {os.path.realpath(h) for h in hidden if os.path.isdir(h)}
    to_hide = {h for h in to_hide if h != "/" and h not in targets}
    covers = _outermost(sorted(blockers | to_hide))
    if not private:
        if blockers:
            raise OSError(f"no private mount namespace, and uid {uid} cannot reach {sorted(blockers)}")
        return "unavailable: the checkout is hidden by Landlock only"
    for cover in covers:
        _overlay(cover, [t for t in targets if _inside(t, cover)])
    return f"private; {len(covers)} director{'y' if len(covers) == 1 else 'ies'} covered"


def _inside(path: str, parent: str) -> bool:
    """Whether `path` is strictly inside directory `parent`."""
    return path != parent and path.startswith(parent.rstrip("/") + "/")


def drop_to(uid: int, gid: int) -> None:
    """Irrevocably switch the process to uid/gid with no supplementary groups.

    Also asks for SIGKILL if the grader dies first. Raises OSError if root could be regained.
    """
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
        raise OSError(f"privilege drop to uid {uid}/gid {gid} left ids {os.getresuid()} {os.getresgid()}")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise OSError(f"privilege drop to uid {uid} is reversible")
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def forbid_new_privileges() -> None:
    """Set no_new_privs: execve can never grant privileges again (setuid bits, file caps).

    Inherited by every descendant and irrevocable, it also marks sandbox processes for
    cleanup. Raises OSError if the kernel refuses.
    """
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _check(-1, "prctl(PR_SET_NO_NEW_PRIVS)", "")


def _outermost(paths: list[str]) -> list[str]:
    """`paths` without those inside another listed path (bind mounts are recursive)."""
    kept: list[str] = []
    for path in sorted(paths):
        if not any(path == k or _inside(path, k) for k in kept):
            kept.append(path)
    return kept


def _overlay(blocker: str, targets: list[str]) -> None:
    """Cover `blocker` with a 0755 tmpfs and bind-mount each target back at its own path."""
    fds = {target: os.open(target, os.O_PATH | os.O_CLOEXEC) for target in targets}
    try:
        _check(
            _libc.mount(b"tmpfs", blocker.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=0755,size=64k"),
            "mount tmpfs",
            blocker,
        )
        for target, fd in fds.items():
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            relative = os.path.relpath(target, blocker).split("/")
            current = blocker
            for depth, part in enumerate(relative, start=1):
                current = os.path.join(current, part)
                if os.path.lexists(current):
                    continue
                if depth < len(relative) or is_dir:
                    os.mkdir(current)
                else:
                    os.close(os.open(current, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC))
                os.chmod(current, 0o755)
            source = f"/proc/self/fd/{fd}".encode()
            _check(_libc.mount(source, target.encode(), None, _MS_BIND | _MS_REC, None), "bind mount", target)
    finally:
        for fd in fds.values():
            os.close(fd)


def _check(result: int, step: str, path: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{step} {path!r} failed: {os.strerror(errno)}")
