"""A DVS pixel model: turn a video into events.

Each pixel keeps a reference log intensity. Between two frames its log intensity is taken to
change linearly in time (as ESIM and v2e do); every time it has moved ``threshold`` above
(below) the reference, the pixel emits an ON (OFF) event at the moment of crossing and the
reference moves by ``threshold``. A pixel that has just fired ignores crossings for
``refractory_us`` (its reference still follows them, so the pixel does not fire a burst of
stale events when the period ends). Optional shot noise adds events of random polarity at
``noise_rate_hz`` per pixel, uniform in time. Everything is seeded.

:func:`saccade_video` moves a still image along the three saccades of an N-MNIST recording
(a triangle, ~100 ms each), so ``emulate_dvs(*saccade_video(image))`` gives N-MNIST-like
events from any image.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.errors import InputError
from eventsim.events.stream import EVENT_DTYPE, EventStream

#: Added to intensities before the logarithm, so black pixels have a finite log intensity.
LOG_EPS = 1e-3


def emulate_dvs(
    frames: np.ndarray,
    timestamps_us: np.ndarray,
    threshold: float | tuple[float, float] = 0.2,
    refractory_us: int = 0,
    noise_rate_hz: float = 0.0,
    seed: int | None = 0,
) -> EventStream:
    """Events a DVS sensor would record looking at ``frames``.

    Parameters
    ----------
    frames : ndarray, shape (N, H, W)
        Intensities (linear, >= 0), N >= 2 frames.
    timestamps_us : ndarray, shape (N,)
        Time of each frame in microseconds, strictly increasing.
    threshold : float or (float, float)
        Log-intensity change that makes an ON event and an OFF event (one value: both).
    refractory_us : int
        Dead time of a pixel after each event.
    noise_rate_hz : float
        Shot-noise events per pixel and second (each ON or OFF with equal chance).
    seed : int, optional
        Seeds the noise.

    Returns
    -------
    EventStream
        Sensor ``(W, H, 2)``, events sorted by time (then pixel), ``p`` 1 for ON and 0 for OFF.
        Event times are truncated to whole microseconds.
    """
    frames, t = _check(frames, timestamps_us)
    on, off = (threshold, threshold) if np.isscalar(threshold) else threshold
    for name, value in (("threshold (ON)", on), ("threshold (OFF)", off)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"emulate_dvs: {name} must be a finite number > 0, got {value!r}")
    if refractory_us < 0 or noise_rate_hz < 0 or not np.isfinite(noise_rate_hz):
        raise InputError("emulate_dvs: refractory_us and noise_rate_hz must be >= 0")
    n, h, w = frames.shape
    log_i = np.log(frames.astype(np.float64) + LOG_EPS).reshape(n, -1)
    times, pixels, polarity = _crossings(log_i, t.astype(np.float64), float(on), float(off),
                                         int(refractory_us))
    if noise_rate_hz > 0:
        rng = np.random.default_rng(seed)
        duration_s = (t[-1] - t[0]) * 1e-6
        count = rng.poisson(noise_rate_hz * duration_s * h * w)
        times = np.concatenate([times, rng.uniform(t[0], t[-1], count)])
        pixels = np.concatenate([pixels, rng.integers(0, h * w, count)])
        polarity = np.concatenate([polarity, rng.integers(0, 2, count)])
    ev = np.zeros(len(times), EVENT_DTYPE)
    ev["t"] = np.floor(times).astype(np.int64)
    ev["x"], ev["y"], ev["p"] = pixels % w, pixels // w, polarity
    ev = ev[np.lexsort((ev["x"], ev["y"], ev["t"]))]
    return EventStream(ev, (w, h, 2), source="<emulate_dvs>")


def _check(frames, timestamps_us) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frames)
    t = np.asarray(timestamps_us)
    if frames.ndim != 3 or len(frames) < 2:
        raise InputError(f"emulate_dvs: field 'frames' must have shape (N >= 2, H, W), got "
                         f"{frames.shape}")
    if frames.dtype.kind not in "biuf" or not np.all(np.isfinite(frames)) or frames.min() < 0:
        raise InputError("emulate_dvs: field 'frames' must hold finite intensities >= 0")
    if t.shape != (len(frames),) or t.dtype.kind not in "iuf" or not np.all(np.isfinite(t)):
        raise InputError(f"emulate_dvs: field 'timestamps_us' must be {len(frames)} finite "
                         f"numbers (one per frame), got shape {t.shape}")
    if np.any(np.diff(t) <= 0) or t[0] < 0:
        raise InputError("emulate_dvs: field 'timestamps_us' must be >= 0 and strictly "
                         "increasing")
    return frames, t


@njit(cache=True)
def _crossings(log_i, t, on, off, refractory):
    """Every threshold crossing of every pixel, frame interval by interval."""
    n, n_pix = log_i.shape
    ref = log_i[0].copy()
    last = np.full(n_pix, -np.inf)
    cap = 1024
    times = np.empty(cap)
    pixels = np.empty(cap, np.int64)
    pol = np.empty(cap, np.int64)
    k = 0
    for f in range(1, n):
        t0, t1 = t[f - 1], t[f]
        for p in range(n_pix):
            a, b = log_i[f - 1, p], log_i[f, p]
            while True:  # the crossings of this interval, in time order
                if b - ref[p] >= on:
                    level, sign = ref[p] + on, 1
                elif ref[p] - b >= off:
                    level, sign = ref[p] - off, 0
                else:
                    break
                # a moved to b linearly: the crossing of ``level`` (a itself was within the
                # thresholds of ref, except after an earlier crossing in this interval)
                frac = 0.0 if b == a else min(max((level - a) / (b - a), 0.0), 1.0)
                tc = t0 + frac * (t1 - t0)
                ref[p] = level
                if tc - last[p] < refractory:
                    continue
                last[p] = tc
                if k == cap:
                    cap *= 2
                    times = _grow(times, cap)
                    pixels = _grow(pixels, cap)
                    pol = _grow(pol, cap)
                times[k], pixels[k], pol[k] = tc, p, sign
                k += 1
    return times[:k], pixels[:k], pol[:k]


@njit(cache=True)
def _grow(a, cap):
    out = np.empty(cap, a.dtype)
    out[:a.shape[0]] = a
    return out


def saccade_video(
    image: np.ndarray,
    duration_us: int = 300_000,
    frame_us: int = 1000,
    amplitude_px: float = 2.0,
    background: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """A still image seen through three saccades (N-MNIST's triangle), as frames.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Intensities in [0, 1] (or 0-255, scaled down).
    duration_us, frame_us : int
        Length of the video and time between frames.
    amplitude_px : float
        Size of the triangle's legs in pixels (sub-pixel shifts are interpolated).
    background : float
        Added intensity, so dark pixels still have a finite log intensity.

    Returns
    -------
    frames : ndarray, shape (N, H, W), float64
    timestamps_us : ndarray, shape (N,), int64
    """
    from scipy.ndimage import shift

    image = np.asarray(image, np.float64)
    if image.ndim != 2 or not np.all(np.isfinite(image)) or image.min() < 0:
        raise InputError(f"saccade_video: field 'image' must be a (H, W) array of finite "
                         f"intensities >= 0, got shape {image.shape}")
    if image.max() > 1:
        image = image / 255.0
    n = duration_us // frame_us + 1
    phase = np.arange(n) / (n - 1) * 3.0
    corners = amplitude_px * np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])
    k = np.minimum(phase.astype(int), 2)
    frac = (phase - k)[:, None]
    offsets = corners[k] * (1 - frac) + corners[k + 1] * frac  # (dy, dx) per frame
    frames = np.stack([shift(image, o, order=1, mode="constant") for o in offsets])
    return frames + background, np.arange(n, dtype=np.int64) * frame_us
