"""Repeated runs of an unchanged network reuse its plan; any change to it builds a new one."""

from __future__ import annotations

import copy
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.engine import plan_cache
from eventsim.engine.plan_cache import fingerprint
from eventsim.network.layers import Dense
from eventsim.network.network import Network

from .graphgen import vector_graphs
from .netgen import dense_networks


def _counting(monkeypatch):
    built = []
    real = plan_cache.build_plan

    def build(*args, **kwargs):
        built.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_cache, "build_plan", build)
    return built


def _net():
    rng = np.random.default_rng(3)
    return Network([Dense(rng.normal(0.3, 0.4, (6, 5)), v_th=0.6, decay=0.8),
                    Dense(rng.normal(0.3, 0.4, (3, 6)), v_th=0.5)], (5,))


def test_a_loop_of_simulate_builds_one_plan_per_dtype_and_mode(monkeypatch):
    built = _counting(monkeypatch)
    net = _net()
    x = (np.random.default_rng(0).random((20, 5)) < 0.4).astype(np.uint8)
    first = [eventsim.simulate(net, x).spike_counts for _ in range(3)]
    assert len(built) == 1
    assert all(np.array_equal(a, b) for r in first[1:] for a, b in zip(r, first[0]))
    eventsim.simulate(net, x, dtype="float64")
    eventsim.simulate(net, x, mode="continuous")
    eventsim.simulate(net, x, dtype="float64")
    assert [np.dtype(d).name for d in built] == ["float32", "float64", "float32"]


def test_a_weight_changed_in_place_builds_a_new_plan(monkeypatch):
    """The changed network runs as a fresh copy of it does, not as the cached plan would."""
    built = _counting(monkeypatch)
    net = _net()
    x = (np.random.default_rng(1).random((30, 5)) < 0.5).astype(np.uint8)
    before = eventsim.simulate(net, x, dtype="float64").spike_counts
    net.layers[1].weight[:, :] *= -1.0  # in place: the same array object
    after = eventsim.simulate(net, x, dtype="float64").spike_counts
    fresh = eventsim.simulate(copy.deepcopy(net), x, dtype="float64").spike_counts
    assert len(built) == 3
    assert not np.array_equal(before[1], after[1])
    assert all(np.array_equal(a, b) for a, b in zip(after, fresh))
    net.layers[0].v_th = 0.61  # a scalar field
    eventsim.simulate(net, x, dtype="float64")
    assert len(built) == 4


def test_a_network_pickles_and_copies_without_its_plans():
    net = _net()
    size = len(pickle.dumps(net))
    eventsim.simulate(net, np.ones((5, 5), np.uint8))
    assert len(net._eventsim_plans) == 1
    assert len(pickle.dumps(net)) < size + 200
    assert len(pickle.loads(pickle.dumps(net))._eventsim_plans) == 0
    assert len(copy.deepcopy(net)._eventsim_plans) == 0


@settings(max_examples=60, deadline=None)
@given(st.one_of(dense_networks(cuba=True).map(lambda nx: nx[0]),
                 vector_graphs(cuba=True, two=True, adapt=True).map(lambda gx: gx[0])),
       st.data())
def test_the_fingerprint_sees_every_array_element(net, data):
    """A copy has the network's fingerprint; changing any one element of any of its arrays
    (weights, biases, delays, starts) changes it, and so does a changed scalar field."""
    assert fingerprint(copy.deepcopy(net)) == fingerprint(net)
    arrays = []

    def collect(x):
        if isinstance(x, np.ndarray) and x.size and x.dtype.kind in "fiu":
            arrays.append(x)
        elif hasattr(x, "__dataclass_fields__"):
            for name in x.__dataclass_fields__:
                collect(getattr(x, name))
        elif isinstance(x, (list, tuple)):
            for v in x:
                collect(v)

    collect(net)
    before = fingerprint(net)
    a = data.draw(st.sampled_from(arrays))
    i = data.draw(st.integers(0, a.size - 1))
    flat = a.reshape(-1)
    old = flat[i]
    flat[i] = old + 1
    assert fingerprint(net) != before
    flat[i] = old
    assert fingerprint(net) == before
    pops = getattr(net, "populations", None) or [lay for lay in net.layers
                                                 if hasattr(lay, "v_th")]
    pops[0].decay = pops[0].decay * 0.5
    assert fingerprint(net) != before
