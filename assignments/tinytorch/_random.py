# tinytorch/_random.py: part of your tinytorch, provided as is (nothing to complete here).
# Generated from the reference solution by `grader stubs build`.
"""The one global random generator of tinytorch (plumbing, not a student task).

`Linear` initialisation and `DataLoader` shuffling (when given no seed) draw from it;
`tinytorch.manual_seed(seed)` replaces it, so a seeded script is reproducible.
"""
from __future__ import annotations

import numpy as np

_generator: np.random.Generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed tinytorch's global generator: `tt.manual_seed(0)` makes runs reproducible."""
    global _generator
    _generator = np.random.default_rng(int(seed))


def generator() -> np.random.Generator:
    """The current global generator (read it at call time: `manual_seed` replaces it)."""
    return _generator
