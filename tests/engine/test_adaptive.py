"""An adaptive threshold (ALIF, Bellec et al. 2018's LSNN): the closed-form crossing against
stepping, a threshold that decays below a resting potential, and Norse's own LSNN spikes
(tests/data/make_norse_lsnn.py). The twin and Brian2 comparisons on random graphs are in
tests/engine/test_graphs.py and tests/bridges/test_brian2.py; gradients in
tests/train/test_graph_training.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.engine.crossing import three_crossing, three_reaches
from eventsim.engine.plan import ADAPT_DECAY, ADAPT_JUMP, DECAY, FT_COLS, SYN_DECAY, decay_tables
from eventsim.errors import NetworkError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection

DATA = Path(__file__).parents[1] / "data"


def _tables(decay, syn_decay, adapt_decay, T):
    ft = np.zeros((1, FT_COLS))
    ft[0, [DECAY, SYN_DECAY, ADAPT_DECAY, ADAPT_JUMP]] = decay, syn_decay, adapt_decay, 1.0
    return decay_tables(ft, T)


@settings(max_examples=500, deadline=None)
@given(decay=st.floats(0.05, 0.995), syn_decay=st.sampled_from([0.0, 0.3, 0.9]),
       adapt_decay=st.floats(0.05, 0.995), u0=st.floats(-2, 3), i0=st.floats(-2, 2),
       c=st.floats(-0.3, 0.3), b=st.floats(-0.3, 0.3), theta=st.floats(0, 3),
       shift=st.integers(0, 5), n_max=st.integers(1, 500))
def test_adaptive_crossing_is_the_first_step_that_fires(decay, syn_decay, adapt_decay, u0, i0,
                                                        c, b, theta, shift, n_max):
    """A potential (delta synapses or a current) against a threshold ``v_th + theta rho**n``
    that decays, sometimes at the membrane's own rate: the crossing found between the turning
    points is the first ``n`` the step loop would fire at, as stepping every ``n`` finds it."""
    cuba = syn_decay > 0
    assume(not cuba or syn_decay != decay)
    tables = _tables(decay, syn_decay, adapt_decay, n_max + shift + 2)
    if not cuba:
        i0 = b = 0.0
    fires = [three_reaches(u0, i0, 0.0, c, b, theta, shift, tables, 0, 1.0, n)
             for n in range(1, n_max + 1)]
    expect = fires.index(True) + 1 if any(fires) else -1
    got = three_crossing(u0, i0, 0.0, c, b, theta, shift, tables, tables.R, 0, 1.0, decay,
                         syn_decay, adapt_decay, n_max)
    assert got == expect


def test_a_decaying_threshold_fires_a_neuron_without_input():
    """One input at step 0, no bias, no leak: ``u[0] = 0.99 * 1.2 + 1 = 2.188`` fires; the
    subtract reset leaves 1.188, decaying by 0.99, while the threshold ``1 + 1.6 * 0.5**n``
    (raised after the spike, decaying by 0.5) falls faster: 1.17612 < 1.8, 1.16436 < 1.4,
    1.15271 < 1.2, 1.14119 >= 1.1: the second spike at step 4, a queued crossing (without
adaptation's decaying threshold it would never come: the potential only falls). With a
    zero reset the neuron rests at 0 and fires once."""
    g = Graph((1,), [Population("h", (1,), decay=0.99, v_th=1.0, adapt_decay=0.5,
                                adapt_jump=1.6, v_init=1.2, reset="subtract")],
              [Projection(INPUT, "h", [ops.Dense(np.ones((1, 1)))])])
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    r = eventsim.simulate(g, x, dtype="float64")
    # two queued crossings: step 0 (the start 1.2 alone reaches v_th) and step 4
    assert r.spikes[0].tolist() == [[0, 0], [4, 0]] and r.self_events[0] == 2
    g.populations[0].reset = "zero"
    assert eventsim.simulate(g, x, dtype="float64").spikes[0].tolist() == [[0, 0]]


def test_a_zero_reset_neuron_fires_when_its_threshold_falls():
    """Zero reset, no bias, no leak (nothing else would make a crossing without input): step 0
    an input of 2 fires (reset to 0, threshold 1 + 0.8 next step); step 1 an input of 1.5
    stays below 1.8; step 2 without input ``u = 0.99 * 1.5 = 1.485 >= 1 + 0.4``: it fires
    from the queue."""
    g = Graph((2,), [Population("h", (1,), decay=0.99, v_th=1.0, adapt_decay=0.5,
                                adapt_jump=1.6)],
              [Projection(INPUT, "h", [ops.Dense(np.array([[2.0, 1.5]]))])])
    x = np.zeros((5, 2), np.uint8)
    x[0, 0] = x[1, 1] = 1
    r = eventsim.simulate(g, x, dtype="float64")
    assert r.spikes[0].tolist() == [[0, 0], [2, 0]] and r.self_events[0] == 1


def test_norse_lsnn_spike_for_spike():
    """Norse 1.1.0's ``lsnn_step`` (float64), read as the README's Norse LSNN reading: decays
    ``1 - dt tau_inv``, the membrane moved by the current of the step before (``dt
    tau_mem_inv`` in the weights, a delay of one step on both projections), ``adapt_jump =
    beta``, a zero reset to ``v_reset``: Norse's spikes, spike for spike."""
    d = np.load(DATA / "norse_lsnn_io.npz")
    dt = float(d["dt"])
    gain = dt * float(d["tau_mem_inv"])
    n, n_in = d["w_rec"].shape[0], d["w_in"].shape[1]
    h = Population("h", (n,), decay=1 - dt * float(d["tau_mem_inv"]),
                   syn_decay=1 - dt * float(d["tau_syn_inv"]), v_th=float(d["v_th"]),
                   v_reset=float(d["v_reset"]), v_leak=float(d["v_leak"]),
                   adapt_decay=1 - dt * float(d["tau_adapt_inv"]), adapt_jump=float(d["beta"]))
    g = Graph((n_in,), [h], [Projection(INPUT, "h", [ops.Dense(gain * d["w_in"])], delay=1),
                            Projection("h", "h", [ops.Dense(gain * d["w_rec"])], delay=1)],
              dt_us=round(dt * 1e6))
    r = eventsim.simulate(g, d["x"].astype(np.uint8), dtype="float64")
    assert len(r.spikes[0]) > 50
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(d["z"] > 0))


@pytest.mark.parametrize("change, match", [
    ({"adapt_jump": -0.1}, "field 'adapt_jump' must be >= 0"),
    ({"adapt_decay": 1.0}, r"field 'adapt_decay' must be in \(0, 1\) with adapt_jump > 0"),
    ({"adapt_decay": 0.0}, r"field 'adapt_decay' must be in \(0, 1\)"),
    ({"decay": 1.0}, "the threshold adapts on a leaky membrane only"),
    ({"syn_decay": 0.9}, r"its current decays as its membrane \(syn_decay = decay = 0.9\)"),
    ({"syn_decay": 0.5, "syn_decay_2": 0.7}, "two currents has a fixed threshold"),
    ({"v_th": float("inf")}, "a leaky integrator readout never fires"),
    ({"adapt_jump": float("nan")}, "field 'adapt_jump' must be a finite number"),
])
def test_bad_adaptation_is_named(change, match):
    kw = {"decay": 0.9, "v_th": 1.0, "adapt_decay": 0.8, "adapt_jump": 0.5} | change
    with pytest.raises(NetworkError, match=match):
        Graph((2,), [Population("h", (3,), **kw)],
              [Projection(INPUT, "h", [ops.Dense(np.ones((3, 2)))])])


def test_parts_without_an_adaptive_threshold_refuse(tmp_path):
    g = Graph((2,), [Population("h", (3,), decay=0.9, v_th=1.0, adapt_decay=0.8,
                                adapt_jump=0.5)],
              [Projection(INPUT, "h", [ops.Dense(np.ones((3, 2)))])], dt_us=1000)
    with pytest.raises(NetworkError, match="to_nir: population 'h': field 'adapt_jump' is "
                                           "given"):
        eventsim.to_nir(g, tmp_path / "g.nir")
    from eventsim.network.quantize import quantize
    with pytest.raises(NetworkError, match="field 'adapt_jump' is 0.5; an integer population "
                                           "has a fixed threshold"):
        quantize(g)
    eventsim.save_network(g, tmp_path / "g.h5")
    back = eventsim.load_network(tmp_path / "g.h5")
    assert (back.populations[0].adapt_decay, back.populations[0].adapt_jump) == (0.8, 0.5)


def test_threshold_updates_are_counted_apart_and_priced():
    """One threshold update per touch of an adaptive neuron, 0 elsewhere; the energy estimate
    prices them as neuron updates."""
    from eventsim.metrics.counts import layer_metrics
    from eventsim.metrics.energy import layer_energy, load_profile

    rng = np.random.default_rng(2)
    g = Graph((3,), [Population("h", (4,), decay=0.9, v_th=1.0, adapt_decay=0.8,
                                adapt_jump=0.5),
                     Population("o", (2,), decay=0.8, v_th=1.0)],
              [Projection(INPUT, "h", [ops.Dense(rng.uniform(0.3, 0.9, (4, 3)))]),
               Projection("h", "o", [ops.Dense(rng.uniform(0.3, 0.9, (2, 4)))])])
    r = eventsim.simulate(g, (rng.random((30, 3)) < 0.5).astype(np.uint8), dtype="float64")
    m = layer_metrics(g, r)
    assert m[0].threshold_updates == m[0].membrane_updates == int(r.neuron_updates[0]) > 0
    assert m[1].threshold_updates == 0 and m[0].current_updates == 0
    profile = load_profile("loihi")
    assert layer_energy(m, profile)[0].updates_pj == 2 * m[0].membrane_updates \
        * profile.e_update_pj
