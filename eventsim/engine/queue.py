"""A binary min-heap over flat arrays, for numba kernels.

Entries are ``(key, key2, seq, ver)``; the heap orders by ``key``, then ``key2``, then
``seq`` (the push order, which makes ties deterministic). Callers encode what an entry is in
the keys (the discrete engine: ``key = step * n_neurons + neuron``, which orders by step, then
population, then neuron; the continuous engine: ``key`` = the bits of a non-negative float64
time, which order like the times, and ``key2 = population * stride + neuron``) and use ``ver``
for lazy invalidation: an entry whose ``ver`` no longer matches its neuron's version is stale
and skipped when popped.

``hstate`` is an int64 array ``[size, next_seq]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

SIZE, NEXT_SEQ = 0, 1


@njit(cache=True, nogil=True)
def _less(hkey, hkey2, hseq, a, b):
    if hkey[a] != hkey[b]:
        return hkey[a] < hkey[b]
    if hkey2[a] != hkey2[b]:
        return hkey2[a] < hkey2[b]
    return hseq[a] < hseq[b]


@njit(cache=True, nogil=True)
def _swap(hkey, hkey2, hseq, hver, a, b):
    hkey[a], hkey[b] = hkey[b], hkey[a]
    hkey2[a], hkey2[b] = hkey2[b], hkey2[a]
    hseq[a], hseq[b] = hseq[b], hseq[a]
    hver[a], hver[b] = hver[b], hver[a]


@njit(cache=True, nogil=True)
def _sift_down(hkey, hkey2, hseq, hver, i, n):
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        child = left
        if left + 1 < n and _less(hkey, hkey2, hseq, left + 1, left):
            child = left + 1
        if not _less(hkey, hkey2, hseq, child, i):
            return
        _swap(hkey, hkey2, hseq, hver, i, child)
        i = child


@njit(cache=True, nogil=True)
def heap_push(hkey, hkey2, hseq, hver, hstate, key, key2, ver):
    """Push ``(key, key2, next_seq, ver)``; the caller guarantees room."""
    i = hstate[SIZE]
    hkey[i] = key
    hkey2[i] = key2
    hseq[i] = hstate[NEXT_SEQ]
    hver[i] = ver
    hstate[SIZE] = i + 1
    hstate[NEXT_SEQ] += 1
    while i > 0:
        parent = (i - 1) // 2
        if not _less(hkey, hkey2, hseq, i, parent):
            break
        _swap(hkey, hkey2, hseq, hver, i, parent)
        i = parent


@njit(cache=True, nogil=True)
def heap_pop(hkey, hkey2, hseq, hver, hstate):
    """Remove the smallest entry and return its ``(key, key2, ver)``."""
    key, key2, ver = hkey[0], hkey2[0], hver[0]
    n = hstate[SIZE] - 1
    hstate[SIZE] = n
    if n > 0:
        hkey[0], hkey2[0], hseq[0], hver[0] = hkey[n], hkey2[n], hseq[n], hver[n]
        _sift_down(hkey, hkey2, hseq, hver, 0, n)
    return key, key2, ver


@njit(cache=True, nogil=True)
def heap_compact(hkey, hkey2, hseq, hver, hstate, live):
    """Keep only the entries where ``live[i]`` is True and restore the heap order."""
    n = 0
    for i in range(hstate[SIZE]):
        if live[i]:
            hkey[n], hkey2[n], hseq[n], hver[n] = hkey[i], hkey2[i], hseq[i], hver[i]
            n += 1
    hstate[SIZE] = n
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(hkey, hkey2, hseq, hver, i, n)


class Heap(NamedTuple):
    """The heap's arrays: keys, push order, versions (one entry per index) and ``hstate``."""

    hkey: np.ndarray
    hkey2: np.ndarray
    hseq: np.ndarray
    hver: np.ndarray
    hstate: np.ndarray


def new_heap(capacity: int) -> Heap:
    """An empty heap with room for ``capacity`` entries."""
    return Heap(np.zeros(capacity, np.int64), np.zeros(capacity, np.int64),
                np.zeros(capacity, np.int64), np.zeros(capacity, np.int64),
                np.zeros(2, np.int64))


def grow_heap(heap: Heap) -> Heap:
    """The same heap with twice the room."""
    *arrays, hstate = heap
    return Heap(*(np.resize(a, 2 * len(a)) for a in arrays), hstate)
