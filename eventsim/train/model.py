"""A whole network on a batch: forward through layers and time, backward through both (STBP).

Layer by layer, the projection runs on all ``T * B`` inputs at once (it has no state), then the
LIF population runs its recurrence over time (:mod:`eventsim.train.lif`). A spike of layer
``n-1`` at step ``t`` reaches layer ``n`` at the same step ``t``, as in the runtime.

The backward pass goes the other way: the LIF backward through time turns ``dL/do`` into
``dL/dI`` (temporal path, reset gate included), then the projection's backward turns ``dL/dI``
into the weight gradient and ``dL/do`` of the layer below (spatial path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eventsim.errors import InputError
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network
from eventsim.train.lif import LIFParams, lif_backward, lif_forward
from eventsim.train.neunorm import neunorm_backward, neunorm_forward
from eventsim.train.projections import (
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    pool2d_backward,
    pool2d_forward,
)
from eventsim.train.surrogates import SpikeFn, SpikeFunction


@dataclass
class LayerCache:
    """What the backward pass needs of one layer's forward pass.

    Attributes
    ----------
    x : ndarray, shape (T, B, *in_shape)
        The layer's input (the output of the layer below; no copy).
    weight : ndarray or None
        The layer's weight (NeuNorm: its ``alpha``) in the computation dtype (None for
        pooling and Flatten).
    params : LIFParams or None
        Neuron parameters in the computation dtype (None for Flatten and NeuNorm).
    u, o : ndarray, shape (T, B, *out_shape), or None
        Membrane potentials and outputs (None for Flatten and NeuNorm).
    aux : ndarray, shape (T, B, H, W), or None
        NeuNorm's auxiliary neurons.
    """

    x: np.ndarray
    weight: np.ndarray | None = None
    params: LIFParams | None = None
    u: np.ndarray | None = None
    o: np.ndarray | None = None
    aux: np.ndarray | None = None


@dataclass
class Cache:
    """Per-layer caches of one forward pass (``layers[i]`` for ``net.layers[i]``)."""

    dtype: np.dtype
    layers: list[LayerCache] = field(default_factory=list)


def _as_input(net: Network, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 3:
        raise InputError(
            f"input: expected shape (T, B, *{net.input_shape}), got {x.shape}"
        )
    T, B = x.shape[:2]
    if x.shape[2:] != net.input_shape:
        if int(np.prod(x.shape[2:])) != net.n_inputs:
            raise InputError(
                f"input: expected shape (T, B, *{net.input_shape}) (or (T, B, {net.n_inputs})), "
                f"got {x.shape}"
            )
        x = x.reshape(T, B, *net.input_shape)
    return x.astype(dtype, copy=False)


def forward(
    net: Network, x: np.ndarray, spike_fn: SpikeFn | None = None,
    dtype: np.dtype | str = "float32", scales: list | None = None,
) -> tuple[Cache, np.ndarray]:
    """Run the network on a batch of inputs over ``T`` steps.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (T, B, *net.input_shape) (or (T, B, n_inputs))
        Input spikes (0/1) or analog input currents of each step.
    spike_fn : SpikeFn, optional
        Its ``forward`` makes the spikes; the default is the Heaviside step
        (:class:`~eventsim.train.surrogates.SpikeFunction`).
    dtype : numpy dtype
        Computation dtype; weights are cast to it (no copy when they already have it).
        float32 for training, float64 to agree spike for spike with the reference.
    scales : list, optional
        Per layer, what one unit of an integer layer is worth in the float layer it was
        quantized from (:mod:`eventsim.train.qat`), or None: widens its surrogate
        (:class:`~eventsim.train.lif.LIFParams`).

    Returns
    -------
    cache : Cache
        For :func:`backward`.
    out : ndarray, shape (T, B, n_out)
        Outputs of the last layer, flattened per sample.
    """
    spike_fn = SpikeFunction() if spike_fn is None else spike_fn
    dtype = np.dtype(dtype)
    x = _as_input(net, x, dtype)
    T, B = x.shape[:2]
    cache = Cache(dtype)
    for i, layer in enumerate(net.layers):
        entry = LayerCache(x)
        cache.layers.append(entry)
        flat = x.reshape(T * B, *x.shape[2:])
        if isinstance(layer, Flatten):
            x = x.reshape(T, B, -1)
            continue
        if isinstance(layer, NeuNorm):
            entry.weight = np.asarray(layer.alpha, dtype)
            x, entry.aux = neunorm_forward(x, layer, entry.weight)
            continue
        if isinstance(layer, Dense):
            entry.weight = np.asarray(layer.weight, dtype)
            current = dense_forward(flat, entry.weight)
        elif isinstance(layer, Conv2d):
            entry.weight = np.asarray(layer.weight, dtype)
            current = conv2d_forward(flat, entry.weight, layer.stride, layer.padding)
        elif isinstance(layer, (AvgPool2d, SumPool2d)):
            current = pool2d_forward(flat, layer.kernel_size, layer.stride, layer.pool_weight)
        else:
            raise TypeError(f"layer {i}: no training rule for {type(layer).__name__}")
        entry.params = LIFParams.from_layer(layer, dtype, None if scales is None else scales[i])
        entry.u, entry.o = lif_forward(current.reshape(T, B, *net.shapes[i]), entry.params,
                                       spike_fn)
        x = entry.o
    return cache, x.reshape(T, B, -1)


def backward(
    net: Network,
    cache: Cache,
    grad_out: np.ndarray,
    spike_fn: SpikeFn | None = None,
    *,
    input_grad: bool = False,
) -> list[dict[str, np.ndarray | None] | None] | tuple[list, np.ndarray]:
    """STBP backward pass: gradients of every weight and bias.

    Parameters
    ----------
    net : Network
        The network :func:`forward` ran.
    cache : Cache
        What :func:`forward` returned.
    grad_out : ndarray, shape (T, B, n_out)
        ``dL/d out`` (from :mod:`eventsim.train.loss`).
    spike_fn : SpikeFn, optional
        Its ``grad`` is the surrogate for the spike's derivative; default rectangular, a=1.
    input_grad : bool
        Also return ``dL/dx`` for the network's input.

    Returns
    -------
    grads : list
        One entry per layer of ``net.layers``: ``{"weight": dW, "bias": db}`` for Dense and
        Conv2d (``dW`` shaped like ``layer.weight``, ``db`` like ``layer.bias`` or None without
        bias), ``{"alpha": dalpha}`` for NeuNorm, None for pooling and Flatten. In the
        computation dtype.
    grad_x : ndarray, shape (T, B, *net.input_shape)
        Only when ``input_grad`` is true: then ``(grads, grad_x)`` is returned.
    """
    spike_fn = SpikeFunction() if spike_fn is None else spike_fn
    T, B = grad_out.shape[:2]
    g = np.asarray(grad_out, cache.dtype).reshape(T, B, *net.shapes[-1])
    grads: list[dict[str, np.ndarray | None] | None] = [None] * len(net.layers)
    for i in range(len(net.layers) - 1, -1, -1):
        layer, entry = net.layers[i], cache.layers[i]
        in_shape = entry.x.shape[2:]
        need_x = i > 0 or input_grad
        if isinstance(layer, Flatten):
            g = None if g is None else g.reshape(T, B, *in_shape)
            continue
        if isinstance(layer, NeuNorm):
            g, grad_alpha = neunorm_backward(g, entry.aux, layer, entry.weight, need_x)
            grads[i] = {"alpha": grad_alpha}
            continue
        grad_I, grad_b = lif_backward(g, entry.u, entry.o, entry.params, spike_fn)
        grad_I = grad_I.reshape(T * B, *grad_I.shape[2:])
        x = entry.x.reshape(T * B, *in_shape)
        if isinstance(layer, Dense):
            g, grad_w = dense_backward(grad_I, x, entry.weight, need_x)
            grads[i] = {"weight": grad_w, "bias": grad_b}
        elif isinstance(layer, Conv2d):
            g, grad_w = conv2d_backward(grad_I, x, entry.weight, layer.stride, layer.padding,
                                        need_x)
            grads[i] = {"weight": grad_w, "bias": grad_b}
        else:
            g = pool2d_backward(grad_I, x.shape, layer.kernel_size, layer.stride,
                                layer.pool_weight) if need_x else None
        if g is not None:
            g = g.reshape(T, B, *in_shape)
    if input_grad:
        return grads, g
    return grads
