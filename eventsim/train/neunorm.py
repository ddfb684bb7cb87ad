"""NeuNorm (Wu et al. 2019) in the trainer: forward over time and its backward pass.

Forward, for spikes ``o[t]`` of shape (B, C, H, W) and ``x[-1] = 0``
(:class:`~eventsim.network.layers.NeuNorm`)::

    x[t] = decay * x[t-1] + coef * sum_c o[t]            (B, H, W), coef = scale / C
    s[t] = o[t] - alpha * x[t]                            (B, C, H, W)

written in the order of :func:`eventsim.network.reference.neunorm_dense`. Backward, with
``g[t] = dL/ds[t]`` and ``g_x[T] = 0``, going back in time::

    g_x[t]     = -sum_c alpha * g[t] + decay * g_x[t+1]
    dL/do[t]   = g[t] + coef * g_x[t]        (the same for every channel)
    dL/dalpha  = -sum_{t, b} g[t] * x[t]
"""

from __future__ import annotations

import numpy as np

from eventsim.network.layers import NeuNorm


def neunorm_forward(o: np.ndarray, norm: NeuNorm, alpha: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``s`` and the auxiliary neurons ``x``, shapes (T, B, C, H, W) and (T, B, H, W).

    ``alpha`` is ``norm.alpha`` in the computation dtype (that of ``o``).
    """
    dtype = o.dtype
    k, coef = dtype.type(norm.decay), dtype.type(norm.coef(o.shape[2]))
    x = np.empty((o.shape[0], o.shape[1], *o.shape[3:]), dtype)
    x_prev = np.zeros(x.shape[1:], dtype)
    for t in range(o.shape[0]):
        x_prev = x[t] = k * x_prev + coef * o[t].sum(axis=1)
    return o - alpha * x[:, :, None], x


def neunorm_backward(g: np.ndarray, x: np.ndarray, norm: NeuNorm, alpha: np.ndarray,
                     input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """``(dL/do, dL/dalpha)`` from ``g = dL/ds`` (T, B, C, H, W) and the forward's ``x``."""
    dtype = g.dtype
    grad_alpha = -np.einsum("tbchw,tbhw->chw", g, x)
    if not input_grad:
        return None, grad_alpha
    k, coef = dtype.type(norm.decay), dtype.type(norm.coef(g.shape[2]))
    g_x_sum = -np.einsum("tbchw,chw->tbhw", g, alpha)  # spatial share of dL/dx[t]
    grad_o = np.empty_like(g)
    g_x = np.zeros(x.shape[1:], dtype)
    for t in range(g.shape[0] - 1, -1, -1):
        g_x = g_x_sum[t] + k * g_x
        grad_o[t] = g[t] + (coef * g_x)[:, None]
    return grad_o, grad_alpha
