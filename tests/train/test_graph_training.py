"""STBP on graphs: the forward pass equals the runtime spike for spike, the backward pass
equals central finite differences on a smoothed graph (self-loops, backward edges, delays per
projection, source neuron and synapse, pool composed with conv, biases, both resets)."""

from __future__ import annotations

import math

import graphgen
import numpy as np
import pytest
from finite_diff import RTOL, SMOOTH, finite_difference
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import NetworkError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.train.graph_model import backward, forward, trainable
from eventsim.train.loss import (
    cross_entropy_max_membrane,
    cross_entropy_mean_membrane,
    mse_rate,
)


def _trainable_delays(g: Graph) -> Graph:
    """Per-synapse delays train for one Dense only: elsewhere one per source neuron."""
    for proj in g.projections:
        if np.ndim(proj.delay) == 2 and len(proj.ops) > 1:
            proj.delay = proj.delay[0]
    return g


@settings(max_examples=60, deadline=None)
@given(st.one_of(graphgen.vector_graphs(cuba=True, adapt=True),
                 graphgen.image_graphs(cuba=True)),
       st.integers(1, 3), st.booleans())
def test_forward_equals_the_runtime_spike_for_spike(case, batch, readout):
    """Currents and adaptive thresholds among the populations; with ``readout``, the output a
    leaky integrator whose potential the forward pass returns: its maximum and mean are the
    runtime's."""
    g, x = case
    g = _trainable_delays(g)
    if readout:
        g.populations[-1].v_th = math.inf
        g.populations[-1].adapt_jump = 0.0
    rng = np.random.default_rng(len(x))
    xs = [x] + [(rng.random(x.shape) < 0.4).astype(np.uint8) for _ in range(batch - 1)]
    cache, out = forward(g, np.stack(xs, axis=1), dtype="float64")
    np.testing.assert_array_equal(out, cache.u[-1] if readout else cache.o[-1])
    for b, sample in enumerate(xs):
        result = eventsim.simulate(g, sample, dtype="float64")
        for p, spikes in enumerate(result.spikes):
            np.testing.assert_array_equal(np.argwhere(cache.o[p][:, b]), spikes,
                                          err_msg=f"sample {b}, population {p}")
        if readout:
            np.testing.assert_allclose(result.membrane_max[-1], out[:, b].max(0), rtol=1e-9,
                                       atol=1e-12)
            np.testing.assert_allclose(result.membrane_mean[-1], out[:, b].mean(0),
                                       rtol=1e-9, atol=1e-12)


def _graphs(rng, reset):
    """Small graphs covering every rule, with analog weights and biases."""
    def pop(name, n, decay):
        return Population(name, (n,), decay=decay, v_th=0.5, reset=reset)

    def dense(n_out, n_in, bias=True):
        return ops.Dense(rng.normal(0, 0.7, (n_out, n_in)),
                         rng.normal(0, 0.2, n_out) if bias else None)

    rsnn = Graph((4,), [pop("h", 5, 0.7), pop("out", 3, 0.5)],
                 [Projection(INPUT, "h", [dense(5, 4)]),
                  Projection("h", "h", [dense(5, 5, bias=False)]),          # self-loop
                  Projection("h", "out", [dense(3, 5)], delay=1),
                  Projection("out", "h", [dense(5, 3, bias=False)])])       # backward edge
    delays = Graph((4,), [pop("a", 4, 0.8), pop("b", 3, 0.6), pop("out", 2, 0.9)],
                   [Projection(INPUT, "a", [dense(4, 4)], delay=np.array([0, 1, 2, 0])),
                    Projection("a", "b", [dense(3, 4)], delay=rng.integers(0, 3, (3, 4))),
                    Projection("a", "out", [dense(2, 4, bias=False)]),          # skip
                    Projection("b", "out", [dense(2, 3)], delay=np.array([2, 0, 1])),
                    Projection("b", "a", [dense(4, 3, bias=False)], delay=1)])
    conv = Graph((1, 6, 6), [Population("c", (2, 6, 6), decay=0.7, v_th=0.5, reset=reset),
                             Population("d", (2, 3, 3), decay=0.6, v_th=0.5, reset=reset),
                             pop("out", 3, 0.5)],
                 [Projection(INPUT, "c", [ops.Conv2d(rng.normal(0, 0.6, (2, 1, 3, 3)),
                                                     padding=1, bias=rng.normal(0, 0.2, 2))]),
                  Projection("c", "d", [ops.SumPool2d(2), ops.Conv2d(
                      rng.normal(0, 0.5, (2, 2, 3, 3)), padding=1,
                      bias=rng.normal(0, 0.2, 2))]),
                  Projection("d", "d", [ops.Conv2d(rng.normal(0, 0.4, (2, 2, 1, 1)))]),
                  Projection("d", "out", [ops.AvgPool2d(3), ops.Flatten(), dense(3, 2)])])
    return {"rsnn": rsnn, "delays": delays, "conv": conv}


@pytest.mark.parametrize("reset", ["zero", "subtract", "v_reset", "cuba", "readout",
                                   "refractory", "adapt", "adapt_subtract", "adapt_cuba_held",
                                   "readout_mean"])
@pytest.mark.parametrize("name", ["rsnn", "delays", "conv"])
def test_backward_matches_finite_differences(name, reset):
    """``reset="v_reset"``: a zero reset to ``v_reset = -0.3`` and a leak towards ``v_leak =
    0.2`` in every population; ``"cuba"``: that and a synaptic current (``syn_decay`` 0.6)
    in every population; ``"readout"``: that, the output a leaky integrator and the loss
    cross-entropy on its maximum potential; ``"refractory"``: that and a refractory period of
    2 steps in every population; ``"adapt"``, ``"adapt_subtract"``: an adaptive threshold
    (``adapt_decay`` 0.8, ``adapt_jump`` 0.4) in every population, with either reset;
    ``"adapt_cuba_held"``: that, a current (``syn_decay`` 0.55) and a refractory period, the
    output a leaky integrator as in ``"refractory"``; ``"readout_mean"``: ``"readout"`` with
    the cross-entropy on the mean potential."""
    rng = np.random.default_rng(5)
    g = _graphs(rng, "subtract" if reset in ("subtract", "adapt_subtract") else "zero")[name]
    if reset.startswith("adapt"):
        for pop in g.populations:
            pop.adapt_decay, pop.adapt_jump = 0.8, 0.4
            if reset == "adapt_cuba_held":
                pop.syn_decay, pop.refractory_steps = 0.55, 2
    if reset in ("v_reset", "cuba", "readout", "refractory", "readout_mean"):
        for pop in g.populations:
            pop.v_reset = -0.3
            pop.v_leak = 0.2 if pop.decay < 1 else 0.0
            pop.syn_decay = 0.6 if reset != "v_reset" else 0.0
            pop.refractory_steps = 2 if reset == "refractory" else 0
    readout = reset in ("readout", "refractory", "adapt_cuba_held", "readout_mean")
    if readout:
        g.populations[-1].v_th = math.inf
        g.populations[-1].adapt_jump = 0.0
    loss_fn = cross_entropy_mean_membrane if reset == "readout_mean" else \
        cross_entropy_max_membrane if readout else mse_rate
    T, B = 6, 2
    x = rng.random((T, B, *g.input_shape))
    labels = rng.integers(0, g.n_outputs, B)

    def loss():
        return loss_fn(forward(g, x, SMOOTH, "float64")[1], labels)[0]

    cache, out = forward(g, x, SMOOTH, "float64")
    _, grad_out = loss_fn(out, labels)
    grads = backward(g, cache, grad_out, SMOOTH)
    flat = [d[key] for d in grads for key in ("weight", "bias") if d[key] is not None]
    params = trainable(g)
    assert len(flat) == len(params)
    for (what, arr), grad in zip(params, flat):
        fd = finite_difference(arr, loss)
        scale = np.linalg.norm(fd)
        source = g.projections[int(what.split(".")[0])].source
        if source != INPUT and g.populations[g.index(source)].v_th == math.inf:
            assert scale == 0 and not grad.any()  # a leaky integrator sends no spikes
            continue
        assert scale > 1e-7, f"{what}: gradient too small to test ({scale})"
        err = np.linalg.norm(grad - fd) / scale
        assert err < RTOL, f"{name} {reset} {what}: relative error {err:.2e}"


def test_per_synapse_delays_of_composed_ops_are_refused():
    w = np.ones((2, 2))
    g = Graph((2,), [Population("n", (2,))],
              [Projection(INPUT, "n", [ops.Dense(w), ops.Dense(w)], delay=np.eye(2, dtype=int))])
    with pytest.raises(NetworkError, match=r"train: projection 0 \(input -> n\): per-synapse "
                                           r"delays train for a projection of one Dense op"):
        forward(g, np.zeros((3, 1, 2)))


def test_training_a_graph_updates_its_own_arrays():
    """The trainer updates the graph's op arrays in place; running, measuring or saving the
    graph must not swap them for copies (an op's shape check once replaced its weight with a
    float64 copy, and the trainer went on updating an array the graph no longer held)."""
    from eventsim.metrics import structure
    from eventsim.train.trainer import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    g = _graphs(rng, "zero")["rsnn"]
    x = (rng.random((16, 8, 4)) < 0.5).astype(np.uint8)  # (samples, T, n)
    y = rng.integers(0, 3, 16)
    trainer = Trainer(g, TrainConfig(epochs=1, batch_size=8, lr=1e-2),
                      lambda xb, _rng, _aug: np.swapaxes(xb, 0, 1))
    arrays = [arr for _, arr in trainable(g)]
    before = [arr.copy() for arr in arrays]
    eventsim.simulate(g, x[0])
    structure(g)
    trainer.train_epoch(x, y, progress=False)
    assert all(a is b for a, (_, b) in zip(arrays, trainable(g)))
    assert all(a.dtype == np.float32 for a in arrays)
    assert any(not np.array_equal(a, b) for a, b in zip(arrays, before))


def test_a_chain_of_other_models_trains_as_its_graph():
    """A chain with a current, a refractory period and an LI readout trains through the graph
    trainer on the chain's own arrays (updated in place), and the trained chain runs event by
    event as the trainer's forward pass (readout maxima within float64 rounding); with
    NeuNorm in the chain it is refused by name."""
    from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
    from eventsim.network.network import Network
    from eventsim.train.trainer import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    net = Network([Dense(rng.normal(0, 0.5, (6, 4)), decay=0.8, syn_decay=0.5,
                         refractory_steps=1),
                   Dense(rng.normal(0, 0.5, (3, 6)), decay=0.9, v_th=math.inf)], (4,))
    x = rng.integers(0, 2, (16, 4)).astype(np.float64)
    y = rng.integers(0, 3, 16)

    def make_input(xb, rng, augment):
        return np.repeat(xb[None], 10, axis=0)

    trainer = Trainer(net, TrainConfig(epochs=1, batch_size=8, loss="ce", dtype="float64"),
                      make_input)
    before = net.layers[0].weight.copy()
    trainer.train_epoch(x, y, progress=False)
    assert not np.array_equal(net.layers[0].weight, before)
    cache, potential = forward(trainer.stepped, make_input(x, None, False), dtype="float64")
    for b in range(len(x)):
        r = eventsim.simulate(net, make_input(x[b:b + 1], None, False)[:, 0].astype(np.uint8),
                              dtype="float64")
        np.testing.assert_array_equal(r.spikes[0], np.argwhere(cache.o[0][:, b]))
        np.testing.assert_allclose(r.membrane_max[1], potential[:, b].max(0), rtol=1e-9)
    nn = Network([Conv2d(np.ones((1, 1, 1, 1)), syn_decay=0.5), NeuNorm(np.zeros((1, 2, 2))),
                  Flatten(), Dense(np.ones((2, 4)))], (1, 2, 2))
    with pytest.raises(NetworkError, match=r"train: layer 0 is not the STBP LIF .* NeuNorm"):
        Trainer(nn, TrainConfig(), make_input)
