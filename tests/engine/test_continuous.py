"""Continuous mode against closed-form solutions of the LIF equation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eventsim.engine.simulate import simulate
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network.layers import Dense
from eventsim.network.network import Network


def stream(times_us, channels=None, n=1):
    ev = np.zeros(len(times_us), EVENT_DTYPE)
    ev["t"] = times_us
    ev["x"] = channels if channels is not None else 0
    return EventStream(ev, (n, 1, 1))


def test_bias_crossing_time_closed_form():
    # du/dt = -u/tau + b/dt_us from u = 0: u(t) = L (1 - exp(-t/tau)), L = b tau / dt_us
    dt_us, decay, b, v_th = 1000, 0.5, 0.4, 0.5
    net = Network([Dense(np.zeros((1, 1)), bias=[b], decay=decay, v_th=v_th)], (1,), dt_us=dt_us)
    r = simulate(net, np.zeros((10, 1), np.uint8), mode="continuous", dtype="float64")
    tau = -dt_us / math.log(decay)
    limit = b * tau / dt_us
    t_x = tau * math.log(limit / (limit - v_th))
    np.testing.assert_allclose(r.spikes[0]["t_us"], t_x * np.arange(1, 4), rtol=1e-12)
    assert r.self_events[0] == 3 and r.sops[0] == 0


def test_perfect_integrator_bias_crossing_time():
    net = Network([Dense(np.zeros((1, 1)), bias=[0.1], decay=1.0, v_th=0.35)], (1,), dt_us=100)
    r = simulate(net, np.zeros((20, 1), np.uint8), mode="continuous", dtype="float64")
    np.testing.assert_allclose(r.spikes[0]["t_us"], [350.0, 700.0, 1050.0, 1400.0, 1750.0])


def test_two_inputs_sum_with_decay_between():
    # 0.3 at t=100, 0.3 at t=100+d: u = 0.3 exp(-d/tau) + 0.3 crosses 0.5 iff d is short
    tau = 400.0
    for d, fires in ((50, True), (1000, False)):
        net = Network([Dense([[0.3]], v_th=0.5, tau_us=tau)], (1,), dt_us=1000)
        r = simulate(net, stream([100, 100 + d]), mode="continuous", dtype="float64")
        assert (0.3 * math.exp(-d / tau) + 0.3 >= 0.5) == fires
        assert len(r.spikes[0]) == int(fires)
        if fires:
            assert r.spikes[0]["t_us"][0] == 100 + d


def test_two_channels_at_the_same_time_sum():
    net = Network([Dense([[0.3, 0.3]], v_th=0.5, tau_us=100.0)], (2,), dt_us=1000)
    r = simulate(net, stream([500, 500], channels=[0, 1], n=2), mode="continuous")
    assert r.spikes[0].tolist() == [(500.0, 0)]
    assert r.sops[0] == 2 and r.input_spikes == 2


def test_delay_shifts_next_layer():
    net = Network([Dense([[1.0]], v_th=0.5, tau_us=100.0),
                   Dense([[1.0]], v_th=0.5, tau_us=100.0, delay_us=250.0)], (1,), dt_us=1000)
    r = simulate(net, stream([100]), mode="continuous")
    assert r.spikes[0]["t_us"].tolist() == [100.0]
    assert r.spikes[1]["t_us"].tolist() == [350.0]


def test_subtract_reset_bursts_at_the_same_instant():
    net = Network([Dense([[1.7]], v_th=0.5, reset="subtract", tau_us=100.0)], (1,), dt_us=1000)
    r = simulate(net, stream([10]), mode="continuous", dtype="float64")
    assert r.spikes[0]["t_us"].tolist() == [10.0, 10.0, 10.0]


def test_window_end_drops_later_events():
    net = Network([Dense([[1.0]], v_th=0.5, tau_us=100.0)], (1,), dt_us=1000, T=2)
    r = simulate(net, stream([100, 1999, 2000, 5000]), mode="continuous")
    assert r.spikes[0]["t_us"].tolist() == [100.0, 1999.0]


def test_streaming_chunks_not_supported_in_continuous_mode():
    from eventsim.errors import InputError

    net = Network([Dense([[1.0]])], (1,), dt_us=1000, T=2)
    with pytest.raises(InputError, match="discrete mode only"):
        simulate(net, iter([stream([1])]), mode="continuous")
