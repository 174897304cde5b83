"""Which of the sandbox's protections this grading environment actually gives, for the record.

    report = sandbox_report(kit_root, stubs_dir)
    report["observed"]["student_uid"]     # 61003: student code ran as a sandbox uid, not root
    report["observed"]["kit"]             # "denied": the kit (hidden tests, reference) was unreadable

A container kernel may lack Landlock or refuse a mount namespace; grading still runs, with
fewer walls. So the report has two halves:
- `declared`: what the sandbox says a worker gets (`grader.sandbox.protections()` when the
  sandbox offers it, else its flags: uid drop, Landlock ABI, and whether a mount namespace can
  be made here), each "unavailable: why" where missing;
- `observed`: what one real probe, run in the sandbox against the kit's own stubs, saw from
  inside: its uid, no_new_privs, seccomp, whether its mount namespace differs from the
  grader's, and whether it could list the kit's folder ("denied", "empty" under a private
  mount, "absent" from its view, or "visible", the one that matters).
`weaknesses` names what is missing, for the instructor's log.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.sandbox import Limits, run_probe

_CAN_UNSHARE = ("import ctypes, os\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "os._exit(0 if libc.unshare(0x00020000) == 0 else 1)\n")


def protections_probe(tt, kit, grader_mount_ns):
    import os
    out = {"student_uid": os.getuid(), "student_gid": os.getgid()}
    try:
        out["kit"] = "visible" if os.listdir(kit) else "empty"
    except PermissionError:
        out["kit"] = "denied"
    except FileNotFoundError:
        out["kit"] = "absent"
    except OSError as exc:
        out["kit"] = type(exc).__name__
    try:
        out["own_mount_namespace"] = os.readlink("/proc/self/ns/mnt") != grader_mount_ns
    except OSError:
        out["own_mount_namespace"] = "unknown"
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("NoNewPrivs", "Seccomp"):
                    out[key.lower()] = value.strip()
    except OSError:
        pass
    return out


def declared() -> dict[str, str]:
    """Protection -> what a worker gets here, "unavailable: why" where it is missing: the
    sandbox's own `protections()` when it has one, else its flags and an unshare trial."""
    import grader.sandbox as sandbox
    own = getattr(sandbox, "protections", None)
    if callable(own):
        return {str(k): str(v) for k, v in dict(own()).items()}
    return {
        "uid drop": "a sandbox uid per slot" if sandbox.DROPS_PRIVILEGES else "unavailable: the grader is not root",
        "Landlock": f"ABI {sandbox.LANDLOCK_ABI}" if sandbox.LANDLOCK_ABI else "unavailable: this kernel has no Landlock",
        "mount namespace": "private" if _can_unshare_mounts() else "unavailable: unshare(CLONE_NEWNS) is refused here",
    }


def _can_unshare_mounts() -> bool:
    try:
        return subprocess.run([sys.executable, "-I", "-c", _CAN_UNSHARE], timeout=20,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def observed(kit_root: Path, stubs: Path, wall_seconds: float = 30.0) -> dict[str, Any]:
    """What a probe saw from inside the sandbox (run against `stubs`, a folder holding the kit's
    own tinytorch/, so a broken submission cannot hide the answer)."""
    import inspect
    result = run_probe(stubs, inspect.getsource(protections_probe), "protections_probe",
                       {"kit": str(kit_root), "grader_mount_ns": os.readlink("/proc/self/ns/mnt")},
                       limits=Limits(wall_seconds=wall_seconds))
    if result.status != "ok":
        return {"probe": result.status, "message": result.error_message[:300]}
    return {k: v for k, v in result.values.items() if isinstance(v, (str, int, float, bool))}


def sandbox_report(kit_root: Path, stubs: Path) -> dict[str, Any]:
    """`declared`, `observed` and `weaknesses` (see the module docstring), with the kernel."""
    mine, seen = declared(), observed(kit_root, stubs)
    weaknesses = [f"{name}: {value}" for name, value in mine.items() if value.startswith("unavailable")]
    if seen.get("student_uid") == 0:
        weaknesses.append("student code ran as root")
    if seen.get("kit") == "visible":
        weaknesses.append("student code could list the kit's folder (hidden tests, reference)")
    if "probe" in seen:
        weaknesses.append(f"the protections probe did not run: {seen['probe']}")
    return {"declared": mine, "observed": seen, "weaknesses": weaknesses, "kernel": os.uname().release,
            "grader_is_root": os.geteuid() == 0}
