"""The plain dense implementation of the STBP recurrence: the engine's slow numpy twin.

Every projection is written out as an explicit dense matrix ``M[out, in]`` (conv and pooling
by looping over the kernel: obviously right, slow), and every neuron is updated every step::

    u = decay * u * (1 - o) + M @ o_prev + b        (zero reset)
    u = decay * (u - v_th * o) + M @ o_prev + b     (subtract reset)
    o = u >= v_th

A NeuNorm layer turns the spikes ``o`` of the layer below into ``o - alpha * x`` (its
auxiliary neurons ``x`` stepped densely), which the next projection receives.

Used by the tests (spike-for-spike equality, equal SOPs) and as the dense baseline of the
benchmarks. SOPs here are counted from the spikes: each spike of input ``j`` adds the number
of nonzero entries in column ``j`` of ``M``; MACs likewise from the nonzero analog values.
"""

from __future__ import annotations

import numpy as np

from eventsim.limits import check_memory
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, NeuNorm, SumPool2d, has_neurons
from eventsim.network.network import Network


def dense_matrix(net: Network, index: int) -> np.ndarray:
    """The projection of layer ``index`` as a dense matrix, shape (n_out, n_in), float64."""
    layer = net.layers[index]
    in_shape = net.input_shape_of(index)
    n_in = int(np.prod(in_shape))
    if isinstance(layer, Dense):
        return layer.weight.astype(np.float64)
    c_out, h_out, w_out = net.shapes[index]
    c_in, h_in, w_in = in_shape
    M = np.zeros((c_out * h_out * w_out, n_in))
    if isinstance(layer, Conv2d):
        _, _, kh, kw = layer.weight.shape
        s, p = layer.stride, layer.padding
        for co in range(c_out):
            for yo in range(h_out):
                for xo in range(w_out):
                    out = (co * h_out + yo) * w_out + xo
                    for ci in range(c_in):
                        for ky in range(kh):
                            for kx in range(kw):
                                yi, xi = yo * s - p + ky, xo * s - p + kx
                                if 0 <= yi < h_in and 0 <= xi < w_in:
                                    M[out, (ci * h_in + yi) * w_in + xi] = layer.weight[co, ci, ky, kx]
    elif isinstance(layer, (AvgPool2d, SumPool2d)):
        k, s = layer.kernel_size, layer.stride
        for c in range(c_out):
            for yo in range(h_out):
                for xo in range(w_out):
                    out = (c * h_out + yo) * w_out + xo
                    for ky in range(k):
                        for kx in range(k):
                            M[out, (c * h_in + yo * s + ky) * w_in + xo * s + kx] = layer.pool_weight
    else:
        raise TypeError(f"layer {index} has no projection")
    return M


def dense_bias(net: Network, index: int) -> np.ndarray:
    """Bias of every neuron of layer ``index``, shape (n_out,) (zeros without bias)."""
    layer = net.layers[index]
    n = int(np.prod(net.shapes[index]))
    if getattr(layer, "bias", None) is None:
        return np.zeros(n)
    if isinstance(layer, Conv2d):
        return np.repeat(layer.bias, n // len(layer.bias))
    return np.asarray(layer.bias, np.float64)


def neunorm_dense(norm: NeuNorm, o: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """NeuNorm on spikes ``o`` of shape (T, batch, C*H*W): ``(o - alpha * x, -alpha * x)``."""
    dtype = np.dtype(dtype)
    c, h, w = norm.alpha.shape
    T, batch = o.shape[:2]
    k, coef = dtype.type(norm.decay), dtype.type(norm.coef(c))
    alpha = norm.alpha.astype(dtype)
    spikes = o.reshape(T, batch, c, h, w)
    x = np.zeros((batch, h, w), dtype)
    signal = np.empty_like(spikes)
    for t in range(T):
        x = k * x + coef * spikes[t].sum(axis=1)
        signal[t] = spikes[t] - alpha * x[:, None]
    return signal.reshape(o.shape), (signal - spikes).reshape(o.shape)


def simulate_dense(net: Network, spikes: np.ndarray, dtype="float64", analog: bool = False,
                   with_macs: bool = False, probe: tuple[int, int] | None = None):
    """Run the recurrence densely on a batch.

    Parameters
    ----------
    spikes : ndarray, shape (T, n_inputs) or (T, batch, n_inputs)
        0/1 input spikes; with ``analog``, the input current of every step.
    with_macs : bool
        Also return the MACs of analog inputs (input currents, NeuNorm's share) per
        population, counted every step.
    probe : (population, neuron), optional
        Also return that neuron's potential at every step after its input, before the
        threshold test and reset, shape (T,) (or (T, batch)).

    Returns
    -------
    outputs : list of ndarray
        Spikes of each population, bool, shape (T, n_neurons) (or (T, batch, n_neurons)).
    sops : ndarray, shape (n_pop,) (or (batch, n_pop))
    macs : ndarray, like ``sops``; only with ``with_macs``.
    trace : ndarray; only with ``probe``.
    """
    dtype = np.dtype(dtype)
    spikes = np.asarray(spikes)
    steps = spikes.shape[0] * (spikes.shape[1] if spikes.ndim == 3 else 1)
    neurons = [int(np.prod(net.shapes[i])) for i in net.lif_layers]
    check_memory(steps * (net.n_inputs + sum(neurons)) * (3 * dtype.itemsize + 1)
                 + 8 * sum(n * int(np.prod(net.input_shape_of(i)))
                           for n, i in zip(neurons, net.lif_layers)),
                 f"the dense twin: {steps} steps x samples of {sum(neurons)} neurons, and the "
                 "layers as dense matrices")
    x = spikes.astype(dtype)
    single = x.ndim == 2
    if single:
        x = x[:, None, :]
    T, batch, _ = x.shape
    spiking = np.zeros_like(x) if analog else x  # the spikes among what x carries
    outputs, sops, macs, trace = [], [], [], None
    for li, layer in enumerate(net.layers):
        if isinstance(layer, NeuNorm):
            x, _ = neunorm_dense(layer, x, dtype)
            continue
        if not has_neurons(layer):
            continue
        M = dense_matrix(net, li)
        fan_out = np.count_nonzero(M, axis=0).astype(np.int64)
        sops.append((spiking.reshape(T * batch, -1).astype(bool) @ fan_out)
                    .reshape(T, batch).sum(0))
        macs.append(((x != spiking).reshape(T * batch, -1) @ fan_out).reshape(T, batch).sum(0))
        Mt = M.T.astype(dtype)
        b = dense_bias(net, li).astype(dtype)
        k, v_th = dtype.type(layer.decay), net.neuron_thresholds(li).astype(dtype)
        u = np.zeros((batch, M.shape[0]), dtype)
        o = np.zeros((batch, M.shape[0]), dtype)
        out = np.zeros((T, batch, M.shape[0]), bool)
        for t in range(T):
            kept = u * (1 - o) if layer.reset == "zero" else u - v_th * o
            if layer.integer:  # whole numbers, decay D / 4096 truncated towards zero
                u = np.trunc(kept * layer.decay_num / 4096.0) + x[t] @ Mt + b
            elif layer.reset == "zero":
                u = k * u * (1 - o) + x[t] @ Mt + b
            else:
                u = k * (u - v_th * o) + x[t] @ Mt + b
            if probe is not None and probe[0] == len(outputs):
                trace = np.zeros((T, batch)) if trace is None else trace
                trace[t] = u[:, probe[1]]
            o = (u >= v_th).astype(dtype)
            out[t] = o
        outputs.append(out[:, 0] if single else out)
        x = spiking = out.astype(dtype)
    sops, macs = np.stack(sops, axis=-1), np.stack(macs, axis=-1)
    if single:
        sops, macs = sops[0], macs[0]
    extra = ((macs,) if with_macs else ()) + ((trace[:, 0] if single else trace,)
                                              if probe is not None else ())
    return (outputs, sops, *extra)
