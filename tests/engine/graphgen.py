"""Random graphs for property tests: structure drawn by hypothesis, values by a seeded RNG.

Vector graphs: populations of 1-8 neurons, each fed from the input or an earlier population
(so every one is reachable), extra projections anywhere (skip paths, fan-in sums, cycles,
self-loops), delays per projection, per source neuron or per synapse, biases, both resets.
Image graphs: a conv population, then a population fed by pooling composed with a conv (no
neurons between), maybe a recurrent conv onto itself, and an output fed by pool -> Flatten ->
Dense and maybe a skip path from the first population.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from netgen import _lif, _weights

from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection


def _delay(draw, rng, n_tgt, n_src, max_delay=3):
    kind = draw(st.sampled_from(["none", "one", "source", "synapse"]))
    if kind == "none":
        return 0
    if kind == "one":
        return draw(st.integers(0, max_delay))
    shape = (n_src,) if kind == "source" else (n_tgt, n_src)
    return rng.integers(0, max_delay + 1, shape)


@st.composite
def vector_graphs(draw, cuba=False, two=False, adapt=False):
    """``two``: also maybe a second current (``syn_decay_2``, fed by projections of port 1)
    and a start ``v_init`` per neuron; ``adapt``: maybe an adaptive threshold (its decay
    sometimes the membrane's or the current's)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_in = draw(st.integers(1, 8))
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    names = [f"p{i}" for i in range(len(sizes))]
    size_of = dict(zip(names, sizes)) | {INPUT: n_in}
    zero_frac = draw(st.sampled_from([0.0, 0.3, 0.8]))
    pairs = []
    for i, name in enumerate(names):  # reachable: fed from the input or an earlier one
        pairs.append((draw(st.sampled_from([INPUT, *names[:i]])), name))
    for _ in range(draw(st.integers(0, 4))):  # skips, sums, cycles, self-loops
        pairs.append((draw(st.sampled_from([INPUT, *names])), draw(st.sampled_from(names))))
    for i, name in enumerate(names[:-1]):  # one output: every other feeds something
        if not any(src == name for src, _ in pairs):
            pairs.append((name, draw(st.sampled_from(names))))
    projections = []
    for src, tgt in pairs:
        n_src, n_tgt = size_of[src], size_of[tgt]
        bias = rng.normal(0.1, 0.3, n_tgt) if draw(st.booleans()) else None
        w = _weights(rng, (n_tgt, n_src), zero_frac, 1.2 / np.sqrt(n_src))
        projections.append(Projection(src, tgt, [ops.Dense(w, bias)],
                                      delay=_delay(draw, rng, n_tgt, n_src)))
    pops = [Population(name, (n,), **_lif(draw, rng, cuba)) for name, n in zip(names, sizes)]
    if two:
        for pop in pops:
            if pop.syn_decay > 0 and pop.syn_decay != pop.decay and not pop.is_readout:
                q = draw(st.sampled_from([0.0, 0.3, 0.95, float(rng.uniform(0.05, 0.97))]))
                pop.syn_decay_2 = q if q != pop.decay else 0.0
            if draw(st.booleans()):
                pop.v_init = rng.uniform(-1.0, 1.2, pop.size) * pop.v_th
        by_name = {pop.name: pop for pop in pops}
        for proj in projections:
            if by_name[proj.target].syn_decay_2 and proj.ops[0].bias is None \
                    and draw(st.booleans()):
                proj.port = 1
    if adapt:
        for pop in pops:
            if pop.decay < 1 and not pop.is_readout and not pop.syn_decay_2 \
                    and pop.syn_decay != pop.decay and draw(st.booleans()):
                pop.adapt_decay = draw(st.sampled_from(
                    [0.5, 0.95, pop.decay, pop.syn_decay or 0.7, float(rng.uniform(0.05, 0.99))]))
                pop.adapt_jump = float(rng.uniform(0.05, 1.0)) * pop.v_th
    T = draw(st.integers(1, 25))
    x = (rng.random((T, n_in)) < draw(st.sampled_from([0.05, 0.3, 0.8]))).astype(np.uint8)
    return Graph((n_in,), pops, projections), x


@st.composite
def image_graphs(draw, cuba=False):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    c_in, h, w = draw(st.integers(1, 2)), draw(st.integers(5, 9)), draw(st.integers(5, 9))
    c1 = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    pad = draw(st.integers(0, k - 1))
    h1, w1 = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    pool = draw(st.sampled_from([ops.SumPool2d, ops.AvgPool2d]))
    pk, ps = draw(st.integers(1, 2)), draw(st.sampled_from([None, 1]))
    stride = pk if ps is None else ps
    hp, wp = (h1 - pk) // stride + 1, (w1 - pk) // stride + 1
    c2 = draw(st.integers(1, 3))
    k2 = draw(st.integers(1, min(3, hp, wp)))
    h2, w2 = hp - k2 + 1, wp - k2 + 1
    n_out = draw(st.integers(1, 4))

    def conv(c_o, c_i, kk, padding=0):
        bias = rng.normal(0.05, 0.2, c_o) if draw(st.booleans()) else None
        return ops.Conv2d(_weights(rng, (c_o, c_i, kk, kk), 0.2, 1.0 / kk), padding=padding,
                          bias=bias)

    pops = [Population("conv", (c1, h1, w1), **_lif(draw, rng, cuba)),
            Population("mid", (c2, h2, w2), **_lif(draw, rng, cuba)),
            Population("out", (n_out,), **_lif(draw, rng, cuba))]
    projections = [
        Projection(INPUT, "conv", [conv(c1, c_in, k, pad)], delay=draw(st.integers(0, 2))),
        Projection("conv", "mid", [pool(pk, ps), conv(c2, c1, k2)],
                   delay=_delay(draw, rng, c2 * h2 * w2, c1 * h1 * w1)),
        Projection("mid", "out", [ops.Flatten(), ops.Dense(
            _weights(rng, (n_out, c2 * h2 * w2), 0.3, 1.0 / np.sqrt(c2 * h2 * w2)))]),
    ]
    if draw(st.booleans()):  # recurrent conv onto itself (odd kernel, same shape)
        projections.append(Projection("mid", "mid", [conv(c2, c2, 3, 1)]))
    if draw(st.booleans()):  # skip path: the first population straight to the output
        projections.append(Projection("conv", "out", [ops.Flatten(), ops.Dense(
            _weights(rng, (n_out, c1 * h1 * w1), 0.3, 1.0 / np.sqrt(c1 * h1 * w1)))],
            delay=draw(st.integers(0, 2))))
    T = draw(st.integers(1, 15))
    x = (rng.random((T, c_in * h * w)) < draw(st.sampled_from([0.1, 0.4]))).astype(np.uint8)
    return Graph((c_in, h, w), pops, projections), x
