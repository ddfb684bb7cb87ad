"""Shared bits of the benchmarks: one thread everywhere, the machine line, the data folder."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform
import sys
from pathlib import Path


def machine_line() -> str:
    import numba
    import numpy

    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, numba {numba.__version__}, one thread")


def command_line() -> str:
    return "command: python " + " ".join(sys.argv)


def data_dir() -> Path:
    env = os.environ.get("EVENTSIM_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        sys.exit(f"data folder not found: {path} (set EVENTSIM_DATA)")
    return path
