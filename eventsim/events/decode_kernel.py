"""numba kernels of the readers: ATIS record decoding, and the check every event passes.

Both release the GIL, so files read on threads (:mod:`eventsim.engine.threads`) decode side
by side. Imported lazily by :mod:`.readers` and :func:`.stream.check_events`, so that
``import eventsim`` does not load numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def decode_atis_records(rec, overflows_before, overflow_y, overflow_us, out):
    """Decode ATIS 5-byte records ``rec`` (uint8, shape (n, 5); the layout is
    :func:`eventsim.events.readers.decode_atis`'s) into ``out`` (``EVENT_DTYPE``, length n).

    A record whose ``y == overflow_y`` is dropped and adds ``overflow_us`` to every later
    timestamp (``overflows_before`` such records came earlier in the file). Returns
    ``(n_events, overflows)``: the events written to ``out[:n_events]``, and the overflow
    records seen up to the end of ``rec``."""
    n = 0
    overflows = overflows_before
    for i in range(rec.shape[0]):
        if rec[i, 1] == overflow_y:
            overflows += 1
            continue
        out[n].x = rec[i, 0]
        out[n].y = rec[i, 1]
        out[n].t = ((np.int64(rec[i, 2]) & 0x7F) << 16 | np.int64(rec[i, 3]) << 8
                    | np.int64(rec[i, 4])) + overflow_us * overflows
        out[n].p = rec[i, 2] >= 0x80
        n += 1
    return n, overflows


@njit(cache=True, nogil=True)
def events_valid(events, w, h, one_polarity):
    """Whether every event of ``events`` (``EVENT_DTYPE``) has ``0 <= x < w``, ``0 <= y <
    h``, ``t >= 0``, and ``p == 0`` if ``one_polarity``. One pass without a branch per event;
    :func:`eventsim.events.stream.check_events` finds the culprit when it is False."""
    ok = True
    for i in range(events.shape[0]):
        ok &= ((events[i].x >= 0) & (events[i].x < w) & (events[i].y >= 0)
               & (events[i].y < h) & (events[i].t >= 0) & ~(one_polarity & events[i].p))
    return ok
