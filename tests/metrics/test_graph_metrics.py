"""Metrics of graphs: populations sum their projections, recurrent SOPs apart, path counts of
composed projections by hand, and a chain counts the same as its graph."""

from __future__ import annotations

import json

import graphgen
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks

import eventsim
from eventsim.cli import main
from eventsim.metrics import layer_metrics, projection_metrics, structure
from eventsim.metrics.summary import summarize
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection, as_graph
from eventsim.network.reference import simulate_dense


@settings(max_examples=40, deadline=None)
@given(graphgen.vector_graphs())
def test_population_figures_sum_their_projections_and_match_the_twin(case):
    g, x = case
    result = eventsim.simulate(g, x, dtype="float64")
    pops, projs = layer_metrics(g, result), projection_metrics(g, result)
    _, twin_sops = simulate_dense(g, x, dtype="float64", per_projection=True)
    assert [m.effective_acs for m in projs] == twin_sops.tolist()
    for p, m in enumerate(pops):
        into = g.into(p)
        assert m.effective_acs == sum(projs[k].effective_acs for k in into)
        assert m.connections == sum(projs[k].connections for k in into)
        assert m.spikes == len(result.spikes[p])
    assert [m.recurrent for m in projs] == [g.closes_cycle(k) for k in range(len(projs))]
    for k, proj in enumerate(g.projections):  # one Dense: every weight a connection
        w = proj.ops[0].weight
        assert (projs[k].connections, round((1 - projs[k].connection_sparsity) * w.size)) == \
            (w.size, np.count_nonzero(w))


@settings(max_examples=30, deadline=None)
@given(st.one_of(dense_networks(), conv_networks()))
def test_a_chain_counts_the_same_as_its_graph(case):
    net, x = case
    g = as_graph(net)
    a = layer_metrics(net, eventsim.simulate(net, x, dtype="float64"))
    b = layer_metrics(g, eventsim.simulate(g, x, dtype="float64"))
    keep = ("neurons", "spikes", "effective_acs", "effective_macs", "membrane_updates",
            "dense_ops", "ann_macs", "connections", "connection_sparsity", "silent_neurons")
    assert [[getattr(m, f) for f in keep] for m in a] == [[getattr(m, f) for f in keep]
                                                           for m in b]
    assert [m.name for m in b] == [p.name for p in g.populations]


def test_paths_of_a_pool_then_conv_projection_by_hand():
    """(1,4,4) -sum pool 2-> (1,2,2) -conv 3x3 pad 1 (one zero tap, the centre)-> (1,2,2).
    Each input unit lands in one pooled unit, which reaches all 4 conv outputs (a 2x2 map
    with padding 1: every tap in range for some output, 4 of the 9 for each): 16 inputs x 4
    paths = 64 connections; the centre tap is each output's own pooled unit, so 16 of the
    paths have a zero weight."""
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 1, 1] = 0.0
    g = Graph((1, 4, 4), [Population("c", (1, 2, 2))],
              [Projection(INPUT, "c", [ops.SumPool2d(2), ops.Conv2d(w, padding=1)])])
    assert structure(g) == [(64, 48)]
    x = np.zeros((1, 16), np.uint8)
    x[0, 0] = 1  # lands in pooled unit (0, 0): reaches 3 outputs with a nonzero tap
    r = eventsim.simulate(g, x, dtype="float64")
    assert projection_metrics(g, r)[0].effective_acs == 3


def test_run_on_a_recurrent_graph_names_populations_and_projections(capsys, tmp_path,
                                                                     data_dir):
    rng = np.random.default_rng(0)
    g = Graph((2, 34, 34), [Population("hidden", (32,), decay=0.8, v_th=1.0),
                            Population("out", (10,), decay=0.8, v_th=1.0)],
              [Projection(INPUT, "hidden", [ops.Flatten(),
                                            ops.Dense(rng.normal(0, 0.15, (32, 2312)))]),
               Projection("hidden", "hidden", [ops.Dense(rng.normal(0, 0.2, (32, 32)))]),
               Projection("hidden", "out", [ops.Dense(rng.normal(0, 0.5, (10, 32)))])],
              dt_us=1000, T=100, sensor_size=(34, 34, 2))
    eventsim.save_network(g, tmp_path / "g.h5")
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))[:3]
    for f in files:
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f.name).write_bytes(f.read_bytes())
    code = main(["run", str(tmp_path / "g.h5"), str(tmp_path / "in"), "--json",
                 str(tmp_path / "r.json"), "--report", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["layer", "kind"]
    assert lines[2].split()[:3] == ["hidden", "Dense+Dense(rec)", "32"]
    assert lines[3].split()[:3] == ["out", "Dense", "10"]
    m = json.loads((tmp_path / "r.json").read_text())["metrics"]
    results = [eventsim.simulate(g, eventsim.read_events(f, g.sensor_size)) for f in files]
    want = summarize(g, results, [None] * 3)["projections"]
    assert m["projections"] == want
    assert [p["recurrent"] for p in want] == [False, True, False]
    assert want[1]["effective_acs"] > 0
    assert "## Per projection" in (tmp_path / "rep" / "metrics.md").read_text()
