"""Batch grading: `grader grade` over folders, zips and LMS exports (Gradescope, Canvas, Moodle).

One concept per file:

    inputs.py    find the submissions in what was given; student ids; duplicate ids
    lms.py       what Gradescope, Canvas and Moodle exports look like
    listing.py   an export's top level, the same for a folder and a zip
    extract.py   read folders and zips without trusting them (escapes, links, bombs, names)
    collect.py   find the module files anywhere in a submission; stage them over the kit's plumbing
    resume.py    the content hash that makes reruns skip what is already graded
    run.py       the scheduler: jobs, timeouts, SIGINT/SIGTERM, one job process per grading
    job.py       one grading in its own process (calls grader.engine.grade.grade)
    proctree.py  stop a grading and everything it started
    outputs.py   atomic writes: results.json, record.json, grades.csv, the manifest
    feedback.py  feedback.md for one student
    summary.py   summary.md / summary.json for the class
    shard.py     --shard I/N (Slurm arrays, Kubernetes Indexed Jobs, Actions matrices) and --merge
    progress.py  a progress bar on a terminal, one line per submission otherwise
    cli.py       `grader grade` (its docstring is the --help)
    slurm/       a ready sbatch script for a Slurm job array, and its merge step
"""
