"""Flatten a :class:`Network` into the arrays the numba kernels run on.

Only layers with neurons (every layer but Flatten and NeuNorm) become *populations*; Flatten
is the identity on neuron indices because every population numbers its neurons in C order of
its output shape ``(C, H, W)``. Population ``l`` owns global neuron ids
``offset[l] .. offset[l] + n[l] - 1``. A NeuNorm layer belongs to the population it feeds:
its ``alpha`` (flattened in C order, like that population's inputs) starts at
``lt[l, NN_ALPHA]`` in ``nn_alpha``, its auxiliary neurons (one per input position, ``NN_HW``
of them) at ``lt[l, NN_X]`` in the state array ``nn_x``; ``-1`` without one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from eventsim.limits import check_memory
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, NeuNorm, SumPool2d
from eventsim.network.network import Network

# Columns of the integer layer table ``lt`` (one row per population).
(KIND, N, OFF, C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KH, KW, STRIDE, PAD, W_OFF, SUBTRACT,
 DW_OFF, CAN_SELF, NN_ALPHA, NN_X, NN_HW, INTEGER, DECAY_NUM, OWN_TH) = range(23)
N_COLS = 23
#: A Dense layer whose weights are at least this dense also keeps them as a dense matrix
#: ``(n_in, n_out)``, so a spike is delivered by one contiguous (vectorised) row add.
DENSE_ROWS_MIN_DENSITY = 0.5
# Kinds.
K_DENSE, K_CONV, K_POOL = 0, 1, 2
# Columns of the float layer table ``ft``: NeuNorm's auxiliary decay and increment ``coef``.
DECAY, V_TH, POOL_W, NN_DECAY, NN_COEF = range(5)
FT_COLS = 5


@dataclass
class Plan:
    """Flat arrays of one network in one dtype.

    Attributes
    ----------
    lt : ndarray, shape (n_pop, N_COLS), int64
        Integer description of each population (columns named in this module).
    ft : ndarray, shape (n_pop, FT_COLS)
        ``decay``, ``v_th``, the pooling weight and a NeuNorm's decay and ``coef`` below each
        population.
    csr_ptr, csr_idx, csr_w : ndarray
        Dense fan-out in CSR form, all Dense populations concatenated: the targets of input
        ``j`` of population ``l`` are ``csr_idx[csr_ptr[lt[l, W_OFF] + j] : csr_ptr[lt[l, W_OFF] + j + 1]]``
        (nonzero weights only, targets ascending).
    dense_w : ndarray
        For Dense layers at least ``DENSE_ROWS_MIN_DENSITY`` dense: the weights transposed,
        ``(n_in, n_out)`` row-major, from ``lt[l, DW_OFF]`` (-1 for layers without).
    conv_w : ndarray
        Conv kernels concatenated, each transposed to ``(c_in, kh, kw, c_out)`` and starting at
        ``lt[l, W_OFF]``.
    bias : ndarray, shape (n_neurons,)
        Bias of every neuron (0 where a layer has none; conv biases repeated per position).
    nn_alpha : ndarray
        ``alpha`` of every NeuNorm layer, concatenated (see the module docstring).
    v_th : ndarray, shape (n_neurons,)
        Threshold of every neuron (an integer layer may have one per output channel).
    n_aux : int
        Auxiliary neurons of all NeuNorm layers (length of the state array ``nn_x``).
    layer_index : list of int
        Index in ``net.layers`` of each population.
    """

    lt: np.ndarray
    ft: np.ndarray
    csr_ptr: np.ndarray
    csr_idx: np.ndarray
    csr_w: np.ndarray
    dense_w: np.ndarray
    conv_w: np.ndarray
    bias: np.ndarray
    nn_alpha: np.ndarray
    n_aux: int
    v_th: np.ndarray
    layer_index: list[int]

    def fan_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """Target and weight-index buffers for one input's conv/pool fan-out."""
        n = int((self.lt[:, C_OUT] * self.lt[:, KH] * self.lt[:, KW]).max(initial=1))
        return np.zeros(n, np.int64), np.zeros(n, np.int64)

    @property
    def net_arrays(self) -> tuple:
        """What the discrete kernels take as ``net_arrays``."""
        return (self.lt, self.ft, self.csr_ptr, self.csr_idx, self.csr_w, self.dense_w,
                self.conv_w, self.bias, self.nn_alpha, self.v_th)

    @property
    def n_neurons(self) -> int:
        return int(self.lt[-1, OFF] + self.lt[-1, N])

    @property
    def n_pop(self) -> int:
        return len(self.lt)


#: Bytes per neuron of a plan and of one run over it (state, scratch and queue arrays, int64
#: indices and float64 values at most): an upper estimate, for the memory budget.
NEURON_BYTES = 200
#: Bytes per weight of a plan: CSR values and indices, dense rows, scipy's temporaries.
WEIGHT_BYTES = 40


def plan_bytes(net: Network) -> int:
    """An upper estimate of the memory that building ``net``'s plan and running it takes."""
    neurons = net.n_neurons
    weights = sum(layer.weight.size for layer in net.layers if isinstance(layer, (Dense, Conv2d)))
    return neurons * NEURON_BYTES + weights * WEIGHT_BYTES


def _geometry(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)


def build_plan(net: Network, dtype: np.dtype) -> Plan:
    """Build the flat arrays of ``net`` with weights and state in ``dtype``."""
    dtype = np.dtype(dtype)
    pops = net.lif_layers
    lt = np.zeros((len(pops), N_COLS), np.int64)
    ft = np.zeros((len(pops), FT_COLS), dtype)
    csr_ptr, csr_idx, csr_w, dense_w, conv_w, biases, nn_alpha = [], [], [], [], [], [], []
    thresholds = []
    n_ptr = n_csr = n_dense = n_conv = offset = n_alpha = n_aux = 0
    for row, li in enumerate(pops):
        layer = net.layers[li]
        c_in, h_in, w_in = _geometry(net.input_shape_of(li))
        c_out, h_out, w_out = _geometry(net.shapes[li])
        n = c_out * h_out * w_out
        lt[row, [N, OFF, C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT]] = (
            n, offset, c_in, h_in, w_in, c_out, h_out, w_out)
        lt[row, SUBTRACT] = layer.reset == "subtract"
        lt[row, [DW_OFF, NN_ALPHA, NN_X]] = -1
        ft[row, DECAY], ft[row, V_TH] = layer.decay, float(np.max(layer.v_th))
        thresholds.append(net.neuron_thresholds(li))
        lt[row, OWN_TH] = np.ndim(layer.v_th) > 0  # per channel: read per neuron
        lt[row, INTEGER], lt[row, DECAY_NUM] = layer.integer, layer.decay_num
        nn = net.neunorm_into(li)
        if nn is not None:
            norm: NeuNorm = net.layers[nn]
            c, h, w = norm.alpha.shape
            lt[row, [NN_ALPHA, NN_X, NN_HW]] = n_alpha, n_aux, h * w
            ft[row, NN_DECAY], ft[row, NN_COEF] = norm.decay, norm.coef(c)
            nn_alpha.append(norm.alpha.ravel())
            n_alpha += norm.alpha.size
            n_aux += h * w
        bias = np.zeros(n, dtype)
        if isinstance(layer, Dense):
            lt[row, KIND] = K_DENSE
            fan = scipy.sparse.csr_matrix(layer.weight.T.astype(dtype))
            fan.eliminate_zeros()
            fan.sort_indices()
            lt[row, W_OFF] = n_ptr
            csr_ptr.append(fan.indptr.astype(np.int64) + n_csr)
            csr_idx.append(fan.indices.astype(np.int64))
            csr_w.append(fan.data)
            n_ptr += len(fan.indptr)
            n_csr += fan.nnz
            if fan.nnz >= DENSE_ROWS_MIN_DENSITY * layer.weight.size:
                lt[row, DW_OFF] = n_dense
                dense_w.append(np.ascontiguousarray(layer.weight.T, dtype=dtype).ravel())
                n_dense += layer.weight.size
            if layer.bias is not None:
                bias[:] = layer.bias
        elif isinstance(layer, Conv2d):
            lt[row, KIND] = K_CONV
            _, _, kh, kw = layer.weight.shape
            lt[row, [KH, KW, STRIDE, PAD, W_OFF]] = kh, kw, layer.stride, layer.padding, n_conv
            kernel = np.ascontiguousarray(layer.weight.transpose(1, 2, 3, 0), dtype=dtype)
            conv_w.append(kernel.ravel())
            n_conv += kernel.size
            if layer.bias is not None:
                bias[:] = np.repeat(layer.bias, h_out * w_out)
        elif isinstance(layer, (AvgPool2d, SumPool2d)):
            lt[row, KIND] = K_POOL
            k = layer.kernel_size
            lt[row, [KH, KW, STRIDE, PAD]] = k, k, layer.stride, 0
            ft[row, POOL_W] = layer.pool_weight
        # a neuron can cross threshold without input only with a positive bias, or when a
        # subtract reset leaves it high
        lt[row, CAN_SELF] = bool((bias > 0).any()) or layer.reset == "subtract"
        biases.append(bias)
        offset += n

    def cat(parts, dt):
        return np.concatenate(parts).astype(dt) if parts else np.zeros(1, dt)

    return Plan(lt, ft, cat(csr_ptr, np.int64), cat(csr_idx, np.int64), cat(csr_w, dtype),
                cat(dense_w, dtype), cat(conv_w, dtype), np.concatenate(biases).astype(dtype),
                cat(nn_alpha, dtype), n_aux, np.concatenate(thresholds).astype(dtype),
                list(pops))


def decay_tables(ft: np.ndarray, T: int) -> tuple[np.ndarray, ...]:
    """Closed-form decay factors: ``P[l, n] = decay_l ** n``, ``G[l, n] = sum_{i<n} decay_l ** i``.

    A neuron left alone for ``n`` steps is brought forward as ``u <- P * u + bias * G``
    (``n`` steps of ``u <- decay * u + bias``), with ``P, G`` read at ``min(n, cap[l])``:

    * ``decay < 1``: ``cap[l]`` is the first ``n`` where ``P`` has underflowed and stops
      changing (0, or stuck at the smallest subnormal), else ``T + 1``; from there on ``P`` and
      ``G`` stay put (``G`` is >= 1, the subnormal is absorbed), so the tables hold every value
      exactly and their length does not grow with ``T``;
    * ``decay == 1``: ``P = 1`` and ``G[n] = n``, which the kernels convert to the tables'
      dtype through the one-element array ``conv``; ``cap[l] = 1``.

    Values are computed in the tables' dtype by cumulative products and sums.

    Returns
    -------
    P, G : ndarray, shape (n_pop, width)
    cap : ndarray, shape (n_pop,), int64
    conv : ndarray, shape (1,), the tables' dtype
    """
    dtype, n_pop = ft.dtype, len(ft)
    leaky = ft[:, DECAY] < 1
    tiny = float(np.finfo(dtype).smallest_subnormal)
    guess = [int(np.log(tiny) / np.log(float(k))) + 3 if k < 1 else 2 for k in ft[:, DECAY]]
    width = min(T + 2, max(guess))
    while True:
        check_memory(2 * n_pop * width * dtype.itemsize, lambda width=width: (
            f"simulate: the closed-form decay tables of {n_pop} populations x {width} steps "
            f"(decays {', '.join(f'{k:.9g}' for k in ft[:, DECAY])}; a decay near 1 needs many "
            "steps to underflow)"))
        P = np.ones((n_pop, width), dtype)
        G = np.zeros((n_pop, width), dtype)
        cap = np.ones(n_pop, np.int64)
        done = True
        for row in np.flatnonzero(leaky):
            np.cumprod(np.full(width - 1, ft[row, DECAY], dtype), out=P[row, 1:])
            np.cumsum(P[row, :-1], out=G[row, 1:])
            still = np.flatnonzero(P[row, 1:] == P[row, :-1])  # underflowed: 0 or stuck
            cap[row] = still[0] + 1 if len(still) else width - 1
            done &= bool(len(still)) or width == T + 2
        if done:
            return P, G, cap, np.zeros(1, dtype)
        width = min(T + 2, 2 * width)
