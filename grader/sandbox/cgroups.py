"""Per-worker cgroups: memory, processes and CPU share counted for the whole worker tree.

    group = WorkerCgroup.create(slot, limits)        # None when this machine offers none
    group.add(worker_pid)                            # while the worker starts Python
    ...
    group.kill(); oom = group.oom_kills(); group.remove()

RLIMIT_AS and RLIMIT_NPROC hold per process and per uid: 64 processes of 1.5 GB each hold
96 GB. A cgroup holds the tree: `memory_bytes` for every process of the worker together (its
scratch tmpfs included), `processes + 3` tasks (the worker, its namespace init and its stack-dump thread too), and an
equal CPU share (cpu.weight 100 in v2, cpu.shares 1024 in v1), so a submission running 64
busy processes gets as much CPU as an honest one running one. On an OOM the v2 group is
killed whole (memory.oom.group); v1 kills the largest process.

Each controller is taken from the hierarchy that has it: cgroup v2 when its root lists it,
else a v1 hierarchy mounting it (hybrid machines, like a kit developer's VM, keep memory,
pids and cpu in v1). The worker's group is made beside the grader:

- v1: a child of the grader's own cgroup in that hierarchy (no internal-process rule);
- v2: a child of `TINYTORCH_SANDBOX_CGROUP` when set (a delegated cgroup whose
  subtree_control enables the controllers), else of the nearest ancestor of the grader's
  cgroup (itself included) whose cgroup.subtree_control already enables the controller.

Groups are named `tinytorch-slot<N>`: one slot runs one probe at a time on the machine, so a
stale group (a grader killed mid-probe) is emptied and replaced by the next probe on that
slot. Needs root; `describe()` says what is available and why not.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from functools import lru_cache

from grader.sandbox.limits import Limits

CONTROLLERS = ("memory", "pids", "cpu")
ENV_PARENT = "TINYTORCH_SANDBOX_CGROUP"
EXTRA_TASKS = 3  # the worker, its pid-namespace init and its stack-dump thread run in the group beside the probe
REMOVE_SECONDS = 2.0


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy the worker groups are made in."""

    version: int  # 1 or 2
    parent: str  # directory under which `tinytorch-slot<N>` is made
    controllers: tuple[str, ...]  # which of CONTROLLERS this hierarchy provides here


@dataclass(frozen=True)
class Discovery:
    hierarchies: tuple[Hierarchy, ...]
    missing: dict[str, str]  # controller -> why it is unavailable


class WorkerCgroup:
    """The cgroup directories of one worker, one per hierarchy used."""

    def __init__(self, dirs: list[tuple[Hierarchy, str]], limits: Limits) -> None:
        self.dirs = dirs
        self.limits = limits

    @classmethod
    def create(cls, slot: int, limits: Limits) -> WorkerCgroup | None:
        """Make (replacing a stale one) and configure the group of `slot`; None when unavailable
        or when making it fails (the rlimits still hold; the failure is not the student's)."""
        found = discover()
        if not found.hierarchies:
            return None
        made: list[tuple[Hierarchy, str]] = []
        try:
            for hierarchy in found.hierarchies:
                path = os.path.join(hierarchy.parent, f"tinytorch-slot{slot}")
                _replace_stale(path, hierarchy.version)
                os.mkdir(path, 0o755)
                made.append((hierarchy, path))
                _configure(hierarchy, path, limits)
        except OSError:
            WorkerCgroup(made, limits).remove()
            return None
        return cls(made, limits)

    def add(self, pid: int) -> None:
        """Move process `pid` into the group (its later children follow); raises OSError.

        Moving a process between cgroups waits for an RCU grace period per hierarchy (5-15 ms
        in all on a v1 machine), so the runner does it while the worker reads its config and
        inputs (and, started fresh rather than forked from a zygote, starts Python), and the
        worker waits for it before it forks anything.
        """
        for _, path in self.dirs:
            _write(path, "cgroup.procs", str(pid))

    def describe(self) -> str:
        """e.g. "v1: memory.limit 1536 MiB, pids.max 67, cpu.shares 1024"."""
        parts = []
        for hierarchy, _ in self.dirs:
            for controller in hierarchy.controllers:
                parts.append(f"v{hierarchy.version} {_setting(hierarchy.version, controller, self.limits)}")
        return ", ".join(parts)

    def kill(self) -> int:
        """SIGKILL every process in the group (cgroup.kill in v2); return how many were listed."""
        count = 0
        for hierarchy, path in self.dirs:
            if hierarchy.version == 2 and os.path.exists(os.path.join(path, "cgroup.kill")):
                with contextlib.suppress(OSError):
                    _write(path, "cgroup.kill", "1")
            for pid in _procs(path):
                count += 1
                with contextlib.suppress(OSError):
                    pidfd = os.pidfd_open(pid)
                    try:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    finally:
                        os.close(pidfd)
        return count

    def oom_kills(self) -> int:
        """How many processes the kernel killed for exceeding the group's memory limit."""
        for hierarchy, path in self.dirs:
            if "memory" in hierarchy.controllers:
                name = "memory.events" if hierarchy.version == 2 else "memory.oom_control"
                return _field(os.path.join(path, name), "oom_kill")
        return 0

    def peak_memory_bytes(self) -> int | None:
        """The group's peak memory use (memory.peak / memory.max_usage_in_bytes), if known."""
        for hierarchy, path in self.dirs:
            if "memory" in hierarchy.controllers:
                name = "memory.peak" if hierarchy.version == 2 else "memory.max_usage_in_bytes"
                with contextlib.suppress(OSError, ValueError):
                    return int(_read(os.path.join(path, name)).split()[0])
        return None

    def remove(self) -> bool:
        """Kill what is left and remove the directories, retrying while tasks exit; return
        whether all are gone (a survivor is removed by the next probe on the slot)."""
        gone = True
        for hierarchy, path in reversed(self.dirs):
            gone &= _remove(path, hierarchy.version)
        return gone


def describe() -> str:
    """What per-worker cgroups this machine gives the grader, for `protections()`."""
    found = discover()
    have = [f"{c} (v{h.version})" for h in found.hierarchies for c in h.controllers]
    missing = "; ".join(f"no {c}: {why}" for c, why in found.missing.items())
    if not have:
        return f"unavailable ({missing}); rlimits only"
    return "per worker: " + ", ".join(have) + (f"; {missing}" if missing else "")


@lru_cache(maxsize=1)
def discover() -> Discovery:
    """Where each controller can be used for worker groups on this machine (cached)."""
    if os.geteuid() != 0:
        return Discovery((), {c: "the grader is not root" for c in CONTROLLERS})
    mounts = _cgroup_mounts()
    own = _own_cgroups()
    chosen: dict[tuple[int, str], list[str]] = {}
    missing: dict[str, str] = {}
    for controller in CONTROLLERS:
        place, why = _v2_parent(controller, mounts, own)
        if place is None:
            place, why_v1 = _v1_parent(controller, mounts, own)
            why = why_v1 if place is None else why
        if place is None:
            missing[controller] = why
            continue
        chosen.setdefault(place, []).append(controller)
    hierarchies = tuple(Hierarchy(version, parent, tuple(ctrls)) for (version, parent), ctrls in chosen.items())
    return Discovery(hierarchies, missing)


def _v2_parent(controller: str, mounts: list[tuple[str, str, str, str]], own: dict[str, str]) -> tuple[tuple[int, str] | None, str]:
    v2 = [(point, root) for point, root, fstype, _ in mounts if fstype == "cgroup2"]
    if not v2:
        return None, "no cgroup v2 mounted"
    point, root = v2[0]
    if controller not in _read_words(os.path.join(point, "cgroup.controllers")):
        return None, f"cgroup v2 at {point} does not offer it"
    explicit = os.environ.get(ENV_PARENT)
    if explicit:
        if controller in _read_words(os.path.join(explicit, "cgroup.subtree_control")):
            return (2, explicit), ""
        return None, f"{ENV_PARENT}={explicit} does not enable it in cgroup.subtree_control"
    directory = _join(point, root, own.get("", "/"))
    while directory is not None and (directory == point or directory.startswith(point + "/")):
        if controller in _read_words(os.path.join(directory, "cgroup.subtree_control")):
            return (2, directory), ""
        directory = os.path.dirname(directory) if directory != point else None
    return None, f"no cgroup v2 ancestor of the grader enables it (set {ENV_PARENT} to a delegated cgroup)"


def _v1_parent(controller: str, mounts: list[tuple[str, str, str, str]], own: dict[str, str]) -> tuple[tuple[int, str] | None, str]:
    for point, root, fstype, options in mounts:
        if fstype == "cgroup" and controller in options.split(","):
            key = next((k for k in own if controller in k.split(",")), None)
            directory = _join(point, root, own[key]) if key is not None else None
            if directory is None or not os.path.isdir(directory):
                return None, f"the grader's own {controller} cgroup is not under {point}"
            if not os.access(directory, os.W_OK):
                return None, f"{directory} is not writable"
            return (1, directory), ""
    return None, "neither cgroup v2 nor a v1 hierarchy offers it"


def _cgroup_mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, mount root, fstype, super options) of every cgroup mount, from mountinfo."""
    found = []
    with contextlib.suppress(OSError):
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    found.append((_unescape(fields[4]), _unescape(fields[3]), tail[0], tail[2]))
    return found


def _own_cgroups() -> dict[str, str]:
    """The grader's cgroup path per hierarchy ("" for v2, "memory" or "cpu,cpuacct" for v1)."""
    own = {}
    with contextlib.suppress(OSError):
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    own[parts[1]] = parts[2]
    return own


def _join(point: str, root: str, path: str) -> str | None:
    """The directory of cgroup `path` in a hierarchy mounted at `point` with mount root `root`."""
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None if not os.path.isdir(point + path) else point + path
    relative = path[len(root):] if root != "/" else path
    return os.path.normpath(point + "/" + relative.lstrip("/"))


def _configure(hierarchy: Hierarchy, path: str, limits: Limits) -> None:
    memory = str(limits.memory_bytes)
    tasks = str(limits.processes + EXTRA_TASKS)
    for controller in hierarchy.controllers:
        if hierarchy.version == 2:
            if controller == "memory":
                _write(path, "memory.max", memory)
                _write_if_present(path, "memory.swap.max", "0")
                _write_if_present(path, "memory.oom.group", "1")
            elif controller == "pids":
                _write(path, "pids.max", tasks)
            elif controller == "cpu":
                _write(path, "cpu.weight", "100")
        elif controller == "memory":
            _write(path, "memory.limit_in_bytes", memory)
            _write_if_present(path, "memory.memsw.limit_in_bytes", memory)
        elif controller == "pids":
            _write(path, "pids.max", tasks)
        elif controller == "cpu":
            _write(path, "cpu.shares", "1024")


def _setting(version: int, controller: str, limits: Limits) -> str:
    if controller == "memory":
        return f"{'memory.max' if version == 2 else 'memory.limit_in_bytes'} {limits.memory_bytes // 1024**2} MiB"
    if controller == "pids":
        return f"pids.max {limits.processes + EXTRA_TASKS}"
    return "cpu.weight 100" if version == 2 else "cpu.shares 1024"


def _replace_stale(path: str, version: int) -> None:
    """Empty and remove a group left by an earlier holder of the slot that died mid-probe."""
    if os.path.isdir(path) and not _remove(path, version):
        raise OSError(errno.EBUSY, f"stale cgroup {path} could not be removed")


def _remove(path: str, version: int) -> bool:
    deadline = time.monotonic() + REMOVE_SECONDS
    delay = 0.0005
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return False
        if version == 2 and os.path.exists(os.path.join(path, "cgroup.kill")):
            with contextlib.suppress(OSError):
                _write(path, "cgroup.kill", "1")
        for pid in _procs(path):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _procs(path: str) -> list[int]:
    try:
        return [int(p) for p in _read(os.path.join(path, "cgroup.procs")).split()]
    except (OSError, ValueError):
        return []


def _field(path: str, name: str) -> int:
    """Integer field `name` of a flat-keyed cgroup file ("oom_kill 3"), 0 when absent."""
    with contextlib.suppress(OSError, ValueError):
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    return 0


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _read_words(path: str) -> list[str]:
    try:
        return _read(path).split()
    except OSError:
        return []


def _write(directory: str, name: str, value: str) -> None:
    with open(os.path.join(directory, name), "w") as handle:
        handle.write(value)


def _write_if_present(directory: str, name: str, value: str) -> None:
    if os.path.exists(os.path.join(directory, name)):
        _write(directory, name, value)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
