"""The grading engine: grade one submission.

`grade.py` runs what the targets ask for, concurrently, and returns a `GradeReport`;
`sessions.py` runs a pytest session (a subprocess, or inside a sandbox worker) and turns what
happened into rows, including the session's own failures; `pytest_plugin.py` records each test
as a row through `grader.core.outcomes.classify`; `milestone.py` turns the milestone's
measured runs (`grader.milestones.m03`) into criteria rows; `watchdog.py` gives every grading
a deadline and stops everything it started at that deadline or on SIGTERM.
"""
