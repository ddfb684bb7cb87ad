"""A second synaptic current (``syn_decay_2``, projections of ``port=1``) and a start
``v_init``: saved and loaded, refused where a part cannot hold them, with errors naming the
population, projection and field (runs against the twin and Brian2: tests/engine/test_graphs.py,
tests/bridges/test_brian2.py; the crossing: tests/engine/test_cuba.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import eventsim
from eventsim.errors import NetworkError
from eventsim.metrics.counts import layer_metrics
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.hdf5 import load_network, save_network
from eventsim.network.quantize import quantize


def _graph(seed=0, **pop_kw) -> Graph:
    """An excitatory-inhibitory pair as in the CUBA benchmark: ``exc`` feeds the first
    current of both, ``inh`` the second."""
    rng = np.random.default_rng(seed)
    kw = {"decay": 0.95, "v_th": 1.0, "syn_decay": 0.8, "syn_decay_2": 0.9, "v_leak": 1.05,
          "refractory_steps": 2} | pop_kw
    return Graph((5,), [Population("exc", (8,), v_init=rng.uniform(0, 1, 8), **kw),
                        Population("inh", (4,), **kw)],
                 [Projection(INPUT, "exc", [ops.Dense(rng.uniform(0, 0.3, (8, 5)))]),
                  Projection("exc", "exc", [ops.Dense(rng.uniform(0, 0.05, (8, 8)))]),
                  Projection("exc", "inh", [ops.Dense(rng.uniform(0, 0.2, (4, 8)))]),
                  Projection("inh", "exc", [ops.Dense(-rng.uniform(0, 0.3, (8, 4)))], port=1),
                  Projection("inh", "inh", [ops.Dense(-rng.uniform(0, 0.3, (4, 4)))], port=1)],
                 dt_us=100)


def _input(T=200, seed=1, rate=0.05):
    return (np.random.default_rng(seed).random((T, 5)) < rate).astype(np.uint8)


def test_save_and_load_keep_both_currents_and_the_start(tmp_path):
    g = _graph()
    path = tmp_path / "cuba.h5"
    save_network(g, path)
    back = load_network(path)
    import h5py
    with h5py.File(path) as f:
        assert int(f.attrs["format_version"]) == 5
    assert [p.syn_decay_2 for p in back.populations] == [0.9, 0.9]
    np.testing.assert_array_equal(back.populations[0].v_init, g.populations[0].v_init)
    assert back.populations[1].v_init is None
    assert [p.port for p in back.projections] == [0, 0, 0, 1, 1]
    x = _input()
    a, b = (eventsim.simulate(n, x, dtype="float64") for n in (g, back))
    assert sum(len(s) for s in a.spikes) > 20
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)


def test_a_scalar_start_is_saved_as_an_attribute(tmp_path):
    g = _graph()
    g.populations[1].v_init = 0.25
    save_network(g, tmp_path / "a.h5")
    assert load_network(tmp_path / "a.h5").populations[1].v_init == 0.25


def test_the_start_changes_the_spikes():
    """``v_init`` is where the membrane starts: starting at rest (``v_leak``) or from the
    drawn values gives other spikes, and a start at 0.99 fires no later than one at 0."""
    x = np.zeros((80, 5), np.uint8)
    g, low, high = _graph(), _graph(), _graph()
    for n in (g, low, high):
        n.populations[1].v_init = 0.0  # (at rest, 1.05, it would fire at once and inhibit)
    low.populations[0].v_init, high.populations[0].v_init = 0.0, 0.99
    first = [eventsim.simulate(n, x, dtype="float64").spikes[0] for n in (low, high, g)]
    assert 0 < len(first[1]) and first[1][0, 0] < 5 < first[0][0, 0]
    assert not np.array_equal(first[2], first[0])


def test_current_updates_count_both_currents():
    g = _graph()
    r = eventsim.simulate(g, _input(), dtype="float64")
    m = layer_metrics(g, r)
    for p in range(2):
        assert m[p].current_updates == 2 * int(r.neuron_updates[p]) > 0


@pytest.mark.parametrize("change, match", [
    (lambda g: setattr(g.projections[3], "port", 2), (r"projection 3 \(inh -> exc\): field "
     r"'port' must be 0 or 1")),
    (lambda g: setattr(g.populations[0], "syn_decay_2", 0.0), (r"projection 3 \(inh -> exc\): "
     r"field 'port' is 1, but population 'exc' has no second current")),
    (lambda g: setattr(g.projections[3].ops[0], "bias", np.ones(8)), (r"projection 3 \(inh -> "
     r"exc\): a projection into the second current \(port 1\) takes no bias")),
    (lambda g: setattr(g.populations[0], "syn_decay_2", 0.95), (r"population 'exc': field "
     r"'syn_decay_2' equals 'decay' \(0.95\)")),
    (lambda g: setattr(g.populations[0], "syn_decay", 0.95), (r"population 'exc': field "
     r"'syn_decay' equals 'decay' \(0.95\)")),
    (lambda g: setattr(g.populations[0], "syn_decay_2", 1.0), (r"population 'exc': field "
     r"'syn_decay_2' must be a number in \[0, 1\)")),
    (lambda g: setattr(g.populations[1], "v_th", math.inf), (r"population 'inh': field "
     r"'syn_decay_2' is 0.9, but a leaky integrator readout has one current")),
    (lambda g: setattr(g.populations[0], "v_init", np.zeros(7)), (r"population 'exc': field "
     r"'v_init' must be one number or one per neuron, shape \(8,\); got shape \(7,\)")),
    (lambda g: g.populations[0].v_init.__setitem__(3, np.nan), (r"population 'exc': field "
     r"'v_init' must be finite, got nan at neuron 3")),
])
def test_bad_fields_are_named(change, match):
    g = _graph()
    change(g)
    with pytest.raises(NetworkError, match=match):
        Graph(g.input_shape, g.populations, g.projections, g.dt_us)


def test_a_second_current_needs_a_first():
    with pytest.raises(NetworkError, match="'syn_decay_2' is 0.9, but a second current needs "
                                           "a first: give syn_decay > 0"):
        _graph(syn_decay=0.0)


def test_parts_that_cannot_hold_them_refuse(tmp_path):
    g = _graph()
    with pytest.raises(NetworkError, match="to_nir: population 'exc': field 'syn_decay_2' is "
                                           "given; NIR's neuron nodes have one synaptic current"):
        eventsim.to_nir(g, tmp_path / "g.nir")
    assert not (tmp_path / "g.nir").exists()
    with pytest.raises(NetworkError, match="population 'exc': field 'syn_decay_2' is 0.9; an "
                                           "integer population has one current"):
        quantize(_graph(refractory_steps=0, v_leak=0.0))
    from eventsim.train.graph_model import check_trainable
    with pytest.raises(NetworkError, match="train: population 'exc': field 'syn_decay_2' is "
                                           "0.9; a second synaptic current is not trained"):
        check_trainable(g)


def test_a_start_alone_trains():
    """``v_init`` on delta-synapse populations: the trainer starts from it, spike for spike
    with the runtime (continuous mode's start: tests/engine/test_graphs.py)."""
    from eventsim.train.graph_model import forward
    rng = np.random.default_rng(3)
    g = Graph((5,), [Population("h", (6,), decay=0.9, v_th=1.0, v_init=rng.uniform(0, 1.2, 6)),
                     Population("o", (2,), decay=0.8, v_th=0.5)],
              [Projection(INPUT, "h", [ops.Dense(rng.uniform(0, 0.4, (6, 5)))]),
               Projection("h", "o", [ops.Dense(rng.uniform(0, 0.6, (2, 6)))])], dt_us=1000)
    x = _input(T=30, rate=0.3)
    cache, _ = forward(g, x[:, None], dtype="float64")
    r = eventsim.simulate(g, x, dtype="float64")
    assert len(r.spikes[0]) > 0 and r.spikes[0][0, 0] == 0  # the start over v_th fires at once
    np.testing.assert_array_equal(np.argwhere(cache.o[0][:, 0] > 0), r.spikes[0])


def test_an_analog_input_into_the_second_current_is_refused():
    """An analog image is a constant current, a bias, which port 1 does not take."""
    g = Graph((1,), [Population("h", (1,), decay=0.9, v_th=1.0, syn_decay=0.5,
                                syn_decay_2=0.95)],
              [Projection(INPUT, "h", [ops.Dense(np.array([[0.1]]))], port=1)])
    with pytest.raises(NetworkError, match=r"projection 0 \(input -> h\): an analog input is a "
                                           r"constant current, a bias"):
        eventsim.simulate(g, np.array([1.0]), T=30, analog=True)


@pytest.mark.parametrize("fields", [{"syn_decay": 0.9000000001, "syn_decay_2": 0.5},
                                    {"syn_decay": 0.5, "syn_decay_2": 0.9000000001},
                                    {"syn_decay": 0.9000000001, "adapt_decay": 0.8,
                                     "adapt_jump": 0.5}])
def test_decays_equal_in_float32_are_named(fields):
    """Decays that differ in float64 but not in the run's float32: the closed-form crossing
    would divide by zero; the run is refused by name, and float64 runs."""
    g = Graph((1,), [Population("h", (1,), decay=0.9, v_th=1.0, **fields)],
              [Projection(INPUT, "h", [ops.Dense(np.array([[0.3]]))])])
    x = np.zeros((30, 1), np.uint8)
    x[0] = 1
    assert eventsim.simulate(g, x, dtype="float64").T == 30
    with pytest.raises(NetworkError, match=r"population 'h': field 'syn_decay(_2)?' "
                                           r"\(0.9000000001\) rounds to 'decay' \(0.9\) in "
                                           r"float32"):
        eventsim.simulate(g, x, dtype="float32")
