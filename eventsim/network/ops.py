"""Projection operations: what a spike goes through on its way from one population to another.

A projection (:class:`~eventsim.network.graph.Projection`) is a chain of these ops, applied in
order to the spikes ``o`` of its source (0/1, in C order of the source's shape)::

    Dense       y[i]          = sum_j weight[i, j] * x[j] + bias[i]
    Conv2d      y[co, y, x]   = sum_{ci, ky, kx} weight[co, ci, ky, kx]
                                    * x[ci, y*s - p + ky, x*s - p + kx] + bias[co]
                                (cross-correlation as in PyTorch, zero padding p, stride s)
    SumPool2d   y[c, y, x]    = sum_{ky, kx < k} x[c, y*s + ky, x*s + kx]         (no padding)
    AvgPool2d   the same times 1 / k**2
    Flatten     (C, H, W) -> (C*H*W,) in C order (a Dense after a (C, H, W) input flattens too)

The composed map is affine: ``I = M o + c`` with ``M`` the product of the ops' matrices and
``c`` every op's bias carried through the ops after it. The chain layers of
:mod:`eventsim.network.layers` are these ops with a LIF population after them.

``checked_shape(in_shape, name)`` checks an op's fields (making its arrays float64) and gives
its output shape; a Graph or Network calls it once, when it is made. ``output_shape`` only
computes the shape and never replaces an array, so a trainer can keep updating an op's
arrays in place while the graph is run, measured or saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from eventsim.errors import NetworkError, whole


def finite_array(value, name: str, field_name: str, ndim: int) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions (a float64 ndarray itself, not a
    copy), all finite and non-empty; NetworkError naming ``name`` and the field otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"{name}: field '{field_name}' must be a numeric array") from None
    if arr.ndim != ndim:
        raise NetworkError(
            f"{name}: field '{field_name}' must have {ndim} dimensions, got shape {arr.shape}"
        )
    if arr.size == 0:
        raise NetworkError(
            f"{name}: field '{field_name}' is empty (shape {arr.shape}); expected every "
            "dimension >= 1"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        where = np.unravel_index(bad[0], arr.shape)
        raise NetworkError(
            f"{name}: field '{field_name}' has {len(bad)} non-finite values "
            f"(first {arr[where]} at index {tuple(int(i) for i in where)}); expected finite numbers"
        )
    return arr


def positive_int(value, name: str, field_name: str) -> int:
    return whole(value, name, field_name, error=NetworkError)


def _check_bias(op, name: str, shape: tuple[int, ...]) -> None:
    if op.bias is None:
        return
    op.bias = finite_array(op.bias, name, "bias", 1)
    if op.bias.shape != shape:
        raise NetworkError(f"{name}: field 'bias' has shape {op.bias.shape}; expected {shape}")


@dataclass(eq=False)
class Dense:
    """Fully connected: ``y = weight @ x (+ bias)``.

    Attributes
    ----------
    weight : ndarray, shape (n_out, n_in)
    bias : ndarray, shape (n_out,), optional
    """

    weight: np.ndarray = field(default=None)  # type: ignore[assignment]
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "Dense"

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        return (self.weight.shape[0],)

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.weight = finite_array(self.weight, name, "weight", 2)
        n_in = int(np.prod(in_shape))
        if self.weight.shape[1] != n_in:
            raise NetworkError(
                f"{name}: field 'weight' has shape {self.weight.shape}; expected (n_out, {n_in}) "
                f"for an input of shape {in_shape} (flattened in C order)"
            )
        _check_bias(self, name, (self.weight.shape[0],))
        return (self.weight.shape[0],)


@dataclass(eq=False)
class Conv2d:
    """2-D convolution (cross-correlation, as in PyTorch), zero padding.

    Attributes
    ----------
    weight : ndarray, shape (c_out, c_in, kh, kw)
    stride, padding : int
    bias : ndarray, shape (c_out,), optional
        One per output channel.
    """

    weight: np.ndarray = field(default=None)  # type: ignore[assignment]
    stride: int = 1
    padding: int = 0
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "Conv2d"

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        _, _, kh, kw = np.shape(self.weight)
        return (np.shape(self.weight)[0],
                (in_shape[1] + 2 * self.padding - kh) // self.stride + 1,
                (in_shape[2] + 2 * self.padding - kw) // self.stride + 1)

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.weight = finite_array(self.weight, name, "weight", 4)
        self.stride = positive_int(self.stride, name, "stride")
        if isinstance(self.padding, bool) or not isinstance(self.padding, (int, np.integer)) \
                or self.padding < 0:
            raise NetworkError(f"{name}: field 'padding' must be an integer >= 0, "
                               f"got {self.padding!r}")
        self.padding = int(self.padding)
        if len(in_shape) != 3:
            raise NetworkError(f"{name}: needs an input of shape (C, H, W), got {in_shape}")
        c_out, c_in, kh, kw = self.weight.shape
        if c_in != in_shape[0]:
            raise NetworkError(
                f"{name}: field 'weight' has {c_in} input channels; the input has {in_shape[0]} "
                f"(shape {in_shape})"
            )
        h = (in_shape[1] + 2 * self.padding - kh) // self.stride + 1
        w = (in_shape[2] + 2 * self.padding - kw) // self.stride + 1
        if h < 1 or w < 1:
            raise NetworkError(f"{name}: kernel {kh}x{kw} does not fit the input {in_shape}")
        _check_bias(self, name, (c_out,))
        return (c_out, h, w)


@dataclass(eq=False)
class _Pool:
    kernel_size: int = 2
    stride: int | None = None

    @property
    def bias(self) -> None:
        return None

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        stride = self.kernel_size if self.stride is None else self.stride
        return (in_shape[0], (in_shape[1] - self.kernel_size) // stride + 1,
                (in_shape[2] - self.kernel_size) // stride + 1)

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.kernel_size = positive_int(self.kernel_size, name, "kernel_size")
        self.stride = positive_int(
            self.kernel_size if self.stride is None else self.stride, name, "stride"
        )
        if len(in_shape) != 3:
            raise NetworkError(f"{name}: needs an input of shape (C, H, W), got {in_shape}")
        h = (in_shape[1] - self.kernel_size) // self.stride + 1
        w = (in_shape[2] - self.kernel_size) // self.stride + 1
        if h < 1 or w < 1:
            raise NetworkError(f"{name}: kernel_size {self.kernel_size} does not fit {in_shape}")
        return (in_shape[0], h, w)


@dataclass(eq=False)
class AvgPool2d(_Pool):
    """Average pooling per channel: weight ``1 / kernel_size**2`` per input in the window.

    Attributes
    ----------
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``. No padding.
    """

    kind: ClassVar[str] = "AvgPool2d"

    @property
    def pool_weight(self) -> float:
        return 1.0 / (self.kernel_size * self.kernel_size)


@dataclass(eq=False)
class SumPool2d(_Pool):
    """Sum pooling per channel: weight 1 per input in the window."""

    kind: ClassVar[str] = "SumPool2d"

    @property
    def pool_weight(self) -> float:
        return 1.0


@dataclass(eq=False)
class Flatten:
    """Reshape ``(C, H, W)`` to ``(C*H*W,)`` in C order; no neurons."""

    kind: ClassVar[str] = "Flatten"

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        return (int(np.prod(in_shape)),)

    checked_shape = output_shape


#: The ops a projection may chain (NeuNorm, from :mod:`.layers`, may come first).
OP_TYPES = (Dense, Conv2d, AvgPool2d, SumPool2d, Flatten)
