"""Samples on threads sharing one prepared network, and one Simulator's runs reusing their
arrays: every result equals that of a fresh Simulator run alone."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import Simulator
from eventsim.engine import threads as engine_threads
from eventsim.errors import InputError
from eventsim.network.graph import as_graph

from .graphgen import image_graphs, vector_graphs
from .netgen import conv_networks, integer_networks
from .test_streaming import assert_same_result


def _same(a, b, what):
    assert_same_result(a, b, what)
    np.testing.assert_array_equal(a.projection_sops, b.projection_sops)
    for ma, mb in zip(a.membrane_max + a.membrane_mean, b.membrane_max + b.membrane_mean):
        if ma is None:
            assert mb is None
        else:
            np.testing.assert_array_equal(ma, mb, err_msg=f"{what}readout")


@st.composite
def networks_and_samples(draw):
    """A network of any kind the engine runs, and 2-6 samples of different lengths."""
    net, x = draw(st.one_of(vector_graphs(cuba=True, two=True), vector_graphs(adapt=True),
                            image_graphs(cuba=True), conv_networks(neunorm=True)))
    if draw(st.booleans()):  # the output a leaky integrator (readout state)
        net = as_graph(net)
        net.populations[-1].v_th = math.inf
    elif draw(st.booleans()):
        net, x = draw(integer_networks())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    samples = [x]
    for _ in range(draw(st.integers(1, 5))):
        T = int(rng.integers(0, 30))
        samples.append((rng.random((T, *x.shape[1:])) < rng.uniform(0.05, 0.9))
                       .astype(np.uint8))
    return net, samples


@settings(max_examples=60, deadline=None)
@given(networks_and_samples(), st.sampled_from([1, 2, 3]))
def test_run_many_equals_each_sample_run_alone(case, threads):
    """Threads share the plan; each thread's runs reuse one set of arrays (reset, not
    allocated). A fresh Simulator per sample shares neither."""
    net, samples = case
    sim = Simulator(net, dtype="float64")
    many = sim.run_many(samples * 2, threads=threads)
    again = [sim.run(x) for x in samples]  # the reused arrays, in this thread
    for i, x in enumerate(samples * 2):
        alone = Simulator(net, dtype="float64").run(x)
        _same(many[i], alone, f"sample {i}: ")
    for i, x in enumerate(samples):
        _same(again[i], many[i], f"again, sample {i}: ")


def test_results_keep_their_arrays_when_the_simulator_runs_again():
    """A run's arrays go to the next run: no result may hold one of them."""
    rng = np.random.default_rng(5)
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    net = Network([Dense(rng.normal(0.4, 0.5, (7, 6)), v_th=0.5, decay=0.9)], (6,))
    x = (rng.random((40, 6)) < 0.5).astype(np.uint8)
    sim = Simulator(net)
    first = sim.run(x)
    counts, spikes = first.spike_counts[0].copy(), first.spikes[0].copy()
    assert counts.sum() > 0
    sim.run(np.zeros((40, 6), np.uint8))
    np.testing.assert_array_equal(first.spike_counts[0], counts)
    np.testing.assert_array_equal(first.spikes[0], spikes)


def test_the_first_error_in_input_order_is_raised_after_the_running_samples():
    rng = np.random.default_rng(2)
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    net = Network([Dense(rng.normal(0.4, 0.5, (3, 4)), v_th=0.5)], (4,))
    good = (rng.random((10, 4)) < 0.5).astype(np.uint8)
    bad_shape, bad_value = np.zeros((10, 5), np.uint8), np.full((10, 4), 2, np.uint8)
    with pytest.raises(InputError, match=r"shape"):
        Simulator(net).run_many([good, bad_shape, good, bad_value] + [good] * 20, threads=2)
    with pytest.raises(InputError, match=r"0 or 1|0/1|binary"):
        Simulator(net).run_many([good, bad_value, bad_shape], threads=2)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_integer(threads):
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    net = Network([Dense(np.ones((2, 2)), v_th=1.0)], (2,))
    with pytest.raises(InputError, match=r"field 'threads' must be a positive integer"):
        Simulator(net).run_many([np.zeros((3, 2), np.uint8)], threads=threads)


def test_map_threads_keeps_order_bounds_the_lookahead_and_reports_progress():
    seen, running, most = [], [0], [0]
    lock = threading.Lock()

    def items():
        for i in range(50):
            seen.append(i)
            yield i

    def square(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        with lock:
            running[0] -= 1
        # never more than AHEAD * threads drawn beyond the results collected
        assert len(seen) <= i + engine_threads.AHEAD * 2
        return i * i

    done = []
    out = engine_threads.map_threads(square, items(), 2, done.append)
    assert out == [i * i for i in range(50)]
    assert done == [1] * 50 and most[0] <= 2
