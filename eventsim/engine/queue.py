"""A binary min-heap over flat arrays, for numba kernels.

Entries are ``(key, seq, ver)``; the heap orders by ``key`` then ``seq``. Callers encode what
an entry is in ``key`` (the discrete engine uses ``step * n_neurons + neuron``, which orders by
step, then population, then neuron) and use ``ver`` for lazy invalidation: an entry whose
``ver`` no longer matches its neuron's version is stale and skipped when popped.

``hstate`` is an int64 array ``[size, next_seq]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SIZE, NEXT_SEQ = 0, 1


@njit(cache=True)
def _less(hkey, hseq, a, b):
    return hkey[a] < hkey[b] or (hkey[a] == hkey[b] and hseq[a] < hseq[b])


@njit(cache=True)
def _swap(hkey, hseq, hver, a, b):
    hkey[a], hkey[b] = hkey[b], hkey[a]
    hseq[a], hseq[b] = hseq[b], hseq[a]
    hver[a], hver[b] = hver[b], hver[a]


@njit(cache=True)
def _sift_down(hkey, hseq, hver, i, n):
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        child = left
        if left + 1 < n and _less(hkey, hseq, left + 1, left):
            child = left + 1
        if not _less(hkey, hseq, child, i):
            return
        _swap(hkey, hseq, hver, i, child)
        i = child


@njit(cache=True)
def heap_push(hkey, hseq, hver, hstate, key, ver):
    """Push ``(key, next_seq, ver)``; the caller guarantees room (see :func:`heap_compact`)."""
    i = hstate[SIZE]
    hkey[i] = key
    hseq[i] = hstate[NEXT_SEQ]
    hver[i] = ver
    hstate[SIZE] = i + 1
    hstate[NEXT_SEQ] += 1
    while i > 0:
        parent = (i - 1) // 2
        if not _less(hkey, hseq, i, parent):
            break
        _swap(hkey, hseq, hver, i, parent)
        i = parent


@njit(cache=True)
def heap_pop(hkey, hseq, hver, hstate):
    """Remove the smallest entry and return its ``(key, ver)``."""
    key, ver = hkey[0], hver[0]
    n = hstate[SIZE] - 1
    hstate[SIZE] = n
    if n > 0:
        hkey[0], hseq[0], hver[0] = hkey[n], hseq[n], hver[n]
        _sift_down(hkey, hseq, hver, 0, n)
    return key, ver


@njit(cache=True)
def heap_compact(hkey, hseq, hver, hstate, version, n_neurons):
    """Drop stale entries (``ver != version[key % n_neurons]``) and restore the heap order."""
    n = 0
    for i in range(hstate[SIZE]):
        if hver[i] == version[hkey[i] % n_neurons]:
            hkey[n], hseq[n], hver[n] = hkey[i], hseq[i], hver[i]
            n += 1
    hstate[SIZE] = n
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(hkey, hseq, hver, i, n)


def new_heap(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Empty heap arrays ``(hkey, hseq, hver, hstate)`` with room for ``capacity`` entries."""
    return (np.zeros(capacity, np.int64), np.zeros(capacity, np.int64),
            np.zeros(capacity, np.int64), np.zeros(2, np.int64))
