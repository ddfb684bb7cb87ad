"""What a loop of ``simulate(net, x)`` costs against a prepared ``Simulator``, and what a
dense 0/1 input costs against the same spikes as an event stream.

Network 2312-800-10 of ``bench_runtime.py`` (seeded weights, calibrated to a few percent
hidden spikes per step), float32, dt_us 1000, T 300, one thread, real N-MNIST test samples.
Each trial times, per sample and interleaved: building the plan (what every ``simulate``
call did before plans were kept, ``build_plan``), ``simulate(net, stream)`` (the plan kept
on the network, checked by its fingerprint), ``Simulator.run(stream)`` and
``Simulator.run(dense)`` (the same spikes binned to a (T, 2312) uint8 array). Medians over
samples and trials, the spread of the per-trial medians, and ratios to ``Simulator.run``.

    python tools/bench_simulate.py [--samples 20] [--trials 5]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import time

import numpy as np

import eventsim
from bench_runtime import calibrate
from eventsim.engine.plan import build_plan
from eventsim.network.graph import as_graph
from _machine import command_line, data_dir, machine_line

DT_US, T = 1000, 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    files = sorted((data_dir() / "nmnist").glob("Test/*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
    std1 = calibrate(streams, DT_US, T)
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
    dense = [eventsim.bin_events(s, DT_US, T).reshape(T, -1).astype(np.uint8) for s in streams]
    sim = eventsim.Simulator(net, dtype="float32", dt_us=DT_US, T=T)
    graph = as_graph(net)
    ways = {
        "build the plan": lambda k: build_plan(graph, np.dtype(np.float32)),
        "simulate(net, stream)": lambda k: eventsim.simulate(net, streams[k], dt_us=DT_US, T=T),
        "Simulator.run(stream)": lambda k: sim.run(streams[k]),
        "Simulator.run(dense)": lambda k: sim.run(dense[k]),
    }
    for way in ways.values():  # compile, load caches
        way(0)
    a = eventsim.simulate(net, streams[0], dt_us=DT_US, T=T).spike_counts
    b = sim.run(dense[0]).spike_counts
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "dense and stream runs differ"
    per_trial = {name: [] for name in ways}
    for trial in range(args.trials):
        times = {name: [] for name in ways}
        names = list(ways) if trial % 2 == 0 else list(reversed(ways))
        for k in range(len(streams)):
            for name in names:
                t0 = time.perf_counter()
                ways[name](k)
                times[name].append(time.perf_counter() - t0)
        for name in ways:
            per_trial[name].append(float(np.median(times[name])) * 1e3)
    print(command_line())
    print(machine_line())
    print(f"{len(streams)} N-MNIST test samples x {args.trials} trials, network 2312-800-10, "
          f"float32, dt_us {DT_US}, T {T}; ms per sample: median (range of trial medians)")
    ref = float(np.median(per_trial["Simulator.run(stream)"]))
    for name, values in per_trial.items():
        med = float(np.median(values))
        print(f"{name:<24} {med:8.3f} ({min(values):.3f}..{max(values):.3f})  "
              f"x{med / ref:.2f} Simulator.run(stream)")


if __name__ == "__main__":
    main()
