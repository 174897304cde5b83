"""The stub generator: assignments/tinytorch is in sync with the reference, imports, and the
generator and the check catch malformed markers, leaks and stale files. The manifest and the
leak check over every shipped file: tests/test_release_manifest.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.release.manifest import shipped_files
from grader.release.stubs_cli import main
from grader.release.generate import MarkerError, parse_source, render_stub

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions" / "tinytorch"
ASSIGNMENTS = REPO / "assignments"

SAMPLE = '''"""A docstring that stays."""
import numpy as np


def mul_backward(grad, a, b):
    """out = a * b."""
    if grad is None:
        return None
    ### BEGIN SOLUTION 06 | Mul backward | d(a*b)/da = b and d(a*b)/db = a, times grad
    return grad * b, grad * a
    ### END SOLUTION
'''


def _copy_shipped(tmp_path: Path) -> Path:
    """A copy of every shipped file of the kit (the manifest's list), laid out as in the repository."""
    root = tmp_path / "kit"
    for rel in shipped_files(REPO):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, root / rel)
    return root


def test_stubs_are_in_sync_and_leak_nothing(capsys):
    """`grader stubs check` passes on the repository: stubs in sync, no shipped file leaks anything"""
    code = main(["check"])
    out = capsys.readouterr()
    assert code == 0, out.err


def test_block_becomes_todo_and_raise_with_plumbing_kept():
    """A block becomes exactly a TODO and a raise at the marker's indentation; other lines stay"""
    stub = render_stub(parse_source(SAMPLE, "autograd.py"))
    body = stub.split("\n")
    assert body[0].startswith("# ") and "grader stubs build" in stub.split('"""')[0]
    assert stub.endswith('''def mul_backward(grad, a, b):
    """out = a * b."""
    if grad is None:
        return None
    # TODO(Module 06): d(a*b)/da = b and d(a*b)/db = a, times grad
    raise NotImplementedError("Module 06: Mul backward")
''')
    assert '"""A docstring that stays."""\nimport numpy as np\n' in stub
    assert "grad * b" not in stub and "SOLUTION" not in stub


def test_every_reference_block_has_a_stub():
    """Each BEGIN SOLUTION marker of the reference gives one raise NotImplementedError in the stubs"""
    markers = sum(p.read_text().count("### BEGIN SOLUTION") for p in SOLUTIONS.glob("*.py"))
    raises = sum(p.read_text().count('raise NotImplementedError("Module ') for p in (ASSIGNMENTS / "tinytorch").glob("*.py"))
    assert markers == raises > 0
    assert sorted(p.name for p in SOLUTIONS.glob("*.py")) == sorted(p.name for p in (ASSIGNMENTS / "tinytorch").glob("*.py"))


def test_stubs_import_cleanly():
    """`import tinytorch` works on the stubs, and the first op raises NotImplementedError naming its module"""
    code = ("import tinytorch as tt\n"
            "names = [n for n in tt.__all__ if not hasattr(tt, n)]\n"
            "assert not names, names\n"
            "try:\n    tt.Tensor([1.0]) + 1\nexcept NotImplementedError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ASSIGNMENTS, capture_output=True, text=True,
                            env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Module 01: add forward"


def test_build_into_a_fresh_folder_matches_the_committed_stubs(tmp_path, capsys):
    """`grader stubs build --out DIR` writes the same files as assignments/tinytorch"""
    out = tmp_path / "tinytorch"
    assert main(["build", "--out", str(out)]) == 0, capsys.readouterr().err
    for committed in (ASSIGNMENTS / "tinytorch").glob("*.py"):
        assert (out / committed.name).read_bytes() == committed.read_bytes(), committed.name


LEAKS = {
    "leaked-line-in-tests": ("assignments/tests/test_01_tensor.py", "    return grad * b, grad * a", True),
    "leaked-line-in-milestone": ("assignments/milestones/03_1986_mlp/train.py",
                                 "mask = np.transpose(mask, np.argsort(kept + list(axes)))", True),
    "marker-in-milestone-readme": ("assignments/milestones/03_1986_mlp/NOTES.md", "### END SOLUTION", True),
    "stale-extra-stub": ("assignments/tinytorch/old_module.py", "# an old file", False),
}


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_check_catches_a_tampered_copy(case, tmp_path, capsys):
    """A leaked solution line, a marker, or a stale file makes the check fail, naming the file (and line)"""
    root = _copy_shipped(tmp_path)
    rel, text, has_line = LEAKS[case]
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    before = target.read_text() if target.exists() else ""
    target.write_text(before + text + "\n")
    assert main(["check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    where = f"{rel}:{before.count(chr(10)) + 1}:" if has_line else f"{rel}: extra file"
    assert where in err, err


def test_check_still_takes_the_assignments_folder(tmp_path, capsys):
    """`--assignments DIR` scans the checkout around DIR; a folder not named assignments is a usage error"""
    root = _copy_shipped(tmp_path)
    number = len((root / "grader" / "cli.py").read_text().splitlines()) + 1
    with open(root / "grader" / "cli.py", "a") as fh:
        fh.write("# ### BEGIN SOLUTION 01 | leak | leak\n")
    assert main(["check", "--assignments", str(root / "assignments")]) == 1
    assert f"grader/cli.py:{number}:" in capsys.readouterr().err
    assert main(["check", "--assignments", str(root / "grader")]) == 2
    assert main(["check", "--hidden", str(tmp_path / "none")]) == 2


def test_check_catches_an_edited_and_a_missing_stub(tmp_path, capsys):
    """A stub that differs from the build (first differing line shown) or is missing makes the check fail"""
    root = _copy_shipped(tmp_path)
    optim = root / "assignments" / "tinytorch" / "optim.py"
    optim.write_text(optim.read_text().replace('raise NotImplementedError("Module 07: SGD.step")', "pass  # done"))
    (root / "assignments" / "tinytorch" / "data.py").unlink()
    assert main(["check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "tinytorch/optim.py:" in err and "pass  # done" in err, err
    assert "tinytorch/data.py: missing" in err, err


def test_build_removes_stale_generated_files(tmp_path, capsys):
    """build deletes a stale file it generated earlier, and leaves (and reports) a hand-made one"""
    out = tmp_path / "tinytorch"
    assert main(["build", "--out", str(out)]) == 0
    shutil.copy(out / "optim.py", out / "old_optim.py")
    assert main(["build", "--out", str(out)]) == 0
    assert not (out / "old_optim.py").exists()
    (out / "mine.py").write_text("x = 1\n")
    assert main(["build", "--out", str(out)]) == 1
    assert "mine.py" in capsys.readouterr().err and (out / "mine.py").exists()


MALFORMED = {
    "begin-without-end": ("def f():\n    ### BEGIN SOLUTION 01 | f | do it\n    return 1\n", "bad.py:2", "never closed"),
    "nested": ("def f():\n    ### BEGIN SOLUTION 01 | f | do it\n    ### BEGIN SOLUTION 01 | g | again\n"
               "    return 1\n    ### END SOLUTION\n", "bad.py:3", "nest"),
    "missing-hint": ("def f():\n    ### BEGIN SOLUTION 01 | f\n    return 1\n    ### END SOLUTION\n", "bad.py:2", "malformed"),
    "empty-name": ("def f():\n    ### BEGIN SOLUTION 01 |  | hint\n    return 1\n    ### END SOLUTION\n", "bad.py:2", "name"),
    "module-09": ("def f():\n    ### BEGIN SOLUTION 09 | f | do it\n    return 1\n    ### END SOLUTION\n", "bad.py:2", "'09'"),
    "module-6": ("def f():\n    ### BEGIN SOLUTION 6 | f | do it\n    return 1\n    ### END SOLUTION\n", "bad.py:2", "'6'"),
    "end-without-begin": ("def f():\n    return 1\n    ### END SOLUTION\n", "bad.py:3", "without a BEGIN"),
    "empty-block": ("def f():\n    ### BEGIN SOLUTION 01 | f | do it\n    ### END SOLUTION\n", "bad.py:2", "empty"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_generator_rejects_malformed_markers(case, tmp_path, capsys):
    """A malformed marker stops the build with an error naming the file and line"""
    text, where, words = MALFORMED[case]
    with pytest.raises(MarkerError) as info:
        parse_source(text, "bad.py")
    assert where in str(info.value) and words in str(info.value), str(info.value)
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "bad.py").write_text(text)
    assert main(["build", "--solutions", str(solutions), "--out", str(tmp_path / "out")]) == 1
    assert where in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
