"""Quantization-aware training: the forward pass runs the integer network, the backward pass
reaches the float weights straight through the rounding.

Every batch, the float network being trained is quantized as
:func:`eventsim.network.quantize.quantize` would export it (``bits``, one scale per layer or
per output channel; :func:`~eventsim.network.quantize.quantize_layer`): for a layer of scale
``s``

    W_int = clip(round(W / s), -q, q)        q = 2**(bits-1) - 1,  s = max|W| / q
    b_int = round(b / s),   v_th_int = max(1, round(v_th / s)),   decay = D / 4096

and the forward pass runs that integer network (:func:`eventsim.train.model.forward`, in
float64: whole numbers, exact) with the truncating decay ``u = trunc(D * kept / 4096) + I +
b`` of :mod:`eventsim.train.lif`. Its spikes are therefore those of the exported network in
the engine and in Brian2, step for step; so is the trainer's accuracy.

Backward (the straight-through estimator, Bengio et al. 2013; as in Jacob et al. 2018, the
scale is held constant): the STBP backward of the integer network gives ``dL/dW_int``; the
rounding passes the gradient unchanged, so ``dL/dW = dL/dW_int / s`` (per channel: each row by
its own ``s``) and ``dL/db = dL/db_int / s``; the truncation of the decay passes as ``k``.
The surrogate of a layer of scale ``s`` is read in float units, ``s * f'(s * (u - v_th))``
(:class:`~eventsim.train.lif.LIFParams`), so the gradients are those of the float network
at the quantized point, not ``1 / s`` times narrower.
"""

from __future__ import annotations

import numpy as np

from eventsim.errors import NetworkError
from eventsim.network.layers import Conv2d, Dense
from eventsim.network.network import Network, layer_name
from eventsim.network.quantize import quantize_layer


def integer_chain(net: Network, bits: int, per_channel: bool = False
                  ) -> tuple[Network, list]:
    """The integer network the forward pass runs, and each layer's scale (None for Flatten).

    Raises
    ------
    NetworkError
        A layer with no integer form (NeuNorm), or neuron parameters an integer layer does not
        have (a leak, a refractory period).
    """
    q_max = 2 ** (bits - 1) - 1
    layers, scales = [], []
    for i, layer in enumerate(net.layers):
        int_layer, scale = quantize_layer(layer, q_max, per_channel, layer_name(i, layer))
        layers.append(int_layer)
        scales.append(scale)
    return Network(layers, net.input_shape, dt_us=net.dt_us, T=net.T), scales


def float_grads(net: Network, grads: list, scales: list) -> list:
    """``grads`` of the integer network (:func:`eventsim.train.model.backward`) as gradients
    of ``net``'s float weights and biases: divided by each layer's (channel's) scale."""
    out = []
    for i, (layer, g, s) in enumerate(zip(net.layers, grads, scales, strict=True)):
        if g is None or not isinstance(layer, (Dense, Conv2d)):
            if g is not None:
                raise NetworkError(f"{layer_name(i, layer)}: has no integer form to train")
            out.append(g)
            continue
        s = np.asarray(s, np.float64)
        rows = s.reshape((-1,) + (1,) * (layer.weight.ndim - 1)) if s.ndim else s
        out.append({"weight": g["weight"] / rows,
                    "bias": None if g["bias"] is None else g["bias"] / s})
    return out
