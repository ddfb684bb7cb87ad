"""Event-driven engine vs a dense numpy simulation of the same network, on real N-MNIST.

Network 2312-800-10 (seeded random weights, scaled so the hidden layer fires a few percent
per step), decay 0.2, v_th 0.5, zero reset, float32, one thread. Inputs are binned before
timing. For each binning: the median per-sample time of the engine
(``Simulator.run_binned``) against a dense numpy float32 simulation of batches of 64 samples
(per-sample time = batch time / 64) measured in the same run; spike counts of both are
checked equal per sample and layer.

    python tools/bench_runtime.py [--samples 256]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import time

import numpy as np

import eventsim
from eventsim.events.binning import bin_sparse
from _machine import command_line, data_dir, machine_line

BATCH = 64
TARGET_RATE = 0.03  # hidden spikes per neuron per step


def dense_run(W1T, W2T, X, decay=0.2, v_th=0.5):
    """Dense float32 STBP recurrence on a batch. X: (T, B, 2312) float32. Returns counts."""
    T, B, _ = X.shape
    k, th = np.float32(decay), np.float32(v_th)
    u1 = np.zeros((B, W1T.shape[1]), np.float32)
    o1 = np.zeros_like(u1)
    u2 = np.zeros((B, W2T.shape[1]), np.float32)
    o2 = np.zeros_like(u2)
    c1 = np.zeros(B, np.int64)
    c2 = np.zeros(B, np.int64)
    for t in range(T):
        u1 = k * u1 * (1 - o1) + X[t] @ W1T
        o1 = (u1 >= th).astype(np.float32)
        u2 = k * u2 * (1 - o2) + o1 @ W2T
        o2 = (u2 >= th).astype(np.float32)
        c1 += o1.sum(1).astype(np.int64)
        c2 += o2.sum(1).astype(np.int64)
    return c1, c2


def frames(streams, dt_us, T):
    X = np.zeros((T, len(streams), 2312), np.float32)
    for b, s in enumerate(streams):
        X[:, b] = eventsim.bin_events(s, dt_us, T).reshape(T, -1)
    return X


def calibrate(streams, dt_us, T, seed=0):
    """Weight scale giving the hidden layer about TARGET_RATE spikes per neuron per step."""
    X = frames(streams[:16], dt_us, T)
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (2312, 800)).astype(np.float32)
    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        c1, _ = dense_run(base * np.float32(mid), np.zeros((800, 10), np.float32), X)
        rate = c1.mean() / (800 * T)
        lo, hi = (mid, hi) if rate < TARGET_RATE else (lo, mid)
    return (lo + hi) / 2


def bench(streams, dt_us, T, dense_samples):
    std1 = calibrate(streams, dt_us, T)
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
    sim = eventsim.Simulator(net, dtype="float32", dt_us=dt_us, T=T)
    binned = [bin_sparse(s.channels(), s.events["t"], 2312, dt_us, T)[:2] for s in streams]
    sim.run_binned(*binned[0])  # compile / load the cache
    times, counts, sops, updates = [], [], 0, 0
    for step_ptr, idx in binned:
        t0 = time.perf_counter()
        r = sim.run_binned(step_ptr, idx)
        times.append(time.perf_counter() - t0)
        counts.append(r.n_spikes)
        sops += int(r.sops.sum())
        updates += int(r.neuron_updates.sum())
    counts = np.array(counts)
    W1T = np.ascontiguousarray(net.layers[0].weight.T, np.float32)
    W2T = np.ascontiguousarray(net.layers[1].weight.T, np.float32)
    dense_times, mismatches = [], 0
    for b in range(0, dense_samples, BATCH):
        X = frames(streams[b:b + BATCH], dt_us, T)
        t0 = time.perf_counter()
        c1, c2 = dense_run(W1T, W2T, X)
        dense_times.append((time.perf_counter() - t0) / X.shape[1])
        mismatches += int(np.sum(c1 != counts[b:b + BATCH, 0]) + np.sum(c2 != counts[b:b + BATCH, 1]))
    t_event, t_dense = float(np.median(times)), float(np.median(dense_times))
    rate = counts[:, 0].sum() / (800 * T * len(streams))
    return {"T": T, "dt_us": dt_us, "event_ms": t_event * 1e3, "dense_ms": t_dense * 1e3,
            "ratio": t_event / t_dense, "sop_s": sops / sum(times), "rate": rate,
            "in_spikes": np.mean([len(i) for _, i in binned]), "mismatches": mismatches,
            "sops": sops / len(streams), "updates": updates / len(streams)}


def bench_quantized(streams, dt_us, T, trials):
    """ms per sample and SOP/s of the float32 network and of its post-training quantized int8
    and int4 versions (:func:`eventsim.network.quantize.quantize`, per layer), the int8 one
    also with its weights held as float64 (what the engine did before integer weights were
    kept narrow), against the dense float32 batch-64 reference; samples interleaved across
    the variants, ``trials`` passes, medians of the per-pass medians."""
    import eventsim.engine.plan as plan_module
    from eventsim.network.quantize import quantize

    std1 = calibrate(streams, dt_us, T)
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[std1, 0.15], seed=1)
    nets = {"float32": net, "int8": quantize(net, 8), "int4": quantize(net, 4)}
    sims = {name: eventsim.Simulator(n, dtype="float32", dt_us=dt_us, T=T)
            for name, n in nets.items()}
    narrow = plan_module.narrowest_whole
    plan_module.narrowest_whole = lambda weights: weights  # the int8 net, float64 weights
    try:
        sims["int8, float64 weights"] = eventsim.Simulator(
            eventsim.network.network.Network(list(nets["int8"].layers), net.input_shape),
            dt_us=dt_us, T=T)
    finally:
        plan_module.narrowest_whole = narrow
    binned = [bin_sparse(s.channels(), s.events["t"], 2312, dt_us, T)[:2] for s in streams]
    W1T = np.ascontiguousarray(net.layers[0].weight.T, np.float32)
    W2T = np.ascontiguousarray(net.layers[1].weight.T, np.float32)
    for sim in sims.values():
        sim.run_binned(*binned[0])
    passes = {name: [] for name in [*sims, "dense batch 64"]}
    sop_s = {name: [] for name in sims}
    for _ in range(trials):
        times = {name: [] for name in sims}
        sops = {name: 0 for name in sims}
        for k, (step_ptr, idx) in enumerate(binned):
            names = list(sims) if k % 2 == 0 else list(reversed(sims))
            for name in names:
                t0 = time.perf_counter()
                r = sims[name].run_binned(step_ptr, idx)
                times[name].append(time.perf_counter() - t0)
                sops[name] += int(r.sops.sum())
        dense = []
        for b in range(0, len(streams), BATCH):
            X = frames(streams[b:b + BATCH], dt_us, T)
            t0 = time.perf_counter()
            dense_run(W1T, W2T, X)
            dense.append((time.perf_counter() - t0) / X.shape[1])
        for name in sims:
            passes[name].append(float(np.median(times[name])))
            sop_s[name].append(sops[name] / sum(times[name]))
        passes["dense batch 64"].append(float(np.median(dense)))
    return passes, sop_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256, help="N-MNIST samples (<= 1100)")
    parser.add_argument("--dense-samples-t3000", type=int, default=128)
    parser.add_argument("--quantized", type=int, metavar="TRIALS",
                        help="instead: float32, int8 and int4 networks at T=300 (SOP/s), "
                        "TRIALS interleaved passes")
    args = parser.parse_args()
    files = sorted((data_dir() / "nmnist").glob("T*/*/*.bin"))[:args.samples]
    streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
    n = len(streams) - len(streams) % BATCH
    streams = streams[:n]
    print(command_line())
    print(machine_line())
    if args.quantized:
        passes, sop_s = bench_quantized(streams, 1_000, 300, args.quantized)
        ref = float(np.median(passes["dense batch 64"]))
        print(f"{n} N-MNIST samples, network 2312-800-10 and its quantized versions, T=300, "
              f"dt_us 1000; {args.quantized} interleaved passes: medians (range of the passes)")
        print(f"{'network':<24}{'ms per sample':>24}{'x dense':>9}{'SOP/s':>26}"
              f"{'SOP/s x float32':>17}")
        f32 = float(np.median(sop_s["float32"]))
        for name, values in passes.items():
            ms = float(np.median(values)) * 1e3
            line = f"{name:<24}{ms:>9.3f} ({min(values) * 1e3:.3f}-{max(values) * 1e3:.3f})"
            line += f"{ms / (ref * 1e3):>9.2f}"
            if name in sop_s:
                s = float(np.median(sop_s[name]))
                line += (f"{s:>12.3e} ({min(sop_s[name]):.2e}-{max(sop_s[name]):.2e})"
                         f"{s / f32:>10.2f}")
            print(line)
        return
    print(f"{n} N-MNIST samples, network 2312-800-10, float32; dense reference: numpy batch {BATCH}")
    header = (f"{'T':>5} {'dt_us':>6} {'in spikes':>10} {'hidden rate':>11} {'SOPs':>9} "
              f"{'updates':>9} {'event ms':>9} {'dense ms':>9} {'ratio':>7} {'SOP/s':>9} "
              f"{'count mismatches':>17}")
    print("per sample: input spikes, SOPs and neuron updates (means), times (medians); "
          "count mismatches: samples x layers whose spike counts differ (float32 rounding)")
    print(header)
    for dt_us, T, dense_n in ((10_000, 30, n), (1_000, 300, n),
                              (100, 3000, min(n, args.dense_samples_t3000))):
        r = bench(streams, dt_us, T, dense_n)
        print(f"{r['T']:>5} {r['dt_us']:>6} {r['in_spikes']:>10.0f} {r['rate']:>11.3f} "
              f"{r['sops']:>9.3g} {r['updates']:>9.3g} {r['event_ms']:>9.3f} {r['dense_ms']:>9.3f} {r['ratio']:>7.3f} "
              f"{r['sop_s']:>9.2e} {r['mismatches']:>17}", flush=True)


if __name__ == "__main__":
    main()
