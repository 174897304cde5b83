"""The student release: what ships (the manifest), the stubs in it, and a check that nothing leaks.

    grader stubs build      # solutions/tinytorch -> assignments/tinytorch
    grader stubs check      # exit 1 if the stubs are stale or any shipped file leaks a secret
    grader stubs manifest   # the files that ship to students, one per line

`manifest.py` says what ships; `generate.py` parses markers and writes stubs; `origins.py`
collects what must not ship (solution lines, hidden-test names and titles) and where each comes
from; `check.py` compares and scans; `stubs_cli.py` is the command.
"""
from .check import Problem, check
from .generate import MarkerError, build, generate_tree
from .manifest import RULES, is_shipped, shipped_files
from .origins import HiddenTestsError, Secrets, load_secrets

__all__ = ["RULES", "HiddenTestsError", "MarkerError", "Problem", "Secrets", "build", "check", "generate_tree",
           "is_shipped", "load_secrets", "shipped_files"]
