"""Current-based (CuBa) LIF populations: the closed-form crossing against stepping, and
hand-counted runs (the twin comparisons are in test_discrete.py and test_graphs.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eventsim.engine.crossing import cuba_crossing, cuba_value, three_crossing, two_value
from eventsim.engine.plan import DECAY, FT_COLS, SYN_DECAY, SYN_DECAY2, decay_tables
from eventsim.engine.simulate import simulate
from eventsim.errors import NetworkError
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.layers import Dense
from eventsim.network.network import Network
from eventsim.network.ops import Dense as DenseOp
from eventsim.network.reference import simulate_dense


def _tables(decay, syn_decay, T, dtype=np.float64):
    ft = np.zeros((1, FT_COLS), dtype)
    ft[0, [DECAY, SYN_DECAY]] = decay, syn_decay
    return decay_tables(ft, T)


@settings(max_examples=300, deadline=None)
@given(decay=st.floats(0.05, 0.99), syn_decay=st.floats(0.01, 0.99),
       u0=st.floats(-2, 0.99), i0=st.floats(-2, 2), c=st.floats(-0.5, 0.5),
       b=st.floats(-0.5, 0.5), n_max=st.integers(1, 400))
def test_cuba_crossing_is_the_first_step_the_closed_form_reaches(decay, syn_decay, u0, i0,
                                                                  c, b, n_max):
    """Rising to a peak, falling to a trough then rising, or monotone: the crossing found by
    bracketing and bisection is the first ``n`` whose value (the engine's expression) reaches
    ``v_th = 1``, as stepping every ``n`` finds it."""
    tables = _tables(decay, syn_decay, n_max + 2)
    values = np.array([cuba_value(u0, i0, c, b, tables, 0, n) for n in range(1, n_max + 1)])
    over = np.flatnonzero(values >= 1.0)
    near = np.abs(values - 1.0) < 1e-9  # a value within rounding of v_th: either is right
    expect = int(over[0]) + 1 if len(over) else -1
    got = cuba_crossing(u0, i0, c, b, tables, 0, 1.0, n_max)
    if not near.any():
        assert got == expect


def test_a_trough_then_a_rise_crosses():
    """An inhibitory current pulls ``u`` down first; the bias of the current lifts it past
    threshold later: the crossing after the trough is found."""
    tables = _tables(0.8, 0.9, 200)
    u0, i0, c, b = 0.5, -1.5, 0.0, 0.03
    values = [cuba_value(u0, i0, c, b, tables, 0, n) for n in range(1, 200)]
    assert values[1] < values[0]  # falls first
    first = next(n for n, v in enumerate(values, 1) if v >= 1.0)
    trough = int(np.argmin(values)) + 1
    assert first > trough > 3
    for n_max in (first, first + 1, 199):
        assert cuba_crossing(u0, i0, c, b, tables, 0, 1.0, n_max) == first
    assert cuba_crossing(u0, i0, c, b, tables, 0, 1.0, first - 1) == -1


def test_one_spike_counted_by_hand():
    """One input spike of weight 1 at step 0 into a CuBa neuron (decay 0.5, syn_decay 0.5,
    v_th 1.4): ``i = 1, 0.5, 0.25``; ``u = 1, 1, 0.75``... never 1.4; with v_th 0.9 it fires at
    step 0 (u = 1) and, reset to 0, at step 2? ``u[1] = 0 + 0.5``, ``u[2] = 0.25 + 0.25``: no.
    So exactly one spike, at step 0, and the current goes on (no queue entry fires)."""
    net = Network([Dense(np.ones((1, 1)), decay=0.5, v_th=0.9, syn_decay=0.5)], (1,))
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    r = simulate(net, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], [[0, 0]])
    _, _, trace = simulate_dense(net, x, probe=(0, 0))
    np.testing.assert_allclose(trace, [1.0, 0.5, 0.5, 0.375, 0.25, 0.15625])


def test_a_current_alone_fires_later_from_the_queue():
    """Input at step 0 only; the current keeps lifting ``u`` and crosses at step 2 with no
    input there: a self-event, and the update count is exact (steps 0 and 2)."""
    net = Network([Dense(np.ones((1, 1)), decay=0.9, v_th=2.5, syn_decay=0.9)], (1,))
    x = np.zeros((8, 1), np.uint8)
    x[0] = 1
    # i = 1, .9, .81; u = 1, 1.8, 2.43, 2.916 (fires at step 3)
    r = simulate(net, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], [[3, 0]])
    assert int(r.neuron_updates.sum()) == 2  # the input step and the crossing
    out, _ = simulate_dense(net, x)
    np.testing.assert_array_equal(np.argwhere(out[0]), r.spikes[0])


@pytest.mark.parametrize("kw, message", [
    ({"syn_decay": 1.0}, r"field 'syn_decay' must be in \[0, 1\)"),
    ({"syn_decay": -0.1}, r"field 'syn_decay' must be in \[0, 1\)"),
    ({"syn_decay": float("nan")}, r"field 'syn_decay' must be finite"),
    ({"syn_decay": 0.5, "decay": 1.0}, (r"field 'syn_decay' is 0.5, but a current-based "
                                       r"synapse runs only on a leaky membrane")),
])
def test_bad_syn_decay_is_named(kw, message):
    with pytest.raises(NetworkError, match=r"population 'h': " + message):
        Graph((1,), [Population("h", (1,), **kw)],
              [Projection(INPUT, "h", [DenseOp(np.ones((1, 1)))])])


def test_continuous_mode_refuses_equal_time_constants():
    """Continuous mode's closed form needs the current's time constant to differ from the
    membrane's (here both 1442.7 us: ``tau_us`` against ``syn_decay`` 0.5 of 1000 us)."""
    g = Graph((1,), [Population("h", (1,), decay=0.9, tau_us=1000 / np.log(2), syn_decay=0.5)],
              [Projection(INPUT, "h", [DenseOp(np.ones((1, 1)))])], dt_us=1000)
    with pytest.raises(NetworkError, match=r"population 'h': field 'syn_decay' gives a time "
                                           r"constant of 1442.7 us, the membrane's \(1442.7 "
                                           r"us\); continuous mode needs them to differ"):
        simulate(g, np.ones((2, 1), np.uint8), mode="continuous")


@pytest.mark.parametrize("syn_decay", [0.0, 0.5])
def test_a_refractory_period_counted_by_hand(syn_decay):
    """A drive above threshold (bias 1.2 >= v_th 1) with a refractory period of 3 steps: it
    fires at step 0, is held through steps 1-3, fires at 4, 8, ... (with a current the drive
    builds up first: at the step its own current reaches threshold). Touched only when it
    fires (a self-event each), never in a held step: the crossing counts from the end of the
    hold."""
    net = Network([Dense(np.zeros((1, 1)), bias=np.array([1.2]), decay=0.5, v_th=1.0,
                         syn_decay=syn_decay, refractory_steps=3)], (1,))
    x = np.zeros((20, 1), np.uint8)
    r = simulate(net, x, dtype="float64")
    out, _ = simulate_dense(net, x)
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(out[0]))
    steps = r.spikes[0][:, 0]
    if syn_decay == 0:
        assert steps.tolist() == [0, 4, 8, 12, 16]
    assert np.all(np.diff(steps) >= 4)
    assert int(r.neuron_updates[0]) == int(r.self_events[0]) == len(steps)


def test_input_during_the_hold_is_lost_and_a_current_runs_on():
    """Delta synapses: a spike arriving in a held step moves nothing. With a current, the
    input of a held step is kept in the current and reaches the membrane after the hold."""
    for syn_decay, expect in ((0.0, [[0, 0]]), (0.5, [[0, 0], [3, 0]])):
        net = Network([Dense(np.ones((1, 1)) * 1.5, decay=0.5, v_th=1.0, syn_decay=syn_decay,
                             refractory_steps=2)], (1,))
        x = np.zeros((8, 1), np.uint8)
        x[[0, 1, 2]] = 1
        r = simulate(net, x, dtype="float64")
        out, _ = simulate_dense(net, x)
        np.testing.assert_array_equal(np.argwhere(out[0]), expect)
        np.testing.assert_array_equal(r.spikes[0], expect)


def two_crossing(u0, i0, i2, c, b, tables, l, v_th, k, a, q, n_max):
    """:func:`three_crossing` of a neuron with two currents (no adaptation)."""
    return three_crossing(u0, i0, i2, c, b, 0.0, 0, tables, tables.A2, l, v_th, k, a, q, n_max)


def _two_tables(decay, syn_decay, syn_decay_2, T):
    ft = np.zeros((1, FT_COLS))
    ft[0, [DECAY, SYN_DECAY, SYN_DECAY2]] = decay, syn_decay, syn_decay_2
    return decay_tables(ft, T)


@settings(max_examples=500, deadline=None)
@given(decay=st.floats(0.05, 0.995), syn_decay=st.floats(0.01, 0.995),
       syn_decay_2=st.floats(0.01, 0.995), u0=st.floats(-2, 0.99), i0=st.floats(-2, 2),
       i2=st.floats(-2, 2), c=st.floats(-0.5, 0.5), b=st.floats(-0.5, 0.5),
       n_max=st.integers(1, 600))
def test_two_current_crossing_is_the_first_step_the_closed_form_reaches(
        decay, syn_decay, syn_decay_2, u0, i0, i2, c, b, n_max):
    """Two currents of opposite signs give up to two turning points (a dip then a rise then
    a fall, ...): the crossing found between the turning points located in closed form is
    the first ``n`` whose value (the engine's expression) reaches ``v_th = 1``, as stepping
    every ``n`` finds it."""
    assume(syn_decay != decay and syn_decay_2 != decay)
    tables = _two_tables(decay, syn_decay, syn_decay_2, n_max + 2)
    values = np.array([two_value(u0, i0, i2, c, b, tables, 0, n) for n in range(1, n_max + 1)])
    over = np.flatnonzero(values >= 1.0)
    near = np.abs(values - 1.0) < 1e-9  # a value within rounding of v_th: either is right
    expect = int(over[0]) + 1 if len(over) else -1
    got = two_crossing(u0, i0, i2, c, b, tables, 0, 1.0, decay, syn_decay, syn_decay_2, n_max)
    if not near.any():
        assert got == expect


def test_two_turning_points_cross_on_the_second_rise():
    """An inhibitory current with a slow decay pulls ``u`` down after a fast excitatory rise
    that stays below threshold, then the leak drive lifts it past threshold: rise, fall, rise.
    The crossing after both turning points is found, and none before it."""
    decay, a, q = 0.9, 0.5, 0.97
    tables = _two_tables(decay, a, q, 400)
    u0, i0, i2, c = 0.0, 0.9, -0.2, 0.12  # K = c / (1 - decay) = 1.2 > v_th = 1
    values = np.array([two_value(u0, i0, i2, c, 0.0, tables, 0, n) for n in range(1, 400)])
    steps = np.sign(np.diff(values))
    turns = np.flatnonzero(steps[1:] != steps[:-1])
    assert len(turns) == 2 and values.max(initial=0) > 0  # a peak, a trough
    first = int(np.flatnonzero(values >= 1.0)[0]) + 1
    assert first > turns[1] + 1 and values[turns[0] + 1] < 1.0
    for n_max in (first, first + 1, 399):
        assert two_crossing(u0, i0, i2, c, 0.0, tables, 0, 1.0, decay, a, q, n_max) == first
    assert two_crossing(u0, i0, i2, c, 0.0, tables, 0, 1.0, decay, a, q, first - 1) == -1


@pytest.mark.parametrize("u0, i0, i2, first", [(0.8, -2.0, 0.2, 10), (0.8, -2.5, 0.19, 14)])
def test_a_trough_then_a_peak_over_threshold_crosses(u0, i0, i2, first):
    """A fast inhibitory current pulls ``u`` into a trough, a slow excitatory one lifts it
    over threshold to a peak, and it decays back below (``K = 0``): the crossing lies before
    the second turning point, which must be found (``u(n_max) < v_th``)."""
    decay, a, q = 0.9, 0.3, 0.97
    tables = _two_tables(decay, a, q, 400)
    values = np.array([two_value(u0, i0, i2, 0.0, 0.0, tables, 0, n) for n in range(1, 300)])
    assert values[1] < values[0] and values[-1] < 1.0 and values.max() > 1.0
    assert int(np.flatnonzero(values >= 1.0)[0]) + 1 == first
    assert two_crossing(u0, i0, i2, 0.0, 0.0, tables, 0, 1.0, decay, a, q, 299) == first
    assert two_crossing(u0, i0, i2, 0.0, 0.0, tables, 0, 1.0, decay, a, q, first - 1) == -1


@settings(max_examples=300, deadline=None)
@given(decay=st.floats(0.5, 0.99), fast=st.floats(0.05, 0.6), slow=st.floats(0.9, 0.995),
       u0=st.floats(-1, 0.99), i_fast=st.floats(-3, 3), i_slow=st.floats(-0.4, 0.4),
       c=st.floats(-0.1, 0.15), swap=st.booleans(), n_max=st.integers(1, 600))
def test_fast_and_slow_currents_of_opposite_signs(decay, fast, slow, u0, i_fast, i_slow, c,
                                                 swap, n_max):
    """The family with two turning points (a fast current against a slow one, either as the
    first current), as stepping finds the crossing."""
    assume(fast != decay and slow != decay and i_fast * i_slow < 0)
    a, q, i0, i2 = (slow, fast, i_slow, i_fast) if swap else (fast, slow, i_fast, i_slow)
    tables = _two_tables(decay, a, q, n_max + 2)
    values = np.array([two_value(u0, i0, i2, c, 0.0, tables, 0, n) for n in range(1, n_max + 1)])
    over = np.flatnonzero(values >= 1.0)
    expect = int(over[0]) + 1 if len(over) else -1
    if not (np.abs(values - 1.0) < 1e-9).any():
        assert two_crossing(u0, i0, i2, c, 0.0, tables, 0, 1.0, decay, a, q, n_max) == expect
