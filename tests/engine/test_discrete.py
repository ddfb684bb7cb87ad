"""Discrete mode against the plain dense recurrence (the numpy twin): spikes and SOPs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks, integer_networks

from eventsim.engine.simulate import Simulator, simulate
from eventsim.errors import InputError
from eventsim.network.layers import Conv2d, Dense
from eventsim.network.network import Network
from eventsim.network.reference import dense_matrix, simulate_dense


def assert_same_as_twin(net, x, dtype="float64"):
    result = simulate(net, x, dtype=dtype)
    outputs, sops, macs = simulate_dense(net, x.reshape(x.shape[0], -1), dtype=dtype,
                                         with_macs=True)
    for i, out in enumerate(outputs):
        np.testing.assert_array_equal(result.spikes[i], np.argwhere(out),
                                      err_msg=f"population {i} spikes differ")
        np.testing.assert_array_equal(result.spike_counts[i], out.sum(0))
    np.testing.assert_array_equal(result.sops, sops)
    np.testing.assert_array_equal(result.macs, macs)
    # per step: spikes, and SOPs as the fan-out of the spikes arriving in that step
    below = x.reshape(x.shape[0], -1).astype(bool)
    for i, li in enumerate(net.lif_layers):
        fan_out = np.count_nonzero(dense_matrix(net, li), axis=0)
        np.testing.assert_array_equal(result.sops_per_step[:, i], below @ fan_out)
        np.testing.assert_array_equal(result.spikes_per_step[:, i], outputs[i].sum(1))
        below = outputs[i]
    np.testing.assert_array_equal(result.per_step.sum(0)[:, 2], result.neuron_updates)
    np.testing.assert_array_equal(result.macs_per_step.sum(0), result.macs)
    return result


@settings(max_examples=150, deadline=None)
@given(dense_networks(cuba=True))
def test_dense_networks_equal_twin(case):
    assert_same_as_twin(*case)


@settings(max_examples=100, deadline=None)
@given(conv_networks(cuba=True))
def test_conv_networks_equal_twin(case):
    assert_same_as_twin(*case)


@settings(max_examples=100, deadline=None)
@given(conv_networks(neunorm=True, cuba=True))
def test_neunorm_networks_equal_twin(case):
    """NeuNorm's auxiliary neurons and analog share, into conv, pooling and dense layers."""
    assert_same_as_twin(*case)


@settings(max_examples=40, deadline=None)
@given(dense_networks(cuba=True))
def test_float32_equal_twin_float32(case):
    assert_same_as_twin(*case, dtype="float32")


def test_bias_alone_fires_on_schedule():
    # u[t] = 0.5 u[t-1] + 0.3, never any input: u = 0.3, 0.45, 0.525 -> spike at step 2, reset
    net = Network([Dense(np.zeros((1, 1)), bias=[0.3], decay=0.5, v_th=0.5)], (1,))
    r = simulate(net, np.zeros((9, 1), np.uint8), dtype="float64")
    np.testing.assert_array_equal(r.spikes[0][:, 0], [2, 5, 8])
    assert r.sops[0] == 0 and r.input_spikes == 0
    assert r.self_events[0] == 3 and r.neuron_updates[0] == 3


def test_subtract_reset_keeps_firing_without_input():
    # one input of 1.7 at step 0; decay 1, v_th 0.5, subtract: 1.7 -> 1.2 -> 0.7 -> 0.2
    net = Network([Dense([[1.7]], decay=1.0, v_th=0.5, reset="subtract")], (1,))
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    r = simulate(net, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0][:, 0], [0, 1, 2])


def test_conv_border_sops_exact():
    # 3x3 kernel of ones, padding 1, on a 4x4 input: a corner spike reaches 4 outputs,
    # an edge spike 6, an inner one 9; a zero weight is not a synapse.
    w = np.ones((1, 1, 3, 3))
    net = Network([Conv2d(w, padding=1, v_th=100.0)], (1, 4, 4))
    for (y, x), expected in {(0, 0): 4, (0, 1): 6, (1, 1): 9, (3, 3): 4}.items():
        spikes = np.zeros((1, 1, 4, 4), np.uint8)
        spikes[0, 0, y, x] = 1
        assert simulate(net, spikes).sops[0] == expected
    w[0, 0, 1, 1] = 0.0
    net = Network([Conv2d(w, padding=1, v_th=100.0)], (1, 4, 4))
    spikes = np.zeros((1, 1, 4, 4), np.uint8)
    spikes[0, 0, 1, 1] = 1
    assert simulate(net, spikes).sops[0] == 8
    assert np.count_nonzero(dense_matrix(net, 0)[:, 5]) == 8


def test_same_step_propagation_through_layers():
    # one input spike at step 3 crosses three layers within step 3
    net = Network([Dense([[1.0]]), Dense([[1.0]]), Dense([[1.0]])], (1,))
    x = np.zeros((5, 1), np.uint8)
    x[3] = 1
    r = simulate(net, x)
    assert [s.tolist() for s in r.spikes] == [[[3, 0]]] * 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predicted_ties_go_to_earliest_first_spike(dtype):
    # neurons 0 and 1 both spike twice; neuron 1 spikes first
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    net = Network([Dense(w, v_th=0.5)], (2,))
    x = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.uint8)
    r = simulate(net, x, dtype=dtype)
    assert r.spike_counts[0].tolist() == [2, 2]
    assert r.predicted == 1
    silent = simulate(net, np.zeros((3, 2), np.uint8), dtype=dtype)
    assert silent.predicted == -1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bias_crossing_that_only_rounding_reaches(dtype):
    # b / (1 - decay) == v_th exactly: never crossed in exact arithmetic, but the float
    # recurrence gets there; the engine must find the same step as the twin
    net = Network([Dense(np.zeros((1, 1)), bias=[0.25], decay=0.5, v_th=0.5)], (1,))
    x = np.zeros((80, 1), np.uint8)
    assert_same_as_twin(net, x, dtype=dtype)
    assert len(simulate(net, x, dtype=dtype).spikes[0]) > 0


def test_tiny_bias_of_an_integrator():
    # (v_th - u) / b overflows an int64: the crossing step must still be right (here: none)
    net = Network([Dense(np.ones((3, 1)), bias=[1e-30, 0.2, 0.0], decay=1.0, v_th=0.5)], (1,))
    x = np.zeros((50, 1), np.uint8)
    x[[3, 30]] = 1
    assert_same_as_twin(net, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_capped_decay_tables_equal_full_tables(dtype):
    """Read at ``min(n, cap)``, the tables hold every value of the full recurrences, delta
    synapses and current-based (``H[n] = k H[n-1] + a**n``, ``J[n] = k J[n-1] + GA[n]``)."""
    from eventsim.engine.plan import DECAY, FT_COLS, SYN_DECAY, decay_tables

    decays = [(0.2, 0), (1.0, 0), (0.999, 0), (0.9, 0), (0.9, 0.5), (0.3, 0.95), (0.8, 0.8)]
    ft = np.zeros((len(decays), FT_COLS), dtype)
    ft[:, [DECAY, SYN_DECAY]] = decays
    T = 120_000
    tables = decay_tables(ft, T)
    short = [0, 1, 3, 4, 5, 6]
    assert decay_tables(ft[short], 10**9).P.shape[1] < 20_000  # does not grow with T
    n = np.arange(T + 2)
    for row in (0, 2, 3, 4, 5, 6):
        k, a = ft[row, DECAY], ft[row, SYN_DECAY]
        full = {name: np.zeros(T + 2, dtype) for name in "PGAEHJ"}  # E: GA
        full["P"][0] = 1
        full["A"][0] = 1 if a > 0 else 0
        full["P"][1:] = np.cumprod(np.full(T + 1, k, dtype))
        full["G"][1:] = np.cumsum(full["P"][:-1])
        for m in range(1, T + 2 if a > 0 else 0):
            full["A"][m] = full["A"][m - 1] * a
            full["E"][m] = full["E"][m - 1] + full["A"][m - 1]
            full["H"][m] = k * full["H"][m - 1] + full["A"][m]
            full["J"][m] = k * full["J"][m - 1] + full["E"][m]
            if all(v[m] == v[m - 1] for v in full.values()):  # a fixed point: it repeats
                for v in full.values():
                    v[m + 1:] = v[m]
                break
        at = np.minimum(n, tables.cap[row])
        for name, table in zip("PGAEHJ", (tables.P, tables.G, tables.A, tables.GA, tables.H,
                                          tables.J)):
            np.testing.assert_array_equal(table[row, at], full[name], err_msg=f"{name}, {row}")
    assert tables.cap[1] == 1 and tables.P[1, 1] == 1  # decay 1: G[n] = n is computed


def test_per_step_counters_only_with_record_all():
    net = Network([Dense(np.ones((2, 3)), v_th=0.5)], (3,))
    x = np.eye(3, dtype=np.uint8)[[0, 1, 2, 0]]
    full = Simulator(net).run(x)
    assert full.per_step.shape == (4, 1, 5)
    assert full.sops_per_step[:, 0].tolist() == [2, 2, 2, 2]
    assert full.spikes_per_step[:, 0].tolist() == [2, 2, 2, 2]
    bounded = Simulator(net, record="output").run(x)
    assert bounded.per_step is None
    with pytest.raises(InputError, match="no per-step counters"):
        _ = bounded.sops_per_step


@settings(max_examples=150, deadline=None)
@given(integer_networks())
def test_integer_networks_equal_twin_in_every_dtype(case):
    """Integer layers: whole numbers and a truncating decay, exact, so float32 gives float64's
    result."""
    net, x = case
    a = assert_same_as_twin(net, x, "float64")
    b = simulate(net, x, dtype="float32")
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)


@settings(max_examples=100, deadline=None)
@given(integer_networks(), st.data())
def test_integer_networks_driven_every_step_equal_twin(case, data):
    """Every input spiking over a run of steps: rows reach every neuron in consecutive steps,
    so whole populations step together (the one-step vectorised update of an integer layer,
    and rows with zeros gathered once a step)."""
    net, x = case
    x = x.copy()
    a = data.draw(st.integers(0, x.shape[0] - 1))
    b = data.draw(st.integers(a + 1, x.shape[0]))
    x[a:b] = 1
    assert_same_as_twin(net, x, "float64")


def test_integer_decay_truncates_towards_zero():
    """One neuron, D = 2048 (0.5): 7 -> 3 -> 1 -> 0, and -7 -> -3 -> -1 -> 0."""
    from eventsim.network.reference import simulate_dense

    for sign in (1, -1):
        net = Network([Dense([[7.0 * sign], [1.0]], decay=0.5, v_th=100.0, integer=True),
                       ], (1,))
        x = np.zeros((4, 1), np.uint8)
        x[0] = 1
        _, _, trace = simulate_dense(net, x, probe=(0, 0))
        assert trace.tolist() == [7 * sign, 3 * sign, 1 * sign, 0]


def test_integer_weights_are_held_in_the_narrowest_exact_type():
    """int8 rows for 8-bit weights, int16 beyond; a network with a float layer keeps its
    float weights (the twin comparisons of integer networks run on these plans)."""
    from eventsim.engine.plan import build_plan
    from eventsim.network.graph import as_graph

    def plan_of(w1, w2, integer2=True):
        net = Network([Dense(w1, v_th=3.0, decay=0.5, integer=True),
                       Dense(w2, v_th=3.0, decay=0.5, integer=integer2)], (3,))
        return build_plan(as_graph(net), np.dtype(np.float64)).arrays

    small, big = np.array([[127.0, -5, 0], [1, 2, 3]]), np.array([[300.0, -2], [1, 0]])
    arrays = plan_of(small, np.array([[1.0, -127]]))
    assert {arrays.csr_w.dtype, arrays.dense_w.dtype, arrays.conv_w.dtype} == {np.dtype(np.int8)}
    assert plan_of(small, big).dense_w.dtype == np.int16
    assert plan_of(small, np.array([[1.5, 2.0]]), integer2=False).dense_w.dtype == np.float64
    x = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 1]], np.uint8)
    net = Network([Dense(small, v_th=3.0, decay=0.5, integer=True),
                   Dense(np.array([[300.0, -2]]), v_th=3.0,
                         decay=0.5, integer=True)], (3,))
    assert_same_as_twin(net, x)
