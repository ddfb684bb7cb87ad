"""NIR graphs that are not chains: files other frameworks wrote, round trips of random graphs,
the order rule, Delay nodes, shared nodes, and what does not map."""

from __future__ import annotations

import math
import warnings
from itertools import pairwise
from pathlib import Path

import graphgen
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import EventsimWarning, NetworkError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection

DATA = Path(__file__).resolve().parents[1] / "data"


def _read(name: str, **reading) -> Graph:
    with warnings.catch_warnings():  # files other tools wrote carry no checksum
        warnings.simplefilter("ignore", EventsimWarning)
        return eventsim.from_nir(DATA / name, **reading)


def _assert_spikes(net, x, io, key: str, n_pops: int) -> None:
    for dtype in ("float32", "float64"):
        result = eventsim.simulate(net, x, dtype=dtype)
        for pop in range(n_pops):
            np.testing.assert_array_equal(result.spikes[pop], np.argwhere(io[f"{key}{pop}"]),
                                          err_msg=f"{key}, {dtype}, population {pop}")


def test_a_recurrent_snn_snntorch_wrote_runs_as_snntorch_ran_it():
    """tests/data/snntorch_rsnn.nir: snnTorch 1.0's export_to_nir of Linear - RLeaky (all to
    all, recurrent Linear with bias) - Linear - Leaky (tests/data/make_snntorch_rsnn.py). The
    recurrent edge 1.lif -> 1.w_rec -> 1.lif closes a cycle, so it reads the spikes of the step
    before: snnTorch's own spikes for reset_mechanism="zero", reset_delay=False (what its
    import_from_nir builds), in both dtypes. Its default reset_delay=True also drops the input
    of the step after a spike, which eventsim's zero reset does not: those spikes differ."""
    io = np.load(DATA / "snntorch_rsnn_io.npz")
    g = _read("snntorch_rsnn.nir", dt_us=100, discretisation="euler")
    assert isinstance(g, Graph)
    assert [p.name for p in g.populations] == ["1.lif", "3"]
    assert [(p.source, p.target, g.closes_cycle(k)) for k, p in enumerate(g.projections)] == \
        [(INPUT, "1.lif", False), ("1.lif", "1.lif", True), ("1.lif", "3", False)]
    assert g.projections[1].ops[0].bias is not None  # the recurrent Linear's bias
    assert io["nodelay_spikes0"].sum() > 30 and io["nodelay_spikes1"].sum() > 10
    x = io["x"].astype(np.uint8)
    _assert_spikes(g, x, io, "nodelay_spikes", 2)
    result = eventsim.simulate(g, x, dtype="float64")
    assert not np.array_equal(result.spikes[0], np.argwhere(io["delay_spikes0"]))


def test_a_cnn_sinabs_wrote_with_pooling_into_conv_runs_as_sinabs_ran_it():
    """tests/data/sinabs_cnn.nir: Sinabs 3.1.3's to_nir of Conv - IAF - SumPool - Conv - IAF -
    SumPool - Flatten - Linear - IAF (make_sinabs_cnn.py): the poolings feed a conv and a
    Flatten-Linear with no neurons between, so they compose into the projections after them."""
    io = np.load(DATA / "sinabs_cnn_io.npz")
    g = _read("sinabs_cnn.nir", dt_us=1_000_000, discretisation="zoh", reset="subtract")
    assert [(p.name, p.shape) for p in g.populations] == [("1", (4, 8, 8)), ("4", (4, 4, 4)),
                                                          ("8", (5,))]
    assert [[type(op).__name__ for op in p.ops] for p in g.projections] == \
        [["Conv2d"], ["SumPool2d", "Conv2d"], ["SumPool2d", "Flatten", "Dense"]]
    assert [io[f"spikes{k}"].sum() > 10 for k in range(3)] == [True] * 3
    _assert_spikes(g, io["x"].reshape(len(io["x"]), -1).astype(np.uint8), io, "spikes", 3)


@settings(max_examples=80, deadline=None)
@given(st.one_of(graphgen.vector_graphs(cuba=True), graphgen.image_graphs(cuba=True)),
       st.booleans())
def test_graphs_round_trip_through_nir(tmp_path_factory, case, readout):
    """Skip paths, fan-in, cycles, self-loops, delays of every shape, composed ops, currents
    (CubaLIF), an LI or I readout: the same spikes and readouts back, whatever order the
    populations were listed in (the file carries it)."""
    g, x = case
    g.dt_us = 1000
    if readout:
        g.populations[-1].v_th = math.inf
    for proj in g.projections:  # NIR takes per-synapse delays of one Dense only (see below)
        if np.ndim(proj.delay) == 2 and len(proj.ops) > 1:
            proj.delay = proj.delay[0]  # one per source neuron instead
    path = tmp_path_factory.mktemp("nir") / "g.nir"
    eventsim.to_nir(g, path)
    back = eventsim.from_nir(path)
    assert [p.name for p in (back.populations if isinstance(back, Graph) else [])] in \
        ([p.name for p in g.populations], [])
    a, b = (eventsim.simulate(net, x, dtype="float64") for net in (g, back))
    assert len(a.spikes) == len(b.spikes)
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)
    for ma, mb in zip(a.membrane_max + a.membrane_mean, b.membrane_max + b.membrane_mean):
        assert (ma is None) == (mb is None)
        if ma is not None:  # a path's ops may come back composed in another order
            np.testing.assert_allclose(ma, mb, rtol=1e-12, atol=1e-12)


def _lif(n: int, v_th: float = 1.0):
    ones = np.ones(n)
    return nir.LIF(tau=ones * 0.01, r=ones * 0.01, v_leak=0 * ones, v_threshold=ones * v_th,
                   v_reset=0 * ones)


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _two_cycle(order_edges=False) -> nir.NIRGraph:
    """input -> a <-> b -> c, and input -> c directly (c is in no cycle)."""
    nodes = {"input": nir.Input({"input": np.array([2])}),
             "wa": nir.Linear(np.ones((2, 2))), "a": _lif(2),
             "wab": nir.Linear(np.eye(2)), "b": _lif(2),
             "wba": nir.Linear(-np.eye(2)), "wbc": nir.Linear(np.ones((3, 2))),
             "wic": nir.Linear(np.ones((3, 2))), "c": _lif(3),
             "output": nir.Output({"output": np.array([3])})}
    edges = [("input", "wa"), ("wa", "a"), ("a", "wab"), ("wab", "b"), ("b", "wba"),
             ("wba", "a"), ("b", "wbc"), ("wbc", "c"), ("input", "wic"), ("wic", "c"),
             ("c", "output")]
    return _graph(nodes, edges[::-1] if order_edges else edges)


def test_the_population_nearest_the_input_runs_first_in_a_cycle():
    """b -> a closes the a <-> b cycle (a is reached first); b -> c and input -> c are in no
    cycle, so they run forwards although c is as near the input as a; listing the edges in
    another order changes nothing."""
    for reverse in (False, True):
        g = eventsim.from_nir(_two_cycle(reverse), dt_us=1000)
        assert [p.name for p in g.populations] == ["a", "b", "c"]
        back = {(p.source, p.target) for k, p in enumerate(g.projections) if g.closes_cycle(k)}
        assert back == {("b", "a")}


def test_a_graph_eventsim_wrote_keeps_its_order(tmp_path):
    """Listed b before a, the edge a -> b closes the cycle; the file carries the order."""
    w = np.array([[1.5]])
    g = Graph((1,), [Population("b", (1,), decay=1.0), Population("a", (1,), decay=1.0),
                     Population("out", (1,), decay=1.0)],
              [Projection(INPUT, "a", [ops.Dense(w)]), Projection("a", "b", [ops.Dense(w)]),
               Projection("b", "a", [ops.Dense(w)]), Projection("a", "out", [ops.Dense(w)])],
              dt_us=1000)
    eventsim.to_nir(g, tmp_path / "g.nir")
    back = eventsim.from_nir(tmp_path / "g.nir")
    assert [p.name for p in back.populations] == ["b", "a", "out"]
    assert {(p.source, p.target) for k, p in enumerate(back.projections)
            if back.closes_cycle(k)} == {("a", "b")}
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    ra, rb = eventsim.simulate(g, x), eventsim.simulate(back, x)
    # a fires at 0; a -> b arrives a step later; b -> a in the same step: they alternate
    np.testing.assert_array_equal(ra.spikes[0][:, 0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(ra.spikes[1][:, 0], [0, 1, 2, 3, 4, 5])
    for sa, sb in zip(ra.spikes, rb.spikes):
        np.testing.assert_array_equal(sa, sb)


def _with_delay(delay_s, where: str = "source") -> nir.NIRGraph:
    """input (3) -> [Delay] -> Linear (2x3) -> [Delay] -> lif (2) -> output."""
    nodes = {"input": nir.Input({"input": np.array([3])}), "d": nir.Delay(np.asarray(delay_s)),
             "w": nir.Linear(np.arange(6.0).reshape(2, 3)), "n": _lif(2),
             "output": nir.Output({"output": np.array([2])})}
    chain = ["input", "d", "w", "n"] if where == "source" else ["input", "w", "d", "n"]
    edges = [*pairwise(chain), ("n", "output")]
    return _graph(nodes, edges)


def test_delay_nodes_become_delays_in_steps():
    dt = 1e-3
    g = eventsim.from_nir(_with_delay(np.full(3, 2 * dt)), dt_us=1000)
    assert g.projections[0].delay == 2 and g.projections[0].delay_us == 2000.0
    g = eventsim.from_nir(_with_delay(np.array([0, 1, 3]) * dt), dt_us=1000)
    np.testing.assert_array_equal(g.projections[0].delay, [0, 1, 3])
    g = eventsim.from_nir(_with_delay(np.array([1, 4]) * dt, "target"), dt_us=1000)
    np.testing.assert_array_equal(g.projections[0].delay, [[1, 1, 1], [4, 4, 4]])
    x = np.zeros((8, 3), np.uint8)
    x[0, 2] = 1  # weight 2 onto neuron 0, 5 onto neuron 1: both fire, 1 and 4 steps later
    np.testing.assert_array_equal(eventsim.simulate(g, x).spikes[0], [[1, 0], [4, 1]])


@pytest.mark.parametrize("delay_s, dt_us, match", [
    (np.full(3, 1.5e-3), 1000, r"node 'd': field 'delay' is not whole steps of 1000 us"),
    (np.full(3, -1e-3), 1000, r"node 'd': field 'delay' is not whole steps"),
    (np.full(3, 1e-3), None, r"node 'd' delays by seconds; give dt_us"),
])
def test_delays_that_do_not_map_are_named(delay_s, dt_us, match):
    graph = _with_delay(delay_s)
    graph.nodes["n"] = nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    with pytest.raises(NetworkError, match=match):
        eventsim.from_nir(graph, dt_us=dt_us)


def test_a_delay_per_neuron_between_ops_is_refused():
    nodes = {"input": nir.Input({"input": np.array([2])}), "w": nir.Linear(np.ones((2, 2))),
             "d": nir.Delay(np.array([1e-3, 2e-3])), "w2": nir.Linear(np.ones((2, 2))),
             "n": _lif(2), "output": nir.Output({"output": np.array([2])})}
    chain = ["input", "w", "d", "w2", "n", "output"]
    with pytest.raises(NetworkError, match=r"node 'd': a delay that differs between its 2 "
                                           r"neurons; eventsim takes them per source neuron \(2, "
                                           r"before the first weighted op\)"):
        eventsim.from_nir(_graph(nodes, list(pairwise(chain))), dt_us=1000)


def test_a_shared_node_adds_its_bias_once():
    """a and b both feed the Affine 'fc' (NIR sums its inputs, then adds the bias once): two
    projections, one carrying the bias. A constant drive of 0.6 fires c every second step."""
    n1 = np.ones(1)
    nodes = {"input": nir.Input({"input": np.array([1])}),
             "wa": nir.Linear(np.ones((1, 1))), "a": _lif(1), "wb": nir.Linear(np.ones((1, 1))),
             "b": _lif(1), "fc": nir.Affine(np.zeros((1, 1)), 0.6 * n1),
             "c": nir.IF(r=n1, v_threshold=n1, v_reset=0 * n1),
             "output": nir.Output({"output": np.array([1])})}
    edges = [("input", "wa"), ("wa", "a"), ("input", "wb"), ("wb", "b"), ("a", "fc"),
             ("b", "fc"), ("fc", "c"), ("c", "output")]
    g = eventsim.from_nir(_graph(nodes, edges), dt_us=1000)
    into_c = [p for p in g.projections if p.target == "c"]
    assert [(p.source, p.ops[0].bias is not None) for p in into_c] == [("a", True), ("b", False)]
    result = eventsim.simulate(g, np.zeros((6, 1), np.uint8))
    np.testing.assert_array_equal(result.spikes[2][:, 0], [1, 3, 5])


def test_a_subgraph_is_spliced_in():
    """A recurrent layer as a nested NIRGraph (as snnTorch builds it before nirtorch flattens
    it) runs as the flat file does."""
    flat = _read("snntorch_rsnn.nir", dt_us=100, discretisation="euler")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EventsimWarning)
        raw = nir.read(str(DATA / "snntorch_rsnn.nir"))
    inner = {"input": nir.Input({"input": np.array([8])}), "lif": raw.nodes["1.lif"],
             "w_rec": raw.nodes["1.w_rec"], "output": nir.Output({"output": np.array([8])})}
    sub = nir.NIRGraph(nodes=inner, edges=[("input", "lif"), ("lif", "w_rec"),
                                           ("w_rec", "lif"), ("lif", "output")],
                       type_check=False)
    nodes = {k: v for k, v in raw.nodes.items() if not k.startswith("1.")} | {"1": sub}
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")]
    g = eventsim.from_nir(_graph(nodes, edges), dt_us=100, discretisation="euler")
    assert [p.name for p in g.populations] == ["1.lif", "3"]
    x = np.load(DATA / "snntorch_rsnn_io.npz")["x"].astype(np.uint8)
    for sa, sb in zip(eventsim.simulate(flat, x).spikes, eventsim.simulate(g, x).spikes):
        np.testing.assert_array_equal(sa, sb)


def _ring(**changes) -> tuple[dict, list]:
    nodes = {"input": nir.Input({"input": np.array([2])}), "w": nir.Linear(np.ones((2, 2))),
             "n": _lif(2), "output": nir.Output({"output": np.array([2])})}
    edges = [("input", "w"), ("w", "n"), ("n", "output")]
    return nodes | changes.get("nodes", {}), edges + changes.get("edges", [])


@pytest.mark.parametrize("changes, match", [
    ({"nodes": {"u": nir.Linear(np.eye(2)), "v": nir.Linear(np.eye(2))},
      "edges": [("n", "u"), ("u", "v"), ("v", "u")]},
     r"nodes 'u', 'v' form a loop without neurons"),
    ({"nodes": {"u": nir.Linear(np.eye(2))}, "edges": [("n", "u")]},
     r"node 'u' \(Linear\) leads nowhere"),
    ({"nodes": {"u": nir.Linear(np.eye(2))}, "edges": [("n", "u"), ("u", "output")]},
     r"node 'output' is fed by 'n' \(LIF\), 'u' \(Linear\)"),
    ({"nodes": {"o2": nir.Output({"output": np.array([2])})}, "edges": [("n", "o2")]},
     r"the graph has 2 Output nodes; expected one"),
    ({"edges": [("n", "output")]}, r"edge \('n', 'output'\) is listed twice"),
    ({"edges": [("n", "n")]}, r"'n' -> 'n' reaches a population through no Affine, Linear"),
    ({"nodes": {"m": _lif(2), "u": nir.Linear(np.eye(2))},
      "edges": [("n", "u"), ("u", "m"), ("m", "u")]},
     r"'m' run after the output population 'n'"),
])
def test_graphs_that_do_not_map_name_the_nodes(changes, match):
    nodes, edges = _ring(**changes)
    with pytest.raises(NetworkError, match=match):
        eventsim.from_nir(_graph(nodes, edges), dt_us=1000)


def test_to_nir_of_a_graph_names_what_it_cannot_write():
    w = np.ones((2, 2))
    g = Graph((2,), [Population("n", (2,))],
              [Projection(INPUT, "n", [ops.Dense(w), ops.Dense(w)], delay=np.eye(2, dtype=int))],
              dt_us=1000)
    with pytest.raises(NetworkError, match=r"projection 0 \(input -> n\): per-synapse delays "
                                           r"are written as one path per delay value"):
        eventsim.to_nir(g)
    g = Graph((2,), [Population("n", (2,))], [Projection(INPUT, "n", [ops.Dense(w)], delay=1,
                                                         delay_us=300.0)], dt_us=1000)
    with pytest.raises(NetworkError, match=r"projection 0 \(input -> n\): field 'delay_us' is "
                                           r"not delay \* dt_us"):
        eventsim.to_nir(g)
    g.projections[0].delay_us = 1000.0
    assert eventsim.from_nir(eventsim.to_nir(g)).projections[0].delay_us == 1000.0
    g = Graph((2,), [Population("proj0.0", (2,))], [Projection(INPUT, "proj0.0", [ops.Dense(w)])],
              dt_us=1000)
    with pytest.raises(NetworkError, match=r"population 'proj0.0' has the name of the NIR node"):
        eventsim.to_nir(g)
    g = Graph((2,), [Population("n", (2,), decay=0.25, v_th=1.0,
                                integer=True)], [Projection(INPUT, "n",
                                                                       [ops.Dense(w)])],
              dt_us=1000)
    with pytest.raises(NetworkError, match=r"population 'n': integer populations"):
        eventsim.to_nir(g)
