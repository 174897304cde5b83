"""Hidden tests for Milestone 03 beyond the held-out criteria (which `grader check milestone03`
scores itself): the models' architecture, their float32 parameters, and seeded reproducibility.
Every probe runs the grader's milestone recipe and training loop (grader/milestones/m03/recipe.py,
copied into the worker) with the student's tinytorch in the sandbox; architectures and recipes
come from the `milestone03:` section of grader/config.yaml. A dtype slip costs only its own
0.5 points: the shape and reproducibility tests do not check dtypes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.milestones.m03 import recipe
from grader.testing import assert_equal_array, grading_config, probe, values_of

MILESTONE = grading_config().milestone
LABEL = "Milestone 03"
FILES = {"m03_recipe.py": Path(recipe.__file__)}


def build_shapes(tt, architecture):
    import sys
    sys.path.insert(0, ".")
    import m03_recipe as m
    params = m.build_model(tt, m.Architecture(**architecture)).parameters()
    return {"shapes": [list(p.data.shape) for p in params], "dtypes": [str(p.data.dtype) for p in params]}


def train_twice(tt, x, y, architecture, recipe, epochs):
    import sys
    sys.path.insert(0, ".")
    import m03_recipe as m
    runs = []
    for _ in range(2):
        run = m.train(tt, m.prepare(x, 16), y, m.Architecture(**architecture), m.Recipe(**recipe),
                      seed=7, epochs=int(epochs))
        runs.append([p.data for p in run.model.parameters()])
    out = {"count": len(runs[0])}
    for i, (a, b) in enumerate(zip(*runs)):
        out[f"a{i}"], out[f"b{i}"] = a, b
    return out


@pytest.mark.points(0.75)
@pytest.mark.visibility("visible")
@pytest.mark.parametrize("key", ["tinydigits", "mnist"])
def test_milestone_models_have_the_1986_architecture(key):
    """Milestone 03 models: Linear → ReLU → Linear with the right shapes"""
    spec = MILESTONE[key]
    arch = spec.architecture
    out = values_of(probe(build_shapes, files=FILES, architecture=arch.as_dict()), "milestone03",
                    f"{spec.title} model ({arch.describe()})", label=LABEL)
    expected = [list(s) for s in arch.shapes]
    assert out["shapes"] == expected, (f"{LABEL} · {spec.title} model: parameter shapes {out['shapes']}, "
                                       f"expected {expected} ({arch.parameter_count:,} parameters)")


@pytest.mark.points(0.5)
@pytest.mark.visibility("visible")
def test_milestone_model_parameters_are_float32():
    """Milestone 03 models: Linear weights and biases are float32"""
    for spec in MILESTONE.values():
        arch = spec.architecture
        out = values_of(probe(build_shapes, files=FILES, architecture=arch.as_dict()), "milestone03",
                        f"{spec.title} model ({arch.describe()})", label=LABEL)
        assert out["dtypes"] == ["float32"] * len(arch.shapes), (
            f"{LABEL} · {spec.title} model: parameter dtypes {out['dtypes']}, expected float32 "
            f"(Linear's weight and bias default to float32, as in PyTorch)")


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_milestone_training_is_reproducible_from_its_seed():
    """Milestone 03 training: the same seed gives the same weights"""
    spec = MILESTONE["tinydigits"]
    rng = np.random.default_rng(303)
    x = rng.integers(0, 17, size=(200, 8, 8)).astype(np.uint8)
    y = np.repeat(np.arange(10), 20).astype(np.int64)
    out = values_of(probe(train_twice, files=FILES, x=x, y=y, architecture=spec.architecture.as_dict(),
                          recipe=spec.recipe.as_dict(), epochs=2),
                    "milestone03", f"{spec.title} training, twice with seed 7", label=LABEL)
    assert out["count"] == 4, f"{LABEL} · training: the model has {out['count']} parameters, expected 4"
    for i in range(4):
        assert_equal_array(out[f"a{i}"], out[f"b{i}"], where=f"{LABEL} · training twice with seed 7: parameter {i}")
