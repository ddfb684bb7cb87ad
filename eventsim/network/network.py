"""A network: an ordered list of layers over an input of a given shape, plus its binning."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventsim.errors import NetworkError, whole
from eventsim.network.layers import LAYER_TYPES, NeuNorm, has_neurons


def layer_name(index: int, layer) -> str:
    """How errors name a layer: ``layer 2 (Conv2d)``."""
    return f"layer {index} ({type(layer).__name__})"


def _kind(value) -> str:
    """How errors name a value of the wrong type: ``None``, ``a Dense``, ``a list``."""
    return "None" if value is None else f"a {type(value).__name__}"


def _int_tuple(value, name: str, expected: str) -> tuple[int, ...]:
    """``value`` as a tuple of int; NetworkError naming the field unless every item is an integer
    (Python or NumPy; bool and float refused, so 2.9 does not become 2)."""
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if items is None or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise NetworkError(f"network: field '{name}' must be {expected}, got {value!r}")
    return tuple(int(v) for v in items)


def check_metadata(net) -> None:
    """Check and normalise what every network has besides its layers or populations:
    ``input_shape``, ``dt_us``, ``T``, ``sensor_size``, ``provenance``."""
    net.input_shape = _int_tuple(net.input_shape, "input_shape", "integers")
    if len(net.input_shape) not in (1, 3) or min(net.input_shape) < 1:
        raise NetworkError(
            f"network: field 'input_shape' must be (n,) or (P, H, W) of positive integers, "
            f"got {net.input_shape}"
        )
    for f in ("dt_us", "T"):
        if getattr(net, f) is not None:
            whole(getattr(net, f), "network", f, error=NetworkError)
    if net.sensor_size is not None:
        size = _int_tuple(net.sensor_size, "sensor_size", "(W, H, P) integers")
        if len(size) != 3:
            raise NetworkError(
                f"network: field 'sensor_size' must be (W, H, P) integers, "
                f"got {net.sensor_size!r}"
            )
        w, h, p = size
        if min(w, h, p) < 1:
            raise NetworkError(
                f"network: field 'sensor_size' must be positive, got {(w, h, p)}"
            )
        net.sensor_size = (w, h, p)
        if w * h * p != int(np.prod(net.input_shape)):
            raise NetworkError(
                f"network: field 'sensor_size' {net.sensor_size} gives {w * h * p} channels; "
                f"the input_shape {net.input_shape} has {int(np.prod(net.input_shape))}"
            )
    if net.provenance is not None and not isinstance(net.provenance, Mapping):
        raise NetworkError(
            f"network: field 'provenance' must be a dict (key -> value), got "
            f"{_kind(net.provenance)}"
        )
    net.provenance = dict(net.provenance or {})


def check_labels(net, output: str) -> None:
    """Check ``net.labels`` against ``net.n_outputs`` (``output`` names the output)."""
    if net.labels is not None:
        if isinstance(net.labels, (str, bytes)) or not isinstance(net.labels, Iterable):
            raise NetworkError(
                f"network: field 'labels' must be a list of names, got {net.labels!r}"
            )
        net.labels = [str(s) for s in net.labels]
        if len(net.labels) != net.n_outputs:
            raise NetworkError(
                f"network: field 'labels' has {len(net.labels)} names; {output} has "
                f"{net.n_outputs} neurons"
            )


@dataclass(eq=False)
class Network:
    """A feed-forward spiking network.

    Parameters
    ----------
    layers : list of layers
        :class:`Dense`, :class:`Conv2d`, :class:`AvgPool2d`, :class:`SumPool2d`,
        :class:`Flatten`, :class:`NeuNorm` (right after a layer with neurons), in order. A
        Dense layer after a ``(P, H, W)`` input flattens it in C order: channel
        ``p*H*W + y*W + x``.
    input_shape : tuple of int
        ``(n_inputs,)`` or ``(P, H, W)``.
    dt_us, T : int, optional
        Binning the network was trained with (step width in microseconds, steps per sample).
    sensor_size : tuple of int, optional
        ``(W, H, P)`` of the recordings it expects.
    labels : list of str, optional
        Class names of the output neurons.
    provenance : dict, optional
        Where the weights came from: dataset, epochs, seed, accuracy, eventsim version, ...

    Attributes
    ----------
    shapes : list of tuple
        Output shape of every layer, checked at construction.
    """

    layers: list
    input_shape: tuple[int, ...]
    dt_us: int | None = None
    T: int | None = None
    sensor_size: tuple[int, int, int] | None = None
    labels: list[str] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    shapes: list[tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.layers, (list, tuple)):
            raise NetworkError(
                f"network: field 'layers' must be a list of layers, got {_kind(self.layers)}"
            )
        self.layers = list(self.layers)
        if not self.layers:
            raise NetworkError("network: field 'layers' is empty; expected at least one layer")
        check_metadata(self)
        shape = self.input_shape
        self.shapes = []
        for i, layer in enumerate(self.layers):
            if type(layer) not in LAYER_TYPES.values():
                raise NetworkError(f"layer {i}: unknown layer type {type(layer).__name__}; "
                                   f"expected one of {', '.join(LAYER_TYPES)}")
            name = layer_name(i, layer)
            if has_neurons(layer):
                layer.check_lif(name)
            elif isinstance(layer, NeuNorm) and (i == 0 or not has_neurons(self.layers[i - 1])):
                raise NetworkError(f"{name}: NeuNorm normalizes the spikes of a layer with "
                                   "neurons; it must come right after one")
            shape = layer.checked_shape(shape, name)
            self.shapes.append(shape)
        if not has_neurons(self.layers[-1]):
            raise NetworkError(f"{layer_name(len(self.layers) - 1, self.layers[-1])}: "
                               "the last layer must have neurons")
        check_labels(self, "the output layer")

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_neurons(self) -> int:
        """Neurons of every layer with neurons."""
        return sum(int(np.prod(self.shapes[i])) for i in self.lif_layers)

    @property
    def n_outputs(self) -> int:
        return int(np.prod(self.shapes[-1]))

    @property
    def lif_layers(self) -> list[int]:
        """Indices of the layers that have neurons (all but Flatten and NeuNorm)."""
        return [i for i, layer in enumerate(self.layers) if has_neurons(layer)]

    def neuron_thresholds(self, index: int) -> np.ndarray:
        """``v_th`` of every neuron of layer ``index`` (C order), shape (n,), float64."""
        shape = self.shapes[index]
        n = int(np.prod(shape))
        channels = shape[0] if len(shape) == 3 else n
        return np.repeat(self.layers[index].channel_thresholds(channels), n // channels)

    def neunorm_into(self, index: int) -> int | None:
        """Index of the NeuNorm layer whose output layer ``index`` receives (through Flatten),
        or None."""
        for j in range(index - 1, -1, -1):
            if isinstance(self.layers[j], NeuNorm):
                return j
            if has_neurons(self.layers[j]):
                return None
        return None

    def input_shape_of(self, index: int) -> tuple[int, ...]:
        """Shape of the input to layer ``index``."""
        return self.input_shape if index == 0 else self.shapes[index - 1]
