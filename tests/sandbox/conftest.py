"""Fixtures of the sandbox tests (helpers live in sandbox_kit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_kit import foreign_children, sandbox_uid

from grader.sandbox import cleanup
from grader.sandbox.runner import RUNS_AS_ROOT


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """After every test: no process of our sandbox uid and no orphan under this process."""
    yield
    if RUNS_AS_ROOT:
        assert cleanup.processes_of_uid(sandbox_uid()) == [], f"processes of sandbox uid {sandbox_uid()} survived"
    assert foreign_children() == [], "orphaned sandbox processes survived"
