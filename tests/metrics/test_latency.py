"""Decisions and latency from the output spikes alone (cost per output spike, not per step),
against a per-step twin of the rule; and the report's per-step sections bounded in T."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.engine.result import Result
from eventsim.errors import ResourceError
from eventsim.metrics import decision_latency, decisions
from eventsim.metrics.summary import PER_STEP_MAX, summarize


def _twin(result: Result) -> np.ndarray:
    """The rule step by step: most spikes so far; ties to the earliest first spike, then the
    lower index; -1 before the first output spike."""
    n_out = len(result.spike_counts[-1])
    counts = np.zeros(n_out, np.int64)
    first = np.full(n_out, np.iinfo(np.int64).max)
    out, pred = result.spikes[-1], []
    for t in range(result.T):
        for step, neuron in out[out[:, 0] == t]:
            counts[neuron] += 1
            first[neuron] = min(first[neuron], step)
        if counts.max() == 0:
            pred.append(-1)
            continue
        best = [k for k in range(n_out) if counts[k] == counts.max()]
        pred.append(min(best, key=lambda k: (first[k], k)))
    return np.array(pred, np.int64)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 6))
def test_decisions_equal_the_per_step_rule(seed, T, n_out):
    rng = np.random.default_rng(seed)
    spikes = np.argwhere(rng.random((T, n_out)) < rng.choice([0.02, 0.1, 0.5]))
    counts = np.bincount(spikes[:, 1], minlength=n_out).astype(np.int64)
    z = np.zeros(1, np.int64)
    result = Result([spikes], z, [counts], z, z, z, 0, 0, 0, T, T * 1000.0, "discrete", [0])
    expected = _twin(result)
    np.testing.assert_array_equal(decisions(result), expected)
    changed = np.flatnonzero(expected != expected[-1])
    latency = None if expected[-1] < 0 else (int(changed[-1]) + 2 if len(changed) else 1)
    assert decision_latency(result) == latency
    assert (result.predicted if counts.sum() else -1) == expected[-1]


def test_latency_of_a_long_window_needs_nothing_per_step(monkeypatch):
    z = np.zeros(1, np.int64)
    spikes = np.array([[5, 0], [10**11, 1], [10**11 + 3, 1]])
    result = Result([spikes], z, [np.array([1, 2])], z, z, z, 0, 0, 0, 10**12, 1e15,
                    "discrete", [0])
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "10M")
    assert decision_latency(result) == 10**11 + 4
    with pytest.raises(ResourceError, match="decisions: one decision per step of T=10"):
        decisions(result)


def test_the_report_omits_per_step_sections_beyond_its_bound(data_dir):
    net = eventsim.random_mlp([2312, 20, 10], (2, 34, 34), seed=0)
    stream = eventsim.read_events(data_dir / "nmnist" / "Test" / "0" / "00004.bin", (34, 34, 2))
    short = eventsim.simulate(net, stream, dt_us=1000)
    long = eventsim.simulate(net, stream, dt_us=1000, T=PER_STEP_MAX + 1)
    assert "per_step" in summarize(net, [short], [0])
    m = summarize(net, [long], [0])
    assert "per_step" not in m and "accuracy_vs_steps" not in m
    assert m["per_step_omitted"] == (f"T={PER_STEP_MAX + 1} steps per sample: the per-step "
                                     f"sections are written for at most {PER_STEP_MAX} steps")


def test_metrics_refuse_what_they_cannot_measure_with_eventsim_errors():
    from eventsim import simulate
    from eventsim.errors import InputError
    from eventsim.metrics.counts import per_step
    from eventsim.metrics.latency import accuracy_vs_steps
    from eventsim.network.layers import Dense
    from eventsim.network.network import Network

    net = Network([Dense(np.ones((2, 3)), v_th=0.5)], (3,))
    x = np.ones((4, 3), np.uint8)
    with pytest.raises(InputError, match="accuracy_vs_steps: one label per result needed"):
        accuracy_vs_steps([simulate(net, x)], [1, 0])
    with pytest.raises(InputError, match="per_step: results of different lengths T"):
        per_step([simulate(net, x), simulate(net, x[:2])])
