"""Metrics from results: hand counts on a small conv network, dataset sums, latency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks

import eventsim
from eventsim.metrics import accuracy_vs_steps, decision_latency, decisions, layer_metrics
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten
from eventsim.network.network import Network


def test_hand_count_on_a_conv_net_with_padding_stride_and_pooling():
    """(1,4,4) -conv 3x3 stride 2 pad 1, 2 channels-> (2,2,2) -sum pool 2-> (2,1,1) -dense 3.

    One input spike at the corner (0, 0) at step 0 and one at (1, 1) at step 1. Conv output
    (yo, xo) reads input rows 2yo-1..2yo+1: the corner is read by output (0,0) only (tap
    (1,1)); (1,1) by outputs (0,0) (tap (2,2)), (0,1) (tap (2,0)), (1,0) (tap (0,2)) and
    (1,1) (tap (0,0)). Channel 1's kernel has a zero at tap (2,2): that synapse does not
    exist.
    """
    w = np.full((2, 1, 3, 3), 0.6)
    w[1, 0, 2, 2] = 0.0
    net = Network([Conv2d(w, stride=2, padding=1, v_th=0.5), AvgPool2d(2, v_th=10.0),
                   Flatten(), Dense(np.ones((3, 2)), v_th=10.0)], (1, 4, 4), dt_us=1000)
    x = np.zeros((3, 1, 4, 4), np.uint8)
    x[0, 0, 0, 0] = 1
    x[1, 0, 1, 1] = 1
    r = eventsim.simulate(net, x, dtype="float64")
    m = layer_metrics(net, r)
    # corner: 1 output x 2 channels = 2; (1,1): 4 outputs x 2 channels - 1 zero weight = 7
    assert m[0].effective_acs == 9
    assert r.sops_per_step[:, 0].tolist() == [2, 7, 0]
    # conv spikes: step 0 both channels at (0,0); step 1 channel 0 at all 4 outputs, and
    # channel 1 at 3 of them (its (0,0) neuron decayed from 0 after reset and got no input
    # through the zero tap)
    assert r.spikes_per_step[:, 0].tolist() == [2, 7, 0]
    assert m[1].effective_acs == 9  # each conv spike reaches one pooling neuron
    # connections: conv taps inside the 4x4 input over 4 outputs: rows/cols 2+3 -> (2+3)^2
    # = 25 position pairs x 2 channels; pooling 8; dense 6
    assert [x.connections for x in m] == [50, 8, 6]
    assert [x.dense_ops for x in m] == [150, 24, 18]
    assert [x.ann_macs for x in m] == [50, 8, 6]
    assert m[0].connection_sparsity == pytest.approx(4 / 50)  # tap (2,2) links 4 pairs
    assert m[0].activation_sparsity == pytest.approx(1 - 9 / (8 * 3))
    assert m[0].silent_fraction == 0.0 and m[2].silent_fraction == 1.0
    assert m[0].firing_rate_hz == pytest.approx(9 / 24 / 1e-3)


@settings(max_examples=60, deadline=None)
@given(st.one_of(dense_networks(), conv_networks()))
def test_dataset_sums_and_per_step_totals(case):
    net, x = case
    a = eventsim.simulate(net, x, dtype="float64")
    b = eventsim.simulate(net, x[::-1].copy(), dtype="float64")
    one, two = layer_metrics(net, a), layer_metrics(net, [a, b])
    for pop, (m1, m2) in enumerate(zip(one, two)):
        assert m1.effective_acs == a.sops[pop] == a.sops_per_step[:, pop].sum()
        assert m2.effective_acs == a.sops[pop] + b.sops[pop]
        assert m2.spikes == a.n_spikes[pop] + b.n_spikes[pop]
        assert m2.steps == 2 * a.T and m2.samples == 2
        assert m1.membrane_updates == a.updates_per_step[:, pop].sum()


@settings(max_examples=60, deadline=None)
@given(st.one_of(dense_networks(), conv_networks()))
def test_decision_after_t_steps_is_the_prediction_of_a_shorter_run(case):
    net, x = case
    r = eventsim.simulate(net, x, dtype="float64")
    pred = decisions(r)
    assert pred[-1] == r.predicted
    for t in range(len(x)):
        assert pred[t] == eventsim.simulate(net, x[:t + 1], dtype="float64").predicted
    latency = decision_latency(r)
    if r.predicted < 0:
        assert latency is None
    else:
        assert np.all(pred[latency - 1:] == r.predicted)
        assert latency == 1 or pred[latency - 2] != r.predicted


def test_accuracy_vs_steps():
    net = Network([Dense(np.eye(2), v_th=0.5)], (2,))
    x0 = np.array([[0, 1], [1, 0], [1, 0]], np.uint8)  # class 1 first, then class 0 ahead
    x1 = np.array([[0, 1], [0, 0], [0, 1]], np.uint8)
    results = [eventsim.simulate(net, x) for x in (x0, x1)]
    assert decisions(results[0]).tolist() == [1, 1, 0]  # tie at step 1: earliest first spike
    assert accuracy_vs_steps(results, [0, 1]).tolist() == [0.5, 0.5, 1.0]
    assert decision_latency(results[0]) == 3 and decision_latency(results[1]) == 1


def test_current_updates_are_counted_apart():
    """A current-based population's touches update its current too: counted as
    current_updates (one per membrane update there, 0 with delta synapses) and priced as
    neuron updates in the energy estimate."""
    from eventsim.engine.simulate import simulate
    from eventsim.metrics.counts import layer_metrics
    from eventsim.metrics.energy import layer_energy, load_profile
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    rng = np.random.default_rng(0)
    net = Network([Dense(rng.normal(0.5, 0.3, (4, 3)), decay=0.8, syn_decay=0.6),
                   Dense(rng.normal(0.5, 0.3, (2, 4)), decay=0.8)], (3,))
    x = (rng.random((20, 3)) < 0.5).astype(np.uint8)
    r = simulate(net, x, dtype="float64")
    m = layer_metrics(net, r)
    assert m[0].current_updates == m[0].membrane_updates == int(r.neuron_updates[0]) > 0
    assert m[1].current_updates == 0
    profile = load_profile("loihi")
    e = layer_energy(m, profile)
    assert e[0].updates_pj == 2 * m[0].membrane_updates * profile.e_update_pj
    assert e[1].updates_pj == m[1].membrane_updates * profile.e_update_pj


def test_a_readout_output_has_no_spike_decisions_in_the_summary():
    """The summary's decision latency and accuracy against steps count output spikes; for a
    leaky-integrator output they are left out, and the summary says why."""
    import math

    from eventsim.engine.simulate import simulate
    from eventsim.metrics.summary import summarize
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    rng = np.random.default_rng(1)
    net = Network([Dense(rng.normal(0.5, 0.3, (4, 3)), decay=0.8),
                   Dense(rng.normal(0.5, 0.3, (2, 4)), decay=0.8, v_th=math.inf)], (3,))
    results = [simulate(net, (rng.random((15, 3)) < 0.5).astype(np.uint8), dtype="float64")
               for _ in range(3)]
    out = summarize(net, results, [0, 1, 0])
    assert "leaky integrator" in out["decisions_omitted"]
    assert out["decision_latency_steps"] == [None] * 3 and "accuracy_vs_steps" not in out
