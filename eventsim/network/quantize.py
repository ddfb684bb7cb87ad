"""Post-training weight quantization: a float network to an integer one.

Symmetric, one scale per layer (or per output channel): for weights ``W`` (of the layer, or of
one output channel), ``s = max|W| / (2**(bits-1) - 1)`` and

    weight -> round(W / s)        (whole numbers in [-(2**(bits-1) - 1), 2**(bits-1) - 1])
    bias   -> round(b / s)
    v_th   -> max(1, round(v_th / s))
    v_reset -> min(round(v_reset / s), v_th - 1)   (per-layer scales only)
    decay  -> round(decay * 4096) / 4096      (fixed point, truncating; see ``LIF.integer``)

so the integer potential is the float one divided by ``s`` and crosses the scaled threshold
when the float one crosses ``v_th``, up to the roundings. The scale is per layer because a
spike is 0 or 1 whatever the layer below computed: each layer's scale stands alone (and with
per-channel scales each output channel's, with a threshold of its own). Average
pooling becomes sum pooling with the threshold times ``kernel_size**2``. The result is a
network of integer layers (:attr:`~eventsim.network.layers.LIF.integer`) that the engine and
the Brian2 twin compute exactly, in whole numbers.

**Graphs.** A population's potential sums every projection into it, so their integer
weights must be in one unit. Each projection ``k`` gets its own scale, a power of two below
the population's: with ``E_k`` its weight times the ``1 / kernel_size**2`` of every average
pooling on its path (those become sum poolings), the population's scale is
``s = max_k max |E_k| / (2**(bits-1) - 1)`` (per output channel: over each channel's rows),
projection ``k``'s is ``s_k = s / 2**m_k`` with ``m_k`` the largest whole shift (at most
``MAX_SHIFT``) that keeps ``max |E_k| / s_k`` within range, so a recurrent matrix of small
weights is rounded on a grid as fine as its own weights allow, not on the feed-forward one's.
Its ``bits``-bit mantissas ``round(E_k / s_k)`` are stored multiplied by ``2**(M - m_k)``
(``M = max_k m_k``): integer weights in the population's unit ``u = s / 2**M``, as Loihi's
weight exponents scale a synapse group's mantissas. The bias becomes ``round(b * f / u)``
(``f`` the average poolings after it), ``v_th`` ``max(1, round(v_th / u))``, ``decay`` as
above. A projection may hold one Dense or Conv2d op (pooling and Flatten around it); a
population fed by pooling alone takes the pooling weight as its scale, as a chain's pooling
layer does.
"""

from __future__ import annotations

import copy

import numpy as np

from eventsim.errors import NetworkError, whole
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection, projection_name
from eventsim.network.layers import (
    DECAY_ONE,
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    NeuNorm,
    SumPool2d,
)
from eventsim.network.network import Network, layer_name

BITS = (2, 16)
#: A projection's grid is at most 2**MAX_SHIFT finer than its population's scale.
MAX_SHIFT = 16


def _int_syn_decay(syn_decay: float) -> float:
    """An integer population's current decay ``Du / 4096`` (Loihi's CUBA current): the
    nearest, at least ``1 / 4096`` for a current-based population (0 stays 0)."""
    if syn_decay == 0.0:
        return 0.0
    return min(max(1, round(syn_decay * DECAY_ONE)), DECAY_ONE - 1) / DECAY_ONE


def _int_reset(neurons, scale, v_th, where: str) -> float:
    """An integer population's ``v_reset``: ``min(round(v_reset / scale), v_th - 1)``; 0 stays
    0. One scale only: per-channel scales would need a ``v_reset`` per channel. A leak
    towards a nonzero ``v_leak`` and a refractory period have no integer form (yet):
    refused."""
    if neurons.refractory_steps:
        raise NetworkError(f"{where}: field 'refractory_steps' is {neurons.refractory_steps}; "
                           "an integer layer has no refractory period (for now)")
    if neurons.v_leak != 0.0:
        raise NetworkError(f"{where}: field 'v_leak' is {neurons.v_leak}; an integer layer "
                           "has no leak drive: quantize a network with v_leak 0")
    if getattr(neurons, "syn_decay_2", 0.0):
        raise NetworkError(f"{where}: field 'syn_decay_2' is {neurons.syn_decay_2}; an integer "
                           "population has one current (for now)")
    if getattr(neurons, "adapt_jump", 0.0):
        raise NetworkError(f"{where}: field 'adapt_jump' is {neurons.adapt_jump}; an integer "
                           "population has a fixed threshold (for now)")
    if getattr(neurons, "v_init", None) is not None:
        raise NetworkError(f"{where}: field 'v_init' is given; an integer population starts "
                           "at 0 (for now)")
    if neurons.v_reset == 0.0:
        return 0.0
    if np.ndim(scale) or np.ndim(v_th):
        raise NetworkError(f"{where}: field 'v_reset' is {neurons.v_reset}, and per-channel "
                           "scales would need one per channel: quantize it per layer")
    return float(min(np.round(neurons.v_reset / float(scale)), float(v_th) - 1.0))


def quantize(net: Network | Graph, bits: int = 8, per_channel: bool = False
             ) -> Network | Graph:
    """The integer network of ``net`` with ``bits``-bit weights (see the module docstring).

    ``per_channel``: one scale per output channel (a Dense layer's output neuron, a Conv2d's
    output channel) instead of per layer; each channel then has its own integer threshold.
    Returns a new network (a Graph for a Graph); its provenance records the source's, the
    bits and every layer's (population's) scale or scales (``quantization``).
    """
    bits = whole(bits, "quantize", "bits", BITS[0], BITS[1], NetworkError)
    q_max = 2 ** (int(bits) - 1) - 1
    if isinstance(net, Graph):
        return _quantize_graph(net, int(bits), q_max, per_channel)
    layers, scales = [], []
    for i, layer in enumerate(net.layers):
        int_layer, scale = quantize_layer(layer, q_max, per_channel, layer_name(i, layer))
        layers.append(int_layer)
        if scale is not None:
            scales.append(np.asarray(scale).tolist())
    provenance = {"source": copy.deepcopy(net.provenance),
                  "quantization": {"bits": int(bits), "scheme": "symmetric, per "
                                   + ("output channel" if per_channel else "layer"),
                                   "scales": scales}}
    return Network(layers, net.input_shape, dt_us=net.dt_us, T=net.T,
                   sensor_size=net.sensor_size, labels=net.labels, provenance=provenance)


def quantize_layer(layer, q_max: int, per_channel: bool, name: str):
    """One layer of a chain as :func:`quantize` makes it (the module docstring's rules):
    ``(integer layer, scale)``; the scale is the float value of one integer unit, a float, or
    an array of one per output channel (shape ``(c_out,)``), None for Flatten. What
    quantization-aware training (:mod:`eventsim.train.qat`) runs in its forward pass."""
    if isinstance(layer, Flatten):
        return Flatten(), None
    if not isinstance(layer, (Dense, Conv2d, AvgPool2d, SumPool2d)):
        raise NetworkError(f"{name}: {type(layer).__name__} carries analog values and has "
                           "no integer form")
    lif = {"decay": max(1, round(layer.decay * DECAY_ONE)) / DECAY_ONE,
           "reset": layer.reset, "integer": True,
           "syn_decay": _int_syn_decay(layer.syn_decay)}
    if isinstance(layer, (AvgPool2d, SumPool2d)):
        scale = layer.pool_weight  # pooling weights become 1
        v_th = float(max(1, round(layer.v_th / scale)))
        return SumPool2d(layer.kernel_size, stride=layer.stride, v_th=v_th,
                         v_reset=_int_reset(layer, scale, v_th, name), **lif), scale
    axes = tuple(range(1, layer.weight.ndim)) if per_channel else None
    top = np.abs(layer.weight).max(axis=axes)
    scale = np.where(top > 0, top / q_max, 1.0)  # one per channel, or a 0-d array
    shape = (-1,) + (1,) * (layer.weight.ndim - 1) if per_channel else ()
    weight = np.clip(np.round(layer.weight / scale.reshape(shape)), -q_max, q_max)
    bias = None if layer.bias is None else np.round(layer.bias / scale)
    v_th = np.maximum(1.0, np.round(layer.v_th / scale))
    v_th = v_th if per_channel else float(v_th)
    lif["v_reset"] = _int_reset(layer, scale, v_th, name)
    if isinstance(layer, Dense):
        return Dense(weight, bias=bias, v_th=v_th, **lif), scale
    return Conv2d(weight, stride=layer.stride, padding=layer.padding, bias=bias, v_th=v_th,
                  **lif), scale


def _quantize_graph(g: Graph, bits: int, q_max: int, per_channel: bool) -> Graph:
    """:func:`quantize` of a graph (module docstring)."""
    new_ops: list[list | None] = [None] * len(g.projections)
    pops, scales = [], []
    for p, pop in enumerate(g.populations):
        where = f"quantize: population '{pop.name}'"
        paths = []  # (k, index of the weighted op or None, factor of all, factor after it)
        for k in g.into(p):
            proj = g.projections[k]
            weighted = [j for j, op in enumerate(proj.ops) if isinstance(op, (ops.Dense,
                                                                            ops.Conv2d))]
            if len(weighted) > 1 or any(isinstance(op, NeuNorm) for op in proj.ops):
                raise NetworkError(f"quantize: {projection_name(k, proj)}: quantizes "
                                   "projections of one Dense or Conv2d op (with pooling and "
                                   "Flatten) and no NeuNorm")
            j = weighted[0] if weighted else None
            factors = [op.pool_weight if isinstance(op, ops.AvgPool2d) else 1.0
                       for op in proj.ops]
            after = float(np.prod(factors[j + 1:])) if j is not None else 1.0
            paths.append((k, j, float(np.prod(factors)), after))
        shift = {}  # projection -> its grid's shift below the population's scale
        if all(j is None for _, j, _, _ in paths):  # pooling alone: its weight is the scale
            factor = {f for _, _, f, _ in paths}
            if len(factor) > 1:
                raise NetworkError(f"{where}: pooled through different average poolings "
                                   f"(weights {sorted(factor)}); no one scale makes them whole")
            unit = scale = np.asarray(factor.pop())
        elif any(j is None for _, j, _, _ in paths):
            raise NetworkError(f"{where}: fed by pooling alone and by weights; pooling weights "
                               "are fixed, so no one scale makes both whole")
        else:
            if per_channel and any(j != len(g.projections[k].ops) - 1 for k, j, _, _ in paths):
                raise NetworkError(f"{where}: per-channel scales need each projection's Dense or "
                                   "Conv2d last, its output channels the population's (a "
                                   "pooling or Flatten after it mixes them)")
            tops = {k: np.abs(g.projections[k].ops[j].weight * f)
                    .reshape(g.projections[k].ops[j].weight.shape[0], -1).max(axis=1)
                    for k, j, f, _ in paths}
            if not per_channel:
                tops = {k: top.max() for k, top in tops.items()}
            top = np.max(list(tops.values()), axis=0)
            scale = np.where(top > 0, top / q_max, 1.0)
            for k, t in tops.items():  # as fine as its own weights allow, a power of two
                ratio = np.where(t > 0, scale * q_max / np.where(t > 0, t, 1.0), 1.0)
                shift[k] = np.clip(np.floor(np.log2(ratio) + 1e-12), 0, MAX_SHIFT).astype(int)
            finest = np.max(list(shift.values()), axis=0)
            unit = scale / 2.0 ** finest
        for k, j, f, after in paths:
            op_list = []
            for i, op in enumerate(g.projections[k].ops):
                if isinstance(op, ops._Pool):
                    op_list.append(ops.SumPool2d(op.kernel_size, op.stride))
                elif i == j:
                    own = scale / 2.0 ** shift[k]  # this projection's scale
                    ch = (-1,) + (1,) * (op.weight.ndim - 1)
                    mantissa = np.clip(np.round(op.weight * f / np.reshape(own, ch)
                                                if per_channel else op.weight * f / own),
                                       -q_max, q_max)
                    up = 2.0 ** (finest - shift[k])  # onto the population's finest grid
                    w = mantissa * (np.reshape(up, ch) if per_channel else up)
                    b = None if op.bias is None else np.round(op.bias * after / unit)
                    op_list.append(ops.Dense(w, b) if isinstance(op, ops.Dense) else
                                   ops.Conv2d(w, op.stride, op.padding, b))
                else:
                    op_list.append(ops.Flatten())
            new_ops[k] = op_list
        v_th = np.maximum(1.0, np.round(pop.v_th / unit))
        v_th = v_th if per_channel and v_th.ndim else float(v_th)
        pops.append(Population(pop.name, pop.shape,
                               decay=max(1, round(pop.decay * DECAY_ONE)) / DECAY_ONE,
                               v_th=v_th, reset=pop.reset, integer=True,
                               v_reset=_int_reset(pop, unit, v_th, where),
                               syn_decay=_int_syn_decay(pop.syn_decay)))
        scales.append({"scale": np.asarray(scale).tolist(),
                       "shifts": {str(k): np.asarray(v).tolist() for k, v in shift.items()}})
    projections = [Projection(proj.source, proj.target, op_list, proj.delay, proj.delay_us)
                   for proj, op_list in zip(g.projections, new_ops)]
    provenance = {"source": copy.deepcopy(g.provenance),
                  "quantization": {"bits": bits, "scheme": "symmetric, per "
                                   + ("output channel" if per_channel else "population"),
                                   "scales": scales}}
    return Graph(g.input_shape, pops, projections, g.dt_us, g.T, g.sensor_size, g.labels,
                 provenance)


def model_bytes(net: Network | Graph, bits: int | None = None) -> int:
    """Bytes of the weights and biases at ``bits`` per value (float32 when None)."""
    weighted = [op for proj in net.projections for op in proj.ops] \
        if isinstance(net, Graph) else net.layers
    count = sum(int(layer.weight.size) + (0 if layer.bias is None else int(layer.bias.size))
                for layer in weighted if isinstance(layer, (ops.Dense, ops.Conv2d)))
    return (count * (bits or 32) + 7) // 8
