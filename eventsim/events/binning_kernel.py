"""numba kernel of :func:`eventsim.events.binning.bin_sparse` for time-sorted events, and the
allocation-free sort it (and the engine) use once per step.

Imported lazily by ``bin_sparse`` so that ``import eventsim`` does not load numba.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sort_prefix(a, n):
    """Sort ``a[:n]`` in place (heapsort): no allocation, unlike numba's ``ndarray.sort``."""
    for start in range(n // 2 - 1, -1, -1):
        _sift_values(a, start, n)
    for end in range(n - 1, 0, -1):
        a[0], a[end] = a[end], a[0]
        _sift_values(a, 0, end)


@njit(cache=True, nogil=True)
def _sift_values(a, i, n):
    while True:
        child = 2 * i + 1
        if child >= n:
            return
        if child + 1 < n and a[child + 1] > a[child]:
            child += 1
        if a[child] <= a[i]:
            return
        a[i], a[child] = a[child], a[i]
        i = child


@njit(cache=True, nogil=True)
def bin_sorted(steps, channels, keep, n_channels, T):
    """Binary binning of events whose ``steps`` are non-decreasing.

    Returns ``(step_ptr (T + 1,), channel_idx)``: each step's channels once, ascending.
    """
    seen = np.full(n_channels, -1, np.int64)
    idx = np.empty(steps.shape[0], np.int64)
    counts = np.zeros(T, np.int64)
    n = 0
    begin = 0
    prev = -1
    for i in range(steps.shape[0]):
        if not keep[i]:
            continue
        s = steps[i]
        if s != prev:
            sort_prefix(idx[begin:n], n - begin)
            begin = n
            prev = s
        c = channels[i]
        if seen[c] != s:
            seen[c] = s
            idx[n] = c
            n += 1
            counts[s] += 1
    sort_prefix(idx[begin:n], n - begin)
    step_ptr = np.zeros(T + 1, np.int64)
    for s in range(T):
        step_ptr[s + 1] = step_ptr[s] + counts[s]
    return step_ptr, idx[:n].copy()


@njit(cache=True, nogil=True)
def bin_active(steps, channels, n_channels):
    """Binary binning of events whose ``steps`` are non-decreasing, by the steps that have
    events: ``(active_steps, ptr, channel_idx)``, the channels of ``active_steps[j]`` being
    ``channel_idx[ptr[j]:ptr[j + 1]]``, each once, ascending. Memory per event, not per step."""
    seen = np.full(n_channels, -1, np.int64)
    idx = np.empty(steps.shape[0], np.int64)
    active = np.empty(steps.shape[0], np.int64)
    ptr = np.zeros(steps.shape[0] + 1, np.int64)
    n = 0
    k = 0
    for i in range(steps.shape[0]):
        s = steps[i]
        if k == 0 or active[k - 1] != s:
            if k:
                sort_prefix(idx[ptr[k - 1]:n], n - ptr[k - 1])
            active[k] = s
            ptr[k] = n
            k += 1
        c = channels[i]
        if seen[c] != s:
            seen[c] = s
            idx[n] = c
            n += 1
    if k:
        sort_prefix(idx[ptr[k - 1]:n], n - ptr[k - 1])
    ptr[k] = n
    return active[:k].copy(), ptr[:k + 1].copy(), idx[:n].copy()


@njit(cache=True, nogil=True)
def bin_stream(events, w, h, n_channels, dt_us, s_end):
    """:func:`bin_active` of the events (``EVENT_DTYPE``) of steps ``t // dt_us < s_end``,
    with their channels ``p*W*H + y*W + x``, in one call: ``(active_steps, ptr, channel_idx,
    t_min, t_max, ordered)`` (times over every event; 0 and -1 when there is none). When the
    times go backwards (``ordered`` False) nothing is binned: sort the events first."""
    n = events.shape[0]
    steps = np.empty(n, np.int64)
    channels = np.empty(n, np.int64)
    k = 0
    t_min, t_max, ordered = 0, -1, True
    for i in range(n):
        t = np.int64(events[i].t)
        if i == 0:
            t_min = t
        elif t < t_max:
            ordered = False
        t_max = max(t, t_max)
        t_min = min(t, t_min)
        s = t // dt_us
        if s < s_end:
            steps[k] = s
            channels[k] = np.int64(events[i].p) * (w * h) + np.int64(events[i].y) * w \
                + np.int64(events[i].x)
            k += 1
    if not ordered:
        k = 0
    active, ptr, idx = bin_active(steps[:k], channels[:k], n_channels)
    return active, ptr, idx, t_min, t_max, ordered


@njit(cache=True, nogil=True)
def dense_sparse(spikes):
    """``(step_ptr, channel_idx, bad)`` of a 2-D 0/1 array ``(T, n_channels)``: one pass
    counts each step's spikes and checks every value, one lists their channels. ``bad`` is
    the flat index of the first value neither 0 nor 1 (the lists then empty), else -1."""
    T, n = spikes.shape
    step_ptr = np.zeros(T + 1, np.int64)
    for t in range(T):
        count = 0
        for c in range(n):
            v = spikes[t, c]
            if v != 0:
                if v != 1:
                    return np.zeros(T + 1, np.int64), np.zeros(0, np.int64), t * n + c
                count += 1
        step_ptr[t + 1] = step_ptr[t] + count
    idx = np.empty(step_ptr[T], np.int64)
    k = 0
    for t in range(T):
        for c in range(n):
            if spikes[t, c] != 0:
                idx[k] = c
                k += 1
    return step_ptr, idx, -1


#: Every byte of a uint64 word but its lowest bit: a word of 0/1 bytes has none of them set.
_HIGH_BITS = np.uint64(0xFEFEFEFEFEFEFEFE)
#: A de Bruijn sequence: ``(low * _DE_BRUIJN) >> 58`` is distinct for each single-bit
#: ``low``, and ``_LOWEST_BIT`` maps it to that bit's position (a count of trailing zeros).
_DE_BRUIJN = 0x03F79D71B4CB0A89
_LOWEST_BIT = np.zeros(64, np.int64)
for _bit in range(64):
    _LOWEST_BIT[(((1 << _bit) * _DE_BRUIJN) & (2**64 - 1)) >> 58] = _bit
#: Byte ``m`` of a word read from memory holds its bits ``8m .. 8m + 7`` (little-endian).
_LITTLE = sys.byteorder == "little"


@njit(cache=True, nogil=True)
def dense_sparse_bytes(flat, T, n):
    """:func:`dense_sparse` of a C-contiguous one-byte array (uint8, or bool viewed as uint8)
    given flat, ``flat.shape == (T * n,)``, in one pass eight bytes at a time: a word that is
    0 (no spike) costs one test, and a word of 0/1 bytes yields its spikes by their bits
    (:func:`_word_spikes`), never byte by byte. The same results."""
    total = T * n
    n_words = total // 8
    words = flat[:n_words * 8].view(np.uint64)
    tail = np.zeros(8, np.uint8)  # the bytes after the whole words, as one more word
    tail[:total - 8 * n_words] = flat[8 * n_words:]
    step_ptr = np.zeros(T + 1, np.int64)
    idx = np.empty(max(16, total // 64), np.int64)
    j, t = 0, 0  # spikes listed; the step of the last one
    for k in range(n_words):
        w = words[k]
        if w == 0:
            continue
        if w & _HIGH_BITS:
            return np.zeros(T + 1, np.int64), np.zeros(0, np.int64), _first_bad(flat, 8 * k)
        if j + 8 > idx.shape[0]:  # room for this word's spikes
            idx = _grown(idx, j)
        j, t = _word_spikes(w, 8 * k, n, idx, j, t, step_ptr)
    w = tail.view(np.uint64)[0]
    if w & _HIGH_BITS:
        return np.zeros(T + 1, np.int64), np.zeros(0, np.int64), _first_bad(flat, 8 * n_words)
    if j + 8 > idx.shape[0]:
        idx = _grown(idx, j)
    j, t = _word_spikes(w, 8 * n_words, n, idx, j, t, step_ptr)
    for s in range(T):
        step_ptr[s + 1] += step_ptr[s]
    return step_ptr, idx[:j].copy(), -1


@njit(cache=True, nogil=True, inline="always")
def _word_spikes(w, first, n, idx, j, t, step_ptr):
    """List the spikes of the word ``w`` of 0/1 bytes whose first byte is ``flat[first]``:
    each set bit, lowest first (its position by :data:`_LOWEST_BIT`), is the byte at
    ``first + bit // 8`` (little-endian). Its channel goes to ``idx[j]`` and its step (from
    ``t`` on) is counted in ``step_ptr``; returns the new ``j`` and ``t``."""
    de_bruijn = np.uint64(_DE_BRUIJN)
    while w:
        low = w & (~w + np.uint64(1))
        bit = _LOWEST_BIT[(low * de_bruijn) >> np.uint64(58)]
        i = first + (bit >> 3 if _LITTLE else 7 - (bit >> 3))
        while i >= (t + 1) * n:
            t += 1
        idx[j] = i - t * n
        step_ptr[t + 1] += 1
        j += 1
        w ^= low
    return j, t


@njit(cache=True, nogil=True)
def _first_bad(flat, first):
    """The index of the first byte from ``flat[first]`` on that is neither 0 nor 1."""
    i = first
    while flat[i] <= 1:
        i += 1
    return i


@njit(cache=True, nogil=True)
def _grown(idx, j):
    """``idx`` twice as long, its first ``j`` values kept."""
    grown = np.empty(2 * idx.shape[0], np.int64)
    grown[:j] = idx[:j]
    return grown
