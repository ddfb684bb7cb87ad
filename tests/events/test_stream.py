"""EventStream construction: what ``as_event_array`` and the sensor size accept and refuse."""

from __future__ import annotations

import re

import numpy as np
import pytest

import eventsim.events.stream as stream_module
from eventsim.errors import EventError
from eventsim.events.stream import EVENT_DTYPE, EventStream, as_event_array

SENSOR = (4, 3, 2)
SOURCE = "rec.npy"


def records(x=(0, 1), y=(0, 2), t=(5, 9), p=(0, 1), dtypes=("<i4", "<i4", "<i8", "<i4")):
    """A structured array with the columns given and field dtypes ``dtypes`` (x, y, t, p)."""
    dtype = [(name, dt) for name, dt in zip("xytp", dtypes)]
    return np.array(list(zip(x, y, t, p)), dtype=dtype)


def named(field_text: str) -> str:
    return re.escape(f"{SOURCE}: ") + field_text


@pytest.mark.parametrize(
    "events, match",
    [
        # int32 65539 would wrap to 3 in int16 and land on the sensor
        (records(x=(0, 65539)), named(r"record 1 has x=65539; expected a value fitting int16")),
        (records(y=(-40000, 0)), named(r"record 0 has y=-40000; expected a value fitting int16")),
        (records(t=(0, 2**63), dtypes=("<i4", "<i4", "<u8", "<i4")),
         named(r"record 1 has t=9223372036854775808; expected a value fitting int64")),
        # floats would be truncated (2.7 -> 2, 1.9 -> 1)
        (records(x=(0, 2.7), dtypes=("<f8", "<i4", "<i8", "<i4")),
         named(r"field 'x' has dtype float64; expected integers .*\(record 1 has x=2.7\)")),
        (records(t=(0, 1.9), dtypes=("<i4", "<i4", "<f8", "<i4")),
         named(r"field 't' has dtype float64; expected integers .*\(record 1 has t=1.9\)")),
        (records(y=(0.0, 1.0), dtypes=("<i4", "<f4", "<i8", "<i4")),
         named(r"field 'y' has dtype float32; expected integers")),
        (records(p=(1, 2)), named(r"record 1 has p=2; expected 0 or 1")),
        (records(p=(0.0, 1.0), dtypes=("<i4", "<i4", "<i8", "<f8")),
         named(r"field 'p' has dtype float64; expected bool or integers 0/1")),
    ],
    ids=["x-wraps", "y-wraps", "t-uint64", "x-float", "t-float", "y-integral-float",
         "p-two", "p-float"],
)
def test_bad_columns_named_with_field_and_record(events, match):
    with pytest.raises(EventError, match=match):
        EventStream(events, SENSOR, SOURCE)
    with pytest.raises(EventError, match=match):
        as_event_array(events, SOURCE)


@pytest.mark.parametrize(
    "dtypes",
    [("<i4", "<i4", "<i8", "<i4"), ("<u1", "<u2", "<u4", "?"), (">i2", ">i2", ">i8", "<u1")],
    ids=["int32-int-p", "unsigned-bool-p", "big-endian"],
)
def test_integer_columns_and_bool_or_01_polarity_accepted(dtypes):
    stream = EventStream(records(dtypes=dtypes), SENSOR, SOURCE)
    assert stream.events.dtype == EVENT_DTYPE
    assert stream.events.tolist() == [(0, 0, 5, False), (1, 2, 9, True)]


def test_tonic_array_wrapped_without_copy():
    events = np.array([(0, 0, 5, False), (3, 2, 9, True)], EVENT_DTYPE)
    stream = EventStream(events, SENSOR)
    assert np.shares_memory(stream.events, events)
    assert not hasattr(stream_module, "from_tonic")


@pytest.mark.parametrize(
    "size",
    [(4, 3, 1.9), (4.0, 3, 2), (True, 3, 2), (4, 3), "abc", 5, None],
    ids=["float-P", "integral-float", "bool", "two", "str", "int", "none"],
)
def test_bad_sensor_size(size):
    with pytest.raises(EventError, match=named(r"field 'sensor_size' must be three")):
        EventStream(records(), size, SOURCE)


def test_sensor_size_numpy_integers_accepted():
    stream = EventStream(records(), np.array([4, 3, 2], np.int64), SOURCE)
    assert stream.sensor_size == SENSOR
    assert all(type(s) is int for s in stream.sensor_size)


def test_t_last_us():
    stream = EventStream(records(t=(5, 9)), SENSOR, SOURCE)
    assert stream.t_last_us == 9
    assert "t_last_us=9" in repr(stream)
    assert EventStream(np.empty(0, EVENT_DTYPE), SENSOR).t_last_us == 0
    assert not hasattr(stream, "duration_us")
