"""The grader's vocabulary, standard library only: outcomes, rows, targets, the grading context.

Everything that decides what a test's result *means* lives here, once; the pytest plugin, the
sandbox worker, the milestone and the report all use it.
"""
