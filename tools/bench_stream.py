"""Streaming a long recording: peak memory is bounded by the chunk, not by the recording.

Generates a recording of ``--events`` events (default 1e8: uniform random events on a 128x128
DVS sensor at 1e6 events/s, i.e. 100 s) with ``eventsim.EventWriter``, then in fresh
subprocesses measures peak RSS (``ru_maxrss``) and time of:

* ``baseline``: imports, building the network, a 1e5-event run (compiles / loads the cache);
* ``stream C``: ``simulate(net, iter_events(path, C), T=...)`` over the whole recording, for
  each chunk size C (discrete mode, dt_us=1000, record="output");
* ``read whole``: the reference, ``read_events(path)`` of the whole recording (no simulation).

Network: Conv2d(2->8, 4x4, stride 4) -> Flatten -> Dense(8192->10), seeded random weights.

    python tools/bench_stream.py [--events 100000000] [--path /tmp/eventsim_stream.h5]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _machine import command_line, machine_line

SENSOR = (128, 128, 2)
RATE_PER_S = 1_000_000
DT_US = 1000


def network():
    import eventsim

    rng = np.random.default_rng(0)
    conv = eventsim.Conv2d(rng.normal(0, 0.3, (8, 2, 4, 4)), stride=4)
    dense = eventsim.Dense(rng.normal(0, 0.05, (10, 8 * 32 * 32)))
    return eventsim.Network([conv, eventsim.Flatten(), dense], (2, 128, 128), dt_us=DT_US)


def generate(path: Path, n_events: int, chunk: int = 1_000_000) -> None:
    import eventsim

    rng = np.random.default_rng(0)
    with eventsim.EventWriter(path, SENSOR, chunk_events=chunk) as writer:
        for start in range(0, n_events, chunk):
            n = min(chunk, n_events - start)
            ev = np.empty(n, eventsim.EVENT_DTYPE)
            ev["x"] = rng.integers(0, SENSOR[0], n)
            ev["y"] = rng.integers(0, SENSOR[1], n)
            ev["p"] = rng.integers(0, 2, n)
            t0 = start * 1_000_000 // RATE_PER_S
            ev["t"] = t0 + np.sort(rng.integers(0, n * 1_000_000 // RATE_PER_S, n))
            writer.write(ev)


def child(what: str, path: str, chunk: int, n_events: int) -> None:
    import eventsim

    T = n_events * 1_000_000 // RATE_PER_S // DT_US + 1
    t0 = time.perf_counter()
    out = {}
    if what == "whole":
        out["events"] = len(eventsim.read_events(path))
    else:
        sim = eventsim.Simulator(network(), T=T if what == "stream" else 100, record="output")
        chunks = eventsim.iter_events(path, chunk)
        if what == "baseline":
            chunks = [next(iter(chunks))]
        r = sim.run(chunks)
        out.update(events=r.input_spikes, sops=int(r.sops.sum()), spikes=r.n_spikes.tolist(),
                   peak_queue=r.peak_queue)
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(what: str, path: Path, chunk: int, n_events: int) -> dict:
    cmd = [sys.executable, __file__, "--child", what, "--path", str(path),
           "--chunk", str(chunk), "--events", str(n_events)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/eventsim_stream.h5"))
    parser.add_argument("--chunks", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=100_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, str(args.path), args.chunk, args.events)
    print(command_line())
    print(machine_line())
    if args.regenerate or not args.path.exists():
        t0 = time.perf_counter()
        generate(args.path, args.events)
        print(f"generated {args.events:.3g} events in {time.perf_counter() - t0:.1f} s")
    size_mb = args.path.stat().st_size / 2**20
    print(f"recording: {args.path} ({args.events:.3g} events, {size_mb:.0f} MiB, "
          f"{args.events / RATE_PER_S:.0f} s at dt_us={DT_US})")
    print(f"{'run':<18}{'peak RSS MiB':>13}{'seconds':>9}{'events/s':>10}  notes")
    base = measure("baseline", args.path, 100_000, args.events)
    print(f"{'baseline':<18}{base['peak_rss_mb']:>13.0f}{base['seconds']:>9.1f}{'':>10}  "
          "imports, network, one 1e5-event chunk")
    whole = measure("whole", args.path, 0, args.events)
    for chunk in args.chunks:
        r = measure("stream", args.path, chunk, args.events)
        print(f"{'stream ' + format(chunk, '.0e'):<18}{r['peak_rss_mb']:>13.0f}{r['seconds']:>9.1f}"
              f"{r['events'] / r['seconds']:>10.2e}  {r['sops']:.3g} SOPs, spikes {r['spikes']}, "
              f"RSS / read-whole {r['peak_rss_mb'] / whole['peak_rss_mb']:.3f}", flush=True)
    print(f"{'read whole':<18}{whole['peak_rss_mb']:>13.0f}{whole['seconds']:>9.1f}"
          f"{whole['events'] / whole['seconds']:>10.2e}  reference: read_events of the whole file")


if __name__ == "__main__":
    main()
