"""Where worker cgroups are made, on layouts this machine may not have: cgroup v2 under
systemd, a delegated parent, a hybrid v1 machine. Fake hierarchies in tmp_path stand in for
/sys/fs/cgroup (the real one is used by the tests in test_resources.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.sandbox import Limits, cgroups
from grader.sandbox.cgroups import ENV_PARENT, Hierarchy


def fake_v2(root: Path, controllers: str, subtree: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """A cgroup2 'mount' at root offering `controllers`; subtree maps cgroup path -> its
    cgroup.subtree_control. Returns the mount list _v2_parent reads."""
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers + "\n")
    for path, enabled in subtree.items():
        folder = root / path.strip("/") if path != "/" else root
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cgroup.subtree_control").write_text(enabled + "\n")
    return [(str(root), "/", "cgroup2", "rw,nsdelegate")]


def test_v2_groups_go_under_the_nearest_ancestor_that_enables_the_controller(tmp_path: Path) -> None:
    """A grader in /system.slice/grader.service (a leaf with processes): memory and pids come
    from /system.slice, which enables them; cpu, enabled nowhere, is reported missing."""
    mounts = fake_v2(tmp_path / "cg", "cpu memory pids", {"/": "memory pids", "/system.slice": "memory pids", "/system.slice/grader.service": ""})
    own = {"": "/system.slice/grader.service"}
    assert cgroups._v2_parent("memory", mounts, own) == ((2, str(tmp_path / "cg" / "system.slice")), "")
    assert cgroups._v2_parent("pids", mounts, own)[0] == (2, str(tmp_path / "cg" / "system.slice"))
    place, why = cgroups._v2_parent("cpu", mounts, own)
    assert place is None and ENV_PARENT in why


def test_v2_a_controller_the_root_does_not_offer_is_taken_from_v1(tmp_path: Path) -> None:
    """A hybrid machine (like the kit's development VM): cgroup v2 offers only hugetlb, so
    _v2_parent declines and the v1 hierarchy of the grader's own cgroup is used."""
    mounts = fake_v2(tmp_path / "unified", "hugetlb", {"/": ""})
    memory = tmp_path / "memory"
    (memory / "session").mkdir(parents=True)
    mounts.append((str(memory), "/", "cgroup", "rw,memory"))
    own = {"": "/", "memory": "/session"}
    place, why = cgroups._v2_parent("memory", mounts, own)
    assert place is None and "does not offer it" in why
    assert cgroups._v1_parent("memory", mounts, own) == ((1, str(memory / "session")), "")


def test_v2_a_delegated_parent_named_in_the_environment_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TINYTORCH_SANDBOX_CGROUP names a delegated cgroup: used when it enables the
    controller, refused with the reason when it does not."""
    mounts = fake_v2(tmp_path / "cg", "cpu memory pids", {"/": "", "/delegated": "memory"})
    monkeypatch.setenv(ENV_PARENT, str(tmp_path / "cg" / "delegated"))
    assert cgroups._v2_parent("memory", mounts, {"": "/"})[0] == (2, str(tmp_path / "cg" / "delegated"))
    place, why = cgroups._v2_parent("pids", mounts, {"": "/"})
    assert place is None and "does not enable it" in why


@pytest.mark.parametrize("version,expected", [
    (2, {"memory.max": "536870912", "memory.swap.max": "0", "memory.oom.group": "1", "pids.max": "11", "cpu.weight": "100"}),
    (1, {"memory.limit_in_bytes": "536870912", "memory.memsw.limit_in_bytes": "536870912", "pids.max": "11", "cpu.shares": "1024"}),
])
def test_limits_are_written_in_each_versions_files(version: int, expected: dict[str, str], tmp_path: Path) -> None:
    """memory_bytes for the whole tree, processes + 3 tasks (the worker, its namespace init
    and its stack-dump thread), an equal CPU share; optional files are written only where the kernel has them."""
    for name in expected:
        (tmp_path / name).write_text("")
    hierarchy = Hierarchy(version, str(tmp_path.parent), ("memory", "pids", "cpu"))
    cgroups._configure(hierarchy, str(tmp_path), Limits(memory_bytes=512 * 1024**2, processes=8))
    assert {name: (tmp_path / name).read_text() for name in expected} == expected
