"""The stub generator: the student's tinytorch is the reference with every solution block
replaced by a TODO and a `raise NotImplementedError`, and a check that nothing leaks.

    grader stubs build      # solutions/tinytorch -> assignments/tinytorch
    grader stubs check      # exit 1 if the stubs are stale or any solution text reached assignments/

`generate.py` parses markers and writes stubs; `check.py` compares and scans; `cli.py` is the command.
"""
from .check import Problem, check
from .generate import MarkerError, build, generate_tree

__all__ = ["MarkerError", "Problem", "build", "check", "generate_tree"]
