"""Streaming: a recording fed as consecutive chunks gives exactly the result of the whole
recording, however it is cut (chunks of one event, cuts inside a step, cuts at an event
exactly at ``k * dt_us``, empty chunks, events past ``T``); the priority queue's compaction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import dense_networks

import eventsim
from eventsim.engine.queue import NEXT_SEQ, SIZE
from eventsim.engine.simulate import DiscreteRun, Simulator, simulate
from eventsim.errors import InputError
from eventsim.events.binning import bin_events, dense_to_sparse
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network.layers import Dense
from eventsim.network.network import Network
from eventsim.network.reference import simulate_dense


def assert_same_result(a, b, what=""):
    """Every field of two discrete-mode results is identical."""
    assert len(a.spikes) == len(b.spikes)
    for i, (sa, sb) in enumerate(zip(a.spikes, b.spikes)):
        assert sa.dtype == sb.dtype and sa.shape == sb.shape, f"{what}population {i}"
        np.testing.assert_array_equal(sa, sb, err_msg=f"{what}population {i} spikes differ")
        np.testing.assert_array_equal(a.spike_counts[i], b.spike_counts[i])
    for name in ("sops", "neuron_updates", "self_events", "macs", "per_step"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name),
                                      err_msg=f"{what}{name} differ")
    for name in ("input_spikes", "events_processed", "peak_queue", "T", "duration_us",
                 "layer_index"):
        assert getattr(a, name) == getattr(b, name), f"{what}{name} differ"


def chunk_stream(stream: EventStream, cuts) -> list[EventStream]:
    """Cut ``stream`` at the sorted indices ``cuts`` (repeats give empty chunks)."""
    bounds = [0, *cuts, len(stream)]
    return [EventStream(stream.events[a:b], stream.sensor_size, f"chunk {a}:{b}")
            for a, b in itertools.pairwise(bounds)]


def random_events(rng, n, sensor, horizon_us, dt_us, edge_frac):
    """``n`` sorted events; a fraction of them exactly at a step start ``k * dt_us``."""
    w, h, p = sensor
    t = rng.integers(0, horizon_us, n)
    edge = rng.random(n) < edge_frac
    t[edge] = t[edge] // dt_us * dt_us
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["t"] = np.sort(t)
    ev["p"] = rng.integers(0, p, n) if p == 2 else False
    return ev


@st.composite
def streaming_cases(draw):
    net, _ = draw(dense_networks(cuba=True))
    n_in = net.n_inputs
    # a sensor (W, H, P) with W * H * P == n_in (channel p*W*H + y*W + x of the flat input)
    p = draw(st.sampled_from([q for q in (1, 2) if n_in % q == 0]))
    h = draw(st.sampled_from([d for d in range(1, n_in // p + 1) if (n_in // p) % d == 0]))
    sensor = (n_in // p // h, h, p)
    dt_us = draw(st.sampled_from([1, 2, 7, 100, 1000]))
    T = draw(st.integers(1, 30))
    n = draw(st.integers(0, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    horizon = (T + draw(st.integers(-T + 1, 6))) * dt_us  # may end before T or run past it
    ev = random_events(rng, n, sensor, horizon, dt_us, draw(st.sampled_from([0.0, 0.3, 1.0])))
    stream = EventStream(ev, sensor, "whole")
    kind = draw(st.sampled_from(["ones", "fixed", "random", "steps", "single"]))
    if kind == "ones":
        cuts = list(range(1, n))
    elif kind == "fixed":
        k = draw(st.integers(1, max(n, 1)))
        cuts = list(range(k, n, k))
    elif kind == "random":
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=12)))  # repeats: empty chunks
    elif kind == "steps":
        # cut just before and just after every event lying exactly on a step start, and
        # inside runs of events of one step
        t = ev["t"]
        on_edge = np.flatnonzero(t % dt_us == 0)
        inside = np.flatnonzero(t[1:] // dt_us == t[:-1] // dt_us) + 1
        cuts = sorted({*on_edge.tolist(), *(on_edge + 1).tolist(), *inside[::3].tolist()})
        cuts = [c for c in cuts if 0 <= c <= n]
    else:
        cuts = []
    if draw(st.booleans()):
        cuts = [0, *cuts, n]  # an empty chunk first and last
    dtype = draw(st.sampled_from(["float64", "float32"]))
    return net, stream, cuts, dt_us, T, dtype


@settings(max_examples=400, deadline=None)
@given(streaming_cases())
def test_chunks_equal_whole_stream(case):
    net, stream, cuts, dt_us, T, dtype = case
    chunks = chunk_stream(stream, cuts)
    assert np.array_equal(np.concatenate([c.events for c in chunks]), stream.events)
    whole = simulate(net, stream, dtype=dtype, dt_us=dt_us, T=T)
    streamed = simulate(net, iter(chunks), dtype=dtype, dt_us=dt_us, T=T)
    assert_same_result(streamed, whole, f"cuts {cuts}: ")
    # and the whole stream is the binned frames (the one binning rule)
    frames = simulate(net, bin_events(stream, dt_us, T).reshape(T, -1), dtype=dtype, dt_us=dt_us)
    assert_same_result(frames, whole, "frames: ")


def test_boundary_at_exact_step_start():
    # dt 10: events at t = 9 (step 0), 10 (step 1, exactly k*dt), 19 (step 1), 20 (step 2).
    # Cutting between 9 and 10, and between 10 and 19, must not move any event to another step.
    net = Network([Dense(np.eye(2) * 0.6, decay=1.0, v_th=1.0)], (2,))
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"] = [9, 10, 19, 20]
    ev["x"] = [0, 0, 1, 0]
    stream = EventStream(ev, (2, 1, 1))
    whole = simulate(net, stream, dtype="float64", dt_us=10, T=3)
    # neuron 0: 0.6 at steps 0, 1, 2 -> 1.2 >= 1 at step 1 (reset), 0.6 at step 2
    np.testing.assert_array_equal(whole.spikes[0], [[1, 0]])
    for cuts in ([1], [2], [1, 2], [1, 2, 3], [0, 1, 1, 2, 3, 4]):
        assert_same_result(simulate(net, iter(chunk_stream(stream, cuts)), dtype="float64",
                                    dt_us=10, T=3), whole, f"cuts {cuts}: ")


def test_bias_self_events_cross_chunk_boundaries():
    # Bias alone fires neuron 0 every third step (u = 0.3, 0.45, 0.525 -> spike); the input
    # arrives every fourth step. Chunks of one event end in steps where a crossing is queued.
    net = Network([Dense([[0.1], [0.45]], bias=[0.3, 0.05], decay=0.5, v_th=0.5),
                   Dense([[0.6, 0.6]], bias=[0.2], decay=0.5, v_th=0.5)], (1,))
    dt, T = 100, 40
    ev = np.zeros(10, EVENT_DTYPE)
    ev["t"] = np.arange(10) * 4 * dt + 50
    stream = EventStream(ev, (1, 1, 1))
    whole = simulate(net, stream, dtype="float64", dt_us=dt, T=T)
    outputs, sops = simulate_dense(net, bin_events(stream, dt, T).reshape(T, 1))
    for i, out in enumerate(outputs):
        np.testing.assert_array_equal(whole.spikes[i], np.argwhere(out))
    np.testing.assert_array_equal(whole.sops, sops)
    assert whole.self_events.sum() > 0
    for cuts in ([], list(range(1, 10)), [3, 7], [0, 0, 5, 10, 10]):
        assert_same_result(simulate(net, iter(chunk_stream(stream, cuts)), dtype="float64",
                                    dt_us=dt, T=T), whole, f"cuts {cuts}: ")


def test_chunks_after_T_are_ignored():
    net = Network([Dense([[0.7]], decay=1.0, v_th=0.5)], (1,))
    ev = np.zeros(6, EVENT_DTYPE)
    ev["t"] = [0, 1000, 2000, 5000, 9000, 9001]
    stream = EventStream(ev, (1, 1, 1))
    whole = simulate(net, stream, dt_us=1000, T=3)
    np.testing.assert_array_equal(whole.spikes[0], [[0, 0], [1, 0], [2, 0]])
    assert whole.input_spikes == 3
    for cuts in ([3], [4], [1, 2, 3, 4, 5]):
        assert_same_result(simulate(net, iter(chunk_stream(stream, cuts)), dt_us=1000, T=3),
                           whole, f"cuts {cuts}: ")


def test_unsorted_inside_a_chunk_equals_whole():
    # events of one chunk may go backwards (an EventStream does not require order), as long
    # as none falls into a step an earlier chunk closed
    net = Network([Dense([[0.3, 0.4]], decay=0.9, v_th=0.6)], (2,))
    ev = np.zeros(5, EVENT_DTYPE)
    ev["t"] = [2500, 100, 1500, 4100, 3000]
    ev["x"] = [0, 1, 0, 1, 1]
    stream = EventStream(ev, (2, 1, 1))
    whole = simulate(net, stream, dtype="float64", dt_us=1000, T=6)
    assert_same_result(simulate(net, iter(chunk_stream(stream, [3])), dtype="float64",
                                dt_us=1000, T=6), whole)


def test_event_in_a_closed_step_raises():
    # the first chunk ends at t=2500 (step 2), so steps 0 and 1 have run: an event at t=1500
    # in the next chunk cannot be delivered any more. Dropping it silently would give a
    # result different from the whole stream's.
    net = Network([Dense([[1.0]], v_th=0.5)], (1,))
    first, late = np.zeros(2, EVENT_DTYPE), np.zeros(1, EVENT_DTYPE)
    first["t"], late["t"] = [100, 2500], [1500]
    chunks = [EventStream(first, (1, 1, 1), "first"), EventStream(late, (1, 1, 1), "late")]
    with pytest.raises(InputError, match=r"late: .*t=1500.*step 1.*step 2"):
        simulate(net, iter(chunks), dt_us=1000, T=5)


def test_streaming_without_T_ends_at_the_last_event():
    net = Network([Dense([[1.0]], bias=[0.3], v_th=0.5)], (1,))  # fires on its own too
    events = np.zeros(3, EVENT_DTYPE)
    events["t"] = [0, 2100, 6999]
    whole = EventStream(events, (1, 1, 1))
    chunks = [EventStream(events[:1], (1, 1, 1)), EventStream(events[1:], (1, 1, 1))]
    streamed = simulate(net, iter(chunks), dt_us=1000)
    assert streamed.T == 7
    assert_same_result(streamed, simulate(net, whole, dt_us=1000))
    assert simulate(net, iter([]), dt_us=1000).T == 0


# --- a real recording, read back in chunks from HDF5 ---------------------------------------


def _biased(net: Network, seed: int) -> Network:
    """``net`` with a bias on every neuron (some big enough to fire alone), subtract reset."""
    rng = np.random.default_rng(seed)
    layers = [Dense(layer.weight, bias=rng.uniform(-0.1, 0.12, layer.weight.shape[0]),
                    decay=0.9, v_th=0.5, reset="subtract") for layer in net.layers]
    return Network(layers, net.input_shape)


@pytest.fixture(scope="module")
def nmnist_h5(tmp_path_factory, data_dir):
    src = min((data_dir / "nmnist" / "Test" / "4").glob("*.bin"))
    stream = eventsim.read_events(src)
    folder = tmp_path_factory.mktemp("stream")
    full = eventsim.write_events(stream, folder / "full.h5")
    short = EventStream(stream.events[:1500], stream.sensor_size, str(src))
    return full, eventsim.write_events(short, folder / "short.h5")


@pytest.mark.parametrize("biased", [False, True], ids=["plain", "bias"])
def test_real_recording_iter_events(nmnist_h5, biased):
    full, short = nmnist_h5
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[0.05, 0.08], seed=0)
    if biased:
        net = _biased(net, 1)
    sim = Simulator(net, dtype="float64", dt_us=1000, T=320)  # the recording is ~310 ms
    for path, chunk in ((short, 1), (full, 97), (full, 1000), (full, 10**6)):
        whole = sim.run(eventsim.read_events(path))
        assert whole.n_spikes[0] > 0
        if biased:
            assert whole.self_events.sum() > 0
        streamed = sim.run(eventsim.iter_events(path, chunk))
        assert_same_result(streamed, whole, f"{path.name}, chunks of {chunk}: ")


# --- the priority queue: stale entries past capacity ----------------------------------------


def _compaction_case(T=500):
    # Three neurons with a bias that would cross threshold in ~15 steps, and input every step
    # (weight < 0 from channel 0) that invalidates each neuron's queued crossing and queues a
    # new one: stale entries pile up faster than they fall due. Channel 1 makes them fire.
    w = np.array([[-0.05, 0.3], [-0.04, 0.25], [-0.06, 0.35]])
    net = Network([Dense(w, bias=[0.06, 0.055, 0.065], decay=0.9, v_th=0.5)], (2,))
    x = np.zeros((T, 2), np.uint8)
    x[:, 0] = 1
    x[:, 1] = np.random.default_rng(0).random(T) < 0.1
    return net, x


def test_heap_compaction_keeps_spikes_exact():
    net, x = _compaction_case()
    T = len(x)
    outputs, sops = simulate_dense(net, x)
    expected = np.argwhere(outputs[0])
    assert len(expected) > 20
    for dtype in ("float64", "float32"):
        sim = Simulator(net, dtype=dtype)
        run = DiscreteRun(sim.plan, T, 1000)
        capacity = len(run.heap[0])
        assert capacity == 2 * 3 + 16
        step_ptr, idx, _ = dense_to_sparse(x)
        sizes = []
        for s in range(T):  # step by step, to watch the queue
            run.run(step_ptr[s:s + 2] - step_ptr[s], idx[step_ptr[s]:step_ptr[s + 1]], s, s + 1)
            sizes.append(int(run.heap[4][SIZE]))
        pushes = int(run.heap[4][NEXT_SEQ])
        result = run.result()
        # the queue filled up and entries kept coming: compaction made room, many times
        assert max(sizes) == capacity and pushes > 10 * capacity, (max(sizes), pushes)
        if dtype == "float64":
            np.testing.assert_array_equal(result.spikes[0], expected)
            np.testing.assert_array_equal(result.sops, sops)
        assert result.peak_queue <= 3
        assert result.self_events[0] > 0
        assert_same_result(sim.run(x), result, f"{dtype} whole run: ")
    # the same through streamed chunks with boundaries in every step
    ev = np.zeros(int(x.sum()), EVENT_DTYPE)
    steps, chans = np.nonzero(x)
    ev["t"], ev["x"] = steps * 1000 + 500 - chans * 400, chans
    ev = ev[np.argsort(ev["t"], kind="stable")]
    stream = EventStream(ev, (2, 1, 1))
    whole = simulate(net, stream, dtype="float64", T=T)
    np.testing.assert_array_equal(whole.spikes[0], expected)
    for k in (1, 2, 7):
        chunks = chunk_stream(stream, list(range(k, len(ev), k)))
        assert_same_result(simulate(net, iter(chunks), dtype="float64", T=T), whole, f"k={k}: ")
