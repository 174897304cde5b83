# tinytorch/layers.py: your file to complete for Module 03. Replace each
# `raise NotImplementedError` under a `# TODO(Module NN)` with your code; keep the rest.
# Generated from the reference solution by `grader stubs build`.
"""Module 03 — Layers: `Module`, `Linear`, `Sequential`, `Flatten`.

A `Module` holds parameters (Tensors with requires_grad) and sub-Modules as attributes;
`parameters()` finds them all. `Linear` stores its weight as (in_features, out_features):
forward is `x @ weight + bias` (TinyTorch's layout, the transpose of PyTorch's).
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ._random import generator
from .tensor import Tensor


class Module:
    """Base class: subclasses define `forward`; calling the module calls `forward`."""

    training: bool = True

    def __init__(self) -> None:
        self.training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def _children(self) -> Iterator["Module"]:
        for value in vars(self).values():
            if isinstance(value, Module):
                yield value
            elif isinstance(value, (list, tuple)):
                yield from (v for v in value if isinstance(v, Module))

    def parameters(self) -> list[Tensor]:
        """Every Tensor with requires_grad among the attributes, in attribute-definition order.

        Recurse into sub-Modules and into lists/tuples of Modules or Tensors; return each
        tensor once even if two attributes refer to it.
        """
        # TODO(Module 03): walk vars(self) in order: Tensors with requires_grad, sub-Modules (recurse), lists/tuples; skip duplicates by id
        raise NotImplementedError("Module 03: Module.parameters")

    def zero_grad(self) -> None:
        """Set `.grad` of every parameter to None."""
        # TODO(Module 03): set p.grad = None for every p in self.parameters()
        raise NotImplementedError("Module 03: Module.zero_grad")

    def train(self) -> "Module":
        """Set `training = True` on this module and every sub-Module; returns self."""
        # TODO(Module 03): set training = True here and in every child (recursively)
        raise NotImplementedError("Module 03: Module.train")

    def eval(self) -> "Module":
        """Set `training = False` on this module and every sub-Module; returns self."""
        # TODO(Module 03): set training = False here and in every child (recursively)
        raise NotImplementedError("Module 03: Module.eval")


class Linear(Module):
    """y = x @ weight + bias.  x: (N, in_features) -> y: (N, out_features).

    weight: (in_features, out_features), bias: (out_features,) or None; both float32, drawn
    from U(-1/sqrt(in_features), 1/sqrt(in_features)) with tinytorch's global generator
    (`generator().uniform(low, high, size)`), weight first.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be >= 1, got {in_features} and {out_features}")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / np.sqrt(in_features)
        # TODO(Module 03): weight (in, out) and bias (out,) as float32 Tensors with requires_grad, uniform in [-bound, bound]
        raise NotImplementedError("Module 03: Linear init")

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input has shape {x.shape}, "
                             f"expected (N, {self.in_features})")
        # TODO(Module 03): x @ self.weight, plus self.bias when it is not None
        raise NotImplementedError("Module 03: Linear forward")

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Sequential(Module):
    """Applies its modules in order: Sequential(a, b, c)(x) == c(b(a(x)))."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.layers = list(modules)

    def forward(self, x: Any) -> Any:
        # TODO(Module 03): feed x through self.layers in order
        raise NotImplementedError("Module 03: Sequential forward")

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __repr__(self) -> str:
        inner = ", ".join(repr(m) if not isinstance(m, Module) or type(m).__repr__ is not object.__repr__ else f"{type(m).__name__}()" for m in self.layers)
        return f"Sequential({inner})"


class Flatten(Module):
    """Flatten everything but the batch axis: (N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x: Tensor) -> Tensor:
        # TODO(Module 03): reshape to (N, -1)
        raise NotImplementedError("Module 03: Flatten forward")
