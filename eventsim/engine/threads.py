"""Samples on a pool of threads of this process, sharing one prepared network.

The engine's numba kernels release the GIL (``nogil=True``), so threads run samples side by
side on one :class:`~eventsim.engine.plan.Plan`: no copy of the network, no pickling, no
worker processes to start. The plan is only read by a run (its decay tables are built under
a lock); each run has its own state, queue and buffers. Python between the kernel calls
(reading a file, wrapping a result) still takes the GIL, which bounds the gain.

Results come back in the order of the inputs, identical to a serial loop: the engine is
deterministic and the runs share nothing they write.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from eventsim.errors import whole

Item = TypeVar("Item")
Out = TypeVar("Out")

#: Samples queued per thread ahead of the one whose result is awaited: enough to keep every
#: thread busy, few enough that an iterator of loaded recordings is not read all at once.
AHEAD = 4


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def check_threads(threads: int | None, where: str = "run_many") -> int:
    """``threads``, or every core for None; InputError unless a positive integer."""
    if threads is None:
        return cores()
    return whole(threads, where, "threads")


def map_threads(fn: Callable[[Item], Out], items: Iterable[Item], threads: int,
                progress: Callable[[int], None] | None = None) -> list[Out]:
    """``[fn(item) for item in items]`` on ``threads`` threads, in the order of ``items``.

    ``items`` is consumed as threads free up (at most ``AHEAD * threads`` ahead of the
    oldest result). The first exception, in input order, is raised once the running calls
    have finished; the calls not yet started are cancelled. ``progress(1)`` is called (in
    the caller's thread) as each result is collected. One thread runs in the caller's
    thread, without a pool.
    """
    progress = progress or (lambda n: None)
    if threads == 1:
        out = []
        for item in items:
            out.append(fn(item))
            progress(1)
        return out
    out, pending = [], deque[Future]()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="eventsim")
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= AHEAD * threads:
                out.append(pending.popleft().result())
                progress(1)
        while pending:
            out.append(pending.popleft().result())
            progress(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out
