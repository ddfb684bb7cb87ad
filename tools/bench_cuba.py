"""The Vogels-Abbott CUBA network in eventsim's discrete mode against Brian2, in one run.

Brette et al. 2007's benchmark 2 as Brian2's ``CUBA`` example writes it: 4000 neurons (3200
excitatory, 800 inhibitory), each pair connected with probability 0.02, ``dv/dt = (ge + gi -
(v - El)) / taum`` (unless refractory), ``dge/dt = -ge / taue``, ``dgi/dt = -gi / taui``,
``taum = 20 ms``, ``taue = 5 ms``, ``taui = 10 ms``, ``Vt = -50 mV``, ``Vr = -60 mV``, ``El =
-49 mV`` (above threshold: every neuron fires on its own), refractory 5 ms, ``we = 1.62 mV``,
``wi = -9 mV``, ``v`` starting uniform in ``[Vr, Vt)``, ``method="exact"``, ``dt = 0.1 ms``.

eventsim runs it as one :class:`~eventsim.network.graph.Population` with two currents: the
excitatory neurons' spikes feed ``i`` (``syn_decay = exp(-dt / taue)``, port 0), the
inhibitory ones' ``i2`` (``syn_decay_2 = exp(-dt / taui)``, port 1), through two projections
of the population onto itself (one step of delay: the spike of step ``n`` enters ``ge`` after
the threshold test of step ``n`` in Brian2 and the membrane at ``n + 1`` in both). Over one
step Brian2's exact integrator gives ``v' = El + (v - El) k + Phi_e ge + Phi_i gi`` with ``k =
exp(-dt / taum)`` and ``Phi_x = taux / (taux - taum) (exp(-dt / taux) - k)``; so eventsim's
membrane is ``u = v - Vr`` (``v_th = 10``, ``v_reset = 0``, ``v_leak = 11``), its weights
``Phi_e we`` and ``Phi_i wi``, its currents ``Phi_e ge`` and ``Phi_i gi``, and its refractory
period 49 steps (the bridge's ``refractory = (r + 1) dt``). Brian2 fires at ``v > Vt``,
eventsim at ``u >= v_th``: the same but for exact equality.

For each seed (the connectivity and the start drawn by numpy, given to both): eventsim float64
(the plan built, then the run timed; numba's code compiled once before), Brian2's own example
(``cython`` by default; its build, i.e. code generation and compilation, timed apart from its
run), and eventsim's Brian2 twin of the same graph (:func:`eventsim.bridges.brian2.run_brian2`,
the network ``eventsim validate`` builds; run once before the seeds, so Brian2's compiled code
for this length is cached); the three interleaved per seed. Printed: wall time per
simulated second (median and range over the seeds), the mean rate and the mean CV of the
inter-spike intervals (neurons with 3 spikes or more) per simulator with their spread over
seeds, and the first step where each Brian2 run's spikes differ from eventsim's (the sorted
``(step, neuron)`` lists).

    python tools/bench_cuba.py [--seeds 5] [--duration-ms 1000] [--target cython]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import math
import time

import numpy as np

from _machine import command_line, machine_line
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection

N, N_EXC, P_CONNECT = 4000, 3200, 0.02
TAU_M, TAU_E, TAU_I, REFRACTORY_MS = 20.0, 5.0, 10.0, 5.0  # ms
V_T, V_R, E_L = -50.0, -60.0, -49.0  # mV
W_E, W_I = 60 * 0.27 / 10, -20 * 4.5 / 10  # mV
DT_MS = 0.1


def connectivity(seed: int, n: int = N) -> np.ndarray:
    """Bool ``(n, n)``, ``[post, pre]``: each pair connected with probability 0.02 (self
    connections too, as Brian2's ``connect(p=0.02)``); the first ``4 n / 5`` neurons are
    excitatory (``n`` smaller than 4000: the tests' smaller network)."""
    return np.random.default_rng(seed).random((n, n)) < P_CONNECT


def start(seed: int, n: int = N) -> np.ndarray:
    """``v`` at the start, mV: ``Vr + rand() * (Vt - Vr)``."""
    return V_R + np.random.default_rng(seed + 10**6).random(n) * (V_T - V_R)


def phi(tau_x: float) -> float:
    """How much of a current ``x`` one step of the exact integrator adds to ``v``."""
    k = math.exp(-DT_MS / TAU_M)
    return tau_x / (tau_x - TAU_M) * (math.exp(-DT_MS / tau_x) - k)


def cuba_graph(conn: np.ndarray, v0: np.ndarray) -> Graph:
    """The network through eventsim's API (see the module docstring for the mapping)."""
    n = len(v0)
    n_exc = n * N_EXC // N
    pop = Population("P", (n,), decay=math.exp(-DT_MS / TAU_M), v_th=V_T - V_R,
                     v_reset=0.0, v_leak=E_L - V_R, syn_decay=math.exp(-DT_MS / TAU_E),
                     syn_decay_2=math.exp(-DT_MS / TAU_I),
                     refractory_steps=round(REFRACTORY_MS / DT_MS) - 1, v_init=v0 - V_R)
    exc, inh = conn.copy(), conn.copy()
    exc[:, n_exc:] = inh[:, :n_exc] = False
    excite = Projection("P", "P", [ops.Dense(np.where(exc, W_E * phi(TAU_E), 0.0))])
    inhibit = Projection("P", "P", [ops.Dense(np.where(inh, W_I * phi(TAU_I), 0.0))], port=1)
    silent = Projection(INPUT, "P", [ops.Dense(np.zeros((n, 1)))])  # no external input
    return Graph((1,), [pop], [silent, excite, inhibit], dt_us=round(DT_MS * 1000))


def run_eventsim(g: Graph, steps: int):
    """Spikes ``(step, neuron)``, seconds to prepare, seconds to run."""
    import eventsim

    t0 = time.perf_counter()
    sim = eventsim.Simulator(g, dtype="float64")
    sim.run(np.zeros((2, 1), np.uint8))  # the plan built (and numba's code loaded)
    t1 = time.perf_counter()
    result = sim.run(np.zeros((steps, 1), np.uint8))
    t2 = time.perf_counter()
    return result.spikes[0], t1 - t0, t2 - t1


def run_brian2_example(conn: np.ndarray, v0: np.ndarray, steps: int, target: str):
    """Brian2's CUBA example on the given connectivity and start: spikes ``(step, neuron)``,
    seconds to build (code generation, compilation), seconds to run."""
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = target
    ms, mV = b2.ms, b2.mV
    names = {"taum": TAU_M * ms, "taue": TAU_E * ms, "taui": TAU_I * ms, "Vt": V_T * mV,
             "Vr": V_R * mV, "El": E_L * mV, "we": W_E * mV, "wi": W_I * mV}
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    n = len(v0)
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=REFRACTORY_MS * ms,
                       method="exact", dt=DT_MS * ms, namespace=names)
    P.v = v0 * mV
    Ce = b2.Synapses(P, P, on_pre="ge += we", dt=DT_MS * ms, namespace=names)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", dt=DT_MS * ms, namespace=names)
    post, pre = np.nonzero(conn)
    e = pre < n * N_EXC // N
    Ce.connect(i=pre[e], j=post[e])
    Ci.connect(i=pre[~e], j=post[~e])
    mon = b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, mon)
    t0 = time.perf_counter()
    net.run(0 * ms)  # code generation and compilation
    t1 = time.perf_counter()
    net.run(steps * DT_MS * ms)
    t2 = time.perf_counter()
    spikes = np.stack([np.rint(np.asarray(mon.t / ms) / DT_MS).astype(np.int64),
                       np.asarray(mon.i, np.int64)], axis=1)
    return _sorted(spikes), t1 - t0, t2 - t1


def run_bridge(g: Graph, steps: int, target: str):
    """eventsim's Brian2 twin of ``g``: spikes ``(step, neuron)``, build and run seconds."""
    from eventsim.bridges.brian2 import run_brian2

    run = run_brian2(g, [np.zeros((steps, 1), np.uint8)], target=target)
    return _sorted(run.spikes[0][0]), run.build_seconds, run.run_seconds


def _sorted(spikes: np.ndarray) -> np.ndarray:
    spikes = np.asarray(spikes, np.int64).reshape(-1, 2)
    return spikes[np.lexsort((spikes[:, 1], spikes[:, 0]))]


def rate_and_cv(spikes: np.ndarray, steps: int, n: int = N) -> tuple[float, float]:
    """Mean rate (Hz) over all ``n`` neurons; mean CV of the inter-spike intervals over the
    neurons with at least 3 spikes."""
    rate = len(spikes) / n / (steps * DT_MS * 1e-3)
    order = np.lexsort((spikes[:, 0], spikes[:, 1]))
    by_neuron = np.split(spikes[order, 0], np.flatnonzero(np.diff(spikes[order, 1])) + 1)
    cvs = [np.std(isi) / np.mean(isi) for t in by_neuron if len(t) >= 3
           for isi in [np.diff(t)]]
    return rate, float(np.mean(cvs)) if cvs else math.nan


def first_divergence(a: np.ndarray, b: np.ndarray) -> int | None:
    """The first step at which the sorted spike lists differ (None: equal)."""
    n = min(len(a), len(b))
    differ = np.flatnonzero((a[:n] != b[:n]).any(axis=1))
    if len(differ):
        return int(min(a[differ[0], 0], b[differ[0], 0]))
    if len(a) != len(b):
        return int((a if len(a) > n else b)[n, 0])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--target", default="cython", choices=["numpy", "cython"])
    parser.add_argument("--no-bridge", action="store_true",
                        help="leave out eventsim's Brian2 twin of the graph")
    args = parser.parse_args()
    steps = round(args.duration_ms / DT_MS)
    print(machine_line())
    print(command_line())
    print(f"CUBA: {N} neurons ({N_EXC} exc), p = {P_CONNECT}, dt {DT_MS} ms, "
          f"{args.duration_ms:g} ms simulated, {args.seeds} seeds, Brian2 target {args.target}")
    runners = {"eventsim": None, "brian2 example": None}
    if not args.no_bridge:
        runners["brian2 twin"] = None
    rows: dict[str, list] = {name: [] for name in runners}
    if not args.no_bridge:  # Brian2 compiles the twin's code for this length once (cached)
        run_bridge(cuba_graph(connectivity(0), start(0)), steps, args.target)
    for seed in range(args.seeds):
        conn, v0 = connectivity(seed), start(seed)
        g = cuba_graph(conn, v0)
        ours = run_eventsim(g, steps)
        rows["eventsim"].append(ours)
        rows["brian2 example"].append(run_brian2_example(conn, v0, steps, args.target))
        if not args.no_bridge:
            rows["brian2 twin"].append(run_bridge(g, steps, args.target))
        line = [f"seed {seed}:"]
        for name, runs in rows.items():
            spikes, build, run = runs[-1]
            rate, cv = rate_and_cv(spikes, steps)
            line.append(f"{name} {len(spikes)} spikes, {rate:.2f} Hz, CV {cv:.3f}, "
                        f"build {build:.2f} s, run {run:.2f} s")
            if name != "eventsim":
                d = first_divergence(_sorted(ours[0]), spikes)
                until = "throughout" if d is None else f"until step {d} ({d * DT_MS:g} ms)"
                line.append(f"  equal to eventsim's {until}")
        print("\n  ".join(line), flush=True)
    seconds = args.duration_ms / 1000
    print(f"{'simulator':<16}{'run s / sim s':>22}{'build s':>9}{'rate Hz':>16}{'CV ISI':>16}")
    for name, runs in rows.items():
        run_s = np.array([r[2] for r in runs]) / seconds
        build_s = np.median([r[1] for r in runs])
        stats = np.array([rate_and_cv(r[0], steps) for r in runs])
        print(f"{name:<16}{np.median(run_s):>8.3f} ({run_s.min():.3f}..{run_s.max():.3f})"
              f"{build_s:>9.2f}{stats[:, 0].mean():>9.3f} ±{stats[:, 0].std():.3f}"
              f"{stats[:, 1].mean():>9.3f} ±{stats[:, 1].std():.3f}")
    print("run s / sim s: wall seconds per simulated second, median (range) over seeds; rate "
          "and CV: mean ± standard deviation over seeds")


if __name__ == "__main__":
    main()
