"""Public tests for tinytorch. Run them from your assignments folder:

    python -m pytest tests                         # everything
    python -m pytest tests/test_06_autograd.py     # one module
    python -m pytest tests -k broadcast            # tests whose name mentions broadcast

The code under test is the folder named by $TINYTORCH_IMPL (the one that contains tinytorch/),
by default the folder above this one: your own tinytorch.

Work in course order (01 tensor, 02 activations, ..., 08 training). A test fails with
`not implemented: Module 06: mul backward` while a TODO it needs in that module (or an
earlier one) is still open. A test that needs a module you have not reached yet is skipped
with "waiting for Module 06 (Autograd): come back after it": the gradient checks of
Modules 02-04 need Module 06.
"""
from __future__ import annotations

import os
import re
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Generator

import numpy as np
import pytest

pytest_plugins = ["grader.engine.pytest_plugin"]
IMPL_ENV = "TINYTORCH_IMPL"
MODULE_TITLES = {"01": "Tensor", "02": "Activations", "03": "Layers", "04": "Losses",
                 "05": "DataLoader", "06": "Autograd", "07": "Optimizers", "08": "Training"}
_STUB_MESSAGE = re.compile(r"^Module (\d\d): ")
_TEST_FILE = re.compile(r"^test_(\d\d)_")
_not_implemented: Counter[str] = Counter()


def _implementation() -> Path:
    value = os.environ.get(IMPL_ENV)
    impl = Path(value).expanduser().resolve() if value else Path(__file__).resolve().parents[1]
    if not (impl / "tinytorch" / "__init__.py").is_file():
        raise pytest.UsageError(f"no tinytorch/__init__.py in {impl}: set ${IMPL_ENV} to the folder that contains "
                                f"your tinytorch/ (now {value!r})" if value else
                                f"no tinytorch/__init__.py in {impl}, the folder above the tests")
    loaded = sys.modules.get("tinytorch")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve().parent.parent != impl:
        raise pytest.UsageError(f"tinytorch was already imported from {loaded.__file__}, not from {impl}")
    return impl


def pytest_configure(config: pytest.Config) -> None:
    """Put the implementation under test first on sys.path, before any test file imports tinytorch."""
    impl = _implementation()
    if str(impl) not in sys.path[:1]:
        sys.path.insert(0, str(impl))


def seed_of(name: str) -> int:
    """A test's seed, derived from its name (parameters included), the same on every run."""
    return zlib.crc32(name.encode("utf-8"))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy generator seeded from the test's name."""
    return np.random.default_rng(seed_of(request.node.name))


@pytest.fixture(autouse=True)
def _seed_tinytorch(request: pytest.FixtureRequest) -> None:
    """Seed tinytorch's global generator from the test's name (Linear init, DataLoader shuffling)."""
    import tinytorch

    tinytorch.manual_seed(seed_of(request.node.name))


