"""Synthetic recordings generated on the spot: no downloads, no data files.

:func:`saccade_events` renders a bright ring moving over an ``W x H`` sensor along the
three saccades of an N-MNIST recording (a triangle, ~100 ms each) and emits events the way a
DVS pixel does: an ON (OFF) event when its log intensity has risen (fallen) by ``contrast``
since its last event. Timestamps are jittered uniformly inside each 1 ms frame.
"""

from __future__ import annotations

import numpy as np

from eventsim.events.stream import EVENT_DTYPE, EventStream


def saccade_events(
    sensor_size: tuple[int, int, int] = (34, 34, 2),
    duration_us: int = 300_000,
    frame_us: int = 1000,
    radius: float = 7.0,
    contrast: float = 0.2,
    seed: int = 0,
) -> EventStream:
    """A ring seen by a moving DVS sensor: three saccades over ``duration_us``.

    Parameters
    ----------
    sensor_size : (W, H, P)
        P = 2 gives ON and OFF events; P = 1 keeps ON events only.
    duration_us, frame_us : int
        Length of the recording and of one rendered frame, in microseconds.
    radius : float
        Ring radius in pixels.
    contrast : float
        Log-intensity change that triggers an event.
    seed : int
        Seeds the jitter of the timestamps.

    Returns
    -------
    EventStream
        Events sorted by time, ``source="<synthetic saccades seed=...>"``.
    """
    w, h, p = sensor_size
    rng = np.random.default_rng(seed)
    n_frames = duration_us // frame_us
    phase = np.arange(n_frames) / n_frames * 3.0  # three saccades: triangle corners
    corners = np.array([[0.0, 0.0], [4.0, 4.0], [-4.0, 4.0], [0.0, 0.0]])
    k = np.minimum(phase.astype(int), 2)
    frac = (phase - k)[:, None]
    centre = np.array([w / 2, h / 2]) + corners[k] * (1 - frac) + corners[k + 1] * frac
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    reference = None
    chunks = []
    for f in range(n_frames):
        dist = np.hypot(xx - centre[f, 0], yy - centre[f, 1])
        intensity = 0.1 + np.exp(-((dist - radius) ** 2) / 2.0)
        log_i = np.log(intensity)
        if reference is None:
            reference = log_i
            continue
        delta = log_i - reference
        for polarity, mask in ((1, delta >= contrast), (0, delta <= -contrast)):
            if polarity == 0 and p == 1:
                continue
            ys, xs = np.nonzero(mask)
            ev = np.empty(len(xs), EVENT_DTYPE)
            ev["x"], ev["y"], ev["p"] = xs, ys, polarity
            ev["t"] = f * frame_us + rng.integers(0, frame_us, len(xs))
            chunks.append(ev)
        fired = np.abs(delta) >= contrast
        reference = np.where(fired, log_i, reference)
    events = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    events = events[np.argsort(events["t"], kind="stable")]
    return EventStream(events, (w, h, p), source=f"<synthetic saccades seed={seed}>")
