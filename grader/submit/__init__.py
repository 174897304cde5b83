"""`grader submit`: the student's module files and a manifest, packed into submission.zip.

pack.py builds and checks the zip (and reads a manifest back for the graders); cli.py is the verb.
"""
