"""Module 01 — Tensor: an n-dimensional array that can remember how it was computed.

A `Tensor` wraps a NumPy array (`.data`). Module 01 computes every op's forward value;
each op then records its parents and its backward rule from `autograd.py` (Module 06),
which is what makes `loss.backward()` work later.

    >>> a = Tensor([[1.0, 2.0]], requires_grad=True)    # (1, 2) float32
    >>> (a * 3 + 1).sum()                                # Tensor(10.0, requires_grad=True)
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np

from . import autograd as ag

Array = np.ndarray
Shape = tuple[int, ...]
Scalar = Union[int, float, np.generic]
Operand = Union["Tensor", Scalar, Array]


def _data(x: Operand) -> Any:
    """The raw value of an operand: a Tensor's array, an ndarray, or a Python/NumPy scalar."""
    return x.data if isinstance(x, Tensor) else x


def _tensor_or_none(x: Operand) -> Optional["Tensor"]:
    return x if isinstance(x, Tensor) else None


def _axes(axis: Union[None, int, tuple[int, ...], list[int]], ndim: int) -> Optional[tuple[int, ...]]:
    """Normalise `axis` to a sorted tuple of non-negative ints (None stays None)."""
    if axis is None:
        return None
    items = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in items:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"Tensor reduction: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % max(ndim, 1))
    return tuple(sorted(set(out)))


def _check_broadcast(op: str, a: Any, b: Any) -> None:
    """Raise ValueError naming both shapes when `a` and `b` do not broadcast together."""
    sa, sb = np.shape(a), np.shape(b)
    if sa == sb:
        return
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"Tensor {op}: shapes {sa} and {sb} cannot be broadcast together") from None


def make_result(data: Any, parents: tuple[Optional["Tensor"], ...], rule: Callable[..., tuple], *saved: Any) -> "Tensor":
    """Wrap an op's forward value; record the graph when grad is enabled and a parent requires it.

    Plumbing shared by every op in Modules 01–04: `rule(grad, *saved)` is the op's backward
    rule from `autograd.py`, returning one gradient per entry of `parents` (None entries are
    constants such as Python scalars); `backward()` checks the count and every shape.
    """
    out = Tensor.__new__(Tensor)
    out.data = np.asarray(data)
    out.grad = None
    out._parents = ()
    out._rule = None
    out._saved = ()
    out.requires_grad = False
    if ag._grad_enabled:
        for p in parents:
            if p is not None and p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._rule = rule
                out._saved = saved
                break
    return out


class Tensor:
    """An n-dimensional array with an optional gradient.

    Tensor(data, requires_grad=False)
      data: Python scalar or nested list (-> float32), numpy.ndarray (kept as is, memory shared;
            float32/float64/integer dtypes kept), NumPy scalar (dtype kept) or another Tensor.
      requires_grad: record operations on this tensor so `backward()` can fill `.grad`;
            only floating tensors may require grad (TypeError otherwise).
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_rule", "_saved", "__weakref__")
    __array_ufunc__ = None  # `ndarray * Tensor` defers to Tensor.__rmul__ instead of building object arrays

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            array = data.data
        elif isinstance(data, np.ndarray):
            array = data
        elif isinstance(data, np.generic):
            array = np.asarray(data)
        else:
            try:
                array = np.asarray(data, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} {data!r:.60}: {exc}") from None
        if requires_grad and not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"Tensor: only floating tensors can require grad, got dtype {array.dtype}")
        self.data: Array = array
        self.grad: Optional[Array] = None
        self.requires_grad: bool = bool(requires_grad)
        self._parents: tuple[Optional[Tensor], ...] = ()
        self._rule: Optional[Callable[..., tuple]] = None
        self._saved: tuple[Any, ...] = ()

    # ------------------------------------------------------------------ attributes and helpers
    @property
    def shape(self) -> Shape:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numpy(self) -> Array:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> Union[int, float, bool]:
        """The value of a one-element tensor as a Python number (ValueError otherwise)."""
        if self.data.size != 1:
            raise ValueError(f"Tensor.item: only a one-element tensor converts to a Python number, this one has shape {self.shape}")
        return self.data.item()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("Tensor.__len__: len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4, threshold=20)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.data.dtype}{grad})"

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data, outside the graph (requires_grad False)."""
        return Tensor(self.data)

    def backward(self, grad: Optional[Union[Array, "Tensor", float]] = None) -> None:
        """Fill `.grad` of every leaf this tensor depends on (Module 06 does the work).

        grad: the gradient of the final objective w.r.t. this tensor, of this tensor's shape;
        may be omitted only for a one-element tensor (seeded with 1).
        Raises autograd.BackwardRuleError (a RuntimeError) naming any backward rule that returns
        the wrong number of gradients, a gradient that is not an array, or one whose shape cannot
        be its input's after summing broadcast axes.
        """
        if not self.requires_grad:
            raise RuntimeError("Tensor.backward: this tensor does not require grad and has no graph "
                               "(was it built from tensors with requires_grad=True, outside no_grad()?)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"Tensor.backward: grad can be omitted only for a one-element output; "
                                   f"this one has shape {self.shape}, so pass grad= of that shape")
            seed = np.ones(self.shape, dtype=self.data.dtype)
        else:
            seed = np.asarray(_data(grad), dtype=self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"Tensor.backward: grad has shape {seed.shape}, expected this tensor's shape {self.shape}")
        ag.backward(self, seed)

    # ------------------------------------------------------------------------------ arithmetic
    def __add__(self, other: Operand) -> "Tensor":
        return add(self, other)

    def __radd__(self, other: Operand) -> "Tensor":
        return add(other, self)

    def __sub__(self, other: Operand) -> "Tensor":
        return sub(self, other)

    def __rsub__(self, other: Operand) -> "Tensor":
        return sub(other, self)

    def __mul__(self, other: Operand) -> "Tensor":
        return mul(self, other)

    def __rmul__(self, other: Operand) -> "Tensor":
        return mul(other, self)

    def __truediv__(self, other: Operand) -> "Tensor":
        return div(self, other)

    def __rtruediv__(self, other: Operand) -> "Tensor":
        return div(other, self)

    def __matmul__(self, other: Operand) -> "Tensor":
        return matmul(self, other)

    def __rmatmul__(self, other: Operand) -> "Tensor":
        return matmul(other, self)

    def __neg__(self) -> "Tensor":
        """-a, elementwise."""
        ### BEGIN SOLUTION 01 | Tensor.__neg__ forward | negate the array
        out = -self.data
        ### END SOLUTION
        return make_result(out, (self,), ag.neg_backward)

    def __pow__(self, p: Scalar) -> "Tensor":
        """a ** p for a scalar exponent p, elementwise."""
        if isinstance(p, Tensor) or np.ndim(p) != 0:
            raise TypeError(f"Tensor.__pow__: the exponent must be a scalar, got {type(p).__name__}")
        ### BEGIN SOLUTION 01 | Tensor.__pow__ forward | raise the array to the power p
        out = self.data ** p
        ### END SOLUTION
        return make_result(out, (self,), ag.pow_backward, self.data, p)

    # ------------------------------------------------------------------------------ reductions
    def sum(self, axis: Union[None, int, tuple[int, ...]] = None, keepdims: bool = False) -> "Tensor":
        """Sum over `axis` (None: all). (d0, d1, d2).sum(axis=1) -> (d0, d2); keepdims -> (d0, 1, d2)."""
        axes = _axes(axis, self.ndim)
        ### BEGIN SOLUTION 01 | Tensor.sum forward | np.sum over the given axes, honouring keepdims
        out = self.data.sum(axis=axes, keepdims=keepdims)
        ### END SOLUTION
        return make_result(out, (self,), ag.sum_backward, self.shape, axes, keepdims)

    def mean(self, axis: Union[None, int, tuple[int, ...]] = None, keepdims: bool = False) -> "Tensor":
        """Mean over `axis` (None: all); shapes as for `sum`."""
        axes = _axes(axis, self.ndim)
        ### BEGIN SOLUTION 01 | Tensor.mean forward | np.mean over the given axes, honouring keepdims
        out = self.data.mean(axis=axes, keepdims=keepdims)
        ### END SOLUTION
        return make_result(out, (self,), ag.mean_backward, self.shape, axes, keepdims)

    def max(self, axis: Union[None, int, tuple[int, ...]] = None, keepdims: bool = False) -> "Tensor":
        """Maximum over `axis` (None: all); shapes as for `sum`."""
        axes = _axes(axis, self.ndim)
        if self.data.size == 0:
            raise ValueError(f"Tensor.max: cannot take the max of an empty tensor of shape {self.shape}")
        ### BEGIN SOLUTION 01 | Tensor.max forward | np.max over the given axes, honouring keepdims
        out = self.data.max(axis=axes, keepdims=keepdims)
        ### END SOLUTION
        return make_result(out, (self,), ag.max_backward, self.data, axes, keepdims)

    # ----------------------------------------------------------------------------------- shape
    def reshape(self, *shape: Union[int, tuple[int, ...]]) -> "Tensor":
        """Same data, new shape: t.reshape(2, -1) or t.reshape((2, -1))."""
        target = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        try:
            ### BEGIN SOLUTION 01 | Tensor.reshape forward | np.reshape to the target shape
            out = self.data.reshape(target)
            ### END SOLUTION
        except ValueError:
            raise ValueError(f"Tensor.reshape: cannot reshape a tensor of shape {self.shape} "
                             f"({self.size} elements) into shape {target}") from None
        return make_result(out, (self,), ag.reshape_backward, self.shape)

    def transpose(self, *axes: int) -> "Tensor":
        """Permute axes; with no argument reverse them ((N, M) -> (M, N) for 2-D)."""
        perm = tuple(range(self.ndim))[::-1] if not axes else tuple(int(a) for a in (axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes))
        if sorted(a % max(self.ndim, 1) for a in perm) != list(range(self.ndim)):
            raise ValueError(f"Tensor.transpose: axes {perm} are not a permutation of a {self.ndim}-D tensor's axes")
        perm = tuple(a % self.ndim for a in perm)
        ### BEGIN SOLUTION 01 | Tensor.transpose forward | np.transpose with the permutation perm
        out = np.transpose(self.data, perm)
        ### END SOLUTION
        return make_result(out, (self,), ag.transpose_backward, perm)

    @property
    def T(self) -> "Tensor":
        """The transpose of a 2-D tensor."""
        return self.transpose()

    def __getitem__(self, index: Any) -> "Tensor":
        """Basic slicing and integer-array indexing, as in NumPy: t[1:3], t[idx], t[rows, cols]."""
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        ### BEGIN SOLUTION 01 | Tensor.__getitem__ forward | index the array exactly as NumPy does
        out = self.data[index]
        ### END SOLUTION
        return make_result(out, (self,), ag.getitem_backward, self.shape, self.dtype, index)

    # ----------------------------------------------------------------------------- elementwise
    def exp(self) -> "Tensor":
        """e ** a, elementwise."""
        ### BEGIN SOLUTION 01 | Tensor.exp forward | np.exp of the array
        out = np.exp(self.data)
        ### END SOLUTION
        return make_result(out, (self,), ag.exp_backward, out)

    def log(self) -> "Tensor":
        """Natural logarithm, elementwise."""
        ### BEGIN SOLUTION 01 | Tensor.log forward | np.log of the array
        out = np.log(self.data)
        ### END SOLUTION
        return make_result(out, (self,), ag.log_backward, self.data)


# ------------------------------------------------------------- binary ops (both sides may be scalars)
def add(a: Operand, b: Operand) -> Tensor:
    """a + b with broadcasting: shapes (2, 3) + (3,) -> (2, 3)."""
    x, y = _data(a), _data(b)
    _check_broadcast("add", x, y)
    ### BEGIN SOLUTION 01 | add forward | add the two arrays; NumPy broadcasts for you
    out = x + y
    ### END SOLUTION
    return make_result(out, (_tensor_or_none(a), _tensor_or_none(b)), ag.add_backward)


def sub(a: Operand, b: Operand) -> Tensor:
    """a - b with broadcasting."""
    x, y = _data(a), _data(b)
    _check_broadcast("sub", x, y)
    ### BEGIN SOLUTION 01 | sub forward | subtract the arrays
    out = x - y
    ### END SOLUTION
    return make_result(out, (_tensor_or_none(a), _tensor_or_none(b)), ag.sub_backward)


def mul(a: Operand, b: Operand) -> Tensor:
    """a * b elementwise, with broadcasting."""
    x, y = _data(a), _data(b)
    _check_broadcast("mul", x, y)
    ### BEGIN SOLUTION 01 | mul forward | multiply the arrays elementwise
    out = x * y
    ### END SOLUTION
    return make_result(out, (_tensor_or_none(a), _tensor_or_none(b)), ag.mul_backward, x, y)


def div(a: Operand, b: Operand) -> Tensor:
    """a / b elementwise, with broadcasting (true division)."""
    x, y = _data(a), _data(b)
    _check_broadcast("div", x, y)
    ### BEGIN SOLUTION 01 | div forward | divide the arrays elementwise
    out = x / y
    ### END SOLUTION
    return make_result(out, (_tensor_or_none(a), _tensor_or_none(b)), ag.div_backward, x, y)


def matmul(a: Operand, b: Operand) -> Tensor:
    """Matrix product: a (N, K) @ b (K, M) -> (N, M); leading batch axes broadcast."""
    x, y = np.asarray(_data(a)), np.asarray(_data(b))
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != y.shape[-2 if y.ndim > 1 else 0]:
        raise ValueError(f"Tensor matmul: shapes {x.shape} and {y.shape} are not aligned "
                         f"(the last axis of the first must equal the second-to-last of the second)")
    ### BEGIN SOLUTION 01 | matmul forward | the matrix product x @ y
    out = x @ y
    ### END SOLUTION
    ta, tb = _tensor_or_none(a), _tensor_or_none(b)
    return make_result(out, (ta, tb), ag.matmul_backward, x, y,
                       ta is not None and ta.requires_grad, tb is not None and tb.requires_grad)
