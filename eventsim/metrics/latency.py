"""Latency to decision and accuracy against the number of steps simulated (early exit).

The decision after ``t + 1`` steps is the runtime's rule applied to the output spikes of steps
``0..t``: most spikes, ties to the earliest first spike, then the lower index; -1 while the
output has not spiked (:attr:`~eventsim.engine.result.Result.predicted` is the decision after
all ``T`` steps).
"""

from __future__ import annotations

import numpy as np

from eventsim.engine.result import Result
from eventsim.errors import InputError
from eventsim.limits import check_memory


def _changes(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """The decision as it changes: ``(steps, decision)``, the decision from ``steps[i]`` on
    (until ``steps[i + 1]``) being ``decision[i]``; ``steps[0] == 0`` (decision -1 until the
    first output spike). The rule is applied at the steps with output spikes only (the
    spikes sorted by step, as results hold them): memory and time per such step, not per
    step of ``T``."""
    if result.mode != "discrete":
        raise InputError("decisions: needs a discrete-mode result (steps)")
    n_out = len(result.spike_counts[-1])
    out = result.spikes[-1]
    if len(out) != int(result.spike_counts[-1].sum()):
        raise InputError("decisions: the output layer's spikes were not recorded")
    if not len(out):
        return np.zeros(1, np.int64), np.full(1, -1, np.int64)
    steps, at = np.unique(out[:, 0], return_inverse=True)  # the steps with output spikes
    counts = np.zeros((len(steps), n_out), np.int64)
    np.add.at(counts, (at, out[:, 1]), 1)
    np.cumsum(counts, axis=0, out=counts)
    first = np.full(n_out, np.iinfo(np.int64).max // (n_out + 1), np.int64)
    neurons, idx = np.unique(out[:, 1], return_index=True)  # sorted by step: first spikes
    first[neurons] = out[idx, 0]
    best = counts == counts.max(axis=1, keepdims=True)
    # among the tied classes: earliest first spike (every tied class has spiked), lower index
    key = np.where(best, first * n_out + np.arange(n_out), np.iinfo(np.int64).max)
    pick = key.argmin(axis=1)
    change = np.ones(len(pick), np.bool_)
    change[1:] = pick[1:] != pick[:-1]
    starts, decided = steps[change], pick[change]
    if starts[0] == 0:
        return starts, decided
    return np.append(0, starts), np.append(-1, decided)


def decisions(result: Result) -> np.ndarray:
    """The decision after each number of steps, shape (T,), int64 (entry ``t``: after steps
    ``0..t``). Discrete mode. Its memory grows with ``T`` (checked against the budget);
    :func:`decision_latency` needs none per step."""
    check_memory(8 * result.T, f"decisions: one decision per step of T={result.T}")
    steps, decided = _changes(result)
    return np.repeat(decided, np.diff(np.append(steps, result.T)))


def decision_latency(result: Result) -> int | None:
    """Steps needed for the final decision: the smallest ``n`` such that the decision after
    ``n``, ``n + 1``, ..., ``T`` steps is the final one. None when the output never spiked."""
    if result.T == 0:
        return None
    steps, decided = _changes(result)
    if decided[-1] < 0:
        return None
    return int(steps[-1]) + 1


def accuracy_vs_steps(results: list[Result], labels) -> np.ndarray:
    """Accuracy when stopping after ``1..T`` steps, shape (T,) (results of equal ``T``)."""
    labels = np.asarray(labels)
    if len(results) != len(labels) or not results:
        raise InputError("accuracy_vs_steps: one label per result needed")
    correct = np.zeros(results[0].T, np.int64)  # one result at a time: memory of T, not n * T
    for r, y in zip(results, labels):
        correct += decisions(r) == y
    return correct / len(results)
