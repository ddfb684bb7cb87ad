"""The engine of this tree against the one of another commit, in separate processes,
interleaved: the chain benchmark must not get slower when the engine changes.

Each trial runs one child process per tree (this one, and a ``git worktree`` of the commit,
default f2f5370: the last engine before graphs), alternating which goes first. A child times
``Simulator.run_binned`` (float32, plan built once) on the same binned N-MNIST samples as
``bench_runtime.py`` (network 2312-800-10, seeded weights) for each binning and prints the
median per-sample time of 3 passes, and the spike counts' checksum. Medians over the trials
and the spread of the per-trial ratios are printed.

    python tools/ab_trees.py [--against f2f5370] [--samples 128] [--trials 5]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _machine import command_line, data_dir, machine_line

ROOT = Path(__file__).resolve().parents[1]
BINNINGS = ((10_000, 30), (1_000, 300), (100, 3000))

CHILD = r"""
import _machine, json, sys, time
BINNINGS = ((10_000, 30), (1_000, 300), (100, 3000))
import numpy as np
import eventsim, bench_runtime as bench
from eventsim.engine.simulate import Simulator
from eventsim.events.binning import bin_sparse
from pathlib import Path
files = sorted((Path(sys.argv[1]) / "nmnist").glob("T*/*/*.bin"))[:int(sys.argv[2])]
streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
out = {}
for dt_us, T in BINNINGS:
    std1 = bench.calibrate(streams, dt_us, T)
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
    sim = Simulator(net, dtype="float32", dt_us=dt_us, T=T)
    binned = [bin_sparse(s.channels(), s.events["t"], 2312, dt_us, T)[:2] for s in streams]
    sim.run_binned(*binned[0])
    passes, check = [], 0
    for _ in range(3):
        t0 = time.perf_counter()
        for b in binned:
            r = sim.run_binned(*b)
            check += int(r.spike_counts[0].sum()) * 7 + int(r.spike_counts[1].sum())
        passes.append((time.perf_counter() - t0) / len(binned) * 1e3)
    out[T] = (float(np.median(passes)), check)
print(json.dumps(out))
"""


def _child(tree: Path, samples: int) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{tree}:{ROOT / 'tools'}")
    run = subprocess.run([sys.executable, "-c", CHILD, str(data_dir()), str(samples)],
                         capture_output=True, text=True, env=env, cwd=tree, check=False)
    if run.returncode:
        sys.exit(f"{tree}: the child failed:\n{run.stderr}")
    return {int(k): v for k, v in json.loads(run.stdout.splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="f2f5370")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    print(command_line())
    print(machine_line())
    print(f"{args.samples} N-MNIST samples, network 2312-800-10, float32; this tree against "
          f"{args.against}, {args.trials} interleaved trials, a process per tree and trial")
    with tempfile.TemporaryDirectory(prefix="eventsim_ab_") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(other), args.against], check=True)
        try:
            trees = {"before": other, "now": ROOT}
            times = {name: {T: [] for _, T in BINNINGS} for name in trees}
            checks = {name: set() for name in trees}
            for trial in range(args.trials):
                for name in ("before", "now") if trial % 2 == 0 else ("now", "before"):
                    for T, (ms, check) in _child(trees[name], args.samples).items():
                        times[name][T].append(ms)
                        checks[name].add((T, check))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(other)], check=False)
    for _, T in BINNINGS:
        before, now = times["before"][T], times["now"][T]
        ratios = [b / a for a, b in zip(before, now)]
        print(f"T={T:5d}: {args.against} {np.median(before):.3f} ms, this "
              f"{np.median(now):.3f} ms per sample; this/{args.against} "
              f"{np.median(ratios):.3f} (trials {min(ratios):.3f}..{max(ratios):.3f})")
    print(f"same spike counts: {checks['before'] == checks['now']}")


if __name__ == "__main__":
    main()
