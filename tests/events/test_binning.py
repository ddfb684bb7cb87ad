"""Binning edges (the one rule: ``step = (t - t_start_us) // dt_us``) and a property test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.events.binning import bin_active_steps, bin_events, bin_sparse
from eventsim.events.stream import EVENT_DTYPE, EventStream

SENSOR = (5, 3, 2)  # W != H, so a transposed frame cannot pass


def stream_of(*events: tuple[int, int, int, int], sensor=SENSOR) -> EventStream:
    """Events given as (x, y, t, p)."""
    return EventStream(np.array(list(events), dtype=EVENT_DTYPE), sensor)


def test_event_exactly_at_k_dt_goes_to_step_k():
    s = stream_of((0, 0, 0, 0), (1, 0, 999, 0), (2, 0, 1000, 0), (3, 0, 2000, 0))
    frames = bin_events(s, dt_us=1000)
    assert frames.shape == (3, 2, 3, 5)
    assert frames[0, 0, 0].tolist() == [1, 1, 0, 0, 0]
    assert frames[1, 0, 0].tolist() == [0, 0, 1, 0, 0]
    assert frames[2, 0, 0].tolist() == [0, 0, 0, 1, 0]


def test_last_event_included_when_T_is_none():
    s = stream_of((4, 2, 0, 1), (4, 2, 4999, 1))
    frames = bin_events(s, dt_us=1000)
    assert frames.shape[0] == 5
    assert frames[4, 1, 2, 4] == 1


def test_empty_bins_are_zero():
    s = stream_of((0, 0, 10, 0), (1, 1, 3010, 1))
    frames = bin_events(s, dt_us=1000)
    assert frames.shape[0] == 4
    assert not frames[1].any() and not frames[2].any()
    assert frames.sum() == 2


def test_T_cuts_events_off():
    s = stream_of((0, 0, 0, 0), (1, 0, 1999, 0), (2, 0, 2000, 0), (3, 0, 9000, 0))
    frames = bin_events(s, dt_us=1000, T=2)
    assert frames.shape == (2, 2, 3, 5)
    assert frames.sum() == 2
    assert frames[1, 0, 0, 1] == 1
    longer = bin_events(s, dt_us=1000, T=12)
    assert longer.shape[0] == 12 and longer.sum() == 4 and not longer[10:].any()


def test_t_start_drops_earlier_events():
    s = stream_of((0, 0, 999, 0), (1, 0, 1000, 0), (2, 0, 2500, 0))
    frames = bin_events(s, dt_us=1000, t_start_us=1000)
    assert frames.shape[0] == 2
    assert frames[0, 0, 0].tolist() == [0, 1, 0, 0, 0]
    assert frames[1, 0, 0].tolist() == [0, 0, 1, 0, 0]


def test_counts():
    s = stream_of((1, 2, 0, 1), (1, 2, 10, 1), (1, 2, 999, 1), (1, 2, 1000, 1))
    binary = bin_events(s, dt_us=1000)
    counts = bin_events(s, dt_us=1000, counts=True)
    assert binary.dtype == np.uint8 and counts.dtype == np.int32
    assert binary[0, 1, 2, 1] == 1 and counts[0, 1, 2, 1] == 3
    assert counts[1, 1, 2, 1] == 1 and counts.sum() == 4


def test_empty_stream_and_zero_T():
    empty = EventStream(np.empty(0, EVENT_DTYPE), SENSOR)
    assert bin_events(empty, dt_us=10).shape == (0, 2, 3, 5)
    assert bin_events(empty, dt_us=10, T=3).sum() == 0
    assert bin_events(stream_of((0, 0, 5, 0)), dt_us=10, T=0).shape == (0, 2, 3, 5)


def test_channel_index_matches_frame_c_order():
    w, h, _ = SENSOR
    s = stream_of((4, 1, 0, 1), (0, 2, 0, 0), (3, 0, 0, 1))
    frames = bin_events(s, dt_us=1)
    flat = frames.reshape(1, -1)
    expected = [pp * w * h + y * w + x for x, y, _, pp in s.events.tolist()]
    assert s.channels().tolist() == expected
    assert sorted(np.flatnonzero(flat[0]).tolist()) == sorted(expected)
    for x, y, _, pp in s.events.tolist():
        assert frames[0, int(pp), y, x] == 1


@st.composite
def binning_cases(draw):
    w, h = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    p = draw(st.integers(1, 2))
    n = draw(st.integers(0, 40))
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    ev["t"] = sorted(draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n)))
    ev["p"] = draw(st.lists(st.integers(0, p - 1), min_size=n, max_size=n))
    dt = draw(st.integers(1, 700))
    T = draw(st.none() | st.integers(0, 8))
    t_start = draw(st.integers(0, 1500))
    return EventStream(ev, (w, h, p)), dt, T, t_start


def loop_binning(stream, dt, T, t_start, counts):
    """The rule, one event at a time."""
    w, h, p = stream.sensor_size
    steps = [(int(t) - t_start) // dt for t in stream.events["t"]]
    if T is None:
        T = max(steps) + 1 if steps and max(steps) >= 0 else 0
    frames = np.zeros((T, p, h, w), np.int64)
    for (x, y, _, pol), step in zip(stream.events.tolist(), steps):
        if 0 <= step < T:
            frames[step, int(pol), y, x] += 1
    return frames if counts else (frames > 0).astype(np.int64)


@settings(max_examples=200, deadline=None)
@given(binning_cases(), st.booleans())
def test_bin_events_equals_loop_and_bin_sparse_equals_nonzero(case, counts):
    stream, dt, T, t_start = case
    frames = bin_events(stream, dt, T=T, t_start_us=t_start, counts=counts)
    np.testing.assert_array_equal(frames, loop_binning(stream, dt, T, t_start, counts))

    binary = bin_events(stream, dt, T=T, t_start_us=t_start)
    binary = binary.reshape(frames.shape[0], stream.n_channels)
    step_ptr, channel_idx, T_sparse = bin_sparse(
        stream.channels(), stream.events["t"], stream.n_channels, dt, T=T, t_start_us=t_start
    )
    steps, chans = np.nonzero(binary)
    assert T_sparse == binary.shape[0]
    np.testing.assert_array_equal(channel_idx, chans)
    np.testing.assert_array_equal(np.diff(step_ptr), np.bincount(steps, minlength=T_sparse))
    # events out of time order take the general path: same result
    order = np.random.default_rng(len(stream)).permutation(len(stream))[::-1]
    shuffled = bin_sparse(stream.channels()[order], stream.events["t"][order],
                          stream.n_channels, dt, T=T, t_start_us=t_start)
    np.testing.assert_array_equal(shuffled[0], step_ptr)
    np.testing.assert_array_equal(shuffled[1], channel_idx)


@pytest.mark.parametrize("kwargs", [{"dt_us": 0}, {"dt_us": 1.5}, {"dt_us": 10, "T": -1}])
def test_bad_binning_arguments(kwargs):
    from eventsim.errors import InputError

    with pytest.raises(InputError, match="binning: field"):
        bin_events(stream_of((0, 0, 0, 0)), **kwargs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=60), st.data())
def test_sort_prefix_sorts_in_place_and_leaves_the_rest(values, data):
    from eventsim.events.binning_kernel import sort_prefix

    a = np.array(values + [7, -7], np.int64)
    n = data.draw(st.integers(0, len(values)))
    before = a.copy()
    sort_prefix(a, n)
    np.testing.assert_array_equal(a[:n], np.sort(before[:n]))
    np.testing.assert_array_equal(a[n:], before[n:])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, SENSOR[0] - 1), st.integers(0, SENSOR[1] - 1),
                          st.integers(0, 5000), st.integers(0, 1)), max_size=60),
       st.booleans(), st.sampled_from([1, 7, 1000]), st.one_of(st.none(), st.integers(0, 12)))
def test_active_steps_are_the_frames_steps_with_events(events, ordered, dt_us, T):
    """The one pass (numba) against the dense frames: the same spikes, steps with none left
    out, each channel once and ascending; times going backwards are sorted first."""
    if ordered:
        events = sorted(events, key=lambda e: e[2])
    s = stream_of(*events)
    bins = bin_active_steps(s, dt_us, T)
    frames = bin_events(s, dt_us=dt_us, T=T) if events or T is not None else None
    expected_T = T if T is not None else (max(e[2] for e in events) // dt_us + 1
                                          if events else 0)
    assert bins.T == expected_T
    dense = np.zeros((bins.T, s.n_channels), bool)
    for j, step in enumerate(bins.steps):
        channels = bins.channels[bins.ptr[j]:bins.ptr[j + 1]]
        assert len(channels) and np.all(np.diff(channels) > 0)
        dense[step, channels] = True
    assert np.all(np.diff(bins.steps) > 0)
    if frames is not None:
        np.testing.assert_array_equal(dense, frames.reshape(len(frames), s.n_channels) > 0)
    times = [e[2] for e in events]
    assert (bins.t_min_us, bins.t_max_us) == ((min(times), max(times)) if times else (0, -1))
