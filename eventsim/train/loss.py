"""Losses on the output spikes of a batch, each with its gradient with respect to those spikes.

Output neurons are decoded by their activity over the window of ``T`` steps.

``mse_rate`` (the default, STBP): firing rate ``r[b, c] = (1/T) sum_t o[t, b, c]`` against the
one-hot label ``y``::

    L = 1/(B*C) * sum_{b, c} (r[b, c] - y[b, c])**2

This is the normalisation of the authors' public code (PyTorch ``MSELoss()`` on the
time-averaged output and the one-hot label: a mean over batch *and* classes). The paper writes
``L = 1/(2S) * sum_s ||y_s - r_s||**2`` (a mean over samples of half the squared distance),
which is ``C/2`` times this one. The two differ by a constant factor only, to which Adam is
insensitive (up to its epsilon); we follow the code because its hyper-parameters (Adam at
1e-3, decay 0.2, threshold 0.5) are the defaults we start from, and because its loss values are
then directly comparable with the ones that code prints.

``cross_entropy_counts`` (an option): softmax over the spike counts ``n[b, c] = sum_t
o[t, b, c]`` used as logits, negative log-likelihood of the label, mean over the batch.

``cross_entropy_max_membrane``: for an output that is a leaky integrator (no spikes), the
same with the maximum potential over time as the logits (the runtime's
:attr:`~eventsim.engine.result.Result.membrane_max` and its decision);
``cross_entropy_mean_membrane`` with the mean over time (``readout = "mean"``).
"""

from __future__ import annotations

import numpy as np

from eventsim.errors import InputError


def _check(out_spikes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_spikes = np.asarray(out_spikes)
    labels = np.asarray(labels)
    if out_spikes.ndim != 3:
        raise InputError(f"loss: output spikes must have shape (T, B, C), got {out_spikes.shape}")
    _, B, C = out_spikes.shape
    if labels.shape != (B,) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"loss: labels must be {B} integers (one per sample), got shape {labels.shape} "
            f"of {labels.dtype}"
        )
    if B and (labels.min() < 0 or labels.max() >= C):
        raise InputError(
            f"loss: labels must be in [0, {C}) for {C} output neurons, got values from "
            f"{labels.min()} to {labels.max()}"
        )
    if not np.issubdtype(out_spikes.dtype, np.floating):
        out_spikes = out_spikes.astype(np.float64)
    return out_spikes, labels


def _one_hot(labels: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    y = np.zeros((len(labels), n_classes), dtype)
    y[np.arange(len(labels)), labels] = 1
    return y


def mse_rate(out_spikes: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error between the output firing rate and the one-hot label.

    ``L = mean over b and c of (mean_t o[t, b, c] - y[b, c])**2`` (see the module docstring for
    why this normalisation).

    Parameters
    ----------
    out_spikes : ndarray, shape (T, B, C)
        Output of the last layer at every step.
    labels : ndarray of int, shape (B,)
        Class of each sample, in ``[0, C)``.

    Returns
    -------
    loss : float
    grad : ndarray, shape (T, B, C)
        ``dL/d out_spikes``: ``2 (r - y) / (B C T)``, the same at every step, in the dtype of
        ``out_spikes`` (float64 for integer or bool spikes).
    """
    out_spikes, labels = _check(out_spikes, labels)
    T, B, C = out_spikes.shape
    diff = out_spikes.mean(axis=0) - _one_hot(labels, C, out_spikes.dtype)
    loss = float(np.mean(diff * diff, dtype=np.float64))
    g = diff * out_spikes.dtype.type(2.0 / (B * C * T))
    return loss, np.broadcast_to(g, out_spikes.shape).copy()


def cross_entropy_counts(out_spikes: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of the softmax over spike counts, mean over the batch.

    ``L = mean_b [ log sum_c exp(n[b, c]) - n[b, label_b] ]`` with ``n = sum_t o[t]``.

    Parameters
    ----------
    out_spikes : ndarray, shape (T, B, C)
    labels : ndarray of int, shape (B,)

    Returns
    -------
    loss : float
    grad : ndarray, shape (T, B, C)
        ``dL/d out_spikes = (softmax(n) - y) / B`` at every step, in the dtype of
        ``out_spikes`` (float64 for integer or bool spikes).
    """
    out_spikes, labels = _check(out_spikes, labels)
    loss, g = _softmax_cross_entropy(out_spikes.sum(axis=0, dtype=np.float64), labels)
    return loss, np.broadcast_to(g.astype(out_spikes.dtype), out_spikes.shape).copy()


def cross_entropy_max_membrane(potential: np.ndarray,
                               labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of the softmax over a leaky-integrator readout's maximum potential over
    time (Norse's usual decoding), mean over the batch.

    ``L = mean_b [ log sum_c exp(m[b, c]) - m[b, label_b] ]`` with ``m = max_t u[t]``.

    Parameters
    ----------
    potential : ndarray, shape (T, B, C)
        The readout's potential at every step.
    labels : ndarray of int, shape (B,)

    Returns
    -------
    loss : float
    grad : ndarray, shape (T, B, C)
        ``dL/du``: ``(softmax(m) - y) / B`` at the step of each maximum (the first where
        several are equal), 0 elsewhere, in the dtype of ``potential``.
    """
    potential, labels = _check(potential, labels)
    peak = potential.argmax(axis=0)  # (B, C): the first step of each maximum
    m = np.take_along_axis(potential, peak[None], axis=0)[0].astype(np.float64)
    loss, g_m = _softmax_cross_entropy(m, labels)
    g = np.zeros(potential.shape, potential.dtype)
    np.put_along_axis(g, peak[None], g_m.astype(potential.dtype)[None], axis=0)
    return loss, g


def cross_entropy_mean_membrane(potential: np.ndarray,
                                labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of the softmax over a leaky-integrator readout's mean potential over time
    (snnTorch's and Spyx's usual decoding), mean over the batch.

    ``L = mean_b [ log sum_c exp(m[b, c]) - m[b, label_b] ]`` with ``m = mean_t u[t]``.

    Parameters
    ----------
    potential : ndarray, shape (T, B, C)
    labels : ndarray of int, shape (B,)

    Returns
    -------
    loss : float
    grad : ndarray, shape (T, B, C)
        ``dL/du = (softmax(m) - y) / (B T)`` at every step, in the dtype of ``potential``.
    """
    potential, labels = _check(potential, labels)
    loss, g = _softmax_cross_entropy(potential.mean(axis=0, dtype=np.float64), labels)
    g = g / len(potential)  # the mean over T steps
    return loss, np.broadcast_to(g.astype(potential.dtype), potential.shape).copy()


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """``mean_b [log sum_c exp(z[b, c]) - z[b, label_b]]`` of logits ``z`` (B, C), float64,
    and its gradient ``(softmax(z) - y) / B``."""
    B, C = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(B), labels].mean())
    return loss, (np.exp(log_p) - _one_hot(labels, C, np.float64)) / B
