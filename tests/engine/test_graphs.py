"""Graphs in discrete mode: the engine against the dense twin on random graphs, and the
semantics of cycles, delays and composed projections on hand-counted cases."""

from __future__ import annotations

import numpy as np
import pytest
from graphgen import image_graphs, vector_graphs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eventsim.engine.simulate import Simulator, simulate
from eventsim.errors import NetworkError
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection
from eventsim.network.reference import simulate_dense


def assert_graph_same_as_twin(g, x, dtype="float64"):
    result = simulate(g, x, dtype=dtype)
    outputs, sops = simulate_dense(g, x, dtype=dtype, per_projection=True)
    for p, out in enumerate(outputs):
        np.testing.assert_array_equal(result.spikes[p], np.argwhere(out),
                                      err_msg=f"population {g.populations[p].name} differs")
    np.testing.assert_array_equal(result.projection_sops, sops)
    by_pop = np.zeros(len(g.populations), np.int64)
    for k, proj in enumerate(g.projections):
        by_pop[g.index(proj.target)] += sops[k]
    np.testing.assert_array_equal(result.sops, by_pop)
    np.testing.assert_array_equal(result.per_step.sum(0)[:, 0], result.sops)
    np.testing.assert_array_equal(result.recurrent,
                                  [g.closes_cycle(k) for k in range(len(g.projections))])
    return result


@settings(max_examples=200, deadline=None)
@given(vector_graphs(cuba=True))
def test_vector_graphs_equal_twin(case):
    assert_graph_same_as_twin(*case)


@settings(max_examples=150, deadline=None)
@given(vector_graphs(cuba=True, two=True))
def test_two_current_graphs_equal_twin(case):
    """A second current fed by projections of port 1, and a start ``v_init`` per neuron, with
    everything else the graphs draw (refractory periods, leaks, resets, cycles, delays)."""
    g, x = case
    assume(any(p.syn_decay_2 for p in g.populations))
    assert_graph_same_as_twin(g, x)


@settings(max_examples=150, deadline=None)
@given(vector_graphs(cuba=True, two=True, adapt=True))
def test_adaptive_threshold_graphs_equal_twin(case):
    """An adaptive threshold (ALIF) among everything else the graphs draw: delta synapses or
    a current, refractory periods, both resets, starts, cycles and delays."""
    g, x = case
    assume(any(p.adaptive for p in g.populations))
    assert_graph_same_as_twin(g, x)


@settings(max_examples=60, deadline=None)
@given(image_graphs(cuba=True))
def test_image_graphs_equal_twin(case):
    """Pool composed with conv, Flatten then Dense, recurrent conv, skip sums, delays."""
    assert_graph_same_as_twin(*case)


@settings(max_examples=40, deadline=None)
@given(vector_graphs(cuba=True, two=True, adapt=True))
def test_float32_graphs_equal_twin_float32(case):
    assert_graph_same_as_twin(*case, dtype="float32")


@settings(max_examples=40, deadline=None)
@given(vector_graphs(cuba=True), st.lists(st.integers(1, 40), min_size=2, max_size=12))
def test_one_simulator_runs_samples_as_fresh_ones(case, lengths):
    """A Simulator keeps decay tables for its last few ``T`` (more than it keeps here: some
    are dropped and built again): samples of other lengths, in any order, give what a fresh
    run gives. (Its buffers, sized from the runs before, never need to grow on graphs this
    small; what this shows of them is that a run sized by others records the same.)"""
    g, x = case
    sim = Simulator(g, dtype="float64")
    for k, T in enumerate(lengths):
        sample = np.resize(np.roll(x, k, axis=0), (T, x.shape[1]))
        again, fresh = sim.run(sample), simulate(g, sample, dtype="float64")
        for p in range(len(g.populations)):
            np.testing.assert_array_equal(again.spikes[p], fresh.spikes[p])
        np.testing.assert_array_equal(again.per_step, fresh.per_step)
        np.testing.assert_array_equal(again.projection_sops, fresh.projection_sops)


def one_to_one(n, w=1.0):
    return [ops.Dense(np.eye(n) * w)]


def test_a_self_loop_delivers_one_step_later():
    """One input spike at step 0 starts a population that re-excites itself: its spike of
    step t arrives at step t + 1, so it fires at every step from 0 on."""
    g = Graph((1,), [Population("h", (1,), decay=0.5, v_th=1.0)],
              [Projection("input", "h", one_to_one(1)), Projection("h", "h", one_to_one(1))])
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    r = simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0][:, 0], [0, 1, 2, 3, 4, 5])
    assert r.recurrent.tolist() == [False, True]
    assert r.projection_sops.tolist() == [1, 5]  # the spike of step 5 would arrive at 6 = T


def test_a_backward_edge_closes_the_cycle_and_a_forward_one_does_not():
    """a -> b is feed-forward (same step), b -> a runs backwards (one step later)."""
    g = Graph((1,), [Population("a", (1,), v_th=1.0), Population("b", (1,), v_th=1.0)],
              [Projection("input", "a", one_to_one(1)), Projection("a", "b", one_to_one(1)),
               Projection("b", "a", one_to_one(1))])
    x = np.zeros((4, 1), np.uint8)
    x[0] = 1
    r = simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0][:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(r.spikes[1][:, 0], [0, 1, 2, 3])
    assert [g.closes_cycle(k) for k in range(3)] == [False, False, True]


def test_delays_per_projection_and_per_synapse():
    """Input spike at step 2; a projection delay of 3 arrives at step 5; synapse delays
    (0, 2, 4) to three targets arrive at steps 2, 4 and 6."""
    g = Graph((1,), [Population("a", (1,), v_th=1.0), Population("b", (3,), v_th=1.0),
                     Population("out", (1,), v_th=9.0)],
              [Projection("input", "a", one_to_one(1), delay=3),
               Projection("input", "b", [ops.Dense(np.ones((3, 1)))],
                          delay=np.array([[0], [2], [4]])),
               Projection("a", "out", one_to_one(1)), Projection("b", "out",
                                                                 [ops.Dense(np.ones((1, 3)))])])
    x = np.zeros((10, 1), np.uint8)
    x[2] = 1
    r = simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], [[5, 0]])
    np.testing.assert_array_equal(r.spikes[1], [[2, 0], [4, 1], [6, 2]])
    assert r.projection_sops.tolist() == [1, 3, 1, 3]


def test_pool_then_conv_counts_the_conv_taps_from_the_pooled_unit():
    """SumPool2d(2) on a 4x4 map, then a 3x3 conv with padding 1 on the 2x2 result: a spike at
    (0, 0) lands in pooled unit (0, 0), whose taps reach all 4 outputs (4 SOPs); the composed
    weight of a corner spike to output (1, 1) is the conv's tap (2, 2)."""
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    g = Graph((1, 4, 4), [Population("out", (1, 2, 2), v_th=100.0)],
              [Projection("input", "out", [ops.SumPool2d(2), ops.Conv2d(w, padding=1)])])
    x = np.zeros((1, 16), np.uint8)
    x[0, 0] = 1
    r = simulate(g, x, dtype="float64")
    assert r.sops.tolist() == [4]
    _, _, trace = simulate_dense(g, x, probe=(0, 3))
    assert trace.tolist() == [1.0]  # output (1, 1) reads pooled (0, 0) through tap (0, 0)


@pytest.mark.parametrize("build, message", [
    (lambda: Graph((2,), [Population("h", (3,)), Population("o", (2,))],
                   [Projection("input", "h", [ops.Dense(np.ones((3, 2)))]),
                    Projection("input", "o", [ops.Dense(np.ones((2, 2)))])]),
     r"graph: 'h' feeds no projection: a graph has one output, its last population \('o'\)"),
    (lambda: Graph((2,), [Population("h", (3,)), Population("o", (2,))],
                   [Projection("input", "o", [ops.Dense(np.ones((2, 2)))]),
                    Projection("h", "o", [ops.Dense(np.ones((2, 3)))])]),
     r"graph: population 'h' cannot be reached from the input"),
    (lambda: Graph((1, 4, 4), [Population("o", (4,))],
                   [Projection("input", "o", [ops.SumPool2d(2)])]),
     (r"projection 0 \(input -> o\): its ops give shape \(1, 2, 2\); population 'o' has "
      r"shape \(4,\) \(add a Flatten\)")),
    (lambda: Graph((2,), [Population("o", (2,))],
                   [Projection("input", "o", [ops.Dense(np.ones((2, 2)))], delay=-1)]),
     r"projection 0 \(input -> o\): field 'delay' must be whole steps >= 0, got -1.0"),
    (lambda: Graph((2,), [Population("o", (2,))],
                   [Projection("input", "o", [ops.Dense(np.ones((2, 2)))],
                               delay=np.ones((2, 3)))]),
     r"field 'delay' has shape \(2, 3\); expected \(2,\) \(per source neuron\) or \(2, 2\)"),
    (lambda: Graph((2,), [Population("o", (2,))], [Projection("input", "x", [])]),
     r"projection 0 \(input -> x\): field 'target' names 'x', which is no population"),
    (lambda: Graph((2,), [Population("o", (2,))], [Projection("input", "o", [ops.Flatten()])]),
     r"projection 0 \(input -> o\): field 'ops' needs a Dense, Conv2d or pooling op"),
    (lambda: Graph((2,), [Population("input", (2,))], []),
     r"graph: populations\[0\] has the name 'input'"),
])
def test_graphs_that_cannot_run_are_named(build, message):
    with pytest.raises(NetworkError, match=message):
        build()


def test_continuous_mode_leaks_towards_v_leak_in_closed_form():
    """``tau du/dt = v_leak - u`` from ``u = v_leak`` stays there; from ``v_init = 0`` with
    ``v_leak = 2`` above ``v_th = 1`` it crosses at ``tau ln 2`` (tau = 1000 / ln 2 us for
    decay 0.5 a step of 1000 us: at 1000 us), resets to 0 and crosses again 1000 us later."""
    g = Graph((1,), [Population("p", (1,), decay=0.5, v_th=1.0, v_leak=2.0, v_init=0.0)],
              [Projection("input", "p", [ops.Dense(np.zeros((1, 1)))])], dt_us=1000)
    r = simulate(g, np.zeros((4, 1), np.uint8), mode="continuous", dtype="float64")
    np.testing.assert_allclose(r.spikes[0]["t_us"], [1000.0, 2000.0, 3000.0], rtol=1e-12)
    g.populations[0].v_leak, g.populations[0].v_init = 0.25, None
    assert len(simulate(g, np.zeros((4, 1), np.uint8), mode="continuous").spikes[0]) == 0


def test_continuous_mode_refuses_a_cycle_without_delay():
    g = Graph((1,), [Population("h", (1,)), Population("k", (1,))],
              [Projection("input", "h", one_to_one(1)), Projection("h", "k", one_to_one(1)),
               Projection("k", "h", one_to_one(1))])
    with pytest.raises(NetworkError, match=r"populations 'h' -> 'k' -> 'h' form a cycle whose "
                                           r"projections all have delay_us 0"):
        simulate(g, np.ones((3, 1), np.uint8), mode="continuous")
    g.projections[2].delay_us = 500.0  # a delay on the cycle: it runs
    assert simulate(g, np.ones((3, 1), np.uint8), mode="continuous").mode == "continuous"


def _on_the_grid(g: Graph, dt_us: int) -> Graph:
    """``g`` where continuous mode must equal discrete mode: integrating or leaking neurons
    with zero reset, no bias, a leak only towards a ``v_leak`` and from a start ``v_init``
    below threshold (so nothing crosses without input: the exact exponential sampled at the
    steps is the discrete recurrence, ``(1 - decay) v_leak`` included), and every delay (per
    projection, source neuron or synapse) as ``delay_us`` (one more step for a projection
    that closes a cycle: discrete mode's own step)."""
    for pop in g.populations:
        pop.reset = "zero"
        if pop.v_leak >= pop.v_th:
            pop.v_leak = 0.0
        if pop.v_init is not None:
            pop.v_init = np.minimum(pop.v_init, 0.9 * pop.v_th)
    for k, proj in enumerate(g.projections):
        for op in proj.ops:
            if getattr(op, "bias", None) is not None:
                op.bias = None
        proj.delay_us = ((np.asarray(proj.delay) + g.closes_cycle(k)) * dt_us).astype(float)
    return g


@settings(max_examples=120, deadline=None)
@given(case=vector_graphs(two=True) | image_graphs())
def test_continuous_mode_on_the_grid_equals_discrete_mode(case):
    """Inputs on multiples of dt_us, delays whole steps, no bias and zero reset, leaks and
    starts below threshold (continuous mode's ``v_init`` is the potential at time 0, discrete
    mode's the one a step before: decayed once for the comparison): the exact
    exponential between events is the per-step decay, so continuous mode's spike times are
    discrete mode's steps times dt_us, on graphs with cycles, skips, fan-in, composed ops and
    delays per projection, source neuron and synapse; SOPs per projection agree too."""
    g, x = case
    dt_us = 1000
    g = _on_the_grid(g, dt_us)
    g.dt_us = dt_us
    a = simulate(g, x, dtype="float64")
    for pop in g.populations:  # discrete mode's start is u[-1], a step before time 0
        if pop.v_init is not None:
            pop.v_init = pop.v_leak + (pop.v_init - pop.v_leak) * pop.decay
    b = simulate(g, x, mode="continuous", dtype="float64")
    for p, (sa, sb) in enumerate(zip(a.spikes, b.spikes)):
        np.testing.assert_array_equal(sa[:, 0] * dt_us, sb["t_us"], err_msg=f"population {p}")
        np.testing.assert_array_equal(sa[:, 1], sb["neuron"], err_msg=f"population {p}")
    np.testing.assert_array_equal(a.projection_sops, b.projection_sops)


@settings(max_examples=30, deadline=None)
@given(case=vector_graphs() | image_graphs())
def test_graphs_round_trip_through_hdf5(case, tmp_path_factory):
    """Format version 2: the same graph back (ops, delays of every shape), the same spikes."""
    from eventsim.network.hdf5 import load_network, save_network

    g, x = case
    path = tmp_path_factory.mktemp("h5") / "g.h5"
    save_network(g, path)
    back = load_network(path)
    assert isinstance(back, Graph)
    assert [(p.source, p.target) for p in back.projections] == \
        [(p.source, p.target) for p in g.projections]
    for a, b in zip(g.projections, back.projections):
        np.testing.assert_array_equal(a.delay, b.delay)
    ra, rb = simulate(g, x, dtype="float64"), simulate(back, x, dtype="float64")
    for sa, sb in zip(ra.spikes, rb.spikes):
        np.testing.assert_array_equal(sa, sb)
