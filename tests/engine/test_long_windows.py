"""Long windows cost per event, not per step: steps without work are jumped over, events are
binned into the steps that hold them, per-step counters kept for active steps only; and the
results are the dense twin's."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks
from test_discrete import assert_same_as_twin

import eventsim
from eventsim.engine.simulate import Simulator
from eventsim.errors import ResourceError
from eventsim.events.binning import bin_events


@st.composite
def sparse_over_long_windows(draw):
    """A network and a few bursts of input spikes far apart in a window of up to 3000 steps,
    as events (channel p*W*H + y*W + x with W = n_inputs, H = P = 1)."""
    net, _ = draw(st.one_of(dense_networks(cuba=True), conv_networks(cuba=True)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    T = draw(st.integers(50, 3000))
    n = net.n_inputs
    bursts = rng.choice(T, size=draw(st.integers(1, 6)), replace=False)
    steps, channels = [], []
    for b in bursts:
        for s in range(b, min(b + draw(st.integers(1, 4)), T)):
            on = np.flatnonzero(rng.random(n) < 0.4)
            steps += [s] * len(on)
            channels += on.tolist()
    events = np.zeros(len(steps), eventsim.EVENT_DTYPE)
    dt_us = draw(st.sampled_from([1, 7, 1000]))
    events["t"] = np.array(steps, np.int64) * dt_us + rng.integers(0, dt_us, len(steps))
    events["x"] = channels
    events = events[np.argsort(events["t"], kind="stable")]
    return net, eventsim.EventStream(events, (n, 1, 1)), dt_us, T


@settings(max_examples=120, deadline=None)
@given(sparse_over_long_windows(), st.integers(1, 9))
def test_long_sparse_windows_equal_the_twin(case, n_chunks):
    """The dense twin on the binned frames; the engine on the events whole, and streamed in
    chunks: the same spikes and per-step counters."""
    net, stream, dt_us, T = case
    x = bin_events(stream, dt_us, T).reshape(T, *net.input_shape)
    dense = assert_same_as_twin(net, x)
    whole = eventsim.simulate(net, stream, dtype="float64", dt_us=dt_us, T=T)
    cuts = np.linspace(0, len(stream), n_chunks + 1).astype(int)
    chunks = [eventsim.EventStream(stream.events[a:b], stream.sensor_size)
              for a, b in itertools.pairwise(cuts)]
    streamed = eventsim.simulate(net, iter(chunks), dtype="float64", dt_us=dt_us, T=T)
    for events in (whole, streamed):
        for a, b in zip(events.spikes, dense.spikes):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(events.per_step, dense.per_step)
    assert set(whole.active_steps) <= set(range(T))


def test_a_window_of_1e12_steps_costs_its_events(data_dir):
    """N-MNIST's 300 ms run for 10**12 steps: the same spikes as a window just covering it
    (the network has no bias: nothing happens after the last event), memory and time of the
    events."""
    net = eventsim.load_network(eventsim.__path__[0] + "/../networks/nmnist-mlp.h5")
    stream = eventsim.read_events(data_dir / "nmnist" / "Test" / "0" / "00004.bin", (34, 34, 2))
    covering = eventsim.simulate(net, stream, dt_us=1000, T=stream.t_last_us // 1000 + 1)
    sim = Simulator(net, dt_us=1000, T=10**12)
    sim.run(stream)  # compiled and warmed
    tracemalloc.start()
    try:
        long = sim.run(stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    assert long.T == 10**12 and long.duration_us == 10**15
    for a, b in zip(long.spikes, covering.spikes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(long.step_counters, covering.step_counters)
    with pytest.raises(ResourceError, match="Result.per_step: counters of T=1000000000000"):
        long.per_step  # noqa: B018 - spreading them over every step is refused


@pytest.mark.parametrize("T, dt_us, match", [
    (2**70, 1000, "beyond the int64 microsecond clock"),
    (2**62, 1, "exceed the engine's int64 event keys"),
])
def test_windows_beyond_int64_are_named(T, dt_us, match):
    net = eventsim.random_mlp([4, 3], (4,), seed=0)
    stream = eventsim.EventStream(np.zeros(0, eventsim.EVENT_DTYPE), (4, 1, 1))
    with pytest.raises(ResourceError, match=match):
        eventsim.simulate(net, stream, dt_us=dt_us, T=T)
    with pytest.raises(ResourceError, match=match):
        Simulator(net, dt_us=dt_us, T=T)


def test_timestamps_near_2_62_are_named_not_a_memory_error():
    """A window covering events near 2**62 us at dt 1 us cannot be keyed in int64: named."""
    net = eventsim.random_mlp([4, 3], (4,), seed=0)
    events = np.zeros(3, eventsim.EVENT_DTYPE)
    events["t"] = 2**62 + np.arange(3)
    stream = eventsim.EventStream(events, (4, 1, 1))
    with pytest.raises(ResourceError, match="int64"):
        eventsim.simulate(net, stream, dt_us=1)
    result = eventsim.simulate(net, stream, dt_us=10**9)  # 4.6e9 steps: runs, events only
    assert result.T == 2**62 // 10**9 + 1
    assert result.input_spikes == 1  # three events of one channel in one step: one spike


def test_a_network_too_large_for_memory_is_named(monkeypatch):
    net = eventsim.Network([eventsim.AvgPool2d(2)], (2, 30000, 30000))
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "1G")
    with pytest.raises(ResourceError, match=r"^simulate: the network's 450000000 neurons "
                       r"\(layer 0 \(AvgPool2d\): 450000000\) needs .* GiB, more than the "
                       "budget EVENTSIM_MAX_MEMORY=1G"):
        Simulator(net)


def test_spikes_beyond_the_budget_are_named(monkeypatch):
    """A neuron driven by its bias fires every step for ever: the spike record of 10**9 steps
    outgrows the budget and says so (a result would not fit)."""
    net = eventsim.Network([eventsim.Dense(np.zeros((50, 1)), bias=np.ones(50), decay=1.0,
                                           v_th=0.5)], (1,))
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "256M")
    silence = eventsim.EventStream(np.zeros(0, eventsim.EVENT_DTYPE), (1, 1, 1))
    with pytest.raises(ResourceError, match=r"^simulate: the spike record \(.* spikes by step"):
        Simulator(net, T=10**9, record="output").run(silence)


def test_a_recording_outside_the_window_warns():
    net = eventsim.random_mlp([4, 3], (4,), seed=0)
    events = np.zeros(2, eventsim.EVENT_DTYPE)
    events["t"] = [5000, 7000]
    stream = eventsim.EventStream(events, (4, 1, 1), "late.npy")
    with pytest.warns(eventsim.errors.EventsimWarning, match=r"late\.npy: none of its 2 events "
                      r"falls in the window of T=3 steps of dt_us=1000 \(0 to 3000 us\); the "
                      "first is at t=5000 us"):
        result = eventsim.simulate(net, stream, dt_us=1000, T=3)
    assert result.input_spikes == 0
