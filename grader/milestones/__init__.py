"""Grading code for the course's milestones, one package per milestone.

`m03/` is Milestone 03, the MLP revival (1986): the recipe the student's tinytorch trains with,
the grader's own measurement, the readiness checks, the student-facing runner behind the
scripts in `assignments/milestones/03_1986_mlp/`, and the held-out scoring `grader check` uses.
"""
