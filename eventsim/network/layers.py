"""Layers: a projection followed by a population of LIF neurons (the STBP model).

Every layer but :class:`Flatten` and :class:`NeuNorm` ends in LIF neurons. For neuron ``i``
of a layer at step ``t = 1..T``, with ``u[0] = 0`` and ``o[0] = 0`` (Wu et al. 2018)::

    u[t] = decay * u[t-1] * (1 - o[t-1]) + I[t] + b          (reset="zero")
    u[t] = decay * (u[t-1] - v_th * o[t-1]) + I[t] + b       (reset="subtract")
    o[t] = 1 if u[t] >= v_th else 0

where ``I[t]`` is the layer's projection of the spikes ``o_prev[t]`` of the layer below *at
the same step* (input spikes for the first layer). In continuous time (``mode="continuous"``)
``u`` decays as ``exp(-dt / tau_us)`` between arrivals, with ``tau_us`` given or derived from
``decay = exp(-dt_us / tau_us)``; the bias is a constant drive of ``b`` per ``dt_us``, and a
spike reaches the next layer ``delay_us`` later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from eventsim.errors import NetworkError

RESETS = ("zero", "subtract")
#: An integer layer's decay is ``D / DECAY_ONE`` (fixed point, 12 fractional bits).
DECAY_ONE = 4096


def _finite_array(value, name: str, field_name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
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


def _positive_int(value, name: str, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NetworkError(f"{name}: field '{field_name}' must be a positive integer, got {value!r}")
    return int(value)


@dataclass(eq=False)
class LIF:
    """Parameters of the LIF population a layer ends in (see the module docstring).

    Attributes
    ----------
    decay : float
        Membrane decay per step, in (0, 1]; 1 is a perfect integrator.
    v_th : float or ndarray
        Firing threshold, > 0; an integer layer may have one per output channel, shape
        (c_out,).
    reset : {"zero", "subtract"}
    tau_us : float, optional
        Membrane time constant for continuous mode (microseconds).
    delay_us : float
        Synaptic delay of the projection into this layer in continuous mode (microseconds).
    integer : bool
        Integer arithmetic (a quantized layer, :mod:`eventsim.quantize`): weights, bias and
        ``v_th`` are whole numbers, ``decay`` is ``D / 4096`` for a whole ``D``, and the decay
        truncates towards zero: ``u[t] = trunc(D * u' / 4096) + I[t] + b`` with ``u'`` the
        potential after the previous step's reset. Every value is a whole number, computed
        exactly (discrete mode).
    """

    decay: float = 0.2
    v_th: float = 0.5
    reset: str = "zero"
    tau_us: float | None = None
    delay_us: float = 0.0
    integer: bool = False

    def check_lif(self, name: str) -> None:
        per_channel = isinstance(self.v_th, (list, tuple, np.ndarray))
        for f in ("decay", "delay_us") + (() if per_channel else ("v_th",)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise NetworkError(f"{name}: field '{f}' must be a number, got {v!r}")
            if not math.isfinite(v):
                raise NetworkError(f"{name}: field '{f}' must be finite, got {v!r}")
        if not 0.0 < self.decay <= 1.0:
            raise NetworkError(f"{name}: field 'decay' must be in (0, 1], got {self.decay!r}")
        if per_channel:
            if not self.integer:
                raise NetworkError(f"{name}: field 'v_th' holds one threshold per output channel "
                                   "only in an integer layer; a float layer has one threshold")
            self.v_th = _finite_array(self.v_th, name, "v_th", 1)
            if np.any(self.v_th < 1) or np.any(self.v_th != np.round(self.v_th)):
                raise NetworkError(f"{name}: field 'v_th' must hold whole numbers >= 1 in an "
                                   "integer layer")
        elif not self.v_th > 0:
            raise NetworkError(f"{name}: field 'v_th' must be > 0, got {self.v_th!r}")
        if self.reset not in RESETS:
            raise NetworkError(
                f"{name}: field 'reset' must be 'zero' or 'subtract', got {self.reset!r}"
            )
        if self.tau_us is not None and (
            isinstance(self.tau_us, bool)
            or not isinstance(self.tau_us, (int, float, np.floating, np.integer))
            or not self.tau_us > 0
        ):
            raise NetworkError(f"{name}: field 'tau_us' must be a number > 0, got {self.tau_us!r}")
        if self.delay_us < 0:
            raise NetworkError(f"{name}: field 'delay_us' must be >= 0, got {self.delay_us!r}")
        if not isinstance(self.integer, (bool, np.bool_)):
            raise NetworkError(f"{name}: field 'integer' must be True or False, "
                               f"got {self.integer!r}")
        self.integer = bool(self.integer)
        if self.integer:
            if not per_channel and self.v_th != round(self.v_th):
                raise NetworkError(f"{name}: field 'v_th' must be a whole number in an integer "
                                   f"layer, got {self.v_th!r}")
            if self.decay * DECAY_ONE != round(self.decay * DECAY_ONE):
                raise NetworkError(f"{name}: field 'decay' must be a multiple of 1/{DECAY_ONE} "
                                   f"in an integer layer, got {self.decay!r}")

    def channel_thresholds(self, n_channels: int) -> np.ndarray:
        """``v_th`` of each output channel, shape (n_channels,), float64."""
        return np.broadcast_to(np.asarray(self.v_th, np.float64), (n_channels,)).copy()

    def _check_channels(self, name: str, n_channels: int) -> None:
        if isinstance(self.v_th, np.ndarray) and self.v_th.shape != (n_channels,):
            raise NetworkError(f"{name}: field 'v_th' has {self.v_th.size} thresholds; the "
                               f"layer has {n_channels} output channels")

    @property
    def decay_num(self) -> int:
        """``D`` of an integer layer's decay ``D / 4096``."""
        return round(self.decay * DECAY_ONE)

    def tau_for(self, dt_us: float | None, name: str) -> float:
        """Continuous-mode time constant in microseconds (``inf`` for ``decay == 1``)."""
        if self.tau_us is not None:
            return float(self.tau_us)
        if self.decay == 1.0:
            return math.inf
        if dt_us is None:
            raise NetworkError(
                f"{name}: continuous mode needs field 'tau_us', or 'dt_us' to derive it from 'decay'"
            )
        return -float(dt_us) / math.log(self.decay)


@dataclass(eq=False)
class Dense(LIF):
    """Fully connected projection, then LIF: ``I[t] = weight @ o_prev[t]``.

    Attributes
    ----------
    weight : ndarray, shape (n_out, n_in)
    bias : ndarray, shape (n_out,), optional
        Added to ``u`` every step.
    """

    weight: np.ndarray = field(default=None)  # type: ignore[assignment]
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "Dense"

    def __init__(self, weight, bias=None, decay=0.2, v_th=0.5, reset="zero",
                 tau_us=None, delay_us=0.0, integer=False):
        LIF.__init__(self, decay, v_th, reset, tau_us, delay_us, integer)
        self.weight = weight
        self.bias = bias

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.weight = _finite_array(self.weight, name, "weight", 2)
        n_in = int(np.prod(in_shape))
        if self.weight.shape[1] != n_in:
            raise NetworkError(
                f"{name}: field 'weight' has shape {self.weight.shape}; expected (n_out, {n_in}) "
                f"for an input of shape {in_shape} (flattened in C order)"
            )
        _check_bias(self, name, (self.weight.shape[0],))
        _check_integral(self, name)
        self._check_channels(name, self.weight.shape[0])
        return (self.weight.shape[0],)


@dataclass(eq=False)
class Conv2d(LIF):
    """2-D convolution (cross-correlation, as in PyTorch), then LIF.

    ``I[co, y, x] = sum_{ci, ky, kx} weight[co, ci, ky, kx] * o_prev[ci, y*s - p + ky, x*s - p + kx]``
    with zero padding ``p`` and stride ``s``.

    Attributes
    ----------
    weight : ndarray, shape (c_out, c_in, kh, kw)
    stride, padding : int
    bias : ndarray, shape (c_out,), optional
        One bias per output channel, added every step.
    """

    weight: np.ndarray = field(default=None)  # type: ignore[assignment]
    stride: int = 1
    padding: int = 0
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "Conv2d"

    def __init__(self, weight, stride=1, padding=0, bias=None, decay=0.2, v_th=0.5,
                 reset="zero", tau_us=None, delay_us=0.0, integer=False):
        LIF.__init__(self, decay, v_th, reset, tau_us, delay_us, integer)
        self.weight, self.stride, self.padding, self.bias = weight, stride, padding, bias

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.weight = _finite_array(self.weight, name, "weight", 4)
        self.stride = _positive_int(self.stride, name, "stride")
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
        _check_integral(self, name)
        self._check_channels(name, c_out)
        return (c_out, h, w)


@dataclass(eq=False)
class _Pool(LIF):
    kernel_size: int = 2
    stride: int | None = None

    def __init__(self, kernel_size=2, stride=None, decay=0.2, v_th=0.5, reset="zero",
                 tau_us=None, delay_us=0.0, integer=False):
        LIF.__init__(self, decay, v_th, reset, tau_us, delay_us, integer)
        self.kernel_size, self.stride = kernel_size, stride

    @property
    def bias(self) -> None:
        return None

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        self.kernel_size = _positive_int(self.kernel_size, name, "kernel_size")
        self.stride = _positive_int(
            self.kernel_size if self.stride is None else self.stride, name, "stride"
        )
        if len(in_shape) != 3:
            raise NetworkError(f"{name}: needs an input of shape (C, H, W), got {in_shape}")
        h = (in_shape[1] - self.kernel_size) // self.stride + 1
        w = (in_shape[2] - self.kernel_size) // self.stride + 1
        if h < 1 or w < 1:
            raise NetworkError(f"{name}: kernel_size {self.kernel_size} does not fit {in_shape}")
        if self.integer and self.pool_weight != round(self.pool_weight):
            raise NetworkError(f"{name}: its weight 1/{self.kernel_size ** 2} is not a whole "
                               "number: an integer network pools with SumPool2d")
        self._check_channels(name, in_shape[0])
        return (in_shape[0], h, w)


@dataclass(eq=False, init=False)
class AvgPool2d(_Pool):
    """Average pooling per channel (weight ``1/kernel_size**2`` per input in the window), then LIF.

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


@dataclass(eq=False, init=False)
class SumPool2d(_Pool):
    """Sum pooling per channel (weight 1 per input in the window), then LIF."""

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


@dataclass(eq=False)
class NeuNorm:
    """Neuron normalization (NeuNorm, Wu et al. 2019) of the spikes of the layer below; no
    neurons of its own.

    An auxiliary neuron at each position ``(i, j)`` integrates the spikes of all ``C`` channels
    there, and the layer above receives the spikes minus a trained share of it::

        x[t](i, j)    = decay * x[t-1](i, j) + coef * sum_c o[t](c, i, j)     (x[-1] = 0)
        s[t](c, i, j) = o[t](c, i, j) - alpha(c, i, j) * x[t](i, j)

    with ``coef = scale / C`` (computed in float64, then rounded once to the run's dtype).
    ``s`` is analog: the layer above integrates ``W s`` exactly, its spiking part event by
    event (synaptic operations) and the auxiliary part as multiply-accumulates (discrete mode
    only).

    Attributes
    ----------
    alpha : ndarray, shape (C, H, W)
        Trained scale of the auxiliary neuron's output, per channel and position (0: identity).
    decay : float
        Decay of the auxiliary neuron per step, in (0, 1].
    scale : float
        ``v`` of the paper, > 0.
    """

    alpha: np.ndarray
    decay: float = 0.5
    scale: float = 1.0
    kind: ClassVar[str] = "NeuNorm"

    def coef(self, n_channels: int) -> float:
        """The auxiliary neuron's increment per spike, ``scale / C``, in float64."""
        return float(self.scale) / n_channels

    def output_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        for f in ("decay", "scale"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(v):
                raise NetworkError(f"{name}: field '{f}' must be a finite number, got {v!r}")
        if not 0.0 < self.decay <= 1.0:
            raise NetworkError(f"{name}: field 'decay' must be in (0, 1], got {self.decay!r}")
        if not self.scale > 0:
            raise NetworkError(f"{name}: field 'scale' must be > 0, got {self.scale!r}")
        if len(in_shape) != 3:
            raise NetworkError(f"{name}: needs an input of shape (C, H, W), got {in_shape}")
        self.alpha = _finite_array(self.alpha, name, "alpha", 3)
        if self.alpha.shape != tuple(in_shape):
            raise NetworkError(
                f"{name}: field 'alpha' has shape {self.alpha.shape}; expected {tuple(in_shape)} "
                "(the shape of its input)"
            )
        return tuple(in_shape)


def has_neurons(layer) -> bool:
    """Whether ``layer`` ends in a LIF population (every kind but Flatten and NeuNorm)."""
    return not isinstance(layer, (Flatten, NeuNorm))


def _check_integral(layer, name: str) -> None:
    if not layer.integer:
        return
    for f in ("weight", "bias"):
        arr = getattr(layer, f)
        if arr is not None and np.any(arr != np.round(arr)):
            bad = np.flatnonzero(arr.ravel() != np.round(arr.ravel()))[0]
            raise NetworkError(f"{name}: field '{f}' must hold whole numbers in an integer "
                               f"layer; value {float(arr.ravel()[bad])!r} at flat index {bad}")


def _check_bias(layer, name: str, shape: tuple[int, ...]) -> None:
    if layer.bias is None:
        return
    layer.bias = _finite_array(layer.bias, name, "bias", 1)
    if layer.bias.shape != shape:
        raise NetworkError(
            f"{name}: field 'bias' has shape {layer.bias.shape}; expected {shape}"
        )


Layer = Dense | Conv2d | AvgPool2d | SumPool2d | Flatten | NeuNorm
LAYER_TYPES = {cls.kind: cls for cls in (Dense, Conv2d, AvgPool2d, SumPool2d, Flatten, NeuNorm)}
