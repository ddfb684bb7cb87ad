"""Random networks for property tests: structure drawn by hypothesis, values by a seeded RNG.

Values come from a continuous distribution so that no membrane potential lands within a few
ulps of a threshold (where any two correct float implementations may legitimately differ).
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network


def _lif(draw, rng, cuba=False):
    """LIF parameters; with ``cuba``, maybe a current-based synapse (``syn_decay``) and a
    refractory period."""
    kw = {
        "decay": draw(st.sampled_from([1.0, 0.9, 0.5, 0.2, float(rng.uniform(0.05, 1.0))])),
        "v_th": float(rng.uniform(0.2, 1.5)),
        "reset": draw(st.sampled_from(["zero", "subtract"])),
    }
    if kw["reset"] == "zero" and draw(st.booleans()):  # a reset to v_reset, below v_th
        kw["v_reset"] = float(rng.uniform(-1.0, 0.8)) * kw["v_th"]
    if kw["decay"] < 1.0 and draw(st.booleans()):  # a leak towards v_leak, maybe above v_th
        kw["v_leak"] = float(rng.uniform(-1.0, 1.5)) * kw["v_th"]
    if cuba and kw["decay"] < 1.0 and draw(st.booleans()):  # a synaptic current
        kw["syn_decay"] = draw(st.sampled_from([0.5, 0.9, kw["decay"],
                                                float(rng.uniform(0.05, 0.97))]))
    if cuba and draw(st.booleans()):  # a refractory period
        kw["refractory_steps"] = draw(st.integers(1, 4))
    return kw


def _weights(rng, shape, zero_frac, scale):
    w = rng.normal(0.0, scale, shape)
    w[rng.random(shape) < zero_frac] = 0.0
    return w


@st.composite
def dense_networks(draw, cuba=False):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    zero_frac = draw(st.sampled_from([0.0, 0.3, 0.9]))
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        bias = (rng.normal(0.1, 0.3, n_out) if draw(st.booleans()) else None)
        layers.append(Dense(_weights(rng, (n_out, n_in), zero_frac, 1.2 / np.sqrt(n_in)),
                            bias=bias, **_lif(draw, rng, cuba)))
    T = draw(st.integers(1, 25))
    x = (rng.random((T, sizes[0])) < draw(st.sampled_from([0.05, 0.3, 0.8]))).astype(np.uint8)
    return Network(layers, (sizes[0],)), x


def _neunorm(draw, rng, shape):
    return NeuNorm(rng.normal(0.2, 0.4, shape), decay=draw(st.sampled_from([1.0, 0.5, 0.9])),
                   scale=float(rng.uniform(0.3, 2.0)))


@st.composite
def conv_networks(draw, neunorm=False, cuba=False):
    """Conv (-> pool) -> Dense; with ``neunorm``, a NeuNorm layer after the conv and maybe one
    after the pool."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    c_in = draw(st.integers(1, 2))
    h = draw(st.integers(4, 9))
    w = draw(st.integers(4, 9))
    shape = (c_in, h, w)
    zero_frac = draw(st.sampled_from([0.0, 0.3]))
    layers = []
    c_out = draw(st.integers(1, 3))
    k = draw(st.integers(1, min(3, h, w)))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, k - 1)) if k > 1 else 0
    bias = rng.normal(0.05, 0.2, c_out) if draw(st.booleans()) else None
    layers.append(Conv2d(_weights(rng, (c_out, c_in, k, k), zero_frac, 1.0 / k), stride=stride,
                         padding=padding, bias=bias, **_lif(draw, rng, cuba)))
    h_out = (h + 2 * padding - k) // stride + 1
    w_out = (w + 2 * padding - k) // stride + 1
    n = c_out * h_out * w_out
    if neunorm:
        layers.append(_neunorm(draw, rng, (c_out, h_out, w_out)))
    if min(h_out, w_out) >= 2 and draw(st.booleans()):
        pool = draw(st.sampled_from([AvgPool2d, SumPool2d]))
        pk = draw(st.integers(1, 2))
        layers.append(pool(pk, stride=draw(st.sampled_from([None, 1])), **_lif(draw, rng, cuba)))
        ps = layers[-1].stride or pk
        h_p, w_p = (h_out - pk) // ps + 1, (w_out - pk) // ps + 1
        n = c_out * h_p * w_p
        if neunorm and draw(st.booleans()):
            layers.append(_neunorm(draw, rng, (c_out, h_p, w_p)))
    if draw(st.booleans()):
        layers.append(Flatten())
    n_classes = draw(st.integers(1, 5))
    layers.append(Dense(_weights(rng, (n_classes, n), zero_frac, 2.0 / np.sqrt(n)),
                        bias=rng.normal(0.0, 0.2, n_classes) if draw(st.booleans()) else None,
                        **_lif(draw, rng, cuba)))
    T = draw(st.integers(1, 20))
    x = (rng.random((T, *shape)) < draw(st.sampled_from([0.1, 0.5]))).astype(np.uint8)
    return Network(layers, shape), x


@st.composite
def integer_networks(draw):
    """A Dense or conv network turned into integer layers: whole weights, biases and
    thresholds, decays D / 4096, sum pooling; inputs as drawn."""
    net, x = draw(st.one_of(dense_networks(), conv_networks()))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layers = []
    for layer in net.layers:
        if isinstance(layer, Flatten):
            layers.append(layer)
            continue
        lif = {"decay": draw(st.sampled_from([4096, 4095, 3277, 2048, 819, 1])) / 4096,
               "v_th": float(rng.integers(1, 60)), "reset": layer.reset, "integer": True}
        if layer.reset == "zero" and draw(st.booleans()):  # a whole v_reset below v_th
            lif["v_reset"] = float(rng.integers(-30, lif["v_th"]))
        if lif["decay"] < 1 and draw(st.booleans()):  # a current, Du / 4096 (Loihi's CUBA)
            lif["syn_decay"] = draw(st.sampled_from([4095, 3277, 2048, 1])) / 4096
        if isinstance(layer, (AvgPool2d, SumPool2d)):
            layers.append(SumPool2d(layer.kernel_size, stride=layer.stride, **lif))
            continue
        w = np.round(rng.normal(0, 25, layer.weight.shape))
        w[layer.weight == 0] = 0
        b = None if layer.bias is None else np.round(rng.normal(2, 6, layer.bias.shape))
        if isinstance(layer, Dense):
            layers.append(Dense(w, bias=b, **lif))
        else:
            layers.append(Conv2d(w, stride=layer.stride, padding=layer.padding, bias=b, **lif))
    return Network(layers, net.input_shape), x
