"""A seccomp filter on sockets: the worker cannot open a channel to anything outside itself.

After `deny_sockets()` the calling process and everything it forks:

- `socket()` fails with EACCES for every family except AF_NETLINK (kernel queries such as
  getifaddrs). That includes AF_UNIX, whose pathname sockets are files: a network
  namespace does not separate them, and Landlock (before it learns to) does not cover
  connecting to one. Without root (no network namespace) it also closes TCP and UDP.
- `socketpair()` works for SOCK_STREAM only (asyncio and multiprocessing pipes): a
  connected stream pair cannot be pointed at another address; a datagram pair could.
- `io_uring_setup()` fails with ENOSYS: io_uring can open and connect sockets without the
  syscalls above.
- Any syscall from another ABI (32-bit `int 0x80`, x32) fails with ENOSYS, so `socketcall`
  cannot get around the filter.

x86_64 and aarch64 only; `supported()` says whether this machine is one. Requires
no_new_privs (set before). Only the standard library is imported: the worker loads this
file by path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_AF_NETLINK = 16
_SOCK_STREAM = 1
_X32_BIT = 0x40000000

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_AND_K = 0x54
_RET_K = 0x06

# machine -> (AUDIT_ARCH, socket, socketpair, io_uring_setup)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 53, 425),
    "aarch64": (0xC00000B7, 198, 199, 425),
}

DESCRIPTION = "sockets: only AF_NETLINK and stream socketpairs; io_uring and foreign ABIs denied"


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)


def supported() -> bool:
    """Whether this machine's architecture has a filter here."""
    return platform.machine() in _ARCHES


def deny_sockets() -> None:
    """Install the filter on the calling thread (the worker is single-threaded). Raises
    OSError when the architecture is not supported or the kernel refuses."""
    machine = platform.machine()
    if machine not in _ARCHES:
        raise OSError(errno.ENOSYS, f"no seccomp filter for architecture {machine!r}")
    program = _program(*_ARCHES[machine], x32=machine == "x86_64")
    buffer = ctypes.create_string_buffer(program)
    fprog = _Filter(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}")


def _program(arch: int, socket_nr: int, socketpair_nr: int, io_uring_nr: int, *, x32: bool) -> bytes:
    """The BPF program as bytes; jumps (forward only, as in BPF) are resolved from labels."""
    enosys = _RET_ERRNO | errno.ENOSYS
    eacces = _RET_ERRNO | errno.EACCES
    # (opcode, k, jump-if-true label, jump-if-false label); a label is a str naming a line
    lines: list[tuple[str | None, int, int, str | None, str | None]] = [
        (None, _LD_W_ABS, 4, None, None),  # seccomp_data.arch
        (None, _JEQ_K, arch, None, "deny_enosys"),
        (None, _LD_W_ABS, 0, None, None),  # seccomp_data.nr
    ]
    if x32:
        lines.append((None, _JGE_K, _X32_BIT, "deny_enosys", None))
    lines += [
        (None, _JEQ_K, socket_nr, "socket", None),
        (None, _JEQ_K, socketpair_nr, "socketpair", None),
        (None, _JEQ_K, io_uring_nr, "deny_enosys", None),
        (None, _RET_K, _RET_ALLOW, None, None),
        ("socket", _LD_W_ABS, 16, None, None),  # args[0] (low half): the family
        (None, _JEQ_K, _AF_NETLINK, "allow", "deny_eacces"),
        ("socketpair", _LD_W_ABS, 24, None, None),  # args[1] (low half): the type
        (None, _AND_K, 0xF, None, None),
        (None, _JEQ_K, _SOCK_STREAM, "allow", "deny_eacces"),
        ("allow", _RET_K, _RET_ALLOW, None, None),
        ("deny_eacces", _RET_K, eacces, None, None),
        ("deny_enosys", _RET_K, enosys, None, None),
    ]
    where = {label: index for index, (label, *_rest) in enumerate(lines) if label}
    out = bytearray()
    for index, (_, code, k, if_true, if_false) in enumerate(lines):
        jt = where[if_true] - index - 1 if if_true else 0
        jf = where[if_false] - index - 1 if if_false else 0
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise ValueError(f"seccomp: jump out of range at line {index}")
        out += struct.pack("<HBBI", code, jt, jf, k)
    return bytes(out)
