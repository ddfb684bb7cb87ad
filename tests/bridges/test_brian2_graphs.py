"""The Brian2 twin of graphs (random discrete graphs: test_brian2.py): a self-loop's step of
delay, the probe on a recurrent population, ``eventsim validate`` on a graph and the
population its first divergence names, and continuous time on a recurrent graph."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.bridges.brian2 import run_brian2
from eventsim.cli import main
from eventsim.errors import NetworkError
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.reference import simulate_dense
from eventsim.validate import validate


def _rsnn(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph((6,), [Population("hidden", (8,), decay=0.8, v_th=0.7),
                        Population("out", (3,), decay=0.6, v_th=0.5, reset="subtract")],
                 [Projection(INPUT, "hidden", [ops.Dense(rng.normal(0.3, 0.4, (8, 6)))]),
                  Projection("hidden", "hidden", [ops.Dense(rng.normal(0.0, 0.4, (8, 8)))],
                             delay=rng.integers(0, 3, (8, 8))),
                  Projection("hidden", "out", [ops.Dense(rng.normal(0.3, 0.5, (3, 8)),
                                                         rng.normal(0.0, 0.1, 3))]),
                  Projection("out", "hidden", [ops.Dense(rng.normal(0.0, 0.5, (8, 3)))])],
                 dt_us=1000)


def test_a_self_loop_arrives_a_step_later_in_brian2_too():
    g = Graph((1,), [Population("h", (1,), decay=1.0, v_th=1.0)],
              [Projection(INPUT, "h", [ops.Dense(np.array([[1.0]]))]),
               Projection("h", "h", [ops.Dense(np.array([[1.0]]))], delay=2)])
    x = np.zeros((10, 1), np.uint8)
    x[0] = 1  # fires at 0; its own spike returns 2 + 1 steps later, and again
    run = run_brian2(g, [x])
    np.testing.assert_array_equal(run.spikes[0][0][:, 0], [0, 3, 6, 9])


def test_the_probe_on_a_recurrent_population():
    g = _rsnn()
    x = (np.random.default_rng(1).random((30, 6)) < 0.4).astype(np.uint8)
    run = run_brian2(g, [x], probe=(0, 3))
    _, _, trace = simulate_dense(g, x, probe=(0, 3))
    np.testing.assert_allclose(run.potential, trace, rtol=0, atol=1e-12)


def test_validate_a_graph_and_name_the_population_that_diverges():
    g = _rsnn()
    rng = np.random.default_rng(2)
    samples = [(rng.random((40, 6)) < 0.4).astype(np.uint8) for _ in range(3)]
    report = validate(g, samples, ["a", "b", "c"])
    assert report.ok and sum(sum(s.spikes_eventsim) for s in report.samples) > 50
    edited = _rsnn()
    edited.projections[3].ops[0].weight[:] += 0.3  # only the feedback from 'out' changes
    report = validate(g, samples, ["a", "b", "c"], reference=edited)
    assert not report.ok
    assert report.first.layer_name == "population 'hidden'"
    assert report.first.v_eventsim != report.first.v_brian2


def test_eventsim_validate_runs_a_graph_file(capsys, tmp_path, data_dir):
    rng = np.random.default_rng(0)
    g = Graph((2, 34, 34), [Population("hidden", (24,), decay=0.8, v_th=1.0),
                            Population("out", (10,), decay=0.8, v_th=1.0)],
              [Projection(INPUT, "hidden", [ops.SumPool2d(2), ops.Flatten(),
                                            ops.Dense(rng.normal(0, 0.3, (24, 578)))]),
               Projection("hidden", "hidden", [ops.Dense(rng.normal(0, 0.3, (24, 24)))],
                          delay=1),
               Projection("hidden", "out", [ops.Dense(rng.normal(0, 0.5, (10, 24)))])],
              dt_us=1000, T=60, sensor_size=(34, 34, 2))
    eventsim.save_network(g, tmp_path / "g.h5")
    folder = min((data_dir / "nmnist" / "Test").glob("*"))
    code = main(["validate", str(tmp_path / "g.h5"), str(folder), "--samples", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "population 'hidden'" in out and "population 'out'" in out
    assert "mismatching spikes: 0" in out


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_continuous_mode_on_a_recurrent_graph_agrees_with_brian2(seed):
    """Continuous time, inputs on whole microseconds, Brian2 at 1 us, no bias, zero reset (a
    subtract reset can fire several times in one instant in eventsim, once per step in
    Brian2): a recurrent population (a self-loop with delays per synapse, a projection to the
    output with delays per source neuron, one back with one delay) and a skip path give the
    same spike times in both."""
    rng = np.random.default_rng(seed)
    g = Graph((6,), [Population("h", (8,), tau_us=300.0, v_th=0.6),
                     Population("out", (3,), tau_us=500.0, v_th=0.5)],
              [Projection(INPUT, "h", [ops.Dense(rng.normal(0.35, 0.3, (8, 6)))]),
               Projection("h", "h", [ops.Dense(rng.normal(0.0, 0.3, (8, 8)))],
                          delay_us=rng.integers(1, 400, (8, 8)).astype(float)),  # per synapse
               Projection("h", "out", [ops.Dense(rng.normal(0.3, 0.4, (3, 8)))],
                          delay_us=rng.integers(0, 300, 8).astype(float)),  # per source neuron
               Projection(INPUT, "out", [ops.Dense(rng.normal(0.1, 0.2, (3, 6)))]),
               Projection("out", "h", [ops.Dense(rng.normal(0.0, 0.4, (8, 3)))],
                          delay_us=float(rng.integers(1, 300)))],
              dt_us=100)
    ev = np.zeros(60, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 3000, 60))
    ev["x"] = rng.integers(0, 6, 60)
    report = validate(g, [EventStream(ev, (6, 1, 1))], ["s"], mode="continuous", T=40)
    assert report.ok, report.first
    assert report.max_dt_us < 1e-6


def test_continuous_mode_refuses_a_cycle_shorter_than_brian2s_step():
    g = _rsnn()
    g.projections[3].delay_us = 0.5
    g.projections[1].delay, g.projections[1].delay_us = 0, 2.0
    with pytest.raises(NetworkError, match=r"projection 3 \(out -> hidden\) closes a cycle with "
                                           r"delay_us 0.5, less than Brian2's step of 1 us"):
        run_brian2(g, [np.zeros((3, 6), np.uint8)], mode="continuous", dt_brian_us=1.0)


def test_validate_a_cuba_network_with_a_readout_on_random_input(capsys, tmp_path):
    """Norse's recurrent CuBa network with its LI readout (a file Norse wrote), converted,
    then validated on seeded random spikes (its input is no camera): no mismatching spike,
    the readout's maximum and mean within float64 rounding; the same seed gives the same
    samples; a bad combination of flags is refused by name."""
    nir_file = Path(__file__).parents[1] / "data" / "norse_cuba.nir"
    net = tmp_path / "n.h5"
    assert main(["convert", str(nir_file), "--out", str(net), "--dt-us", "1000",
                 "--discretisation", "norse", "--tau-scale", "1000"]) == 0
    capsys.readouterr()
    argv = ["validate", str(net), "--random-input", "4", "--T", "60", "--rate", "0.3",
            "--json", str(tmp_path / "v.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mismatching spikes: 0" in out and "random[seed=0]:3" in out
    assert "readouts (membrane maximum and mean): largest relative difference" in out
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["ok"] and report["readout_error"] <= 1e-9
    assert sum(report["samples"][0]["spikes_eventsim"]) > 20
    both = ["validate", str(net), str(tmp_path), "--random-input", "2", "--T", "60"]
    for argv, message in ((["validate", str(net)], (r"give INPUT \(an event file or folder\) or "
                                                   r"--random-input N, one of them")),
                          (both, r"one of them"),
                          (["validate", str(net), "--random-input", "2"],
                           r"random input needs T \(--T, or a network that carries one\)")):
        assert main(argv) != 0
        assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_continuous_models_on_a_recurrent_graph_agree_with_brian2(seed):
    """Continuous time with every model: a recurrent current-based population held 200 us
    after each spike, an adaptive one, and a current-based readout fed by both, Brian2 at
    0.1 us. Every
    neuron spikes as often in both. Brian2 puts a spike on its next step, and the interval
    that a reset or a hold starts carries that rounding on, so the k-th spike of a neuron may
    be up to k of its steps late (and a spike it causes downstream with it): the times agree
    within the largest spike count times the step. The readout's maximum and mean agree
    within Brian2's largest change between two samples plus what those late arrivals move."""
    rng = np.random.default_rng(seed)
    g = Graph((4,), [Population("h", (6,), decay=0.8, syn_decay=0.6, v_th=0.5,
                                refractory_steps=2, v_reset=-0.1),
                     Population("a", (5,), decay=0.9, v_th=0.6, adapt_decay=0.7,
                                adapt_jump=0.3),
                     Population("o", (3,), decay=0.85, syn_decay=0.5, v_th=np.inf)],
              [Projection(INPUT, "h", [ops.Dense(rng.normal(0.4, 0.3, (6, 4)))]),
               Projection("h", "h", [ops.Dense(rng.normal(0, 0.3, (6, 6)))], delay_us=150.0),
               Projection("h", "a", [ops.Dense(rng.normal(0.4, 0.3, (5, 6)))]),
               Projection("a", "o", [ops.Dense(rng.normal(0.3, 0.3, (3, 5)))]),
               Projection("h", "o", [ops.Dense(rng.normal(0.3, 0.3, (3, 6)))])], dt_us=100)
    ev = np.zeros(60, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 2000, 60))
    ev["x"] = rng.integers(0, 4, 60)
    sample = EventStream(ev, (4, 1, 1))
    ours = eventsim.simulate(g, sample, mode="continuous", dtype="float64", T=20)
    theirs = run_brian2(g, [sample], mode="continuous", dt_us=100, T=20, dt_brian_us=0.1)
    most = max(int(c.max()) for c in ours.spike_counts)
    assert most >= 5 and len(ours.spikes[1]) > 10
    for p in range(2):
        a, b = ours.spikes[p], theirs.spikes[0][p]
        for n in range(g.populations[p].size):
            x, y = a[a["neuron"] == n]["t_us"], b[b["neuron"] == n]["t_us"]
            assert len(x) == len(y), (p, n, x, y)
            assert np.all(np.abs(x - y) <= most * 0.1 + 1e-6), (p, n, x, y)
    change = theirs.readout_change[0]
    assert 0 < change < 0.2
    # an arrival of weight w into the current, late by at most `late`, moves u by at most
    # w * late / dt_us (u integrates i / dt_us)
    late = most * 0.1
    moved = sum(np.abs(g.projections[k].ops[0].weight[:, ours.spikes[p]["neuron"]]).sum(1)
                for k, p in ((3, 1), (4, 0))) * late / 100
    for ours_v, theirs_v in ((ours.membrane_max[2], theirs.membrane_max[0][2]),
                             (ours.membrane_mean[2], theirs.membrane_mean[0][2])):
        assert np.all(np.abs(ours_v - theirs_v) <= change + moved), (ours_v, theirs_v, moved)
