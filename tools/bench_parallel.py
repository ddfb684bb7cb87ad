"""Throughput of ``eventsim run`` on Dask: 1 and 2 workers against the serial loop.

The shipped ``networks/nmnist-mlp.h5`` on the 100 N-MNIST test recordings repeated
``--repeat`` and 4 x ``--repeat`` times (discrete, float32). Timed: the serial loop (read +
``Simulator.run``) in this process, the reference, and ``eventsim.parallel.run_files`` with a
``LocalCluster`` of 1 and of 2 worker processes (one thread each), start-up included; each
``--trials`` times, interleaved, keeping the median (this machine is shared: single runs
vary by a few tenths of a second). From the two sizes: the time per sample (the slope) and
the fixed cost (cluster start-up, workers loading the numba kernels, the network's
broadcast). Dask's overhead per sample is the 1-worker slope minus the serial one.

    python tools/bench_parallel.py [--repeat 10] [--trials 3]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import statistics
import time
from pathlib import Path

import eventsim
from eventsim.parallel import run_files
from _machine import command_line, data_dir, machine_line

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    net = eventsim.load_network(NET)
    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin")) * args.repeat
    print(machine_line())
    print(command_line())
    print(f"{len(files)} samples (the 100 N-MNIST test recordings x {args.repeat}), "
          f"{NET.name}, discrete, float32")
    sim = eventsim.Simulator(net)
    sim.run(eventsim.read_events(files[0], net.sensor_size))  # numba loaded
    sizes = (len(files), 4 * len(files))
    names = ("serial", "1 worker", "2 workers")
    trials: dict[tuple[str, int], list[float]] = {(k, n): [] for k in names for n in sizes}
    for _ in range(args.trials):
        for n in sizes:
            batch = (files * 4)[:n]
            start = time.perf_counter()
            serial = [sim.run(eventsim.read_events(f, net.sensor_size)) for f in batch]
            trials["serial", n].append(time.perf_counter() - start)
            for workers, name in ((1, names[1]), (2, names[2])):
                start = time.perf_counter()
                results = run_files(net, batch, workers=workers, sensor_size=net.sensor_size)
                trials[name, n].append(time.perf_counter() - start)
                assert [r.predicted for r in results] == [r.predicted for r in serial]
    times = {k: [statistics.median(trials[k, n]) for n in sizes] for k in names}
    print(f"median of {args.trials} trials; 'x serial': the serial time over this run's, end "
          f"to end at {sizes[1]} samples (start-up included) and per sample (slopes)")
    print(f"{'run':<12}" + "".join(f"{f'{n} samples s':>16}" for n in sizes)
          + f"{'ms per sample':>15}{'fixed s':>9}{'x serial end to end':>21}"
          + f"{'x serial per sample':>21}")
    slope = {}
    for name, (t1, t2) in times.items():
        slope[name] = (t2 - t1) / (sizes[1] - sizes[0])
        fixed = t1 - slope[name] * sizes[0]
        print(f"{name:<12}{t1:>16.2f}{t2:>16.2f}{slope[name] * 1e3:>15.3f}{fixed:>9.2f}"
              f"{times['serial'][1] / t2:>21.2f}{slope['serial'] / slope[name]:>21.2f}")
    print(f"Dask adds {(slope['1 worker'] - slope['serial']) * 1e3:.3f} ms per sample (1 worker "
          "against serial); results equal the serial ones")


if __name__ == "__main__":
    main()
