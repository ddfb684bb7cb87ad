"""Binning events into time steps: the one rule used by the engine, the trainer and the bridge.

An event at time ``t`` (microseconds) falls into step::

    step = (t - t_start_us) // dt_us

Events before ``t_start_us`` and, when ``T`` is given, at ``step >= T`` are dropped. Without
``T`` the window covers the recording: ``T = (t_last - t_start_us) // dt_us + 1``. Several
events of one channel in one step make one input spike unless ``counts=True``.
Channels follow :func:`eventsim.events.stream.event_channels`: ``p*W*H + y*W + x``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from eventsim.errors import whole
from eventsim.events.stream import EventStream, event_channels

#: The bin width, us, where neither the caller nor the network gives one (the engine, the
#: trainer's data, the Brian2 bridge, validate and the CLI all take it from here).
DEFAULT_DT_US = 1000


def _check_binning(dt_us, T, t_start_us) -> tuple[int, int | None, int]:
    return (whole(dt_us, "binning", "dt_us"), None if T is None else whole(T, "binning", "T", 0),
            whole(t_start_us, "binning", "t_start_us", None))


def n_steps(t_last_us: int | None, dt_us: int, t_start_us: int = 0) -> int:
    """Steps needed to cover a recording whose last event is at ``t_last_us`` (0 if none)."""
    if t_last_us is None or t_last_us < t_start_us:
        return 0
    return (int(t_last_us) - t_start_us) // dt_us + 1


def event_steps(
    t_us: np.ndarray, dt_us: int, T: int | None = None, t_start_us: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """Step of each event and the mask of events kept.

    Returns
    -------
    steps : ndarray, shape (n_events,), int64
    keep : ndarray, shape (n_events,), bool
        False for events before ``t_start_us`` or at ``step >= T``.
    T : int
        The window length (given, or covering the recording).
    """
    dt_us, T, t_start_us = _check_binning(dt_us, T, t_start_us)
    t_us = np.asarray(t_us, dtype=np.int64)
    steps = (t_us - t_start_us) // dt_us
    if T is None:
        T = int(steps.max()) + 1 if len(steps) and steps.max() >= 0 else 0
    keep = (steps >= 0) & (steps < T)
    return steps, keep, T


def bin_events(
    stream: EventStream,
    dt_us: int,
    T: int | None = None,
    t_start_us: int = 0,
    counts: bool = False,
) -> np.ndarray:
    """Bin an event stream into frames.

    Parameters
    ----------
    stream : EventStream
    dt_us : int
        Bin width in microseconds.
    T : int, optional
        Number of steps; events at ``step >= T`` are dropped. Default: cover the recording.
    t_start_us : int
        Time of the start of step 0; earlier events are dropped.
    counts : bool
        Count events per channel and step instead of marking a binary spike.

    Returns
    -------
    ndarray, shape (T, P, H, W)
        ``uint8`` 0/1 frames, or ``int32`` counts with ``counts=True``.
    """
    w, h, p = stream.sensor_size
    steps, keep, T = event_steps(stream.events["t"], dt_us, T, t_start_us)
    n_ch = w * h * p
    flat = steps[keep] * n_ch + event_channels(stream.events[keep], stream.sensor_size)
    frames = np.bincount(flat, minlength=T * n_ch)
    if counts:
        frames = frames.astype(np.int32)
    else:
        frames = (frames > 0).astype(np.uint8)
    return frames.reshape(T, p, h, w)


def bin_sparse(
    channels: np.ndarray,
    t_us: np.ndarray,
    n_channels: int,
    dt_us: int,
    T: int | None = None,
    t_start_us: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Binary binning in compressed form, as the engine consumes it.

    Returns
    -------
    step_ptr : ndarray, shape (T + 1,), int64
        Input spikes of step ``s`` are ``channel_idx[step_ptr[s]:step_ptr[s+1]]``.
    channel_idx : ndarray, shape (n_spikes,), int64
        Active channels, sorted within each step, each once per step.
    T : int
    """
    steps, keep, T = event_steps(t_us, dt_us, T, t_start_us)
    channels = np.asarray(channels, dtype=np.int64)
    if len(steps) < 2 or np.all(steps[1:] >= steps[:-1]):  # time-sorted: the fast kernel
        from eventsim.events.binning_kernel import bin_sorted

        step_ptr, channel_idx = bin_sorted(steps, channels, keep, n_channels, T)
        return step_ptr, channel_idx, T
    key = np.unique(steps[keep] * n_channels + channels[keep])
    step_ptr = np.zeros(T + 1, np.int64)
    np.cumsum(np.bincount(key // n_channels, minlength=T), out=step_ptr[1:])
    return step_ptr, key % n_channels, T


class ActiveBins(NamedTuple):
    """A stream binned (binary) by the steps that hold events: the channels of step
    ``steps[j]`` are ``channels[ptr[j]:ptr[j + 1]]``, each once, ascending. ``T``: the window
    (given, else covering the recording); ``t_min_us``, ``t_max_us``: the first and last
    event times of the whole stream (0 and -1 when empty)."""

    steps: np.ndarray
    ptr: np.ndarray
    channels: np.ndarray
    T: int
    t_min_us: int
    t_max_us: int


def bin_active_steps(stream: EventStream, dt_us: int, T: int | None = None) -> ActiveBins:
    """Binary binning of ``stream`` by the rule above (``t_start_us = 0``), keeping only the
    steps that hold events: memory per event, not per step, and one pass over the events
    (a numba kernel that releases the GIL). A stream whose times go backwards is sorted
    first."""
    from eventsim.events.binning_kernel import bin_stream

    dt_us, T, _ = _check_binning(dt_us, T, 0)
    w, h, p = stream.sensor_size
    events = stream.events
    s_end = T if T is not None else np.iinfo(np.int64).max
    steps, ptr, channels, t_min, t_max, ordered = bin_stream(events, w, h, w * h * p, dt_us,
                                                             s_end)
    if not ordered:
        events = events[np.argsort(events["t"], kind="stable")]
        steps, ptr, channels, t_min, t_max, _ = bin_stream(events, w, h, w * h * p, dt_us,
                                                           s_end)
    if T is None:
        T = n_steps(int(t_max) if len(events) else None, dt_us)
    return ActiveBins(steps, ptr, channels, T, int(t_min), int(t_max))


def dense_to_sparse(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(T, n_channels)`` array to ``(step_ptr, channel_idx)`` as in :func:`bin_sparse`, and
    the flat index of its first value neither 0 nor 1 (-1 if none; the lists are then
    empty): one numba pass to count and check, one to list, no temporaries the size of the
    array."""
    from eventsim.events.binning_kernel import dense_sparse, dense_sparse_bytes

    if spikes.ndim == 2 and spikes.dtype.itemsize == 1 and spikes.dtype.kind in "bu" \
            and spikes.flags.c_contiguous:  # eight values at a time
        T, n = spikes.shape
        return dense_sparse_bytes(spikes.reshape(-1).view(np.uint8), T, n)
    return dense_sparse(spikes)
