"""Layers: a projection followed by a population of LIF neurons (the STBP model).

Every layer but :class:`Flatten` and :class:`NeuNorm` ends in LIF neurons. For neuron ``i``
of a layer at step ``t = 1..T``, with ``i[0] = 0``, ``u[0] = v_leak`` and ``o[0] = 0``::

    i[t] = syn_decay * i[t-1] + I[t]
    u[t] = decay * (u[t-1] * (1 - o[t-1]) + v_reset * o[t-1]) + c + i[t]   (reset="zero")
    u[t] = decay * (u[t-1] - v_th * o[t-1]) + c + i[t]                      (reset="subtract")
    o[t] = 1 if u[t] >= v_th else 0

where ``I[t] = W o_prev[t] + b`` is the layer's projection of the spikes ``o_prev[t]`` of the
layer below *at the same step* (input spikes for the first layer), its bias ``b`` included.

* ``syn_decay = 0`` (the default): delta synapses, ``i[t] = I[t]``, the STBP LIF of Wu et al.
  2018. ``0 < syn_decay < 1``: a current-based (CuBa) LIF, whose synaptic current ``i``
  decays by ``syn_decay`` per step: ``tau_syn di/dt = -i + w_in S``, ``tau_mem du/dt =
  v_leak - u + r i`` (NIR's ``CubaLIF``) with the current updated before the membrane within
  a step, as snnTorch's ``Synaptic`` (``syn = alpha syn + x; mem = beta mem + syn``) and
  Norse's ``LIFCell`` (``i + x`` enters ``v``, then decays) have it. The gains ``w_in`` and
  ``r dt / tau_mem`` go into the weights.
* ``v_reset`` (0 unless given) is the potential a spike resets to (NIR's ``v_reset``,
  Brian2's ``reset="v = v_reset"``). A subtract reset has none.
* ``refractory_steps = r > 0``: after a spike at step ``s`` the membrane is held at its reset
  value through steps ``s+1 .. s+r`` (no decay, no drive, no input: a delta synapse's input
  arriving then is lost, a current keeps decaying and taking input) and cannot fire; at step
  ``s+r+1`` it goes on from there: ``u = decay * u_held + c + i``. Brian2's ``refractory=
  (r + 1) * dt`` with ``(unless refractory)`` and NEST's ``t_ref`` hold it so.
* A leak towards ``v_leak`` (0 unless given) is the constant drive ``c = (1 - decay) *
  v_leak`` (:meth:`Neurons.leak_drive`, float64) on the membrane, and the neuron starts at
  rest, ``u[0] = v_leak``: the step of ``tau du/dt = v_leak - u`` by the exact exponential
  or by forward Euler, as NIR's ``LIF`` and Norse's cells (which start at ``v_leak``) have
  it. ``v_leak = 0`` is the STBP LIF, starting at 0.

In continuous time (``mode="continuous"``; delta synapses, spiking neurons without a
refractory period only) ``u`` decays towards ``v_leak`` as ``exp(-dt / tau_us)`` between
arrivals, with ``tau_us`` given or derived from
``decay = exp(-dt_us / tau_us)``; the bias is a constant drive of ``b`` per ``dt_us``, and a
spike reaches the next layer ``delay_us`` later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from eventsim.errors import NetworkError
from eventsim.network import ops
from eventsim.network.ops import Flatten, finite_array

RESETS = ("zero", "subtract")
READOUTS = ("max", "mean")
#: An integer layer's decay is ``D / DECAY_ONE`` (fixed point, 12 fractional bits).
DECAY_ONE = 4096


@dataclass(eq=False)
class Neurons:
    """Parameters of a population of STBP LIF neurons (see the module docstring).

    Attributes
    ----------
    decay : float
        Membrane decay per step, in (0, 1]; 1 is a perfect integrator.
    v_th : float or ndarray
        Firing threshold, > 0; an integer layer may have one per output channel, shape
        (c_out,). ``math.inf``: the neurons never fire, a leaky integrator (LI, NIR's ``LI``
        and ``CubaLI``) whose membrane is read out (:attr:`Result.membrane_max
        <eventsim.engine.result.Result.membrane_max>` and ``membrane_mean``).
    reset : {"zero", "subtract"}
        To ``v_reset`` (``"zero"``, as it is 0 unless given), or by ``- v_th`` (``- (v_th +
        b)`` with a graph population's adaptive threshold).
    v_reset : float
        The potential a ``"zero"`` reset sets, below ``v_th`` (0 with a subtract reset; a whole
        number in an integer layer).
    v_leak : float
        The potential ``u`` leaks towards and starts at (0 in an integer layer, and where
        ``decay == 1``: an integrator does not leak).
    syn_decay : float
        Decay of the synaptic current per step, in [0, 1): 0 for delta synapses (the input
        goes straight into ``u``), else a current-based LIF (``exp(-dt / tau_syn)``, or
        ``1 - dt / tau_syn`` by forward Euler). Not with ``decay == 1`` (for now). In an
        integer layer ``Du / 4096`` for a whole ``Du``, truncating like ``decay``:
        ``i[t] = trunc(Du * i[t-1] / 4096) + I[t]``, then ``u[t] = trunc(D * u' / 4096) +
        i[t]``, Loihi's CUBA neuron as Lava's bit-accurate model steps it (its current
        decays by ``4096 - du - 1``, its voltage by ``4096 - dv``, both truncated towards
        zero; eventsim fires at ``>=`` where Lava fires at ``>``, and neither saturates
        here).
    refractory_steps : int
        Whole steps the membrane is held after a spike (see the module docstring), >= 0;
        discrete mode, float layers (for now).
    readout : {"max", "mean"}
        How a leaky integrator (``v_th = inf``) as the output decides the class: the neuron of
        the highest maximum of its potential over the ``T`` steps (Norse's decoding), or of
        the highest mean (snnTorch's and Spyx's usual one); the trainer's loss is the
        cross-entropy on the same. Only ``"max"`` for neurons that spike.
    tau_us : float, optional
        Membrane time constant for continuous mode (microseconds).
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
    integer: bool = False
    v_reset: float = 0.0
    v_leak: float = 0.0
    syn_decay: float = 0.0
    refractory_steps: int = 0
    readout: str = "max"

    def check_neurons(self, name: str) -> None:
        per_channel = isinstance(self.v_th, (list, tuple, np.ndarray))
        for f in ("decay",) + (() if per_channel else ("v_th",)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise NetworkError(f"{name}: field '{f}' must be a number, got {v!r}")
            if not math.isfinite(v) and not (f == "v_th" and v == math.inf):
                raise NetworkError(f"{name}: field '{f}' must be finite, got {v!r}")
        if not 0.0 < self.decay <= 1.0:
            raise NetworkError(f"{name}: field 'decay' must be in (0, 1], got {self.decay!r}")
        if per_channel:
            if not self.integer:
                raise NetworkError(f"{name}: field 'v_th' holds one threshold per output channel "
                                   "only in an integer layer; a float layer has one threshold")
            self.v_th = finite_array(self.v_th, name, "v_th", 1)
            if np.any(self.v_th < 1) or np.any(self.v_th != np.round(self.v_th)):
                raise NetworkError(f"{name}: field 'v_th' must hold whole numbers >= 1 in an "
                                   "integer layer")
        elif not self.v_th > 0:
            raise NetworkError(f"{name}: field 'v_th' must be > 0, got {self.v_th!r}")
        if self.readout not in READOUTS:
            raise NetworkError(f"{name}: field 'readout' must be 'max' or 'mean', got "
                               f"{self.readout!r}")
        if self.readout != "max" and not (np.ndim(self.v_th) == 0 and self.v_th == math.inf):
            raise NetworkError(f"{name}: field 'readout' is {self.readout!r}, but the neurons "
                               "spike: a readout decodes a leaky integrator (v_th = inf)")
        if self.reset not in RESETS:
            raise NetworkError(
                f"{name}: field 'reset' must be 'zero' or 'subtract', got {self.reset!r}"
            )
        for f in ("v_reset", "v_leak", "syn_decay"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise NetworkError(f"{name}: field '{f}' must be a number, got {v!r}")
            if not math.isfinite(v):
                raise NetworkError(f"{name}: field '{f}' must be finite, got {v!r}")
            setattr(self, f, float(v))
        r = self.refractory_steps
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) \
                or not math.isfinite(r) or r < 0 or r != round(r):
            raise NetworkError(f"{name}: field 'refractory_steps' must be a whole number of "
                               f"steps >= 0, got {r!r}")
        self.refractory_steps = int(r)
        if self.refractory_steps and self.integer:
            raise NetworkError(f"{name}: field 'refractory_steps' is {r!r}, but an integer "
                               "layer has no refractory period (for now)")
        if not 0.0 <= self.syn_decay < 1.0:
            raise NetworkError(f"{name}: field 'syn_decay' must be in [0, 1) (0: delta "
                               f"synapses), got {self.syn_decay!r}")
        if self.syn_decay > 0.0 and self.decay == 1.0:
            raise NetworkError(f"{name}: field 'syn_decay' is {self.syn_decay!r}, but a "
                               "current-based synapse runs only on a leaky membrane (for "
                               "now): give decay < 1")
        if self.integer and self.syn_decay * DECAY_ONE != round(self.syn_decay * DECAY_ONE):
            raise NetworkError(f"{name}: field 'syn_decay' must be a multiple of "
                               f"1/{DECAY_ONE} in an integer layer, got {self.syn_decay!r}")
        v = self.v_reset
        if self.v_leak != 0.0 and (self.decay == 1.0 or self.integer):
            raise NetworkError(f"{name}: field 'v_leak' is {self.v_leak!r}, but "
                               + ("an integer layer has no leak drive (give v_leak 0)"
                                  if self.integer else "decay 1 does not leak"))
        if self.reset == "subtract" and self.v_reset != 0.0:
            raise NetworkError(f"{name}: field 'v_reset' is {v!r}, but a subtract reset has "
                               "none (it lowers u by v_th): give reset='zero' to reset to it")
        if np.any(self.v_reset >= np.asarray(self.v_th)):
            raise NetworkError(f"{name}: field 'v_reset' must be below 'v_th' (a neuron reset "
                               f"to it would fire again at once), got {v!r}")
        if self.tau_us is not None and (
            isinstance(self.tau_us, bool)
            or not isinstance(self.tau_us, (int, float, np.floating, np.integer))
            or not self.tau_us > 0
        ):
            raise NetworkError(f"{name}: field 'tau_us' must be a number > 0, got {self.tau_us!r}")
        if not isinstance(self.integer, (bool, np.bool_)):
            raise NetworkError(f"{name}: field 'integer' must be True or False, "
                               f"got {self.integer!r}")
        self.integer = bool(self.integer)
        if self.integer:
            if not per_channel and not math.isfinite(self.v_th):
                raise NetworkError(f"{name}: field 'v_th' is inf (a leaky integrator); an "
                                   "integer layer spikes")
            if not per_channel and self.v_th != round(self.v_th):
                raise NetworkError(f"{name}: field 'v_th' must be a whole number in an integer "
                                   f"layer, got {self.v_th!r}")
            if self.v_reset != round(self.v_reset):
                raise NetworkError(f"{name}: field 'v_reset' must be a whole number in an "
                                   f"integer layer, got {self.v_reset!r}")
            if self.decay * DECAY_ONE != round(self.decay * DECAY_ONE):
                raise NetworkError(f"{name}: field 'decay' must be a multiple of 1/{DECAY_ONE} "
                                   f"in an integer layer, got {self.decay!r}")

    @property
    def is_readout(self) -> bool:
        """Whether the neurons never fire (``v_th = inf``): a leaky integrator read out by its
        membrane."""
        return np.ndim(self.v_th) == 0 and self.v_th == math.inf

    def leak_drive(self) -> float:
        """``c = (1 - decay) * v_leak`` in float64: the constant drive of the leak towards
        ``v_leak``, added to the bias by every part that steps the neuron."""
        return (1.0 - float(self.decay)) * self.v_leak

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

    @property
    def syn_decay_num(self) -> int:
        """``Du`` of an integer layer's current decay ``Du / 4096``."""
        return round(self.syn_decay * DECAY_ONE)

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
class LIF(Neurons):
    """The LIF population a chain layer ends in, and the delay of the projection into it.

    Attributes
    ----------
    delay_us : float
        Synaptic delay of the projection into this layer in continuous mode (microseconds).
    """

    delay_us: float = 0.0

    def check_lif(self, name: str) -> None:
        self.check_neurons(name)
        v = self.delay_us
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise NetworkError(f"{name}: field 'delay_us' must be a number, got {v!r}")
        if not math.isfinite(v):
            raise NetworkError(f"{name}: field 'delay_us' must be finite, got {v!r}")
        if v < 0:
            raise NetworkError(f"{name}: field 'delay_us' must be >= 0, got {v!r}")

    def _neuron_checks(self, name: str, n_channels: int) -> None:
        """What an integer layer and per-channel thresholds ask of the op's values."""
        if self.integer:
            for f in ("weight", "bias"):
                arr = getattr(self, f, None)
                if arr is not None:
                    check_whole(arr, name, f)
        self._check_channels(name, n_channels)


def check_whole(arr: np.ndarray, name: str, field_name: str) -> None:
    """NetworkError unless ``arr`` holds whole numbers (an integer population's inputs)."""
    if np.any(arr != np.round(arr)):
        bad = np.flatnonzero(arr.ravel() != np.round(arr.ravel()))[0]
        raise NetworkError(f"{name}: field '{field_name}' must hold whole numbers in an "
                           f"integer layer; value {float(arr.ravel()[bad])!r} at flat index {bad}")


def _lif_kw(decay, v_th, reset, tau_us, delay_us, integer, v_reset, v_leak,
            syn_decay, refractory_steps, readout) -> dict:
    return {"decay": decay, "v_th": v_th, "reset": reset, "tau_us": tau_us,
            "delay_us": delay_us, "integer": integer, "v_reset": v_reset, "v_leak": v_leak,
            "syn_decay": syn_decay, "refractory_steps": refractory_steps, "readout": readout}


@dataclass(eq=False, init=False)
class Dense(LIF, ops.Dense):
    """Fully connected projection (:class:`eventsim.network.ops.Dense`), then LIF:
    ``I[t] = weight @ o_prev[t]``, the bias added to ``u`` every step.

    Attributes
    ----------
    weight : ndarray, shape (n_out, n_in)
    bias : ndarray, shape (n_out,), optional
    """

    def __init__(self, weight, bias=None, decay=0.2, v_th=0.5, reset="zero",
                 tau_us=None, delay_us=0.0, integer=False, v_reset=0.0, v_leak=0.0,
                 syn_decay=0.0, refractory_steps=0, readout="max"):
        LIF.__init__(self, **_lif_kw(decay, v_th, reset, tau_us, delay_us, integer, v_reset,
                                     v_leak, syn_decay, refractory_steps, readout))
        self.weight = weight
        self.bias = bias

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        shape = ops.Dense.checked_shape(self, in_shape, name)
        self._neuron_checks(name, shape[0])
        return shape

    def op(self) -> ops.Dense:
        """The projection alone (sharing the arrays)."""
        return ops.Dense(self.weight, self.bias)


@dataclass(eq=False, init=False)
class Conv2d(LIF, ops.Conv2d):
    """2-D convolution (:class:`eventsim.network.ops.Conv2d`), then LIF.

    ``I[co, y, x] = sum_{ci, ky, kx} weight[co, ci, ky, kx] * o_prev[ci, y*s - p + ky, x*s - p + kx]``
    with zero padding ``p`` and stride ``s``.

    Attributes
    ----------
    weight : ndarray, shape (c_out, c_in, kh, kw)
    stride, padding : int
    bias : ndarray, shape (c_out,), optional
        One bias per output channel, added every step.
    """

    def __init__(self, weight, stride=1, padding=0, bias=None, decay=0.2, v_th=0.5,
                 reset="zero", tau_us=None, delay_us=0.0, integer=False, v_reset=0.0,
                 v_leak=0.0, syn_decay=0.0, refractory_steps=0, readout="max"):
        LIF.__init__(self, **_lif_kw(decay, v_th, reset, tau_us, delay_us, integer, v_reset,
                                     v_leak, syn_decay, refractory_steps, readout))
        self.weight, self.stride, self.padding, self.bias = weight, stride, padding, bias

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        shape = ops.Conv2d.checked_shape(self, in_shape, name)
        self._neuron_checks(name, shape[0])
        return shape

    def op(self) -> ops.Conv2d:
        return ops.Conv2d(self.weight, self.stride, self.padding, self.bias)


class _PoolLayer(LIF):
    def __init__(self, kernel_size=2, stride=None, decay=0.2, v_th=0.5, reset="zero",
                 tau_us=None, delay_us=0.0, integer=False, v_reset=0.0, v_leak=0.0,
                 syn_decay=0.0, refractory_steps=0, readout="max"):
        LIF.__init__(self, **_lif_kw(decay, v_th, reset, tau_us, delay_us, integer, v_reset,
                                     v_leak, syn_decay, refractory_steps, readout))
        self.kernel_size, self.stride = kernel_size, stride

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        shape = ops._Pool.checked_shape(self, in_shape, name)
        if self.integer and self.pool_weight != round(self.pool_weight):
            raise NetworkError(f"{name}: its weight 1/{self.kernel_size ** 2} is not a whole "
                               "number: an integer network pools with SumPool2d")
        self._check_channels(name, in_shape[0])
        return shape

    def op(self):
        return self.op_type(self.kernel_size, self.stride)


@dataclass(eq=False, init=False)
class AvgPool2d(_PoolLayer, ops.AvgPool2d):
    """Average pooling per channel (weight ``1/kernel_size**2`` per input in the window), then LIF.

    Attributes
    ----------
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``. No padding.
    """

    op_type: ClassVar[type] = ops.AvgPool2d


@dataclass(eq=False, init=False)
class SumPool2d(_PoolLayer, ops.SumPool2d):
    """Sum pooling per channel (weight 1 per input in the window), then LIF."""

    op_type: ClassVar[type] = ops.SumPool2d


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
        return tuple(in_shape)

    def checked_shape(self, in_shape: tuple[int, ...], name: str) -> tuple[int, ...]:
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
        self.alpha = finite_array(self.alpha, name, "alpha", 3)
        if self.alpha.shape != tuple(in_shape):
            raise NetworkError(
                f"{name}: field 'alpha' has shape {self.alpha.shape}; expected {tuple(in_shape)} "
                "(the shape of its input)"
            )
        return tuple(in_shape)


def has_neurons(layer) -> bool:
    """Whether ``layer`` ends in a LIF population (every kind but Flatten and NeuNorm)."""
    return not isinstance(layer, (Flatten, NeuNorm))


Layer = Dense | Conv2d | AvgPool2d | SumPool2d | Flatten | NeuNorm
LAYER_TYPES = {cls.kind: cls for cls in (Dense, Conv2d, AvgPool2d, SumPool2d, Flatten, NeuNorm)}
