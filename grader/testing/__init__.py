"""Helpers for hidden tests: run a probe in the sandbox, turn its outcome into a verdict.

    from grader.testing import probe, values_of, assert_close

    def test_mul_backward():
        '''Mul backward: gradients of both inputs'''
        def mul_grads(tt, a, b, g):
            import numpy as np
            x, y = tt.Tensor(a, requires_grad=True), tt.Tensor(b, requires_grad=True)
            (x * y).backward(g)
            return {"ga": x.grad, "gb": y.grad}
        out = values_of(probe(mul_grads, a=a, b=b, g=g), "06", "Mul backward")
        assert_close(out["ga"], g * b, where="Module 06 · Mul backward: gradient of input 0")

A probe is a self-contained function `name(tt, **inputs) -> dict`: it imports what it needs
inside its body, refers to nothing outside it, and never contains expected values — it runs
in the student's process, which may read its source.
"""
from .probe import current_impl, grading_config, probe, sandbox_limits
from .verdict import NotStarted, StudentCodeFailed, values_of
from .compare import assert_close, assert_equal_array

__all__ = ["current_impl", "grading_config", "probe", "sandbox_limits", "NotStarted", "StudentCodeFailed", "values_of",
           "assert_close", "assert_equal_array"]
