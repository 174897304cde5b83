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
        ### BEGIN SOLUTION 03 | Module.parameters | walk vars(self) in order: Tensors with requires_grad, sub-Modules (recurse), lists/tuples; skip duplicates by id
        found: list[Tensor] = []
        seen: set[int] = set()

        def visit(value: Any) -> None:
            if isinstance(value, Tensor):
                if value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            elif isinstance(value, Module):
                for item in vars(value).values():
                    visit(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)

        visit(self)
        return found
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Set `.grad` of every parameter to None."""
        ### BEGIN SOLUTION 03 | Module.zero_grad | set p.grad = None for every p in self.parameters()
        for p in self.parameters():
            p.grad = None
        ### END SOLUTION

    def train(self) -> "Module":
        """Set `training = True` on this module and every sub-Module; returns self."""
        ### BEGIN SOLUTION 03 | Module.train | set training = True here and in every child (recursively)
        self.training = True
        for child in self._children():
            child.train()
        return self
        ### END SOLUTION

    def eval(self) -> "Module":
        """Set `training = False` on this module and every sub-Module; returns self."""
        ### BEGIN SOLUTION 03 | Module.eval | set training = False here and in every child (recursively)
        self.training = False
        for child in self._children():
            child.eval()
        return self
        ### END SOLUTION


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
        ### BEGIN SOLUTION 03 | Linear init | weight (in, out) and bias (out,) as float32 Tensors with requires_grad, uniform in [-bound, bound]
        rng = generator()
        self.weight = Tensor(rng.uniform(-bound, bound, size=(in_features, out_features)).astype(np.float32), requires_grad=True)
        self.bias = Tensor(rng.uniform(-bound, bound, size=(out_features,)).astype(np.float32), requires_grad=True) if bias else None
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input has shape {x.shape}, "
                             f"expected (N, {self.in_features})")
        ### BEGIN SOLUTION 03 | Linear forward | x @ self.weight, plus self.bias when it is not None
        out = x @ self.weight
        return out + self.bias if self.bias is not None else out
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Sequential(Module):
    """Applies its modules in order: Sequential(a, b, c)(x) == c(b(a(x)))."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.layers = list(modules)

    def forward(self, x: Any) -> Any:
        ### BEGIN SOLUTION 03 | Sequential forward | feed x through self.layers in order
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

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
        ### BEGIN SOLUTION 03 | Flatten forward | reshape to (N, -1)
        return x.reshape(x.shape[0], -1)
        ### END SOLUTION
