"""Latency to decision and accuracy against the number of steps simulated (early exit).

The decision after ``t + 1`` steps is the runtime's rule applied to the output spikes of steps
``0..t``: most spikes, ties to the earliest first spike, then the lower index; -1 while the
output has not spiked (:attr:`~eventsim.engine.result.Result.predicted` is the decision after
all ``T`` steps).
"""

from __future__ import annotations

import numpy as np

from eventsim.engine.result import Result
from eventsim.limits import check_memory


def _changes(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """The decision as it changes: ``(steps, decision)``, the decision from ``steps[i]`` on
    (until ``steps[i + 1]``) being ``decision[i]``; ``steps[0] == 0`` (decision -1 until the
    first output spike). Cost per output spike, not per step."""
    if result.mode != "discrete":
        raise ValueError("decisions: needs a discrete-mode result (steps)")
    n_out = len(result.spike_counts[-1])
    out = result.spikes[-1]
    if len(out) != int(result.spike_counts[-1].sum()):
        raise ValueError("decisions: the output layer's spikes were not recorded")
    counts = np.zeros(n_out, np.int64)
    first = np.full(n_out, -1, np.int64)
    steps, decided = [0], [-1]
    i = 0
    while i < len(out):  # one step of output spikes at a time
        s = out[i, 0]
        j = i
        while j < len(out) and out[j, 0] == s:
            neuron = out[j, 1]
            counts[neuron] += 1
            if first[neuron] < 0:
                first[neuron] = s
            j += 1
        best = np.flatnonzero(counts == counts.max())
        # among the tied classes: earliest first spike, then the lower index
        pick = int(best[np.lexsort((best, first[best]))[0]])
        if pick != decided[-1]:
            steps.append(int(s))
            decided.append(pick)
        i = j
    return np.array(steps, np.int64), np.array(decided, np.int64)


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
        raise ValueError("accuracy_vs_steps: one label per result needed")
    preds = np.stack([decisions(r) for r in results])  # (n, T)
    return (preds == labels[:, None]).mean(axis=0)
