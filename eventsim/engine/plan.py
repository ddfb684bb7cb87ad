"""Flatten a network (a :class:`~eventsim.network.graph.Graph`, or a chain made one) into the
arrays the numba kernels run on.

*Populations* own global neuron ids ``off[l] .. off[l] + n[l] - 1`` (C order of their shape).
*Sources* are what spikes come from: row 0 the input, row ``l + 1`` population ``l``; each
keeps the spikes of its last ``st[s, S_W]`` steps in a ring (slot ``step % S_W``), which is
how a spike reaches a target ``e`` steps later. *Edges* are the kernels' projections: each
user projection becomes one edge, or one per distinct delay when its delays are per neuron
or per synapse; edges are sorted by target population (list order within one), so
population ``l`` reads edges ``lt[l, IN_FIRST] .. lt[l, IN_END] - 1``.

An edge is delivered one of three ways (``et[e, KIND]``):

* ``K_DENSE``: fan-out in CSR (all such edges concatenated; the targets of source neuron
  ``j`` are ``csr_idx[csr_ptr[W_OFF + j] : csr_ptr[W_OFF + j + 1]]``, ascending), and for one
  at least ``DENSE_ROWS_MIN_DENSITY`` dense also the matrix ``(n_src, n_tgt)`` from
  ``DW_OFF`` (one contiguous row add per spike);
* ``K_CONV``, ``K_POOL``: a single conv or pooling op, fan-out computed on the fly
  (:mod:`.fanout`).

A projection of several weighted ops without neurons between them (pool then conv, pool then
Flatten then Dense, ...) is *composed* into one ``K_DENSE`` edge: its matrix is the product of
the ops' matrices (float64, rounded once to the run's dtype), zero products dropped. Its SOPs
count the synapses a spike traverses along the composed path: for source neuron ``j``,
``paths[PATHS + j]`` = the number of paths ``j -> m_1 -> ... -> target`` through the ops' units
whose weights are all nonzero (pooling and Flatten add no operation of their own: a pooled
value is an address on the way). So ``SumPool2d(2) -> Conv2d`` counts, per spike, the conv's
nonzero taps from the one pooled unit it lands in; overlapping pools count each window.

A NeuNorm op opening a projection (always the only projection into its target) keeps its
``alpha`` from ``et[e, NN_ALPHA]`` in ``nn_alpha`` and its auxiliary neurons (``NN_HW``) from
``et[e, NN_X]`` in the state array ``nn_x``; -1 without one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import scipy.signal
import scipy.sparse

from eventsim.errors import NetworkError
from eventsim.limits import check_memory
from eventsim.network import ops
from eventsim.network.graph import Graph, as_graph, population_label, projection_name
from eventsim.network.layers import NeuNorm
from eventsim.network.network import Network

# Columns of the population table ``lt`` (int64); ``REFRACTORY``: steps held after a spike.
(N, OFF, SUBTRACT, CAN_SELF, INTEGER, DECAY_NUM, OWN_TH, IN_FIRST, IN_END, REFRACTORY,
 SYN_NUM) = range(11)
LT_COLS = 11  # SYN_NUM: an integer population's current decay Du (of Du / 4096)
# Columns of the float population table ``ft`` (the run's dtype); ``SYN_DECAY > 0``: a
# current-based population; ``SYN_DECAY2 > 0``: one with a second current; ``ADAPT_JUMP > 0``:
# an adaptive threshold (decaying by ``ADAPT_DECAY``).
DECAY, V_TH, V_RESET, V_LEAK, SYN_DECAY, SYN_DECAY2, ADAPT_DECAY, ADAPT_JUMP = range(8)
FT_COLS = 8
# Columns of the source table ``st`` (int64): neurons, ring slots (0: feeds nothing), where
# its slots start in ``ring_n``/``ring_step`` and its spike slots in ``ring_idx``, and its
# distinct delays >= 1 in ``src_delays``.
S_N, S_W, S_SLOT, S_IDX, S_DLY_FIRST, S_DLY_END = range(6)
ST_COLS = 6
# Columns of the edge table ``et`` (int64); ``PORT``: the target's current it feeds (0, 1).
(SRC, TGT, DELAY, KIND, C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KH, KW, STRIDE, PAD, W_OFF,
 DW_OFF, PATHS, NN_ALPHA, NN_X, NN_HW, PROJ, BACK, PORT) = range(23)
ET_COLS = 23
# Columns of the float edge table ``ef``: the pooling weight, NeuNorm's decay and ``coef``.
POOL_W, NN_DECAY, NN_COEF = range(3)
EF_COLS = 3
# Edge kinds.
K_DENSE, K_CONV, K_POOL = 0, 1, 2
#: A CSR edge whose weights are at least this dense also keeps them as a dense matrix
#: ``(n_src, n_tgt)``, so a spike is delivered by one contiguous (vectorised) row add.
DENSE_ROWS_MIN_DENSITY = 0.5


class NetArrays(NamedTuple):
    """What the kernels read of the network (tables and values named in this module)."""

    lt: np.ndarray
    ft: np.ndarray
    st: np.ndarray
    et: np.ndarray
    ef: np.ndarray
    src_delays: np.ndarray
    csr_ptr: np.ndarray
    csr_idx: np.ndarray
    csr_w: np.ndarray
    dense_w: np.ndarray
    conv_w: np.ndarray
    paths: np.ndarray
    bias: np.ndarray
    syn_bias: np.ndarray
    nn_alpha: np.ndarray
    v_th: np.ndarray


@dataclass
class Plan:
    """Flat arrays of one network in one dtype.

    Attributes
    ----------
    arrays : NetArrays
        The tables and values above; ``bias``, ``syn_bias`` and ``v_th`` have shape
        (n_neurons,). ``bias`` is the constant drive of the membrane: the leak drive, and for
        a population with delta synapses the bias of every projection into a neuron
        (composed through its ops, summed); a current-based population takes the
        projections' biases into its current instead, as ``syn_bias`` (0 elsewhere).
    graph : Graph
    n_aux : int
        Auxiliary neurons of all NeuNorm ops (length of the state array ``nn_x``).
    ring_slots, ring_spikes : int
        Lengths of the ring arrays (slots; spike entries).
    max_delay : int
        Largest delay in steps of any edge (closing a cycle counts one).
    delay_us : ndarray, shape (n_edges,), float64
        Each edge's delay in microseconds (continuous mode): a projection whose ``delay_us``
        differs per neuron or synapse is split into one edge per distinct pair of its step
        delay and its ``delay_us``.
    """

    arrays: NetArrays
    graph: Graph
    n_aux: int
    ring_slots: int
    ring_spikes: int
    max_delay: int
    delay_us: np.ndarray
    _tables: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def tables(self, T: int) -> DecayTables:
        """:func:`decay_tables` for a run of ``T`` steps, shared (the kernels only read them)
        but for ``conv``, new for each call (the kernels write it).

        Tables built for a longer window serve a shorter one: their values are the same
        cumulative products and sums, one longer, and a run reads them at ``n <= T + 1``
        only (``min(n, cap)``). So samples whose windows differ (each covering its own
        recording) share the tables of the longest so far; the last few are kept."""
        with self._lock:  # threads share a plan (eventsim.engine.threads)
            longer = [t for t in self._tables if t >= T]
            if longer:
                tables = self._tables[min(longer)]
            else:
                if len(self._tables) >= 8:
                    del self._tables[next(iter(self._tables))]
                tables = self._tables[T] = decay_tables(self.ft, T)
        return tables._replace(conv=np.zeros(1, self.ft.dtype))

    @cached_property
    def models(self) -> tuple[bool, bool, bool, bool, bool]:
        """Whether any population has a current, a refractory period, a readout, a second
        current, an adaptive threshold: the state a run keeps per neuron for each
        (:class:`~eventsim.engine.simulate.DiscreteRun`)."""
        return (bool((self.ft[:, SYN_DECAY] > 0).any()), bool((self.lt[:, REFRACTORY] > 0).any()),
                bool((self.ft[:, V_TH] == np.inf).any()),
                bool((self.ft[:, SYN_DECAY2] > 0).any()),
                bool((self.ft[:, ADAPT_JUMP] > 0).any()))

    @cached_property
    def start(self) -> np.ndarray:
        """Every neuron's potential at the start (its population's ``v_init``, else
        ``v_leak``: 0 unless given), shape (n_neurons,), the run's dtype; read-only."""
        start = np.concatenate([p.start() for p in self.graph.populations]).astype(
            self.ft.dtype)
        start.setflags(write=False)
        return start

    @property
    def lt(self) -> np.ndarray:
        return self.arrays.lt

    @property
    def ft(self) -> np.ndarray:
        return self.arrays.ft

    @property
    def et(self) -> np.ndarray:
        return self.arrays.et

    @property
    def bias(self) -> np.ndarray:
        return self.arrays.bias

    @property
    def syn_bias(self) -> np.ndarray:
        return self.arrays.syn_bias

    @property
    def n_neurons(self) -> int:
        return int(self.lt[-1, OFF] + self.lt[-1, N])

    @property
    def n_pop(self) -> int:
        return len(self.lt)

    @property
    def n_inputs(self) -> int:
        return int(self.arrays.st[0, S_N])

    @property
    def layer_index(self) -> list[int] | None:
        return self.graph.layer_index

    def projection_sops(self, edge_sops: np.ndarray) -> np.ndarray:
        """SOPs per projection of the graph, from the SOPs per edge."""
        return np.bincount(self.et[:, PROJ], weights=edge_sops,
                           minlength=len(self.graph.projections)).astype(np.int64)

    def fan_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """Target and weight-index buffers for one source neuron's conv/pool fan-out."""
        et = self.et
        n = int((et[:, C_OUT] * et[:, KH] * et[:, KW]).max(initial=1))
        return np.zeros(n, np.int64), np.zeros(n, np.int64)


#: Bytes per neuron of a plan and of one run over it (state, scratch and queue arrays, int64
#: indices and float64 values at most): an upper estimate, for the memory budget.
NEURON_BYTES = 200
#: Bytes per weight or synapse of a plan: CSR values and indices, dense rows, scipy's
#: temporaries.
WEIGHT_BYTES = 40


def _fan_out(op, in_shape: tuple[int, ...]) -> int:
    """Most targets one unit reaches through ``op``."""
    if isinstance(op, ops.Dense):
        return op.weight.shape[0]
    if isinstance(op, ops.Conv2d):
        c_out, _, kh, kw = op.weight.shape
        return c_out * math.ceil(kh / op.stride) * math.ceil(kw / op.stride)
    if isinstance(op, ops._Pool):
        return math.ceil(op.kernel_size / op.stride) ** 2
    return 1


def _projection_bytes(g: Graph, k: int) -> int:
    """An upper estimate of the memory projection ``k`` takes in a plan."""
    proj = g.projections[k]
    weighted = [op for op in proj.ops if not isinstance(op, (ops.Flatten, NeuNorm))]
    n_src = math.prod(g.source_shape(k))
    ring = (int(np.max(g.step_delays(k))) + 1) * n_src * 8  # the source's ring
    if len(weighted) == 1 and np.ndim(proj.delay) == 0 and np.ndim(proj.delay_us) == 0:
        return getattr(weighted[0], "weight", np.zeros(0)).size * WEIGHT_BYTES + ring
    reach, shape = 1, g.source_shape(k)  # composed: every path, at most a full matrix
    for op in proj.ops:
        reach *= _fan_out(op, shape)
        shape = op.output_shape(shape, "")
    n_tgt = g.populations[g.index(proj.target)].size
    return min(reach, n_tgt) * n_src * WEIGHT_BYTES + ring


def plan_bytes(net: Network | Graph) -> int:
    """An upper estimate of the memory that building ``net``'s plan and running it takes."""
    g = as_graph(net)
    return g.n_neurons * NEURON_BYTES + sum(_projection_bytes(g, k)
                                            for k in range(len(g.projections)))


def _geometry(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)


def op_bias(op, out_shape: tuple[int, ...]) -> np.ndarray:
    """The bias ``op`` adds to each of its output units, shape (n_out,), float64."""
    n_out = math.prod(out_shape)
    b = getattr(op, "bias", None)
    if b is None:
        return np.zeros(n_out)
    return np.repeat(np.asarray(b, np.float64), n_out // len(b))  # conv: per channel


def op_matrix(op, in_shape: tuple[int, ...]) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """``op`` as a sparse matrix ``(n_out, n_in)`` (float64) and its bias per output unit."""
    out_shape = op.output_shape(in_shape, "")
    n_in, n_out = math.prod(in_shape), math.prod(out_shape)
    bias = op_bias(op, out_shape)
    if isinstance(op, (ops.Flatten, NeuNorm)):
        return scipy.sparse.identity(n_in, format="csr"), bias
    if isinstance(op, ops.Dense):
        return scipy.sparse.csr_matrix(op.weight), bias
    c_in, h_in, w_in = in_shape
    c_out, h_out, w_out = out_shape
    yo, xo = np.meshgrid(np.arange(h_out), np.arange(w_out), indexing="ij")
    rows, cols, vals = [], [], []
    if isinstance(op, ops.Conv2d):
        _, _, kh, kw = op.weight.shape
        s, p = op.stride, op.padding
        for ky in range(kh):
            for kx in range(kw):
                yi, xi = yo * s - p + ky, xo * s - p + kx
                inside = (yi >= 0) & (yi < h_in) & (xi >= 0) & (xi < w_in)
                for co in range(c_out):
                    for ci in range(c_in):
                        w = op.weight[co, ci, ky, kx]
                        if w == 0:
                            continue
                        rows.append(((co * h_out + yo) * w_out + xo)[inside])
                        cols.append(((ci * h_in + yi) * w_in + xi)[inside])
                        vals.append(np.full(int(inside.sum()), w))
    else:  # pooling
        k, s = op.kernel_size, op.stride
        for ky in range(k):
            for kx in range(k):
                for c in range(c_out):
                    rows.append(((c * h_out + yo) * w_out + xo).ravel())
                    cols.append(((c * h_in + yo * s + ky) * w_in + xo * s + kx).ravel())
                    vals.append(np.full(h_out * w_out, op.pool_weight))
    cat = (lambda a, dt: np.concatenate(a).astype(dt) if a else np.zeros(0, dt))
    m = scipy.sparse.csr_matrix((cat(vals, np.float64), (cat(rows, np.int64),
                                                         cat(cols, np.int64))),
                                shape=(n_out, n_in))
    return m, bias


def compose(proj_ops: list, in_shape: tuple[int, ...]):
    """The composed matrix ``M`` (n_out, n_in), the path counts ``C`` (same shape, int64:
    paths with all weights nonzero) and the composed bias ``c`` (n_out,) of a list of ops."""
    shape = in_shape
    m = c = bias = None
    for op in proj_ops:
        om, ob = op_matrix(op, shape)
        shape = op.output_shape(shape, "")
        ind = (om != 0).astype(np.int64)
        if m is None:
            m, c, bias = om, ind, ob
        else:
            m, c, bias = om @ m, ind @ c, om @ bias + ob
    m = scipy.sparse.csr_matrix(m)
    m.eliminate_zeros()
    return m, scipy.sparse.csr_matrix(c), bias


class _Builder:
    """Accumulates the concatenated arrays while edges are added."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self.csr_ptr, self.csr_idx, self.csr_w, self.dense_w = [], [], [], []
        self.conv_w, self.paths, self.nn_alpha = [], [], []
        self.n_ptr = self.n_csr = self.n_dense = self.n_conv = self.n_paths = 0
        self.n_alpha = self.n_aux = 0

    def add_csr(self, row: np.ndarray, fan: scipy.sparse.csr_matrix, paths=None) -> None:
        """CSR fan-out ``fan`` (n_src, n_tgt) for the edge ``row``; dense rows when dense."""
        fan = scipy.sparse.csr_matrix(fan.astype(self.dtype))
        fan.eliminate_zeros()
        fan.sort_indices()
        row[KIND] = K_DENSE
        row[W_OFF] = self.n_ptr
        self.csr_ptr.append(fan.indptr.astype(np.int64) + self.n_csr)
        self.csr_idx.append(fan.indices.astype(np.int64))
        self.csr_w.append(fan.data)
        self.n_ptr += len(fan.indptr)
        self.n_csr += fan.nnz
        if fan.nnz >= DENSE_ROWS_MIN_DENSITY * fan.shape[0] * fan.shape[1]:
            row[DW_OFF] = self.n_dense
            self.dense_w.append(np.asarray(fan.todense(), dtype=self.dtype).ravel())
            self.n_dense += fan.shape[0] * fan.shape[1]
        if paths is not None:
            row[PATHS] = self.n_paths
            self.paths.append(paths.astype(np.int64))
            self.n_paths += len(paths)

    def cat(self, parts, dt) -> np.ndarray:
        return np.concatenate(parts).astype(dt) if parts else np.zeros(1, dt)


def build_plan(net: Network | Graph, dtype: np.dtype, continuous: bool = False) -> Plan:
    """Build the flat arrays of ``net`` with weights and state in ``dtype``; ``continuous``:
    also split projections by their ``delay_us`` (per neuron or synapse), for continuous
    mode."""
    dtype = np.dtype(dtype)
    g = as_graph(net)
    pops = g.populations
    n_pop = len(pops)
    lt = np.zeros((n_pop, LT_COLS), np.int64)
    ft = np.zeros((n_pop, FT_COLS), dtype)
    sizes = np.array([p.size for p in pops], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    bias = np.zeros(int(sizes.sum()), np.float64)
    thresholds = []
    for l, pop in enumerate(pops):
        lt[l, [N, OFF]] = sizes[l], offsets[l]
        lt[l, SUBTRACT] = pop.reset == "subtract"
        lt[l, INTEGER], lt[l, DECAY_NUM] = pop.integer, pop.decay_num
        # per channel, or adapting (v_th + b): read per neuron (the run's ``threshold``)
        lt[l, OWN_TH] = np.ndim(pop.v_th) > 0 or pop.adaptive
        lt[l, REFRACTORY] = pop.refractory_steps
        lt[l, SYN_NUM] = pop.syn_decay_num
        ft[l, DECAY], ft[l, V_TH] = pop.decay, float(np.max(pop.v_th))
        ft[l, V_RESET], ft[l, V_LEAK] = pop.v_reset, pop.v_leak
        ft[l, SYN_DECAY], ft[l, SYN_DECAY2] = pop.syn_decay, pop.syn_decay_2
        ft[l, ADAPT_DECAY], ft[l, ADAPT_JUMP] = pop.adapt_decay, pop.adapt_jump
        if pop.syn_decay_2 > 0 or (pop.adaptive and pop.syn_decay > 0):
            # the closed forms divide by the decays' differences, in the run's dtype
            for f, col in (("syn_decay", SYN_DECAY), ("syn_decay_2", SYN_DECAY2)):
                if getattr(pop, f) > 0 and ft[l, col] == ft[l, DECAY]:
                    raise NetworkError(
                        f"simulate: {population_label(net, g, l)}: field '{f}' "
                        f"({getattr(pop, f)!r}) rounds to 'decay' ({pop.decay!r}) in "
                        f"{dtype.name}; the closed-form crossing needs them to differ: run it "
                        "in float64, or give decays further apart")
        thresholds.append(pop.neuron_thresholds())
    b = _Builder(dtype)
    rows, row_us = [], []
    for k, proj in enumerate(g.projections):
        tgt = g.index(proj.target)
        src_shape = g.source_shape(k)
        n_src = math.prod(src_shape)
        base = np.zeros(ET_COLS, np.int64)
        base[[SRC, TGT, PROJ, BACK]] = g.index(proj.source) + 1, tgt, k, g.closes_cycle(k)
        base[PORT] = proj.port
        base[[C_IN, H_IN, W_IN]] = _geometry(src_shape)
        base[[C_OUT, H_OUT, W_OUT]] = _geometry(pops[tgt].shape)
        base[[DW_OFF, PATHS, NN_ALPHA, NN_X]] = -1
        fbase = np.zeros(EF_COLS, np.float64)
        chain = list(proj.ops)
        if isinstance(chain[0], NeuNorm):
            norm = chain.pop(0)
            c, h, w = norm.alpha.shape
            base[[NN_ALPHA, NN_X, NN_HW]] = b.n_alpha, b.n_aux, h * w
            fbase[[NN_DECAY, NN_COEF]] = norm.decay, norm.coef(c)
            b.nn_alpha.append(norm.alpha.ravel())
            b.n_alpha += norm.alpha.size
            b.n_aux += h * w
        weighted = [op for op in chain if not isinstance(op, ops.Flatten)]
        delays = g.step_delays(k)
        delays_us = np.asarray(proj.delay_us if continuous else np.max(proj.delay_us),
                               np.float64)
        sl = slice(offsets[tgt], offsets[tgt] + sizes[tgt])
        if len(weighted) == 1 and delays.ndim == 0 and delays_us.ndim == 0:  # one op: as it is
            op = weighted[0]
            row, frow = base.copy(), fbase.copy()
            row[DELAY] = delays
            row_us.append(float(delays_us))
            if isinstance(op, ops.Dense):
                b.add_csr(row, scipy.sparse.csr_matrix(op.weight.T))
            elif isinstance(op, ops.Conv2d):
                _, _, kh, kw = op.weight.shape
                row[[KIND, KH, KW, STRIDE, PAD, W_OFF]] = (K_CONV, kh, kw, op.stride,
                                                           op.padding, b.n_conv)
                kernel = np.ascontiguousarray(op.weight.transpose(1, 2, 3, 0), dtype=dtype)
                b.conv_w.append(kernel.ravel())
                b.n_conv += kernel.size
            else:
                kk = op.kernel_size
                row[[KIND, KH, KW, STRIDE, PAD]] = K_POOL, kk, kk, op.stride, 0
                frow[POOL_W] = op.pool_weight
            rows.append((row, frow))
            bias[sl] += op_bias(op, pops[tgt].shape)
            continue
        check_memory(_projection_bytes(g, k), lambda k=k, proj=proj, delays=delays: (
            f"simulate: {projection_name(k, proj)} composed into explicit synapses "
            f"({' -> '.join(type(op).__name__ for op in proj.ops)}"
            + (", delays per synapse" if delays.ndim or np.ndim(proj.delay_us) else "") + ")"))
        m, paths, c = compose(chain, src_shape)
        bias[sl] += c
        coo = m.tocoo()
        pc = paths.tocoo()
        shape = (m.shape[0], n_src)
        d = np.broadcast_to(delays, shape) if delays.ndim else None
        du = np.broadcast_to(delays_us, shape) if delays_us.ndim else None
        # each synapse's (step delay, delay_us): one edge per distinct pair
        syn = np.stack([d[coo.row, coo.col] if d is not None else np.full(coo.nnz, int(delays)),
                        du[coo.row, coo.col] if du is not None else
                        np.full(coo.nnz, float(delays_us))], axis=1)
        path = np.stack([d[pc.row, pc.col] if d is not None else np.full(pc.nnz, int(delays)),
                         du[pc.row, pc.col] if du is not None else
                         np.full(pc.nnz, float(delays_us))], axis=1)
        live = np.flatnonzero(pc.data > 0)
        pairs, which = np.unique(np.concatenate([syn, path[live]]), axis=0, return_inverse=True)
        which = np.ravel(which)
        if not len(pairs):  # no synapse: one edge
            pairs = np.array([[np.min(delays), np.min(delays_us)]])
        n_edges = len(pairs)
        check_memory(n_edges * (n_src + 1) * 24, lambda k=k, proj=proj, n=n_edges: (
            f"simulate: {projection_name(k, proj)} split into {n} edges, one per distinct "
            "delay (each with a pointer per source neuron); fewer distinct delays need less"))
        groups = _groups(which[:len(syn)], len(pairs))
        path_groups = _groups(which[len(syn):], len(pairs))
        for (dv, duv), pick, ppick in zip(pairs, groups, path_groups):
            row, frow = base.copy(), fbase.copy()
            row[DELAY] = int(dv)
            row_us.append(float(duv))
            fan = scipy.sparse.csr_matrix((coo.data[pick], (coo.col[pick], coo.row[pick])),
                                          shape=(n_src, m.shape[0]))
            ppick = live[ppick]
            per_src = np.bincount(pc.col[ppick], weights=pc.data[ppick], minlength=n_src)
            b.add_csr(row, fan, np.rint(per_src).astype(np.int64))
            rows.append((row, frow))
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0][TGT], i))
    et = np.array([rows[i][0] for i in order], np.int64).reshape(-1, ET_COLS)
    ef = np.array([rows[i][1] for i in order], dtype).reshape(-1, EF_COLS)
    for l in range(n_pop):
        into = np.flatnonzero(et[:, TGT] == l)
        lt[l, [IN_FIRST, IN_END]] = into[0], into[-1] + 1  # every population has input
    st, src_delays, ring_slots, ring_spikes = _sources(g, et)
    syn_bias = np.zeros_like(bias)
    for l in range(n_pop):
        sl = slice(offsets[l], offsets[l] + sizes[l])
        if pops[l].syn_decay > 0:  # current-based: the projections' biases feed the current
            syn_bias[sl], bias[sl] = bias[sl], 0.0
        bias[sl] += pops[l].leak_drive()  # the leak towards v_leak: after the biases
        # a neuron crosses threshold without input only with a positive bias, or when a
        # subtract reset leaves it high, or a current-based one with its current, or when
        # an adaptive threshold falls below a potential that decays more slowly
        lt[l, CAN_SELF] = (bool((bias[sl] > 0).any()) or pops[l].reset == "subtract"
                           or pops[l].syn_decay > 0 or pops[l].adaptive
                           ) and ft[l, V_TH] < np.inf  # LI: never
    weights = [b.cat(w, dtype) for w in (b.csr_w, b.dense_w, b.conv_w)]
    if all(pop.integer for pop in pops):
        weights = narrowest_whole(weights)
    arrays = NetArrays(
        lt, ft, st, et, ef, src_delays, b.cat(b.csr_ptr, np.int64), b.cat(b.csr_idx, np.int64),
        *weights,
        b.cat(b.paths, np.int64), bias.astype(dtype), syn_bias.astype(dtype),
        b.cat(b.nn_alpha, dtype),
        np.concatenate(thresholds).astype(dtype))
    return Plan(arrays, g, b.n_aux, ring_slots, ring_spikes,
                int(et[:, DELAY].max(initial=0)), np.array([row_us[i] for i in order]))


def narrowest_whole(weights: list[np.ndarray]) -> list[np.ndarray]:
    """``weights`` of an integer network in the narrowest signed integer type that holds
    every one of them exactly (int8, int16 or int32), else as they are. The kernels add a
    weight to a float64 input: exact either way, and a row of int8 weights is an eighth of
    the bytes a float64 row moves."""
    big = max((float(np.abs(w).max()) for w in weights if w.size), default=0.0)
    if not all(np.array_equal(w, np.round(w)) for w in weights):
        return weights
    for kind in (np.int8, np.int16, np.int32):
        if big <= np.iinfo(kind).max:
            return [w.astype(kind) for w in weights]
    return weights


def _groups(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """The indices of every label ``0 .. n-1`` in ``labels``, in one sort."""
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.searchsorted(labels[order], np.arange(1, n)))


def _sources(g: Graph, et: np.ndarray):
    """The source table, the distinct delays per source and the ring lengths."""
    n_src = len(g.populations) + 1
    st = np.zeros((n_src, ST_COLS), np.int64)
    st[0, S_N] = g.n_inputs
    st[1:, S_N] = [p.size for p in g.populations]
    delays = []
    slot = idx = 0
    for s in range(n_src):
        out = et[et[:, SRC] == s, DELAY]
        st[s, S_W] = int(out.max()) + 1 if len(out) else 0
        st[s, [S_SLOT, S_IDX]] = slot, idx
        slot += st[s, S_W]
        idx += st[s, S_W] * st[s, S_N]
        later = np.unique(out[out > 0])
        st[s, [S_DLY_FIRST, S_DLY_END]] = len(delays), len(delays) + len(later)
        delays.extend(later.tolist())
    return st, np.array(delays + [0], np.int64), slot, idx


def decay_tables(ft: np.ndarray, T: int) -> DecayTables:
    """Closed-form decay factors of each population ``l`` (``decay = k``, ``syn_decay = a``):
    ``P[l, n] = k ** n``, ``G[l, n] = sum_{j<n} k ** j``, and for a current-based population
    ``A[l, n] = a ** n``, ``GA[l, n] = sum_{j<n} a ** j``, ``H[l, n] = sum_{j=1..n} k ** (n-j)
    a ** j`` and ``J[l, n] = sum_{j=1..n} k ** (n-j) GA[l, j]``.

    A neuron left alone for ``n`` steps is brought forward as (:mod:`eventsim.network.layers`
    for the recurrence: ``c`` the membrane's drive, ``b`` the current's, ``i`` the current)::

        u <- P * u + c * G + i * H + b * J        i <- A * i + b * GA

    (``H = 0``, ``J = G`` with delta synapses: ``u <- P * u + c * G``), an adaptive threshold
    ``b <- R * b`` (``R[l, n] = adapt_decay ** n``), and with a second
    current ``i2`` (``syn_decay_2 = q``: ``A2[l, n] = q ** n``, ``H2[l, n] = sum_{j=1..n}
    k ** (n-j) q ** j``; no bias)::

        u <- P * u + c * G + i * H + b * J + i2 * H2        i2 <- A2 * i2

    with the tables read at
    ``min(n, cap[l])``:

    * ``decay < 1``: ``cap[l]`` is the first ``n`` where every table has stopped changing
      (``P`` underflowed to 0 or stuck at the smallest subnormal, the sums converged), else
      ``T + 1``; from there on they stay put, so the tables hold every value exactly and their
      length does not grow with ``T``;
    * ``decay == 1`` (delta synapses only): ``P = 1`` and ``G[n] = n``, which the kernels
      convert to the tables' dtype through the one-element array ``conv``; ``cap[l] = 1``.

    Values are computed in the tables' dtype, by cumulative products and sums and the linear
    recurrences ``H[n] = k H[n-1] + A[n]``, ``J[n] = k J[n-1] + GA[n]``, ``H2[n] = k H2[n-1] +
    A2[n]`` (:func:`scipy.signal.lfilter`).

    Returns
    -------
    DecayTables
        ``P, G, A, GA, H, J, A2, H2, R`` of shape (n_pop, width) (``A .. J`` zero for a
        population with delta synapses, ``A2, H2`` for one without a second current, ``R``
        for one without adaptation),
        ``cap`` (n_pop,) int64, ``conv`` (1,) of the tables' dtype.
    """
    dtype, n_pop = ft.dtype, len(ft)
    leaky = ft[:, DECAY] < 1
    tiny = float(np.finfo(dtype).smallest_subnormal)
    slowest = np.maximum.reduce([ft[:, DECAY], ft[:, SYN_DECAY], ft[:, SYN_DECAY2],
                                 np.where(ft[:, ADAPT_JUMP] > 0, ft[:, ADAPT_DECAY], 0)])
    guess = [int(np.log(tiny) / np.log(float(k))) + 3 if k < 1 else 2 for k in slowest]
    width = min(T + 2, max(guess))
    while True:
        check_memory(n_pop * width * (9 * dtype.itemsize + 4 * 8), lambda width=width: (
            f"simulate: the closed-form decay tables of {n_pop} populations x {width} steps "
            f"(decays {', '.join(f'{k:.9g}' for k in ft[:, DECAY])}; a decay near 1 needs many "
            "steps to underflow)"))
        P = np.ones((n_pop, width), dtype)
        G = np.zeros((n_pop, width), dtype)
        A, GA, H, J, A2, H2, R = (np.zeros((n_pop, width), dtype) for _ in range(7))
        cap = np.ones(n_pop, np.int64)
        done = True
        for row in np.flatnonzero(leaky):
            k = ft[row, DECAY]
            np.cumprod(np.full(width - 1, k, dtype), out=P[row, 1:])
            np.cumsum(P[row, :-1], out=G[row, 1:])
            tabs = [P[row], G[row]]
            if ft[row, SYN_DECAY] > 0:
                A[row, 0] = 1
                np.cumprod(np.full(width - 1, ft[row, SYN_DECAY], dtype), out=A[row, 1:])
                np.cumsum(A[row, :-1], out=GA[row, 1:])
                one, feedback = np.ones(1, dtype), np.array([1, -k], dtype)
                H[row] = scipy.signal.lfilter(one, feedback, A[row] * (np.arange(width) > 0))
                J[row] = scipy.signal.lfilter(one, feedback, GA[row])
                tabs += [A[row], GA[row], H[row], J[row]]
            if ft[row, SYN_DECAY2] > 0:
                A2[row, 0] = 1
                np.cumprod(np.full(width - 1, ft[row, SYN_DECAY2], dtype), out=A2[row, 1:])
                H2[row] = scipy.signal.lfilter(one, feedback, A2[row] * (np.arange(width) > 0))
                tabs += [A2[row], H2[row]]
            if ft[row, ADAPT_JUMP] > 0:
                np.cumprod(np.full(width, ft[row, ADAPT_DECAY], dtype), out=R[row])
                R[row] = np.concatenate([np.ones(1, dtype), R[row, :-1]])
                tabs += [R[row]]
            same = np.logical_and.reduce([t[1:] == t[:-1] for t in tabs])
            still = np.flatnonzero(same)  # every table stopped changing (underflowed: 0 or stuck)
            cap[row] = still[0] + 1 if len(still) else width - 1
            done &= bool(len(still)) or width == T + 2
        if done:
            sums = [np.zeros((n_pop, width)) for _ in range(4)]
            for total, table in zip(sums, (P, G, H, J)):
                np.cumsum(table[:, 1:], axis=1, dtype=np.float64, out=total[:, 1:])
            return DecayTables(P, G, cap, np.zeros(1, dtype), A, GA, H, J, *sums, A2, H2, R)
        width = min(T + 2, 2 * width)


class DecayTables(NamedTuple):
    """:func:`decay_tables`: ``P``, ``G``, ``cap``, the conversion slot ``conv``, the
    current-based tables ``A``, ``GA``, ``H``, ``J``, and the prefix sums ``SP[l, m] =
    sum_{n=1..m} P[l, n]`` (``SG``, ``SH``, ``SJ`` likewise; float64) that a readout's mean
    over idle steps reads; ``A2``, ``H2`` of a second current; ``R`` of an adaptive
    threshold."""

    P: np.ndarray
    G: np.ndarray
    cap: np.ndarray
    conv: np.ndarray
    A: np.ndarray
    GA: np.ndarray
    H: np.ndarray
    J: np.ndarray
    SP: np.ndarray
    SG: np.ndarray
    SH: np.ndarray
    SJ: np.ndarray
    A2: np.ndarray
    H2: np.ndarray
    R: np.ndarray
