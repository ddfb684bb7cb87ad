"""The discrete kernel of this tree against the one of commit a2feb7c (before the engine
jumped over empty steps and took its input by active steps), in one process, interleaved.

Both kernels run on the same plan and the same binned N-MNIST inputs (bench_runtime's
2312-800-10 network and binnings), from fresh state per sample; 9 trials alternate which goes
first; medians and the spread of the per-trial ratios are printed. a2feb7c's
``engine/discrete.py`` is taken from git (``git show a2feb7c:eventsim/engine/discrete.py``)
and loaded as a module of its own; its plan columns are this tree's.

    python tools/ab_kernel.py [--samples 128]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import bench_runtime as bench
import eventsim
from _machine import command_line, data_dir, machine_line
from eventsim.engine import discrete
from eventsim.engine.simulate import DiscreteRun, Simulator
from eventsim.events.binning import bin_sparse

ROOT = Path(__file__).resolve().parents[1]
AGAINST = "a2feb7c"


def _old_kernel():
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{AGAINST}:eventsim/engine/discrete.py"], capture_output=True,
                            text=True, check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="eventsim_ab_"))
    (folder / "discrete_before.py").write_text(source)
    spec = importlib.util.spec_from_file_location("discrete_before",
                                                  folder / "discrete_before.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _before(old, plan, T, dt_us, step_ptr, idx) -> np.ndarray:
    """a2feb7c's kernel on fresh state: its dense input pointer and per-step array."""
    r = DiscreteRun(plan, T, dt_us)
    step_stats = np.zeros((T, plan.n_pop, 5), np.int64)
    old.run_steps(r.net_arrays, r.tables, step_ptr, idx, 0, T, T, r.state, r.heap, r.scratch,
                  r.out_step, r.out_gid, r.out_n, r.counts, 0, r.stats, step_stats, r.gstats)
    return r.counts.copy()


def _now(plan, T, dt_us, step_ptr, idx) -> np.ndarray:
    """This tree's kernel on fresh state: the steps with input, sparse per-step rows."""
    r = DiscreteRun(plan, T, dt_us)
    active = np.flatnonzero(step_ptr[1:] != step_ptr[:-1])
    discrete.run_steps(r.net_arrays, r.tables, active, np.append(step_ptr[active], step_ptr[-1]),
                       idx, 0, T, T, r.state, r.heap, r.scratch, r.out_step, r.out_gid, r.out_n,
                       r.counts, 0, r.stats, r.step_rows, r.n_rows, r.gstats)
    return r.counts.copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    args = parser.parse_args()
    old = _old_kernel()
    files = sorted((data_dir() / "nmnist").glob("T*/*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
    print(command_line())
    print(machine_line())
    print(f"{len(streams)} N-MNIST samples, network 2312-800-10, float32; kernel of this tree "
          f"against {AGAINST}'s, 9 interleaved trials")
    for dt_us, T in ((10_000, 30), (1_000, 300), (100, 3000)):
        std1 = bench.calibrate(streams, dt_us, T)
        net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
        plan = Simulator(net, dtype="float32", dt_us=dt_us, T=T).plan
        binned = [bin_sparse(s.channels(), s.events["t"], 2312, dt_us, T)[:2] for s in streams]

        case = (plan, T, dt_us)
        same = all(np.array_equal(_before(old, *case, *b), _now(*case, *b)) for b in binned)
        times = {"before": [], "now": []}
        for trial in range(9):
            for name in ("before", "now") if trial % 2 == 0 else ("now", "before"):
                t0 = time.perf_counter()
                for b in binned:
                    _before(old, *case, *b) if name == "before" else _now(*case, *b)
                times[name].append((time.perf_counter() - t0) / len(binned) * 1e3)
        ratios = [b / a for a, b in zip(times["before"], times["now"])]
        print(f"T={T:5d}: {AGAINST} {np.median(times['before']):.3f} ms, this "
              f"{np.median(times['now']):.3f} ms per sample (state and kernel); this/"
              f"{AGAINST} {np.median(ratios):.3f} (trials {min(ratios):.3f}..{max(ratios):.3f})"
              f"; same spike counts: {same}", flush=True)


if __name__ == "__main__":
    main()
