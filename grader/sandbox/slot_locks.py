"""The lock files behind sandbox slot leases, and this process's record of the slots it holds.

`LockedSlots` is that record for one lock directory (or for none: then nothing is locked
and slots are only kept distinct within the process). Every lock file is opened through the
directory's fd with O_NOFOLLOW and must be a regular file of ours with one link; the
directory must be ours and writable by no one else, so a sandbox uid can neither plant nor
swap one. A holder writes a JSON note (pid, since, command) into each lock file it takes,
which `holders` reads back for wait reports. Used by slots.py only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import grp
import json
import os
import pwd
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox.privileges import MAX_SLOTS, SANDBOX_BASE_ID

HOLDERS_SHOWN = 5
_HOLDER_BYTES = 1024
_COMMAND_CHARS = 160


@dataclass(eq=False)
class Held:
    """One slot this process holds: its locked lock file (None when nothing is locked)."""

    fd: int | None
    in_use: threading.Lock = field(default_factory=threading.Lock)
    handed_off: bool = False

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


class LockedSlots:
    """The slots this process holds under one lock directory (or none), shared by every
    SlotPool on that directory."""

    def __init__(self, lock_dir: Path | None) -> None:
        self.lock_dir = lock_dir
        self.dir_fd = None if lock_dir is None else open_lock_dir(lock_dir)
        self.held: dict[int, Held] = {}
        self.mutex = threading.Lock()

    def try_take(self, candidates: list[int], n: int) -> tuple[dict[int, Held] | None, list[int]]:
        """Take n of `candidates` now, or none; also return the slots found busy."""
        taken: dict[int, Held] = {}
        busy: list[int] = []
        with self.mutex:
            for slot in candidates:
                held = None if slot in self.held else self._take(slot)
                if held is None:
                    busy.append(slot)
                    continue
                taken[slot] = held
                if len(taken) == n:
                    for number, entry in taken.items():
                        self._write_holder(entry)
                        self.held[number] = entry
                    return taken, busy
            for entry in taken.values():
                entry.close()
        return None, busy

    def release(self, slots: dict[int, Held]) -> None:
        """Drop `slots`, each once no probe of this process runs on it any more."""
        for slot, entry in slots.items():
            with entry.in_use:
                with self.mutex:
                    if self.held.get(slot) is entry:
                        del self.held[slot]
                    entry.close()

    def holders(self, busy: list[int]) -> tuple[str, ...]:
        """Who holds the `busy` slots, grouped by process, read from their lock files."""
        by_holder: dict[str, int] = {}
        with self.mutex:
            mine = sum(1 for slot in busy if slot in self.held)
        if mine:
            by_holder[f"this process (pid {os.getpid()})"] = mine
        for slot in busy:
            if slot not in self.held:
                name = self._describe_holder(slot)
                by_holder[name] = by_holder.get(name, 0) + 1
        lines = [f"{name}: {count} slot(s)" for name, count in sorted(by_holder.items(), key=lambda kv: -kv[1])]
        if len(lines) > HOLDERS_SHOWN:
            lines = [*lines[:HOLDERS_SHOWN], f"and {len(lines) - HOLDERS_SHOWN} more"]
        return tuple(lines)

    def _take(self, slot: int) -> Held | None:
        if self.dir_fd is None:
            return Held(None)
        fd = self._open(slot)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return Held(fd)

    def _open(self, slot: int, flags: int = os.O_RDWR | os.O_CREAT) -> int:
        """Open slot's lock file without following links; refuse anything but a private file."""
        name = _lock_name(slot)
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600, dir_fd=self.dir_fd)
        except OSError as exc:
            raise OSError(exc.errno, f"sandbox slots: cannot open lock file {self.lock_dir / name}: {exc.strerror}") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_nlink != 1:
            os.close(fd)
            raise OSError(
                f"sandbox slots: {self.lock_dir / name} is not a private regular file "
                f"(mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}, {info.st_nlink} links); remove it"
            )
        return fd

    def _write_holder(self, entry: Held) -> None:
        if entry.fd is None:
            return
        note = json.dumps({"pid": os.getpid(), "since": time.time(), "command": _command_line()}).encode()
        # Always the same length (JSON allows trailing spaces), so no ftruncate: it costs ~1 ms.
        os.pwrite(entry.fd, note[:_HOLDER_BYTES].ljust(_HOLDER_BYTES), 0)

    def _describe_holder(self, slot: int) -> str:
        try:
            fd = self._open(slot, os.O_RDONLY)
            try:
                note = json.loads(os.pread(fd, _HOLDER_BYTES, 0))
            finally:
                os.close(fd)
            return f"pid {int(note['pid'])} ({str(note['command'])[:_COMMAND_CHARS]}) for {time.time() - float(note['since']):.0f} s"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has not said who it is"

    def is_inherited_lock(self, slot: int, fd: int) -> bool:
        """Whether `fd` is the open lock file of `slot` and holds (shares) its lock."""
        try:
            mine = os.fstat(fd)
            named = self._open(slot, os.O_RDONLY)
            try:
                same = (mine.st_dev, mine.st_ino) == (os.fstat(named).st_dev, os.fstat(named).st_ino)
            finally:
                os.close(named)
            if not same:
                return False
            # A flock is owned by the open file: on the shared one this succeeds at once;
            # if someone else held the slot it would fail.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False


def _lock_name(slot: int) -> str:
    return f"slot-{slot:03d}.lock"


def open_lock_dir(path: Path) -> int:
    """Create (0755) or open `path`; refuse one that is a symlink, not ours, or writable by others."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(fd)
        raise OSError(
            f"sandbox slots: lock directory {path} must belong to uid {os.geteuid()} and be writable by no one "
            f"else; it is {stat.filemode(info.st_mode)} owned by uid {info.st_uid}"
        )
    return fd


_ACCOUNT_SLOTS: frozenset[int] | None = None


def owned_by_accounts() -> frozenset[int]:
    """Slots whose uid or gid is a real user or group here (never used; only as root)."""
    global _ACCOUNT_SLOTS
    if os.geteuid() != 0:
        return frozenset()
    if _ACCOUNT_SLOTS is None:
        ids = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
        _ACCOUNT_SLOTS = frozenset(i - SANDBOX_BASE_ID for i in ids if 0 <= i - SANDBOX_BASE_ID < MAX_SLOTS)
    return _ACCOUNT_SLOTS


def check_not_an_account(slot: int) -> None:
    if slot in owned_by_accounts():
        raise ValueError(f"sandbox uid/gid {SANDBOX_BASE_ID + slot} belongs to a real user or group; pick another uid_slot")


@functools.cache
def _command_line() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            return handle.read(_COMMAND_CHARS * 2).replace(b"\0", b" ").decode("utf-8", "replace").strip()[:_COMMAND_CHARS]
    except OSError:
        return "?"
