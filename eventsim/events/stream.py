"""The event stream: tonic's structured array plus a sensor size.

Input channel of an event (the one rule, used everywhere)::

    channel = p * W * H + y * W + x

so that a binned frame of shape ``(P, H, W)`` flattened in C order puts the
event at that index.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from eventsim.errors import EventError, EventsimWarning, FormatError

#: tonic's event dtype (``tonic.io.events_struct``); ``t`` in microseconds.
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])


@dataclass(frozen=True, eq=False)
class EventStream:
    """A recording of address events from one sensor.

    Attributes
    ----------
    events : ndarray, shape (n_events,), dtype ``EVENT_DTYPE``
        Fields ``x``, ``y`` (pixel), ``t`` (microseconds, non-decreasing) and ``p``
        (polarity, bool). The same dtype as tonic's, so tonic's arrays convert for free.
    sensor_size : tuple of int
        ``(W, H, P)``: width, height and number of polarities.
    source : str
        Where the events came from (a path, or a description); used in error messages.
    """

    events: np.ndarray
    sensor_size: tuple[int, int, int]
    source: str = "<array>"

    def __post_init__(self) -> None:
        events = as_event_array(self.events, self.source)
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "sensor_size", _check_sensor_size(self.sensor_size, self.source))
        check_events(events, self.sensor_size, self.source)

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return (
            f"EventStream({len(self)} events, sensor_size={self.sensor_size}, "
            f"t_last_us={self.t_last_us}, source={self.source!r})"
        )

    @property
    def n_channels(self) -> int:
        """Number of input channels, ``W * H * P``."""
        w, h, p = self.sensor_size
        return w * h * p

    @property
    def t_last_us(self) -> int:
        """Time of the last event, us; 0 when empty."""
        return int(self.events["t"][-1]) if len(self.events) else 0

    def channels(self) -> np.ndarray:
        """Input channel of every event, ``p*W*H + y*W + x``, shape (n_events,), int64."""
        return event_channels(self.events, self.sensor_size)


def event_channels(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Input channel ``p*W*H + y*W + x`` of each event, shape (n_events,), int64."""
    w, h, _ = sensor_size
    return (
        events["p"].astype(np.int64) * (w * h)
        + events["y"].astype(np.int64) * w
        + events["x"].astype(np.int64)
    )


def _check_sensor_size(sensor_size, source: str) -> tuple[int, int, int]:
    try:
        size = tuple(sensor_size)
    except TypeError:
        size = None
    if size is None or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in size
    ):
        raise EventError(
            f"{source}: field 'sensor_size' must be three integers (W, H, P), got {sensor_size!r}"
        )
    size = tuple(int(s) for s in size)
    if len(size) != 3 or min(size) < 1:
        raise EventError(
            f"{source}: field 'sensor_size' must be three positive integers (W, H, P), "
            f"got {sensor_size!r}"
        )
    if size[2] > 2:
        raise EventError(f"{source}: field 'sensor_size' has P={size[2]}; expected 1 or 2")
    return size  # type: ignore[return-value]


def as_event_array(events: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Return ``events`` as a contiguous array of ``EVENT_DTYPE`` (no copy when it already is).

    Accepts any structured array with fields ``x``, ``y``, ``t`` (integers whose values fit
    ``EVENT_DTYPE``; nothing wraps around, floats are refused) and ``p`` (a bool or integers
    in {0, 1}); raises :class:`EventError` naming ``source``, the field and the first bad
    record otherwise.
    """
    events = np.asarray(events)
    names = events.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise EventError(
            f"{source}: events need fields x, y, t, p; missing {', '.join(missing)} "
            f"(got dtype {events.dtype})"
        )
    if events.ndim != 1:
        raise EventError(f"{source}: events must be 1-D, got shape {events.shape}")
    if events.dtype == EVENT_DTYPE:
        return np.ascontiguousarray(events)
    return events_from_columns({f: events[f] for f in EVENT_DTYPE.names}, source)


def events_from_columns(columns: Mapping[str, np.ndarray], source: str = "<array>") -> np.ndarray:
    """Build an ``EVENT_DTYPE`` array from the columns ``x``, ``y``, ``t``, ``p`` of a file.

    Unlike a plain cast nothing wraps around: ``x``, ``y`` and ``t`` must be integers whose
    values fit ``int16``/``int64``, ``p`` a bool or integers in {0, 1}. The columns must have
    one length (callers check it, naming their fields). Raises :class:`EventError` naming
    ``source``, the field and the first bad record.
    """
    out = np.empty(len(columns["x"]), EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        col = np.asarray(columns[name])
        target = EVENT_DTYPE[name]
        kinds = "biu" if name == "p" else "iu"
        if col.dtype.kind not in kinds:
            expected = "bool or integers 0/1" if name == "p" else f"integers fitting {target}"
            where = ""
            if col.dtype.kind == "f" and col.ndim == 1:
                fractional = np.flatnonzero(col != np.round(col))
                if len(fractional):
                    i = int(fractional[0])
                    where = f" (record {i} has {name}={col[i]})"
            raise EventError(
                f"{source}: field {name!r} has dtype {col.dtype}; expected {expected}{where}"
            )
        if not np.can_cast(col.dtype, target) and len(col):
            if name == "p":
                bad, expected = np.flatnonzero((col != 0) & (col != 1)), "0 or 1"
            else:
                info = np.iinfo(target)
                bad = np.flatnonzero((col < info.min) | (col > info.max))
                expected = f"a value fitting {target}"
            if len(bad):
                i = int(bad[0])
                raise EventError(f"{source}: record {i} has {name}={col[i]}; expected {expected}")
        out[name] = col
    return out


#: Peak bytes per 5-byte record (ATIS, .bs1) of a whole read: the file's bytes, the int64
#: temporaries of the decode, the event array and its copies.
RECORD_READ_BYTES = 80


def check_whole_records(size: int, record_bytes: int, source: str, kind: str) -> None:
    """Raise :class:`FormatError` naming the byte offset where ``size`` bytes of fixed-size
    ``kind`` records are cut (a file or a buffer of ``record_bytes``-byte records)."""
    if size % record_bytes:
        cut = size - size % record_bytes
        raise FormatError(f"{source}: file cut mid-record at byte offset {cut} ({size} bytes is "
                          f"not a whole number of {record_bytes}-byte {kind} records)")


def check_events(events: np.ndarray, sensor_size: tuple[int, int, int], source: str,
                 first_record: int | None = None) -> None:
    """Raise :class:`EventError` naming the first record off the sensor or with a negative time.

    ``first_record``: for a chunk of a file, the file's record number of ``events[0]``, so
    messages give the file's record numbers and count the chunk's bad records as such.
    """
    from eventsim.events.decode_kernel import events_valid  # numba: loaded on first use

    w, h, p = sensor_size
    if events.dtype == EVENT_DTYPE and events_valid(events, w, h, p == 1):
        return
    first = first_record or 0
    for field, limit in (("x", w), ("y", h)):
        values = events[field]
        bad = np.flatnonzero((values < 0) | (values >= limit))
        if len(bad):
            i = bad[0]
            among = ("" if first_record is None else
                     f" of the {len(events)} from record {first_record} on (this chunk)")
            raise EventError(
                f"{source}: record {first + i} has {field}={values[i]}, off the sensor "
                f"(expected 0 <= {field} < {limit} for sensor_size {tuple(sensor_size)}); "
                f"{len(bad)} records{among} are off the sensor"
            )
    if p == 1 and len(events) and events["p"].any():
        i = int(np.flatnonzero(events["p"])[0])
        raise EventError(
            f"{source}: record {first + i} has p=1 but sensor_size {tuple(sensor_size)} has one "
            "polarity"
        )
    t = events["t"]
    if len(t) and t.min() < 0:
        i = int(np.flatnonzero(t < 0)[0])
        raise EventError(f"{source}: record {first + i} has t={t[i]} us; expected t >= 0")


def sort_by_time(events: np.ndarray, source: str) -> np.ndarray:
    """Return events in non-decreasing time, warning (naming ``source``) when any went backwards."""
    t = events["t"]
    backwards = int(np.count_nonzero(t[1:] < t[:-1])) if len(t) > 1 else 0
    if backwards == 0:
        return events
    warnings.warn(
        f"{source}: timestamps go backwards at {backwards} records; events were sorted by time",
        EventsimWarning,
        stacklevel=3,
    )
    return events[np.argsort(t, kind="stable")]


def infer_sensor_size(events: np.ndarray, n_polarities: int = 2) -> tuple[int, int, int]:
    """Smallest ``(W, H, P)`` holding every event (``P`` as given, 2 by default)."""
    if len(events) == 0:
        raise EventError("cannot infer the sensor size of an empty recording; give sensor_size")
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1, n_polarities)
