"""The Vogels-Abbott CUBA network of ``tools/bench_cuba.py`` (two currents, a leak above
threshold, a refractory period, random starts), at a fifth of its size: eventsim equals
Brian2's own ``CUBA`` example (its equations, its exact integrator, in volts) spike for spike,
and equals it on the graph's Brian2 twin too."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import eventsim

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))
import bench_cuba

N, STEPS = 800, 1500


@pytest.mark.parametrize("seed", [0, 1])
def test_eventsim_equals_brian2s_own_cuba_example(seed):
    conn, v0 = bench_cuba.connectivity(seed, N), bench_cuba.start(seed, N)
    g = bench_cuba.cuba_graph(conn, v0)
    ours = bench_cuba._sorted(eventsim.simulate(g, np.zeros((STEPS, 1), np.uint8),
                                                dtype="float64").spikes[0])
    theirs, _, _ = bench_cuba.run_brian2_example(conn, v0, STEPS, "numpy")
    assert len(ours) > N  # (about 11 Hz)
    assert bench_cuba.first_divergence(ours, theirs) is None
    twin, _, _ = bench_cuba.run_bridge(g, STEPS, "numpy")
    np.testing.assert_array_equal(twin, ours)


def test_a_changed_inhibitory_weight_diverges():
    """The comparison can fail: eventsim's inhibitory weights 1% larger, and the first
    divergence comes (and is reported as a step)."""
    conn, v0 = bench_cuba.connectivity(0, N), bench_cuba.start(0, N)
    g = bench_cuba.cuba_graph(conn, v0)
    g.projections[2].ops[0].weight *= 1.01
    ours = bench_cuba._sorted(eventsim.simulate(g, np.zeros((STEPS, 1), np.uint8),
                                                dtype="float64").spikes[0])
    theirs, _, _ = bench_cuba.run_brian2_example(conn, v0, STEPS, "numpy")
    step = bench_cuba.first_divergence(ours, theirs)
    assert step is not None and 0 < step < STEPS
