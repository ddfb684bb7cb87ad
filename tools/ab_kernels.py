"""Variants of the step loop (copies of ``eventsim/engine/discrete.py``) against each other, in
one process, interleaved: to measure one kernel change at a time, more finely than
``ab_trees.py`` can across processes.

Each variant file is imported as a module of its own; its ``run_steps`` stands in for the
engine's while ``Simulator.run_binned`` (float32, plan built once) runs the same binned N-MNIST
samples as ``bench_runtime.py`` (network 2312-800-10, seeded weights). Passes alternate their
order; each pass's per-sample time is divided by the first variant's of the same pass, and
the median ratio and its range are printed, with the spike counts checked equal. numba's
cache goes to a temporary folder for the run (a module outside a package does not reload
from it), so every kernel compiles afresh first.

    cp eventsim/engine/discrete.py /tmp/base.py   # then edit a copy: /tmp/change.py
    python tools/ab_kernels.py /tmp/base.py /tmp/change.py [--samples 48] [--passes 9]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _machine import command_line, data_dir, machine_line

BINNINGS = ((10_000, 30), (1_000, 300), (100, 3000))


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--passes", type=int, default=9)
    args = parser.parse_args()
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="eventsim_ab_kernels_")
    import bench_runtime as bench

    import eventsim
    from eventsim.engine import discrete
    from eventsim.engine.simulate import Simulator
    from eventsim.events.binning import bin_sparse

    print(command_line())
    print(machine_line())
    names = [f"variant{i}_{p.stem}" for i, p in enumerate(args.variants)]
    kernels = {n: load(p, n).run_steps for n, p in zip(names, args.variants)}
    files = sorted((data_dir() / "nmnist").glob("T*/*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
    print(f"{len(streams)} N-MNIST samples, network 2312-800-10, float32; {args.passes} "
          "interleaved passes; ratio to the first variant within a pass")
    for dt_us, T in BINNINGS:
        std1 = bench.calibrate(streams, dt_us, T)
        net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
        sim = Simulator(net, dtype="float32", dt_us=dt_us, T=T)
        binned = [bin_sparse(s.channels(), s.events["t"], 2312, dt_us, T)[:2] for s in streams]
        times = {n: [] for n in names}
        counts = {}
        for n in names:  # compile, and size the simulator's buffers
            discrete.run_steps = kernels[n]
            sim.run_binned(*binned[0])
        for k in range(args.passes):
            for n in names if k % 2 == 0 else names[::-1]:
                discrete.run_steps = kernels[n]
                t0 = time.perf_counter()
                spikes = sum(int(sim.run_binned(*b).spike_counts[0].sum()) for b in binned)
                times[n].append((time.perf_counter() - t0) / len(binned) * 1e3)
                counts.setdefault(n, set()).add(spikes)
        base = np.array(times[names[0]])
        cells = []
        for n, p in zip(names, args.variants):
            r = np.array(times[n]) / base
            cells.append(f"{p.name} {np.median(times[n]):.3f} ms, {np.median(r):.3f} "
                         f"({r.min():.3f}..{r.max():.3f})")
        same = len({frozenset(c) for c in counts.values()}) == 1
        print(f"T={T:5d}: " + " | ".join(cells) + f"; same spikes: {same}")


if __name__ == "__main__":
    main()
