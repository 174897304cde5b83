"""Milestone 03 — the MLP revival (1986): one concept per file.

- `recipe.py`    the model, the seeded recipe and the grader's training loop (`Architecture`,
                 `Recipe`, `schedule`, `prepare`, `build_model`, `train`, `Trace`): the loop calls the
                 student's model, loss, backward and SGD step and records what the grader checks;
                 sandbox-safe: NumPy and the standard library only, with tinytorch passed in as
                 `tt`, because it is copied into the sandbox worker.
- `readiness.py` which pieces of tinytorch the milestone needs, and what is missing or broken,
                 per module; sandbox-safe too (the grade runs it in the worker before training:
                 a missing piece means "not started").
- `measure.py`   the grader's NumPy forward pass over the trained parameters: the one
                 evaluation behind both the scripts' criteria table and the grade.
- `verify.py`    the grader's NumPy replay of the run's first and last steps: the trained model
                 must follow from the student's forward pass, backward pass and SGD step.
- `score.py`     the grade: train in the sandbox on the training split only, check the returned
                 trace, measure on held-out data (`MilestoneRun`).
- `learned.py`   what the trained network learned, in figures the grader computes from validated
                 parameters: per-epoch loss and accuracy, the first layer, confusion, mistakes.
- `pictures.py`  those figures as PNGs in runs/<dataset>/ (matplotlib, an optional extra).
- `impl.py`      which tinytorch a script runs (`--impl`, $TINYTORCH_IMPL) and importing it.
- `data.py`      each dataset's loader and what its script's help says about it.
- `report.py`    the runner's printed output: progress, readiness problems, criteria table.
- `cli.py`       the student-facing runner behind both scripts (exit codes 0/1/2).
- `scripts.py`   renders the two student scripts from grader/config.yaml (`--write`, `--check`).

The numbers (architectures, recipes, thresholds, script names, titles) live in the
`milestone03:` section of grader/config.yaml, read by `grader.config.MilestoneSpec`.
Nothing is imported here, so the sandbox-safe files stay importable on their own.
"""
