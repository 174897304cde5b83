"""Landlock: an unprivileged, kernel-enforced allow-list of file paths for the worker.

After `restrict(read_only, read_write)` the calling process and every process it forks can
only read under `read_only` (files and directories), only write under `read_write`, cannot
bind or connect TCP sockets (ABI >= 4), and cannot signal or reach abstract unix sockets of
processes outside the sandbox (ABI >= 6). Everything else on disk, e.g. hidden tests or the
reference solution, fails with PermissionError.

Access rights the running kernel's ABI does not know are masked out, so the same call works
on every kernel since 5.13. `ABI` is 0 when the kernel (or a seccomp filter) offers no
Landlock; the grader reports that and runs without it.

Only the standard library is imported: the worker loads this file by path.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable

_SYS_CREATE_RULESET = 444  # the same number on every architecture
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1

_FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    result = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(result) if result > 0 else 0


ABI: int = abi_version()
AVAILABLE: bool = ABI > 0


def handled_fs_rights(abi: int) -> int:
    """Every filesystem right that ABI `abi` knows: all of them are denied unless a rule allows."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(read_only: Iterable[str], read_write: Iterable[str], abi: int = ABI) -> None:
    """Restrict the calling process (and its future children) to the given paths.

    `read_only` paths get read and execute rights, `read_write` paths every right; paths that
    do not exist are skipped. Must be called while the process has a single thread (Landlock
    restricts only the calling thread). Raises OSError naming the step and the path.
    """
    if abi < 1:
        raise OSError(f"Landlock is not available (ABI {abi})")
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise OSError(f"Landlock must be applied while single-threaded; this process has {threads} threads")
    handled = handled_fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset_fd = _check(_libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)), "create_ruleset", "")
    try:
        for path in read_only:
            _add_path_rule(ruleset_fd, path, READ_RIGHTS & handled)
        for path in read_write:
            _add_path_rule(ruleset_fd, path, handled)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)", "")
        _check(_libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)), "restrict_self", "")
    finally:
        os.close(ruleset_fd)


def _add_path_rule(ruleset_fd: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_ONLY_RIGHTS
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(
            _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)),
            "add_rule",
            path,
        )
    finally:
        os.close(fd)


def _check(result: int, step: str, path: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        where = f" for {path!r}" if path else ""
        raise OSError(errno, f"Landlock {step}{where} failed: {os.strerror(errno)}")
    return int(result)
