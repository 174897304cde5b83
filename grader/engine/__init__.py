"""The grading engine: test runs, milestone scoring, results and reports.

`results.py` defines the row every check produces; `pytest_run.py` runs a pytest session in a
subprocess and reads its rows back; `milestone.py` trains in the sandbox and scores on held-out
data; `check.py` combines them for `grader check`; `gradescope.py` writes results.json.
"""
