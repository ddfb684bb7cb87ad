"""Issue 12's three graphs end to end: a CNN whose pooling feeds a convolution directly
(Sinabs wrote it), a recurrent SNN (snnTorch wrote it) and a network with per-synapse delays
(NIR Delay nodes after the weights): each loads from NIR, runs, agrees with Brian2 with no
mismatching spike, and round-trips through HDF5 and NIR with the same spikes."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

import eventsim
from eventsim.errors import EventsimWarning
from eventsim.validate import validate

DATA = Path(__file__).resolve().parent / "data"


def _per_synapse_delays() -> nir.NIRGraph:
    """input (4) -> Linear -> Delay per target neuron -> LIF (3) -> Linear (with a skip from
    the input) -> LIF (2): the first projection's delays differ per synapse row."""
    rng = np.random.default_rng(7)
    ones3, ones2 = np.ones(3), np.ones(2)
    nodes = {"input": nir.Input({"input": np.array([4])}),
             "w1": nir.Linear(rng.normal(0.6, 0.3, (3, 4))),
             "d1": nir.Delay(np.array([1e-3, 3e-3, 0.0])),
             "n1": nir.LIF(tau=ones3 * 0.01, r=ones3 * 0.01, v_leak=0 * ones3,
                           v_threshold=ones3, v_reset=0 * ones3),
             "w2": nir.Linear(rng.normal(0.6, 0.3, (2, 3))),
             "skip": nir.Linear(rng.normal(0.2, 0.2, (2, 4))),
             "n2": nir.IF(r=ones2, v_threshold=ones2, v_reset=0 * ones2),
             "output": nir.Output({"output": np.array([2])})}
    edges = [("input", "w1"), ("w1", "d1"), ("d1", "n1"), ("n1", "w2"), ("w2", "n2"),
             ("input", "skip"), ("skip", "n2"), ("n2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _load(case: str, tmp_path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EventsimWarning)
        if case == "sinabs-cnn":
            return eventsim.from_nir(DATA / "sinabs_cnn.nir", dt_us=1_000_000,
                                     discretisation="zoh", reset="subtract")
        if case == "snntorch-rsnn":
            return eventsim.from_nir(DATA / "snntorch_rsnn.nir", dt_us=100,
                                     discretisation="euler")
    nir.write(str(tmp_path / "delays.nir"), _per_synapse_delays())
    return eventsim.from_nir(tmp_path / "delays.nir", dt_us=1000)


@pytest.mark.parametrize("case", ["sinabs-cnn", "snntorch-rsnn", "per-synapse-delays"])
def test_load_run_validate_and_round_trip(case, tmp_path):
    g = _load(case, tmp_path)
    assert isinstance(g, eventsim.Graph)
    if case == "per-synapse-delays":
        np.testing.assert_array_equal(g.projections[0].delay, [[1] * 4, [3] * 4, [0] * 4])
    rng = np.random.default_rng(0)
    samples = [(rng.random((30, g.n_inputs)) < 0.4).astype(np.uint8) for _ in range(3)]
    results = [eventsim.simulate(g, x, dtype="float64") for x in samples]
    assert sum(len(s) for r in results for s in r.spikes) > 30
    report = validate(g, samples, ["a", "b", "c"])
    assert report.ok and report.n_mismatches == 0
    eventsim.save_network(g, tmp_path / "g.h5")
    eventsim.to_nir(eventsim.load_network(tmp_path / "g.h5"), tmp_path / "g.nir")
    back = eventsim.from_nir(tmp_path / "g.nir")
    for x, r in zip(samples, results):
        for sa, sb in zip(r.spikes, eventsim.simulate(back, x, dtype="float64").spikes):
            np.testing.assert_array_equal(sa, sb)
