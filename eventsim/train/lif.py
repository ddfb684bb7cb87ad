"""The LIF population of a layer: forward recurrence and its backward pass through time.

Forward, for step ``t = 0..T-1`` with ``o[-1] = 0`` (DESIGN.md, "Discrete-time LIF")::

    u[t] = k * (u[t-1] * (1 - o[t-1]) + v_reset * o[t-1]) + I[t] + b       (reset="zero")
    u[t] = k * (u[t-1] - v_th * o[t-1]) + I[t] + b                         (reset="subtract")
    o[t] = f(u[t] - v_th)

adding the leak drive ``(1 - k) * v_leak`` after ``b`` when ``v_leak != 0``, from ``u[-1] =
v_leak`` (``v_reset`` and ``v_leak`` 0 unless given: the STBP LIF, ``k * u[t-1] * (1 -
o[t-1])`` bit for bit when the spikes are 0 or 1); in an integer layer (quantization-aware
training, :mod:`eventsim.train.qat`) ``k * (...)`` is ``trunc(D * (...) / 4096)`` for its
decay ``k = D / 4096``, as the engine and the twin compute it,

with ``f`` the spike function's forward pass (the Heaviside step, or a smooth stand-in), written
in exactly the order of :func:`eventsim.network.reference.simulate_dense` so that float64 spikes
are identical to it.

Backward (Wu et al. 2018, eqs. 7-10, with the reset gate kept): let ``g_u[t] = dL/du[t]``,
``h[t] = f'(u[t] - v_th)`` (the surrogate for the step; ``s * f'(s * (u[t] - v_th))`` for a
layer whose unit is worth ``s`` (``LIFParams.scale``: an integer layer in training, its
surrogate as wide as the float layer's; truncation passes as ``k``, straight through), ``grad_o[t]`` the gradient arriving from
the layer above (the spatial path) and ``g_u[T] = 0``. Going back in time::

    zero reset:     g_o[t] = grad_o[t] + k * (v_reset - u[t]) * g_u[t+1]
                    g_u[t] = g_o[t] * h[t] + k * (1 - o[t]) * g_u[t+1]
    subtract reset: g_o[t] = grad_o[t] - k * v_th * g_u[t+1]
                    g_u[t] = g_o[t] * h[t] + k * g_u[t+1]

Since ``u[t]`` depends on ``I[t]`` and ``b`` with slope 1, ``dL/dI = g_u`` and ``dL/db`` is
``g_u`` summed over steps, batch and every position sharing the bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventsim.network.layers import Conv2d
from eventsim.train.surrogates import SpikeFn


@dataclass(frozen=True)
class LIFParams:
    """The neuron parameters of one layer, in the dtype the layer is computed in.

    Attributes
    ----------
    decay : numpy scalar
        ``k`` in (0, 1].
    v_th : numpy scalar
        Threshold, > 0.
    reset : {"zero", "subtract"}
    bias : ndarray or None
        Shaped to broadcast against one sample's neurons: ``(n,)`` for Dense, ``(c_out, 1, 1)``
        for Conv2d (one value per channel).
    v_reset : numpy scalar
        What a zero reset sets ``u`` to.
    v_leak : numpy scalar or None
        What ``u`` leaks towards and starts at, when not 0.
    leak : numpy scalar or None
        The leak's constant drive ``(1 - decay) * v_leak`` (computed in float64,
        :meth:`~eventsim.network.layers.Neurons.leak_drive`), added every step after the
        bias.
    decay_num : int or None
        An integer layer's ``D`` (``decay = D / 4096``): the decay truncates.
    scale : float, ndarray or None
        What one unit of ``u`` is worth in the float layer it was quantized from (per output
        channel: shaped like ``bias``); widens the surrogate to the float layer's.
    """

    decay: np.floating
    v_th: np.floating
    reset: str
    bias: np.ndarray | None = None
    v_reset: float | np.floating = 0.0
    v_leak: np.floating | None = None   # the rest u starts at, when not 0
    leak: np.floating | None = None     # its drive (1 - decay) * v_leak, computed in float64
    decay_num: int | None = None
    scale: float | np.ndarray | None = None

    @classmethod
    def from_layer(cls, layer, dtype: np.dtype | str = np.float32,
                   scale: float | np.ndarray | None = None) -> LIFParams:
        """Parameters of ``layer`` (Dense, Conv2d, AvgPool2d or SumPool2d) cast to ``dtype``;
        ``scale``: what one unit of an integer layer is worth (a float, or one per output
        channel)."""
        dtype = np.dtype(dtype)
        per_channel = (-1, 1, 1) if isinstance(layer, Conv2d) else (-1,)
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias = np.asarray(bias, dtype).reshape(per_channel)
        v_th = np.asarray(layer.v_th, dtype)  # one per channel in an integer layer
        v_th = v_th.reshape(per_channel) if v_th.ndim else dtype.type(v_th)
        if scale is not None and np.ndim(scale):
            scale = np.asarray(scale, dtype).reshape(per_channel)
        v_reset = dtype.type(layer.v_reset)
        v_leak = dtype.type(layer.v_leak) if layer.v_leak != 0.0 else None
        leak = dtype.type(layer.leak_drive()) if layer.v_leak != 0.0 else None
        decay_num = round(layer.decay * 4096) if layer.integer else None
        return cls(dtype.type(layer.decay), v_th, layer.reset, bias, v_reset, v_leak, leak,
                   decay_num, scale)


def lif_forward(
    I: np.ndarray, params: LIFParams, spike_fn: SpikeFn
) -> tuple[np.ndarray, np.ndarray]:
    """Run the LIF recurrence over all steps of a batch.

    Parameters
    ----------
    I : ndarray, shape (T, B, *shape)
        Input current of every neuron at every step (the projection of the layer below).
    params : LIFParams
    spike_fn : SpikeFn
        ``o[t] = spike_fn.forward(u[t] - v_th)``.

    Returns
    -------
    u : ndarray, shape (T, B, *shape)
        Membrane potential after the input of step ``t`` (before its own reset).
    o : ndarray, shape (T, B, *shape)
        Output of every neuron, in ``I``'s dtype (0/1 for the Heaviside step).
    """
    k, v_th, b = params.decay, params.v_th, params.bias
    u = np.empty_like(I)
    o = np.empty_like(I)
    u_prev = np.zeros_like(I[0]) if params.v_leak is None else np.full_like(I[0], params.v_leak)
    o_prev = np.zeros_like(I[0])
    D, s = params.decay_num, params.scale
    for t in range(I.shape[0]):
        if params.reset == "zero":
            kept = u_prev * (1 - o_prev) + params.v_reset * o_prev
        else:
            kept = u_prev - v_th * o_prev
        u_t = (k * kept if D is None else np.trunc(kept * D / 4096.0)) + I[t]
        if b is not None:
            u_t += b
        if params.leak is not None:
            u_t += params.leak
        u[t] = u_t
        o[t] = spike_fn.forward(u_t - v_th if s is None else s * (u_t - v_th))
        u_prev, o_prev = u[t], o[t]
    return u, o


def lif_backward(
    grad_o: np.ndarray, u: np.ndarray, o: np.ndarray, params: LIFParams, spike_fn: SpikeFn
) -> tuple[np.ndarray, np.ndarray | None]:
    """Backward pass through time of :func:`lif_forward` (equations in the module docstring).

    Parameters
    ----------
    grad_o : ndarray, shape (T, B, *shape)
        ``dL/do[t]`` through the spatial path (from the layer above or the loss).
    u, o : ndarray, shape (T, B, *shape)
        What :func:`lif_forward` returned.
    params : LIFParams
    spike_fn : SpikeFn
        ``spike_fn.grad(u - v_th)`` stands in for ``do/du``.

    Returns
    -------
    grad_I : ndarray, shape (T, B, *shape)
        ``dL/dI[t]`` (equal to ``dL/du[t]``).
    grad_bias : ndarray or None
        ``dL/db``, shape (n,) for a Dense layer, (c_out,) for Conv2d; None without bias.
    """
    k, v_th, s = params.decay, params.v_th, params.scale
    h = spike_fn.grad(u - v_th) if s is None else s * spike_fn.grad(s * (u - v_th))
    grad_I = np.empty_like(grad_o)
    g_next = np.zeros_like(grad_o[0])  # g_u[t+1]
    for t in range(grad_o.shape[0] - 1, -1, -1):
        if params.reset == "zero":
            g_o = grad_o[t] + k * (params.v_reset - u[t]) * g_next
            g_u = g_o * h[t] + k * (1 - o[t]) * g_next
        else:
            g_o = grad_o[t] - (k * v_th) * g_next
            g_u = g_o * h[t] + k * g_next
        grad_I[t] = g_u
        g_next = g_u
    grad_bias = None
    if params.bias is not None:
        grad_bias = _sum_to(grad_I.sum(axis=(0, 1)), params.bias.shape).reshape(-1)
    return grad_I, grad_bias


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes where ``shape`` broadcast it (``shape`` has ``g.ndim`` axes)."""
    axes = tuple(i for i, (n, m) in enumerate(zip(g.shape, shape, strict=True))
                 if m == 1 and n != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g
