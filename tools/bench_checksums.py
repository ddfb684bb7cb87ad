"""What the checksums cost: reading events with and without Fletcher-32, loading a network with
and without its SHA-256 verified.

Events: 2e7 events on a 128x128 sensor written by ``write_events`` (Fletcher-32 in every
chunk) and the same datasets written without it (the reference), read whole by
``read_events``. Networks: ``networks/nmnist-mlp.h5`` (1.86e6 weights) loaded by
``load_network`` as shipped (checksum verified) and from a copy without the checksum
attribute (the reference; its warning silenced). Each 5 times, interleaved; medians.

    python tools/bench_checksums.py
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

import eventsim
from _machine import command_line, machine_line
from eventsim.h5io import DIGEST_ATTR

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 5


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _interleaved(a, b) -> tuple[float, float]:
    times = {a: [], b: []}
    for trial in range(TRIALS):
        for fn in (a, b) if trial % 2 == 0 else (b, a):
            times[fn].append(_timed(fn))
    return float(np.median(times[a])), float(np.median(times[b]))


def main() -> None:
    print(command_line())
    print(machine_line())
    warnings.simplefilter("ignore", eventsim.errors.EventsimWarning)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        n = 20_000_000
        rng = np.random.default_rng(0)
        ev = np.zeros(n, eventsim.EVENT_DTYPE)
        ev["x"], ev["y"] = rng.integers(0, 128, n), rng.integers(0, 128, n)
        ev["t"], ev["p"] = np.arange(n), rng.integers(0, 2, n)
        checked = eventsim.write_events(eventsim.EventStream(ev, (128, 128, 2)), d / "c.h5")
        plain = d / "p.h5"
        with h5py.File(checked) as src, h5py.File(plain, "w") as dst:
            group = dst.create_group("events")
            group.attrs.update(dict(src["events"].attrs))
            for name in "xytp":
                group.create_dataset(name, data=src["events"][name][()], chunks=(65536,))
        with_sum, without = _interleaved(lambda: eventsim.read_events(checked),
                                         lambda: eventsim.read_events(plain))
        print(f"read_events of {n:.0e} events ({checked.stat().st_size / 2**20:.0f} MiB): "
              f"Fletcher-32 {with_sum:.3f} s, none {without:.3f} s, ratio {with_sum / without:.2f}")
        net = ROOT / "networks" / "nmnist-mlp.h5"
        copy = d / "net.h5"
        shutil.copy(net, copy)
        with h5py.File(copy, "r+") as f:
            del f.attrs[DIGEST_ATTR]
        with_sum, without = _interleaved(lambda: eventsim.load_network(net),
                                         lambda: eventsim.load_network(copy))
        print(f"load_network of {net.name} ({net.stat().st_size / 2**20:.1f} MiB): SHA-256 "
              f"verified {with_sum:.3f} s, none {without:.3f} s, ratio {with_sum / without:.2f}")
    print(f"median of {TRIALS} interleaved trials each")


if __name__ == "__main__":
    main()
