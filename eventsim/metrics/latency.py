"""Latency to decision and accuracy against the number of steps simulated (early exit).

The decision after ``t + 1`` steps is the runtime's rule applied to the output spikes of steps
``0..t``: most spikes, ties to the earliest first spike, then the lower index; -1 while the
output has not spiked (:attr:`~eventsim.engine.result.Result.predicted` is the decision after
all ``T`` steps).
"""

from __future__ import annotations

import numpy as np

from eventsim.engine.result import Result


def decisions(result: Result) -> np.ndarray:
    """The decision after each number of steps, shape (T,), int64 (entry ``t``: after steps
    ``0..t``). Discrete mode."""
    if result.mode != "discrete":
        raise ValueError("decisions: needs a discrete-mode result (steps)")
    T, n_out = result.T, len(result.spike_counts[-1])
    out = result.spikes[-1]
    if len(out) != int(result.spike_counts[-1].sum()):
        raise ValueError("decisions: the output layer's spikes were not recorded")
    counts = np.zeros((T, n_out), np.int64)
    np.add.at(counts, (out[:, 0], out[:, 1]), 1)
    counts = np.cumsum(counts, axis=0)
    first = np.full(n_out, T, np.int64)
    neurons, idx = np.unique(out[:, 1], return_index=True)  # sorted by step: first spikes
    first[neurons] = out[idx, 0]
    best = counts == counts.max(axis=1, keepdims=True)
    # among the tied classes: earliest first spike (only spikes so far count), lower index
    key = np.where(best & (first[None, :] <= np.arange(T)[:, None]), first[None, :] * n_out
                   + np.arange(n_out)[None, :], np.iinfo(np.int64).max)
    pred = key.argmin(axis=1)
    pred[counts.max(axis=1) == 0] = -1
    return pred


def decision_latency(result: Result) -> int | None:
    """Steps needed for the final decision: the smallest ``n`` such that the decision after
    ``n``, ``n + 1``, ..., ``T`` steps is the final one. None when the output never spiked."""
    pred = decisions(result)
    if len(pred) == 0 or pred[-1] < 0:
        return None
    changed = np.flatnonzero(pred != pred[-1])
    return int(changed[-1] + 2) if len(changed) else 1


def accuracy_vs_steps(results: list[Result], labels) -> np.ndarray:
    """Accuracy when stopping after ``1..T`` steps, shape (T,) (results of equal ``T``)."""
    labels = np.asarray(labels)
    if len(results) != len(labels) or not results:
        raise ValueError("accuracy_vs_steps: one label per result needed")
    preds = np.stack([decisions(r) for r in results])  # (n, T)
    return (preds == labels[:, None]).mean(axis=0)
