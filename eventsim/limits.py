"""Resource limits: the memory budget every large allocation is checked against, and the range
of the numbers the engine represents.

The bottom layer: it imports nothing of eventsim but :mod:`eventsim.errors`.

**Memory budget.** Before eventsim allocates memory whose size a file or a flag decides (the
events a file claims, the weights a network file claims, the neurons of a layer, per-step
tables), it estimates the bytes and calls :func:`check_memory`, which raises
:class:`~eventsim.errors.ResourceError` when they exceed :func:`memory_budget`:

* ``EVENTSIM_MAX_MEMORY`` if set (bytes, or with a binary suffix: ``512M``, ``4G``, ``1.5T``);
* else the memory the kernel reports available (``MemAvailable`` in ``/proc/meminfo``, else
  ``sysconf(SC_AVPHYS_PAGES)``);
* and never more than what the memory cgroup (a container's limit, v2 or v1) or the
  address-space limit (``ulimit -v``) leaves this process.

The estimates are of the arrays eventsim allocates itself (an upper bound within a small
factor), so a run the budget admits can still meet a ``MemoryError`` when other processes take
the memory meanwhile; one it refuses would not have fitted.

**Numbers.** Times are int64 microseconds and the discrete engine keys its queue by
``step * n_neurons + neuron`` in int64: :data:`INT64_MAX` bounds both (:func:`check_window`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None

from eventsim.errors import InputError, ResourceError

#: Largest int64.
INT64_MAX = 2**63 - 1
#: Environment variable that sets the memory budget (bytes, or with a K/M/G/T suffix).
BUDGET_VARIABLE = "EVENTSIM_MAX_MEMORY"
_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; ``2.3e10`` -> ``'21.4 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if m is None:
        raise InputError(f"environment variable {BUDGET_VARIABLE}={text!r}: expected a number of "
                         "bytes, optionally with a suffix K, M, G or T (e.g. 4G)")
    return int(float(m.group(1)) * _SUFFIX[m.group(2).upper()])


def _available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_left() -> int | None:
    """What the memory cgroup of this process (a container's limit) leaves, if it sets one."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's "no limit" (~2**63)
            return max(int(limit) - usage, 0)
    return None


def _address_space_left() -> int | None:
    if resource is None:  # pragma: no cover
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(soft - used, 0)


def memory_budget() -> tuple[int | None, str]:
    """Bytes eventsim may allocate now, and where the figure comes from (None: no limit known)."""
    text = os.environ.get(BUDGET_VARIABLE)
    if text:
        return _parse_bytes(text), f"the budget {BUDGET_VARIABLE}={text}"
    budget, source = _available(), "the memory available"
    limits = ((_cgroup_left(), "what the memory cgroup (a container's limit) leaves"),
              (_address_space_left(), "what the address-space limit (ulimit -v) leaves"))
    for left, where in limits:
        if left is not None and (budget is None or left < budget):
            budget, source = left, where
    return budget, source


#: Allocations up to this size are not checked (the budget is not even looked up): no machine
#: eventsim runs on lacks 64 MiB, and the check stays off the per-sample path.
UNCHECKED_BYTES = 64 << 20


def check_memory(n_bytes: float, what: str | Callable[[], str]) -> None:
    """Raise :class:`ResourceError` if allocating ``n_bytes`` for ``what`` exceeds the budget.

    ``what`` says what is being allocated and by whom, e.g. ``"x.h5: field '/events/t' claims
    100000000000 events: reading them"`` (or a function returning that text, called only for
    the message); the message adds the size and the budget. Allocations of at most
    :data:`UNCHECKED_BYTES` pass unchecked.
    """
    if n_bytes <= UNCHECKED_BYTES:
        return
    budget, source = memory_budget()
    if budget is not None and n_bytes > budget:
        what = what() if callable(what) else what
        raise ResourceError(f"{what} needs {format_bytes(n_bytes)}, more than {source} "
                            f"({format_bytes(budget)}); set {BUDGET_VARIABLE} to change the "
                            "budget")


def check_window(T: int, dt_us: int, n_neurons: int, where: str = "simulate",
                 names: tuple[str, str] = ("T", "dt_us")) -> None:
    """Raise :class:`ResourceError` unless ``T`` steps of ``dt_us`` fit the engine's int64
    clock (``T * dt_us`` microseconds) and its queue keys (``T * n_neurons``).

    ``names``: how the message names ``T`` and ``dt_us`` (the CLI passes its flags).
    """
    t_name, dt_name = names
    if T * dt_us > INT64_MAX:
        raise ResourceError(f"{where}: {t_name}={T} steps of {dt_name}={dt_us} us span "
                            f"{T * dt_us} us, beyond the int64 microsecond clock "
                            f"({INT64_MAX} us); use fewer steps or a shorter step")
    if (T + 1) * max(n_neurons, 1) > INT64_MAX:
        raise ResourceError(f"{where}: {t_name}={T} steps of a network of {n_neurons} neurons "
                            f"exceed the engine's int64 event keys (step * neurons < 2**63); "
                            f"at most {INT64_MAX // max(n_neurons, 1) - 1} steps")
