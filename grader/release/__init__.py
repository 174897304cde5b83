"""Releases: what ships to students (the manifest, the stubs, the leak check), the student
repository itself, and the Gradescope autograder. None of this ships to students.

    grader stubs build      # solutions/tinytorch -> assignments/tinytorch
    grader stubs check      # exit 1 if the stubs are stale or any shipped file leaks a secret
    grader stubs manifest   # the files that ship to students, one per line
    grader release --out DIR           # the student repository (a GitHub Classroom template)
    grader gradescope --out FILE.zip   # the Gradescope autograder (hidden tests inside)

`manifest.py` says what ships; `generate.py` parses markers and writes stubs; `origins.py`
collects what must not ship (solution lines, hidden-test names and titles) and where each comes
from; `check.py` compares and scans; `stubs_cli.py` is the command.
The student repository: `bundle.py` builds it from a commit (`git_tree.py`) and checks it,
`student_files.py` renders its README (`student_readme.md`), .gitignore and pyproject.toml,
`release_cli.py` is the command.
Gradescope: `gradescope_zip.py` builds the zip (the command) around `gradescope/setup.sh` and
`gradescope/run_autograder`; at grading time `gradescope_run.py` supervises
`gradescope_grade.py`, which stages the upload (`gradescope_submission.py`), fits the limits
into the timeout (`gradescope_limits.py`) and records the sandbox's protections
(`gradescope_sandbox.py`); grader/export/gradescope.py shapes results.json.
"""
from .check import Problem, check
from .generate import MarkerError, build, generate_tree
from .manifest import RULES, is_shipped, shipped_files
from .origins import HiddenTestsError, Secrets, load_secrets

__all__ = ["RULES", "HiddenTestsError", "MarkerError", "Problem", "Secrets", "build", "check", "generate_tree",
           "is_shipped", "load_secrets", "shipped_files"]
