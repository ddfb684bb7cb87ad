"""A run fed chunk by chunk (``Simulator.stream``): its result is the whole recording's, and
its decision after every chunk is that of the recording cut at the steps closed so far."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import Simulator
from eventsim.errors import InputError
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network.layers import Dense
from eventsim.network.network import Network

from .graphgen import vector_graphs
from .test_streaming import assert_same_result

DT = 100


def _events(x: np.ndarray, rng) -> EventStream:
    """The spikes of a 0/1 array (T, n) as events at random times within their steps."""
    steps, channels = np.nonzero(x.reshape(len(x), -1))
    events = np.zeros(len(steps), EVENT_DTYPE)
    events["x"] = channels
    events["t"] = steps * DT + rng.integers(0, DT, len(steps))
    events = events[np.argsort(events["t"], kind="stable")]
    return EventStream(events, (x.reshape(len(x), -1).shape[1], 1, 1), "<drawn>")


@settings(max_examples=80, deadline=None)
@given(vector_graphs(cuba=True, adapt=False), st.data())
def test_chunks_run_as_the_whole_recording_and_decide_as_its_prefix(case, data):
    net, x = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    stream = _events(x, rng)
    sim = Simulator(net, dtype="float64", dt_us=DT)
    whole = sim.run(stream)
    live = sim.stream()
    cuts = np.sort(rng.integers(0, len(stream) + 1, data.draw(st.integers(0, 6))))
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)]):
        chunk = EventStream(stream.events[lo:hi], stream.sensor_size, "<chunk>")
        last = int(stream.events["t"][hi - 1]) if hi else 0
        until = None if data.draw(st.booleans()) or hi == len(stream) else last + int(
            rng.integers(0, DT))  # time known to have passed, before the next event
        if until is not None and hi < len(stream):
            until = min(until, int(stream.events["t"][hi]))
        live.feed(chunk, until_us=until)
        prefix = EventStream(stream.events[stream.events["t"] < live.step * DT],
                             stream.sensor_size)
        assert live.decision() == sim.run(prefix, T=live.step).predicted
    closed = live.close()
    # an open window queues crossings past its final end too: its peak may be higher
    assert closed.peak_queue >= whole.peak_queue
    closed.peak_queue = whole.peak_queue
    assert_same_result(closed, whole)


def test_time_passing_closes_steps_and_a_late_chunk_is_refused():
    net = Network([Dense([[1.0]], v_th=0.5)], (1,))
    sim = Simulator(net, dt_us=DT)
    live = sim.stream(T=10)
    events = np.zeros(1, EVENT_DTYPE)
    events["t"] = [150]  # step 1
    live.feed(EventStream(events, (1, 1, 1)))
    assert live.step == 1 and live.decision() == -1  # its step is still open
    live.feed(EventStream(events[:0], (1, 1, 1)), until_us=199)
    assert live.step == 1
    live.feed(EventStream(events[:0], (1, 1, 1)), until_us=200)
    assert live.step == 2 and live.decision() == 0
    events["t"] = [120]
    with pytest.raises(InputError, match=r"t=120 us \(step 1\).*ran up to step 2"):
        live.feed(EventStream(events, (1, 1, 1), "late"))
    assert live.close().T == 10
    with pytest.raises(InputError, match="closed"):
        live.decision()
    with pytest.raises(InputError, match="discrete mode only"):
        Simulator(net, mode="continuous").stream()


def test_a_stream_without_T_refuses_events_past_its_open_window():
    from eventsim.engine.simulate import OPEN_STEPS
    from eventsim.errors import ResourceError

    sim = Simulator(Network([Dense([[1.0]], v_th=0.5)], (1,)), dt_us=DT)
    events = np.zeros(1, EVENT_DTYPE)
    events["t"] = OPEN_STEPS * DT  # the first step past the window
    with pytest.raises(ResourceError, match=r"far: .*more than a stream without T holds"):
        sim.stream().feed(EventStream(events, (1, 1, 1), "far"))
    events["t"] = OPEN_STEPS * DT - 1
    live = sim.stream()
    live.feed(EventStream(events, (1, 1, 1), "near"))
    assert live.close().T == OPEN_STEPS
