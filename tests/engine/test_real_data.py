"""The engine on the 100 real N-MNIST test recordings with a 2312-800-10 network: float64
spikes equal the dense numpy twin's, float32 equal float64, and an EventStream gives the
result of its binned frames."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import eventsim
from eventsim.events.binning import bin_events
from eventsim.network.reference import simulate_dense

CONFIGS = {"dt10ms-T30": (10_000, 30), "dt1ms-T300": (1_000, 300)}
BATCH = 25  # samples per dense-twin batch


def one_blas_thread():
    """The twin's many small matrix products on one BLAS thread: a multi-threaded BLAS
    spin-waits and gets many times slower when another process is using the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@pytest.fixture(scope="module")
def net():
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[0.05, 0.08], seed=0)
    for layer in net.layers:  # float32-representable: both dtypes run the same network
        assert np.array_equal(layer.weight.astype(np.float32).astype(np.float64), layer.weight)
    return net


@pytest.fixture(scope="module")
def recordings(data_dir):
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    assert len(files) == 100
    streams = [eventsim.read_events(f) for f in files]
    assert {s.sensor_size for s in streams} == {(34, 34, 2)}
    return [f"{f.parent.name}/{f.name}" for f in files], streams


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def runs(request, net, recordings):
    """Every recording through the engine in both dtypes, one Simulator per dtype."""
    dt_us, T = CONFIGS[request.param]
    names, streams = recordings
    sims = {d: eventsim.Simulator(net, dtype=d, dt_us=dt_us, T=T) for d in ("float32", "float64")}
    results = {d: [sim.run(s) for s in streams] for d, sim in sims.items()}
    frames = np.stack([bin_events(s, dt_us, T) for s in streams])  # (100, T, 2, 34, 34) uint8
    return {"dt_us": dt_us, "T": T, "names": names, "sims": sims, "results": results, "frames": frames}


def test_float64_equals_dense_twin(net, runs):
    names, frames, results = runs["names"], runs["frames"], runs["results"]["float64"]
    total = np.zeros(2, np.int64)
    for b in range(0, len(names), BATCH):
        x = frames[b:b + BATCH].reshape(len(frames[b:b + BATCH]), runs["T"], -1)
        with one_blas_thread():
            outputs, sops = simulate_dense(net, x.transpose(1, 0, 2), dtype="float64")
        for k in range(x.shape[0]):
            r, name = results[b + k], names[b + k]
            assert r.T == runs["T"]
            for i, out in enumerate(outputs):
                np.testing.assert_array_equal(
                    r.spikes[i], np.argwhere(out[:, k]),
                    err_msg=f"{name}: population {i} spikes differ from the dense twin")
            np.testing.assert_array_equal(r.sops, sops[k], err_msg=f"{name}: SOPs differ")
            total += r.n_spikes
    assert total.min() > 0  # the comparison is not between silent networks


def test_float32_equals_float64(runs):
    names, r32, r64 = runs["names"], runs["results"]["float32"], runs["results"]["float64"]
    differences = []
    for name, a, b in zip(names, r32, r64):
        for i, (s32, s64) in enumerate(zip(a.spikes, b.spikes)):
            if not np.array_equal(s32, s64):
                only32 = {tuple(r) for r in s32} - {tuple(r) for r in s64}
                only64 = {tuple(r) for r in s64} - {tuple(r) for r in s32}
                first = min(only32 | only64)
                differences.append(
                    f"{name} population {i}: {len(s32)} vs {len(s64)} spikes, "
                    f"{len(only32)} only in float32, {len(only64)} only in float64, first "
                    f"(step, neuron) = {first}")
        if not differences and not np.array_equal(a.sops, b.sops):
            differences.append(f"{name}: SOPs {a.sops} (float32) vs {b.sops} (float64)")
    assert not differences, (f"float32 and float64 differ on {len(differences)} "
                             "(sample, population) pairs:\n" + "\n".join(differences))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_event_stream_equals_binned_frames(runs, dtype):
    sim, results = runs["sims"][dtype], runs["results"][dtype]
    for name, frames, r in zip(runs["names"], runs["frames"], results):
        f = sim.run(frames)  # (T, 2, 34, 34)
        for i in range(len(r.spikes)):
            np.testing.assert_array_equal(f.spikes[i], r.spikes[i],
                                          err_msg=f"{name}: population {i} spikes differ")
        for field in ("sops", "neuron_updates", "self_events"):
            np.testing.assert_array_equal(getattr(f, field), getattr(r, field),
                                          err_msg=f"{name}: {field} differ")
        assert (f.input_spikes, f.events_processed, f.T, f.duration_us) == \
            (r.input_spikes, r.events_processed, r.T, r.duration_us), name
        assert f.input_spikes == int(frames.sum()), name
        assert r.predicted == f.predicted
