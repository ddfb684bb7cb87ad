"""Throughput of many samples on one machine: threads (and Dask) against the serial loop.

The shipped ``networks/nmnist-mlp.h5`` on the 100 N-MNIST test recordings repeated
``--repeat`` and 4 x ``--repeat`` times (discrete, float32). Timed, each ``--trials`` times
and interleaved, keeping the median (this machine is shared: single runs vary): the serial
loop (read + ``Simulator.run``) in this process, the reference; ``eventsim.runs.run_files``
on 1 and 2 threads (what ``eventsim run --threads N`` calls; the pool's start included);
with ``--dask``, also ``eventsim.parallel.run_files`` on a ``LocalCluster`` of 1 and 2
worker processes (start-up included). From the two sizes: the time per sample (the slope)
and the fixed cost. Results are checked equal to the serial ones.

    python tools/bench_parallel.py [--repeat 10] [--trials 5] [--dask]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread per BLAS; must come before numpy)

import argparse
import statistics
import time
from pathlib import Path

import eventsim
from _machine import command_line, data_dir, machine_line
from eventsim.runs import run_files

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--dask", action="store_true", help="also 1 and 2 Dask workers")
    args = parser.parse_args()
    net = eventsim.load_network(NET)
    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin")) * args.repeat
    print(machine_line())
    print(command_line())
    print(f"{len(files)} and {4 * len(files)} samples (the 100 N-MNIST test recordings x "
          f"{args.repeat} and x {4 * args.repeat}), {NET.name}, discrete, float32")
    sim = eventsim.Simulator(net)
    size = net.sensor_size
    run_files(sim, files[:20], threads=2, sensor_size=size)  # numba loaded, buffers sized
    runs = {"serial": None, "1 thread": {"threads": 1}, "2 threads": {"threads": 2}}
    if args.dask:
        runs |= {"1 worker": {"workers": 1, "scheduler": None},
                 "2 workers": {"workers": 2, "scheduler": None}}
    sizes = (len(files), 4 * len(files))
    trials: dict[tuple[str, int], list[float]] = {(k, n): [] for k in runs for n in sizes}
    for _ in range(args.trials):
        for n in sizes:
            batch = (files * 4)[:n]
            start = time.perf_counter()
            serial = [sim.run(eventsim.read_events(f, size)) for f in batch]
            trials["serial", n].append(time.perf_counter() - start)
            expected = [(r.predicted, int(r.sops.sum())) for r in serial]
            for name, kwargs in runs.items():
                if kwargs is None:
                    continue
                if "workers" in kwargs:  # a Dask cluster, started by the call
                    from eventsim.parallel import run_files as run_on_dask

                    start = time.perf_counter()
                    results = run_on_dask(net, batch, kwargs["workers"], sensor_size=size)
                else:
                    start = time.perf_counter()
                    results = run_files(sim, batch, sensor_size=size, **kwargs)
                trials[name, n].append(time.perf_counter() - start)
                assert [(r.predicted, int(r.sops.sum())) for r in results] == expected, name
    times = {k: [statistics.median(trials[k, n]) for n in sizes] for k in runs}
    print(f"median of {args.trials} interleaved trials (range of the {sizes[1]}-sample ratio "
          "over trials in brackets); 'x serial': the serial time over this one's, end to end "
          f"at {sizes[1]} samples and per sample (the slope between the two sizes)")
    print(f"{'run':<11}" + "".join(f"{f'{n} samples s':>16}" for n in sizes)
          + f"{'ms per sample':>15}{'fixed s':>9}{'x serial end to end':>29}"
          + f"{'x serial per sample':>21}")
    slope = {}
    for name, (t1, t2) in times.items():
        slope[name] = (t2 - t1) / (sizes[1] - sizes[0])
        fixed = t1 - slope[name] * sizes[0]
        ratios = [a / b for a, b in zip(trials["serial", sizes[1]], trials[name, sizes[1]])]
        spread = f"{times['serial'][1] / t2:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{name:<11}{t1:>16.2f}{t2:>16.2f}{slope[name] * 1e3:>15.3f}{fixed:>9.2f}"
              f"{spread:>29}{slope['serial'] / slope[name]:>21.2f}")
    print("results equal the serial ones")


if __name__ == "__main__":
    main()
