"""Post-training weight quantization: a float network to an integer one.

Symmetric, one scale per layer (or per output channel): for weights ``W`` (of the layer, or of
one output channel), ``s = max|W| / (2**(bits-1) - 1)`` and

    weight -> round(W / s)        (whole numbers in [-(2**(bits-1) - 1), 2**(bits-1) - 1])
    bias   -> round(b / s)
    v_th   -> max(1, round(v_th / s))
    decay  -> round(decay * 4096) / 4096      (fixed point, truncating; see ``LIF.integer``)

so the integer potential is the float one divided by ``s`` and crosses the scaled threshold
when the float one crosses ``v_th``, up to the roundings. The scale is per layer because a
spike is 0 or 1 whatever the layer below computed: each layer's scale stands alone (and with
per-channel scales each output channel's, with a threshold of its own). Average
pooling becomes sum pooling with the threshold times ``kernel_size**2``. The result is a
network of integer layers (:attr:`~eventsim.network.layers.LIF.integer`) that the engine and
the Brian2 twin compute exactly, in whole numbers.
"""

from __future__ import annotations

import copy

import numpy as np

from eventsim.errors import NetworkError
from eventsim.network.layers import (
    DECAY_ONE,
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    SumPool2d,
)
from eventsim.network.network import Network, layer_name, require_chain

BITS = (2, 16)


def quantize(net: Network, bits: int = 8, per_channel: bool = False) -> Network:
    """The integer network of ``net`` with ``bits``-bit weights (see the module docstring).

    ``per_channel``: one scale per output channel (a Dense layer's output neuron, a Conv2d's
    output channel) instead of per layer; each channel then has its own integer threshold.
    Returns a new network; its provenance records the source's, the bits and every layer's
    scale or scales (``quantization``).
    """
    require_chain(net, "quantize")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or \
            not BITS[0] <= bits <= BITS[1]:
        raise NetworkError(f"quantize: field 'bits' must be an integer in {BITS[0]}..{BITS[1]}, "
                           f"got {bits!r}")
    q_max = 2 ** (int(bits) - 1) - 1
    layers, scales = [], []
    for i, layer in enumerate(net.layers):
        name = layer_name(i, layer)
        if isinstance(layer, Flatten):
            layers.append(Flatten())
            continue
        if not isinstance(layer, (Dense, Conv2d, AvgPool2d, SumPool2d)):
            raise NetworkError(f"{name}: {type(layer).__name__} carries analog values and has "
                               "no integer form")
        lif = {"decay": max(1, round(layer.decay * DECAY_ONE)) / DECAY_ONE,
               "reset": layer.reset, "integer": True}
        if isinstance(layer, (AvgPool2d, SumPool2d)):
            scale = layer.pool_weight  # pooling weights become 1
            layers.append(SumPool2d(layer.kernel_size, stride=layer.stride,
                                    v_th=float(max(1, round(layer.v_th / scale))), **lif))
            scales.append(scale)
            continue
        axes = tuple(range(1, layer.weight.ndim)) if per_channel else None
        top = np.abs(layer.weight).max(axis=axes)
        scale = np.where(top > 0, top / q_max, 1.0)  # one per channel, or a 0-d array
        shape = (-1,) + (1,) * (layer.weight.ndim - 1) if per_channel else ()
        weight = np.clip(np.round(layer.weight / scale.reshape(shape)), -q_max, q_max)
        bias = None if layer.bias is None else np.round(layer.bias / scale)
        v_th = np.maximum(1.0, np.round(layer.v_th / scale))
        v_th = v_th if per_channel else float(v_th)
        scale = scale.tolist()
        if isinstance(layer, Dense):
            layers.append(Dense(weight, bias=bias, v_th=v_th, **lif))
        else:
            layers.append(Conv2d(weight, stride=layer.stride, padding=layer.padding, bias=bias,
                                 v_th=v_th, **lif))
        scales.append(scale)
    provenance = {"source": copy.deepcopy(net.provenance),
                  "quantization": {"bits": int(bits), "scheme": "symmetric, per "
                                   + ("output channel" if per_channel else "layer"),
                                   "scales": scales}}
    return Network(layers, net.input_shape, dt_us=net.dt_us, T=net.T,
                   sensor_size=net.sensor_size, labels=net.labels, provenance=provenance)


def model_bytes(net: Network, bits: int | None = None) -> int:
    """Bytes of the weights and biases at ``bits`` per value (float32 when None)."""
    count = sum(int(layer.weight.size) + (0 if layer.bias is None else int(layer.bias.size))
                for layer in net.layers if isinstance(layer, (Dense, Conv2d)))
    return (count * (bits or 32) + 7) // 8
