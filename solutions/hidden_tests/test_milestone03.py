"""Hidden tests for Milestone 03 beyond the held-out criteria (which `grader check milestone03`
scores itself): the models' architecture, float32 end to end, and seeded reproducibility.
Every probe runs the kit's milestone script with the student's tinytorch in the sandbox."""
from __future__ import annotations

import numpy as np
import pytest

from grader.engine.forward import Architecture
from grader.paths import milestone_dir
from grader.testing import assert_equal_array, probe, values_of

SCRIPTS = {"tinydigits": "01_rumelhart_tinydigits.py", "mnist": "02_rumelhart_mnist.py"}
ARCH = {"tinydigits": Architecture(64, 32), "mnist": Architecture(784, 128)}


def _files(key: str) -> dict:
    folder = milestone_dir()
    files = {"milestone_recipe.py": folder / SCRIPTS[key]}
    if (folder / "_milestone.py").exists():
        files["_milestone.py"] = folder / "_milestone.py"
    return files


def build_shapes(tt):
    import sys
    sys.path.insert(0, ".")
    import milestone_recipe
    model = milestone_recipe.build_model(tt)
    params = model.parameters()
    return {"shapes": [list(p.data.shape) for p in params], "dtypes": [str(p.data.dtype) for p in params]}


def train_twice(tt, x, y, epochs):
    import sys
    sys.path.insert(0, ".")
    import milestone_recipe as m
    runs = []
    for _ in range(2):
        model = m.train(tt, m.prepare(x, 16), y, seed=7, epochs=int(epochs))
        runs.append([p.data for p in model.parameters()])
    out = {"count": len(runs[0])}
    for i, (a, b) in enumerate(zip(*runs)):
        out[f"a{i}"], out[f"b{i}"] = a, b
    return out


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
@pytest.mark.parametrize("key", ["tinydigits", "mnist"])
def test_milestone_models_have_the_1986_architecture(key):
    """Milestone 03 models: Linear → ReLU → Linear with the right shapes"""
    out = values_of(probe(build_shapes, files=_files(key)), "03", f"{key} build_model")
    expected = [list(s) for s in ARCH[key].shapes]
    assert out["shapes"] == expected, (f"Milestone 03 · {key} model: parameter shapes {out['shapes']}, "
                                       f"expected {expected} ({ARCH[key].parameter_count:,} parameters)")
    assert out["dtypes"] == ["float32"] * 4, f"Milestone 03 · {key} model: parameter dtypes {out['dtypes']}, expected float32"


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_milestone_training_is_reproducible_from_its_seed():
    """Milestone 03 training: the same seed gives the same float32 weights"""
    rng = np.random.default_rng(303)
    x = rng.integers(0, 17, size=(200, 8, 8)).astype(np.uint8)
    y = np.repeat(np.arange(10), 20).astype(np.int64)
    out = values_of(probe(train_twice, files=_files("tinydigits"), x=x, y=y, epochs=2), "08", "milestone train(seed=7)")
    assert out["count"] == 4, f"Milestone 03 · train: the model has {out['count']} parameters, expected 4"
    for i in range(4):
        a, b = out[f"a{i}"], out[f"b{i}"]
        assert a.dtype == np.float32, f"Milestone 03 · train: parameter {i} is {a.dtype} after training, expected float32"
        assert_equal_array(a, b, where=f"Milestone 03 · train twice with seed 7: parameter {i}")
