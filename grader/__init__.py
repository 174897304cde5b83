"""The tinytorch course kit's grader: `grader check`, the sandbox, datasets and the stub generator."""
