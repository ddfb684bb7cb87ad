"""Leaky-integrator readouts (``v_th = inf``): the membrane's maximum and mean over the run,
computed from the event times, against the dense twin's potential at every step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from graphgen import vector_graphs
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import dense_networks

from eventsim.engine.simulate import simulate
from eventsim.errors import NetworkError
from eventsim.network.graph import INPUT, Graph, Population, Projection, as_graph
from eventsim.network.layers import Dense
from eventsim.network.network import Network
from eventsim.network.ops import Dense as DenseOp
from eventsim.network.reference import simulate_dense


def _as_readout(net):
    """``net`` with its output population a leaky integrator (never fires)."""
    g = as_graph(net)
    g.populations[-1].v_th = math.inf
    return g


def assert_readout_as_twin(g, x, T=None):
    if T is not None:  # a window past the input: idle steps after the last touch
        x = np.concatenate([x, np.zeros((T - len(x), x.shape[1]), x.dtype)])
    result = simulate(g, x, dtype="float64")
    outputs, _, pots = simulate_dense(g, x, potentials=True)
    for p, pop in enumerate(g.populations):
        np.testing.assert_array_equal(result.spikes[p], np.argwhere(outputs[p]))
        if pop.v_th == math.inf:
            assert not outputs[p].any()
            np.testing.assert_allclose(result.membrane_max[p], pots[p].max(0), rtol=1e-9,
                                       atol=1e-12)
            np.testing.assert_allclose(result.membrane_mean[p], pots[p].mean(0), rtol=1e-9,
                                       atol=1e-12)
        else:
            assert result.membrane_max[p] is None and result.membrane_mean[p] is None
    return result


@settings(max_examples=150, deadline=None)
@given(vector_graphs(cuba=True), st.integers(0, 60))
def test_readouts_equal_the_twins_potentials(case, extra):
    """Graphs (cycles, delays, bias, both resets, currents) whose output is an LI: its
    maximum and mean over the window, idle steps after the last input included."""
    g, x = case
    assert_readout_as_twin(_as_readout(g), x, T=len(x) + extra)


@settings(max_examples=60, deadline=None)
@given(dense_networks(cuba=True))
def test_chain_readouts_equal_the_twins_potentials(case):
    net, x = case
    assert_readout_as_twin(_as_readout(net), x)


def test_one_input_counted_by_hand():
    """One spike of weight 1 at step 0 into an LI of decay 0.5 over 5 steps: 1, .5, .25,
    .125, .0625; one update (the input step), none per idle step."""
    net = Network([Dense(np.ones((1, 1)), decay=0.5, v_th=math.inf)], (1,))
    x = np.zeros((5, 1), np.uint8)
    x[0] = 1
    r = simulate(net, x, dtype="float64")
    assert r.membrane_max[0].tolist() == [1.0]
    assert r.membrane_mean[0].tolist() == [1.9375 / 5]
    assert int(r.neuron_updates[0]) == 1 and int(r.n_spikes[0]) == 0


def test_a_current_peaks_between_inputs():
    """A CuBa LI: the current keeps lifting ``u`` after the input; its peak comes at an idle
    step (the readout finds it without stepping): i = 1, .8, .64, .512...; u = 1, 1.7, 2.17,
    2.465, 2.628, 2.693 (step 5), 2.688..."""
    net = Network([Dense(np.ones((1, 1)), decay=0.9, syn_decay=0.8, v_th=math.inf)], (1,))
    x = np.zeros((30, 1), np.uint8)
    x[0] = 1
    r = simulate(net, x, dtype="float64")
    _, _, pots = simulate_dense(net, x, potentials=True)
    assert np.argmax(pots[0][:, 0]) == 5
    np.testing.assert_allclose(r.membrane_max[0], [pots[0][5, 0]], rtol=1e-12)
    assert int(r.neuron_updates[0]) == 1


def test_a_readout_output_predicts_by_its_maximum():
    w = np.array([[1.0], [2.0], [0.5]])
    net = Network([Dense(w, decay=0.9, v_th=math.inf)], (1,))
    r = simulate(net, np.ones((3, 1), np.uint8), dtype="float64")
    assert r.predicted == 1


def test_a_continuous_readout_by_hand_and_integer_layers_refuse_one():
    """Continuous mode: inputs of 1 at 0 and 1000 us into an LI of decay 0.5 per 1000 us
    (tau = 1000 / ln 2): u = 1 at 0, 0.5 + 1 = 1.5 at 1000 us, 0.75 at the window's end;
    its integral is tau (1 - 1/2) (1 + 1.5), so its mean over 2000 us is 1.25 / (2 ln 2)."""
    g = Graph((1,), [Population("out", (1,), decay=0.5, v_th=math.inf)],
              [Projection(INPUT, "out", [DenseOp(np.ones((1, 1)))])], dt_us=1000)
    r = simulate(g, np.ones((2, 1), np.uint8), mode="continuous")
    assert r.membrane_max[0].tolist() == [1.5]
    assert r.membrane_mean[0][0] == pytest.approx(1.25 / (2 * math.log(2)), rel=1e-12)
    with pytest.raises(NetworkError, match=r"field 'v_th' is inf \(a leaky integrator\); an "
                                           r"integer layer spikes"):
        Network([Dense(np.ones((1, 1)), decay=0.5, v_th=math.inf, integer=True)], (1,))


@pytest.mark.parametrize("syn_decay", [0.0, 0.3])
def test_idle_steps_past_the_tables_end(syn_decay):
    """A drive (bias) on an LI of decay 0.2 over 3000 steps, one input at step 0: the decay
    tables stop at their cap (~460 steps), past which each step adds the fixed point; the sum
    over the window is the twin's."""
    net = Network([Dense(np.ones((1, 1)), bias=np.array([0.3]), decay=0.2, v_th=math.inf,
                         syn_decay=syn_decay)], (1,))
    x = np.zeros((3000, 1), np.uint8)
    x[0] = 1
    r = assert_readout_as_twin(as_graph(net), x)
    assert int(r.neuron_updates[0]) == 1


def test_an_empty_window_decides_nothing():
    """T = 0: a readout has no steps; its maximum is -inf, its mean 0, the decision -1 (as a
    spiking output that never fired)."""
    net = Network([Dense(np.ones((2, 1)), decay=0.5, v_th=math.inf)], (1,))
    from eventsim.events.stream import EVENT_DTYPE, EventStream

    r = simulate(net, EventStream(np.zeros(0, EVENT_DTYPE), (1, 1, 1)), dtype="float64")
    assert r.T == 0
    assert r.predicted == -1
    assert r.membrane_max[0].tolist() == [-math.inf, -math.inf]
    assert r.membrane_mean[0].tolist() == [0.0, 0.0]


def test_a_mean_readout_decides_by_the_mean():
    """Decay 0.5. Neuron 0 takes 4 at step 0 only: 4, 2, 1, ... (maximum 4, mean 0.8 over 10
    steps); neuron 1 takes 0.6 every step: 0.6, 0.9, 1.05, ... towards 1.2 (maximum < 1.2,
    mean 1.06). By the maximum neuron 0 wins, by the mean neuron 1."""
    g = Graph((2,), [Population("out", (2,), decay=0.5, v_th=math.inf, readout="mean")],
              [Projection(INPUT, "out", [DenseOp(np.array([[4.0, 0.0], [0.0, 0.6]]))])])
    x = np.zeros((10, 2), np.uint8)
    x[0, 0] = 1
    x[:, 1] = 1
    r = simulate(g, x, dtype="float64")
    assert r.membrane_max[0].argmax() == 0 and r.membrane_mean[0].argmax() == 1
    assert (r.readout, r.predicted) == ("mean", 1)
    g.populations[0].readout = "max"
    assert simulate(g, x, dtype="float64").predicted == 0
    with pytest.raises(NetworkError, match="population 'out': field 'readout' must be 'max' "
                                           "or 'mean', got 'avg'"):
        Graph((2,), [Population("out", (2,), decay=0.5, v_th=math.inf, readout="avg")],
              g.projections)
    with pytest.raises(NetworkError, match="field 'readout' is 'mean', but the neurons spike"):
        Network([Dense(np.ones((1, 1)), v_th=1.0, readout="mean")], (1,))


def test_a_mean_readout_is_saved_and_travels_through_nir(tmp_path):
    import eventsim

    net = Network([Dense(np.ones((3, 2)), decay=0.6, v_th=1.0),
                   Dense(np.ones((2, 3)), decay=0.5, v_th=math.inf, readout="mean")], (2,),
                  dt_us=1000)
    eventsim.save_network(net, tmp_path / "n.h5")
    assert eventsim.load_network(tmp_path / "n.h5").layers[-1].readout == "mean"
    eventsim.to_nir(net, tmp_path / "n.nir")
    back = eventsim.from_nir(tmp_path / "n.nir")
    assert [layer.readout for layer in back.layers] == ["max", "mean"]
