"""The recurrent network on real recordings: the event-driven engine against the dense twin
(batch 64) and Brian2, the cost of longer recurrent delays, and delayed spikes held in rings
of future steps (what the engine does) against a priority queue.

1. ``networks/nmnist-rsnn.h5`` (2312-256r-10, a graph) on the N-MNIST test recordings:
   ms per sample of the engine (float32 and float64), of the dense numpy twin run on batches
   of 64 (the trainer's forward pass, ``eventsim.train.graph_model.forward``, float32: what a
   clock-driven framework computes, every neuron every step; its decisions are checked equal
   to the engine's) and of Brian2 (discrete
   mode, ``--target``, build and run per sample), with their ratio to the engine's float32
   time in the same trial; the engine and the twin are interleaved over ``--trials`` trials
   (medians, and the spread of the ratio).
2. The same network with its recurrent projection delayed by 0, 3 and 15 more steps (spikes
   of step t arriving at t + 1, t + 4, t + 16): engine ms per sample, spikes and SOPs per
   sample, ns per SOP, the three interleaved in every trial. The spikes differ (so does the
   network), hence ns per SOP.
3. Rings against a queue, on the spikes of part 2: for each delay the hidden population's
   spikes per step are replayed through (a) a ring of ``delay + 1`` slots of spike lists,
   written at ``t + delay`` and read at ``t`` (the engine's scheme), and (b) a binary heap of
   ``(arrival step, neuron)`` (``eventsim.engine.queue``) pushed per spike and popped at its
   step; ns per spike of each and their ratio, interleaved, medians.

    python tools/bench_graphs.py [--samples 100] [--trials 5] [--target cython]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from numba import njit

import eventsim
from eventsim.bridges.brian2 import run_brian2
from eventsim.engine.queue import SIZE, heap_pop, heap_push, new_heap
from eventsim.train import graph_model
from eventsim.train.trainer import predict
from _machine import command_line, data_dir, machine_line

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-rsnn.h5"
BATCH = 64


def _time(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def _spread(values) -> str:
    return f"{min(values):.3g}..{max(values):.3g}"


def part1(net, streams, frames, trials: int, target: str) -> None:
    n = len(streams)
    sims = {dt: eventsim.Simulator(net, dtype=dt) for dt in ("float32", "float64")}
    for sim in sims.values():
        sim.run(streams[0])  # compile
    dense = [frames[:, b:b + BATCH].astype(np.float32) for b in range(0, n, BATCH)]
    decided = np.concatenate([predict(graph_model.forward(net, x)[1]) for x in dense])
    assert np.array_equal(decided, [sims["float32"].run(s).predicted for s in streams])
    times = {"float32": [], "float64": [], "twin": []}
    for _ in range(trials):
        for dt, sim in sims.items():
            times[dt].append(_time(lambda sim=sim: [sim.run(s) for s in streams]) / n * 1e3)
        times["twin"].append(_time(lambda: [graph_model.forward(net, x) for x in dense])
                             / n * 1e3)
    run_brian2(net, streams[:2], target=target)  # warm-up (code generation)
    brian = []
    for _ in range(2):
        runs = [run_brian2(net, streams[k:k + 25], target=target) for k in range(0, n, 25)]
        brian.append(sum(r.build_seconds + r.run_seconds for r in runs) / n * 1e3)
    ref = times["float32"]
    print(f"1. {NET.name} on {n} N-MNIST test recordings, T={net.T}, dt_us={net.dt_us}; "
          f"{trials} interleaved trials (Brian2: 2)")
    print(f"   {'runner':<28}{'ms/sample':>11}{'/ engine float32':>18}{'spread':>18}")
    for name, values in (("engine float32", ref), ("engine float64", times["float64"]),
                         (f"dense numpy, batch {BATCH}", times["twin"]),
                         (f"Brian2 {target} (build+run)", brian)):
        ratios = [v / r for v, r in zip(values, ref)]
        print(f"   {name:<28}{np.median(values):>11.3f}{np.median(ratios):>18.2f}"
              f"{_spread(ratios):>18}")


def _delayed(net, extra: int):
    g = copy.deepcopy(net)
    g.projections[1].delay = extra
    return g


def part2(net, streams, trials: int) -> dict:
    n = len(streams)
    nets = {extra: _delayed(net, extra) for extra in (0, 3, 15)}
    sims = {extra: eventsim.Simulator(g) for extra, g in nets.items()}
    results = {extra: [sim.run(s) for s in streams] for extra, sim in sims.items()}
    times = {extra: [] for extra in nets}
    for _ in range(trials):
        for extra, sim in sims.items():
            times[extra].append(_time(lambda sim=sim: [sim.run(s) for s in streams]) / n * 1e3)
    print(f"2. the recurrent projection delayed: spikes of step t arrive at t + 1 + extra "
          f"({trials} interleaved trials)")
    print(f"   {'arrives at':<12}{'ms/sample':>11}{'spread':>16}{'spikes/sample':>15}"
          f"{'SOPs/sample':>13}{'ns/SOP':>8}")
    for extra, rs in results.items():
        spikes = sum(int(r.spike_counts[0].sum() + r.spike_counts[1].sum()) for r in rs) / n
        sops = sum(int(r.sops.sum()) for r in rs) / n
        ms = np.median(times[extra])
        print(f"   {'t + ' + str(extra + 1):<12}{ms:>11.3f}{_spread(times[extra]):>16}"
              f"{spikes:>15.0f}{sops:>13.3g}{ms * 1e6 / sops:>8.2f}")
    return {extra + 1: _spike_lists(rs, net.T) for extra, rs in results.items()}


def _spike_lists(results, T: int):
    """The hidden population's spikes of every sample as (step pointers, neurons)."""
    out = []
    for r in results:
        steps, neurons = r.spikes[0][:, 0], r.spikes[0][:, 1]
        out.append((np.searchsorted(steps, np.arange(T + 1)).astype(np.int64),
                    np.ascontiguousarray(neurons, np.int64)))
    return out


@njit(cache=True)
def _ring(ptr, neurons, delay, T):
    """Replay through a ring of ``delay + 1`` slots: spikes of step t written to slot
    (t + delay) % slots, slot t % slots read at step t. Returns a checksum of what arrived."""
    slots = delay + 1
    n_max = 1
    for t in range(T):
        n_max = max(n_max, ptr[t + 1] - ptr[t])
    ring = np.zeros((slots, n_max), np.int64)
    count = np.zeros(slots, np.int64)
    check = 0
    for t in range(T + delay):
        s = t % slots
        for k in range(count[s]):
            check += ring[s, k] + t
        count[s] = 0
        if t < T:
            w = (t + delay) % slots
            for k in range(ptr[t], ptr[t + 1]):
                ring[w, count[w]] = neurons[k]
                count[w] += 1
    return check


@njit(cache=True)
def _queue(ptr, neurons, delay, T, hkey, hkey2, hseq, hver, hstate):
    """Replay through a binary heap of (arrival step, neuron): pushed per spike, popped at
    its step. Returns the same checksum as :func:`_ring`."""
    hstate[:] = 0
    check = 0
    for t in range(T + delay):
        while hstate[SIZE] > 0 and hkey[0] == t:
            key, key2, _ = heap_pop(hkey, hkey2, hseq, hver, hstate)
            check += key2 + key
        if t < T:
            for k in range(ptr[t], ptr[t + 1]):
                heap_push(hkey, hkey2, hseq, hver, hstate, t + delay, neurons[k], -1)
    return check


def part3(spikes: dict, T: int, trials: int) -> None:
    heap = new_heap(1 << 16)
    n_spikes = {d: sum(len(nr) for _, nr in lists) for d, lists in spikes.items()}
    for d, lists in spikes.items():  # compile, and check both deliver the same
        for ptr, nr in lists[:3]:
            assert _ring(ptr, nr, d, T) == _queue(ptr, nr, d, T, *heap)
    times = {(d, kind): [] for d in spikes for kind in ("ring", "queue")}
    for _ in range(trials):
        for d, lists in spikes.items():
            times[(d, "ring")].append(_time(lambda d=d, lists=lists: [
                _ring(p, nr, d, T) for p, nr in lists]))
            times[(d, "queue")].append(_time(lambda d=d, lists=lists: [
                _queue(p, nr, d, T, *heap) for p, nr in lists]))
    print(f"3. delayed spikes held for their step: a ring of future steps (the engine) against "
          f"a binary heap ({trials} interleaved trials, the hidden population's spikes of 2.)")
    print(f"   {'delay':<8}{'spikes':>9}{'ring ns/spike':>15}{'heap ns/spike':>15}"
          f"{'heap / ring':>13}{'spread':>16}")
    for d in spikes:
        ring, queue = times[(d, "ring")], times[(d, "queue")]
        ratios = [q / r for q, r in zip(queue, ring)]
        print(f"   {d:<8}{n_spikes[d]:>9}{np.median(ring) / n_spikes[d] * 1e9:>15.2f}"
              f"{np.median(queue) / n_spikes[d] * 1e9:>15.2f}{np.median(ratios):>13.2f}"
              f"{_spread(ratios):>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--target", default="cython", choices=["numpy", "cython"])
    args = parser.parse_args()
    net = eventsim.load_network(NET)
    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    frames = np.stack([eventsim.bin_events(s, net.dt_us, net.T).reshape(net.T, -1)
                       for s in streams], axis=1)
    print(machine_line())
    print(command_line())
    part1(net, streams, frames, args.trials, args.target)
    spikes = part2(net, streams, args.trials)
    part3(spikes, net.T, args.trials)


if __name__ == "__main__":
    main()
