"""Explicit synapse lists of a layer: what its weights, kernel and pooling window imply.

For tools that want every synapse spelled out (a Brian2 ``Synapses`` object, an export): the
``(pre, post, weight)`` triples of the nonzero weights, with ``pre`` and ``post`` the flat C-order
indices of the layer's input and output, conv borders and strides included. Computed with
numpy, one vectorised pass per kernel tap.
"""

from __future__ import annotations

import numpy as np

from eventsim.network import ops
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, SumPool2d
from eventsim.network.network import Network, layer_name


def synapse_lists(net: Network, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The synapses of layer ``index``.

    Returns
    -------
    pre, post : ndarray, shape (n_synapses,), int64
        Input and output neuron of each synapse, sorted by ``(pre, post)``.
    weight : ndarray, shape (n_synapses,), float64
        Nonzero weights only (a zero weight is no synapse, as in the engine's SOP count).
    """
    layer = net.layers[index]
    if not isinstance(layer, (Dense, Conv2d, AvgPool2d, SumPool2d)):
        raise TypeError(f"{layer_name(index, layer)} has no synapses")
    return op_synapse_lists(layer, net.input_shape_of(index))


def op_synapse_lists(op, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """:func:`synapse_lists` of one Dense, Conv2d or pooling op (or chain layer) on an input
    of ``in_shape``."""
    if isinstance(op, ops.Dense):
        post, pre = np.nonzero(op.weight)
        weight = op.weight[post, pre]
    else:
        pre, post, weight = _spatial(op, in_shape, op.output_shape(in_shape, ""))
    order = np.lexsort((post, pre))
    return (pre[order].astype(np.int64), post[order].astype(np.int64),
            np.asarray(weight, np.float64)[order])


def projection_synapses(graph, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
    """The synapses of projection ``k`` of a :class:`~eventsim.network.graph.Graph`, its ops
    multiplied out (each op's synapse list as a sparse matrix; Flatten passes through;
    NeuNorm, which the bridge refuses, is skipped): ``pre, post, weight`` as :func:`synapse_lists` gives them, and the composed bias
    of every target neuron, shape (n_target,), float64."""
    import scipy.sparse

    shape = graph.source_shape(k)
    n = int(np.prod(shape))
    m, bias = scipy.sparse.identity(n, format="csr"), np.zeros(n)
    for op in graph.projections[k].ops:
        out_shape = op.output_shape(shape, "")
        n_out = int(np.prod(out_shape))
        if isinstance(op, (ops.Dense, ops.Conv2d, ops.AvgPool2d, ops.SumPool2d)):
            pre, post, weight = op_synapse_lists(op, shape)
            om = scipy.sparse.csr_matrix((weight, (post, pre)), shape=(n_out, n))
            b = getattr(op, "bias", None)
            b = np.zeros(n_out) if b is None else np.repeat(np.asarray(b, np.float64),
                                                            n_out // len(b))
            m, bias = om @ m, om @ bias + b
        shape, n = out_shape, n_out
    m = scipy.sparse.coo_matrix(m)
    keep = m.data != 0
    pre, post, weight = m.col[keep], m.row[keep], m.data[keep]
    order = np.lexsort((post, pre))
    return (pre[order].astype(np.int64), post[order].astype(np.int64), weight[order],
            np.asarray(bias, np.float64))


def _spatial(layer, in_shape, out_shape):
    c_in, h_in, w_in = in_shape
    _, h_out, w_out = out_shape
    conv = isinstance(layer, ops.Conv2d)
    if conv:
        kh, kw = layer.weight.shape[2:]
        stride, pad = layer.stride, layer.padding
    else:
        kh = kw = layer.kernel_size
        stride, pad = layer.stride, 0
    yo, xo = np.meshgrid(np.arange(h_out), np.arange(w_out), indexing="ij")
    yo, xo = yo.ravel(), xo.ravel()
    pres, posts, weights = [], [], []
    for ky in range(kh):
        for kx in range(kw):
            yi, xi = yo * stride - pad + ky, xo * stride - pad + kx
            inside = (yi >= 0) & (yi < h_in) & (xi >= 0) & (xi < w_in)
            src = yi[inside] * w_in + xi[inside]   # input position
            dst = yo[inside] * w_out + xo[inside]  # output position
            if conv:  # every (c_out, c_in) pair of this tap
                w = layer.weight[:, :, ky, kx]                            # (c_out, c_in)
                co, ci = np.nonzero(w)
                pres.append((ci[:, None] * h_in * w_in + src).ravel())
                posts.append((co[:, None] * h_out * w_out + dst).ravel())
                weights.append(np.repeat(w[co, ci], len(src)))
            elif layer.pool_weight != 0:  # channel to the same channel
                c = np.arange(c_in)[:, None]
                pres.append((c * h_in * w_in + src).ravel())
                posts.append((c * h_out * w_out + dst).ravel())
                weights.append(np.full(c_in * len(src), layer.pool_weight))
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt))
    return cat(pres, np.int64), cat(posts, np.int64), cat(weights, np.float64)


def connection_counts(net: Network, index: int) -> tuple[int, int]:
    """``(connections, nonzero)`` of layer ``index``: every (input, output) pair its structure
    links, zero weights included (conv borders exact: taps that fall on padding link
    nothing), and how many of them have a nonzero weight. Counted, not listed."""
    layer = net.layers[index]
    if not isinstance(layer, (Dense, Conv2d, AvgPool2d, SumPool2d)):
        raise TypeError(f"{layer_name(index, layer)} has no synapses")
    return op_connection_counts(layer, net.input_shape_of(index))


def op_connection_counts(op, in_shape: tuple[int, ...]) -> tuple[int, int]:
    """:func:`connection_counts` of one Dense, Conv2d or pooling op (of
    :mod:`eventsim.network.ops`, or a chain layer) on an input of ``in_shape``."""
    if isinstance(op, ops.Dense):
        return int(op.weight.size), int(np.count_nonzero(op.weight))
    c_in, h_in, w_in = in_shape
    _, h_out, w_out = op.output_shape(in_shape, "")
    conv = isinstance(op, ops.Conv2d)
    kh, kw = op.weight.shape[2:] if conv else (op.kernel_size, op.kernel_size)
    stride, pad = (op.stride, op.padding) if conv else (op.stride, 0)
    total = nonzero = 0
    for ky in range(kh):
        ys = np.arange(h_out) * stride - pad + ky
        rows = int(((ys >= 0) & (ys < h_in)).sum())
        for kx in range(kw):
            xs = np.arange(w_out) * stride - pad + kx
            inside = rows * int(((xs >= 0) & (xs < w_in)).sum())
            if conv:
                total += inside * op.weight.shape[0] * c_in
                nonzero += inside * int(np.count_nonzero(op.weight[:, :, ky, kx]))
            else:
                total += inside * c_in
                nonzero += inside * c_in * (op.pool_weight != 0)
    return total, nonzero
