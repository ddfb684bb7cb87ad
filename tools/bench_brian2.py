"""Time of ``eventsim validate`` per sample: Brian2 (each target) against the runtime.

The shipped ``networks/nmnist-mlp.h5`` (2312-800-10, 10 ms bins, T = 30) on the real N-MNIST
test recordings, discrete mode, float64. For each Brian2 code generation target: the build
time (objects, code generation, compilation for cpp_standalone), the run time, both per
sample, the mismatching spikes (must be 0), and the ratio to the event-driven runtime's
per-sample time measured in the same run. The samples run as segments of ``run()`` calls
of 25 samples (one call for cpp_standalone). Each target is warmed up on 2 samples first
(numba's and Cython's compiled code is cached and reused; a first ever Cython run compiles
for a minute more). cpp_standalone compiles its C++ on every build: that is in its run time.

    python tools/bench_brian2.py [--samples 100] [--targets numpy cython cpp_standalone]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
from pathlib import Path

import eventsim
from eventsim.validate import validate
from _machine import command_line, data_dir, machine_line

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--targets", nargs="+", default=["numpy", "cython", "cpp_standalone"])
    args = parser.parse_args()
    net = eventsim.load_network(NET)
    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    print(machine_line())
    print(command_line())
    print(f"network {NET.name}, {len(streams)} N-MNIST test samples, dt_us {net.dt_us}, "
          f"T {net.T}, discrete, float64")
    print(f"{'target':<16}{'build ms/sample':>16}{'run ms/sample':>15}{'eventsim ms':>13}"
          f"{'ratio':>9}{'mismatches':>12}")
    for target in args.targets:
        validate(net, streams[:2], [str(f) for f in files[:2]], target=target)  # warm-up
        report = validate(net, streams, [str(f) for f in files], target=target)
        n = len(streams)
        ours = report.eventsim_seconds / n * 1e3
        build = report.brian2_build_seconds / n * 1e3
        run = report.brian2_run_seconds / n * 1e3
        print(f"{target:<16}{build:>16.2f}{run:>15.2f}{ours:>13.3f}"
              f"{(build + run) / ours:>9.0f}{report.n_mismatches:>12}")
    print("ratio: Brian2 (build + run) per sample / eventsim per sample")


if __name__ == "__main__":
    main()
