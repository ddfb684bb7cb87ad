"""Prepared plans kept on the network they were built from, reused while it is unchanged.

``simulate(net, x)`` in a loop is the first thing a new user writes, and building the plan
(:func:`~eventsim.engine.plan.build_plan`: CSR matrices, tables) costs far more than a run.
So each network keeps its last few plans, keyed by the dtype, the mode and a
:func:`fingerprint` of everything the plan is built from: every array's bytes (CRC-32),
shape and dtype, and every other field's ``repr``, walked through the network's dataclasses
(layers, populations, projections, ops). A weight changed in place changes the fingerprint,
and the next run builds a new plan; checking it costs a pass over the arrays (a few ms for
the 7.4 MB of a 2312-800-10 float32 network), not a rebuild.

The plans live in the network's ``_eventsim_plans`` attribute, a :class:`PlanCache` that
pickles and copies as empty: a network sent to a worker or saved carries no plan.
"""

from __future__ import annotations

import dataclasses
import threading
import zlib

import numpy as np

from eventsim.engine.plan import Plan, build_plan

#: Plans kept per network (one per dtype and mode in use, typically).
KEEP = 4


class PlanCache(dict):
    """Plans by (dtype, continuous, fingerprint); empty when pickled or copied. ``lock``
    serialises threads that look a plan up or build one."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __reduce__(self):
        return PlanCache, ()


def fingerprint(obj) -> tuple[int, str]:
    """``(crc, text)``: a CRC-32 of every array's bytes and the ``repr`` of every other
    value (with the arrays' shapes and dtypes) in ``obj``, walked through dataclasses, lists,
    tuples and dicts."""
    crc = 0
    parts: list[str] = []

    def walk(x) -> None:
        nonlocal crc
        if isinstance(x, np.ndarray):
            a = np.ascontiguousarray(x)
            crc = zlib.crc32(memoryview(a.reshape(-1)).cast("B"), crc)
            parts.append(f"array{a.shape}{a.dtype.str}")
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            parts.append(type(x).__name__)
            for f in dataclasses.fields(x):
                parts.append(f.name)
                walk(getattr(x, f.name))
        elif isinstance(x, (list, tuple)):
            parts.append(f"{type(x).__name__}{len(x)}")
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            parts.append(f"dict{len(x)}")
            for k in sorted(x, key=repr):
                parts.append(repr(k))
                walk(x[k])
        else:
            parts.append(repr(x))

    walk(obj)
    return crc, "|".join(parts)


def cached_plan(net, graph, dtype: np.dtype, continuous: bool) -> Plan:
    """The plan of ``graph`` (``as_graph(net)``) in ``dtype``, from ``net``'s cache while
    ``net`` is unchanged (:func:`fingerprint`), else built and kept."""
    key = (np.dtype(dtype).str, continuous, fingerprint(net))
    cache = getattr(net, "_eventsim_plans", None)
    if not isinstance(cache, PlanCache):
        cache = PlanCache()
        object.__setattr__(net, "_eventsim_plans", cache)
    with cache.lock:
        plan = cache.get(key)
        if plan is None:
            plan = build_plan(graph, dtype, continuous=continuous)
            while len(cache) >= KEEP:
                del cache[next(iter(cache))]
            cache[key] = plan
    return plan
