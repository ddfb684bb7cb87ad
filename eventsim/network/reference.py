"""The plain dense implementation of the STBP recurrence: the engine's slow numpy twin.

Every op is written out as an explicit dense matrix ``M[out, in]`` (conv and pooling by
looping over the kernel: obviously right, slow), a projection is the product of its ops'
matrices, and every neuron of every population is updated every step, populations in their
order (the graph semantics of :mod:`eventsim.network.graph`)::

    I = sum over projections k into the population of M_k @ o_source[t - d_k] + c_k
    i = syn_decay * i + I                                 (i = I with delta synapses)
    u = decay * (u * (1 - o) + v_reset * o) + leak + i    (zero reset)
    u = decay * (u - v_th * o) + leak + i                 (subtract reset)
    o = u >= v_th

(with a second current, ``I2`` the sum over the projections of port 1 and ``I`` over the
others: ``i2 = syn_decay_2 * i2 + I2`` and ``u = ... + leak + i + i2``; with an adaptive
threshold, ``o = u >= v_th + b`` where ``b = adapt_decay * (b + adapt_jump * o)`` is updated
before ``o``, and a subtract reset lowers ``u`` by the ``v_th + b`` it fired at)

and a neuron in its refractory period (``r`` steps after a spike) keeps ``u`` at its reset
value (``u = kept``) and ``o = 0`` while its currents run on; starting from ``u = v_init``
(else ``v_leak``, 0 unless given) and ``i = 0``, with the leak drive ``leak =
(1 - decay) * v_leak`` (added to ``c_k`` with delta synapses), and with delays per synapse handled by splitting ``M_k`` by delay. A NeuNorm op turns the spikes
``o`` of its source into ``o - alpha * x`` (its auxiliary neurons ``x`` stepped densely),
which the rest of the projection receives.

Used by the tests (spike-for-spike equality, equal SOPs) and as the dense baseline of the
benchmarks. SOPs here are counted from the spikes: each spike of source neuron ``j`` arriving
adds the number of paths from ``j`` through the ops' units with all weights nonzero (for one
op: the nonzero entries in column ``j`` of ``M``); MACs likewise from the nonzero analog
values.
"""

from __future__ import annotations

import numpy as np

from eventsim.limits import check_memory
from eventsim.network import ops
from eventsim.network.graph import Graph, as_graph
from eventsim.network.layers import NeuNorm, has_neurons
from eventsim.network.network import Network
from eventsim.network.ops import Flatten


def op_dense_matrix(op, in_shape: tuple[int, ...]) -> np.ndarray:
    """The op ``op`` (:mod:`eventsim.network.ops`) on an input of shape ``in_shape`` as a dense
    matrix, shape (n_out, n_in), float64, written out by looping over the kernel."""
    n_in = int(np.prod(in_shape))
    if isinstance(op, (Flatten, NeuNorm)):
        return np.eye(n_in)
    if isinstance(op, ops.Dense):
        return op.weight.astype(np.float64)
    c_out, h_out, w_out = op.output_shape(in_shape, "")
    c_in, h_in, w_in = in_shape
    M = np.zeros((c_out * h_out * w_out, n_in))
    if isinstance(op, ops.Conv2d):
        _, _, kh, kw = op.weight.shape
        s, p = op.stride, op.padding
        for co in range(c_out):
            for yo in range(h_out):
                for xo in range(w_out):
                    out = (co * h_out + yo) * w_out + xo
                    for ci in range(c_in):
                        for ky in range(kh):
                            for kx in range(kw):
                                yi, xi = yo * s - p + ky, xo * s - p + kx
                                if 0 <= yi < h_in and 0 <= xi < w_in:
                                    M[out, (ci * h_in + yi) * w_in + xi] = op.weight[co, ci, ky, kx]
    else:  # pooling
        k, s = op.kernel_size, op.stride
        for c in range(c_out):
            for yo in range(h_out):
                for xo in range(w_out):
                    out = (c * h_out + yo) * w_out + xo
                    for ky in range(k):
                        for kx in range(k):
                            M[out, (c * h_in + yo * s + ky) * w_in + xo * s + kx] = op.pool_weight
    return M


def dense_matrix(net: Network, index: int) -> np.ndarray:
    """The projection of chain layer ``index`` as a dense matrix, shape (n_out, n_in),
    float64."""
    layer = net.layers[index]
    if not has_neurons(layer):
        raise TypeError(f"layer {index} has no projection")
    return op_dense_matrix(layer, net.input_shape_of(index))


def dense_bias(net: Network, index: int) -> np.ndarray:
    """Bias of every neuron of chain layer ``index``, shape (n_out,) (zeros without bias)."""
    layer = net.layers[index]
    n = int(np.prod(net.shapes[index]))
    if getattr(layer, "bias", None) is None:
        return np.zeros(n)
    if isinstance(layer, ops.Conv2d):
        return np.repeat(layer.bias, n // len(layer.bias))
    return np.asarray(layer.bias, np.float64)


def dense_projection(g: Graph, k: int):
    """Projection ``k`` of ``g`` written out densely: the composed matrix ``M`` (n_target,
    n_source), the path counts ``C`` (same shape: paths through the ops' units whose weights
    are all nonzero), the composed bias ``c`` (n_target,), all float64 but ``C`` (int64), and
    the delay in steps of every synapse ``D`` (int64, shape of ``M``)."""
    shape = g.source_shape(k)
    n_src = int(np.prod(shape))
    M, C, c = np.eye(n_src), np.eye(n_src, dtype=np.int64), np.zeros(n_src)
    for op in g.projections[k].ops:
        m = op_dense_matrix(op, shape)
        shape = op.output_shape(shape, "")
        b = np.zeros(m.shape[0]) if getattr(op, "bias", None) is None else np.repeat(
            np.asarray(op.bias, np.float64), m.shape[0] // len(op.bias))
        M, C, c = m @ M, (m != 0).astype(np.int64) @ C, m @ c + b
    D = np.broadcast_to(g.step_delays(k), M.shape).astype(np.int64)
    return M, C, c, D


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


def simulate_dense(net: Network | Graph, spikes: np.ndarray, dtype="float64",
                   analog: bool = False, with_macs: bool = False,
                   probe: tuple[int, int] | None = None, per_projection: bool = False,
                   potentials: bool = False):
    """Run the recurrence densely on a batch, every population every step, in their order.

    Parameters
    ----------
    net : Network or Graph
    spikes : ndarray, shape (T, n_inputs) or (T, batch, n_inputs)
        0/1 input spikes; with ``analog``, the input current of every step.
    with_macs : bool
        Also return the MACs of analog inputs (input currents, NeuNorm's share) per
        population, counted every step.
    probe : (population, neuron), optional
        Also return that neuron's potential at every step after its input, before the
        threshold test and reset, shape (T,) (or (T, batch)).
    per_projection : bool
        SOPs per projection (shape (n_projections,)) rather than per population.
    potentials : bool
        Also return every population's potential at every step after its input, before the
        threshold test and reset: a list of arrays of shape (T, n_neurons) (or (T, batch,
        n_neurons)), float64 (a leaky integrator's readout is its maximum or mean over T).

    Returns
    -------
    outputs : list of ndarray
        Spikes of each population, bool, shape (T, n_neurons) (or (T, batch, n_neurons)).
    sops : ndarray, shape (n_pop,) (or (batch, n_pop)); per projection with
        ``per_projection``. A spike counts when it arrives (at a step < T).
    macs : ndarray, like ``sops`` per population; only with ``with_macs``.
    trace : ndarray; only with ``probe``.
    potentials : list of ndarray; only with ``potentials``.
    """
    g = as_graph(net)
    dtype = np.dtype(dtype)
    spikes = np.asarray(spikes)
    steps = spikes.shape[0] * (spikes.shape[1] if spikes.ndim == 3 else 1)
    sizes = [p.size for p in g.populations]
    n_src = [int(np.prod(g.source_shape(k))) for k in range(len(g.projections))]
    check_memory(steps * (g.n_inputs + sum(sizes)) * (3 * dtype.itemsize + 1)
                 + 24 * sum(sizes[g.index(p.target)] * n for p, n in zip(g.projections, n_src)),
                 f"the dense twin: {steps} steps x samples of {sum(sizes)} neurons, and the "
                 "projections as dense matrices")
    x = spikes.astype(dtype)
    single = x.ndim == 2
    if single:
        x = x[:, None, :]
    T, batch, _ = x.shape
    n_pop, n_proj = len(sizes), len(g.projections)
    dense = [dense_projection(g, k) for k in range(n_proj)]
    # what each projection delivers, split by delay: (delay, M_d^T in dtype, paths per
    # source, nonzero weights per source)
    parts = []
    for M, C, _, D in dense:
        split = [(int(d), np.where(D == d, M, 0.0).T.astype(dtype),
                  np.where(D == d, C, 0).sum(axis=0)) for d in np.unique(D)]
        parts.append([(d, Mt, paths, np.count_nonzero(Mt, axis=1)) for d, Mt, paths in split])
    bias = [np.zeros(n) for n in sizes]  # the projections' biases, the leak drive apart
    for k, proj in enumerate(g.projections):
        bias[g.index(proj.target)] += dense[k][2]
    leak = [pop.leak_drive() for pop in g.populations]  # towards v_leak
    drive = [(b + c if pop.syn_decay == 0 else b).astype(dtype)  # the current's constant
             for b, c, pop in zip(bias, leak, g.populations)]
    leak = [dtype.type(c if pop.syn_decay > 0 else 0.0) for c, pop in zip(leak, g.populations)]
    thresholds = [pop.neuron_thresholds().astype(dtype) for pop in g.populations]
    spiking_in = np.zeros_like(x) if analog else x  # the spikes among what x carries
    out = [np.zeros((T, batch, n), bool) for n in sizes]
    u = [np.tile(pop.start().astype(dtype), (batch, 1)) for pop in g.populations]
    i_syn = [np.zeros((batch, n), dtype) for n in sizes]
    i_syn2 = [np.zeros((batch, n), dtype) for n in sizes]
    adapt = [np.zeros((batch, n), dtype) for n in sizes]  # b of an adaptive threshold
    held = [np.zeros((batch, n), np.int64) for n in sizes]  # refractory steps still to go
    o = [np.zeros((batch, n), dtype) for n in sizes]
    nn_x = [np.zeros((batch, *proj.ops[0].alpha.shape[1:]), dtype)
            if isinstance(proj.ops[0], NeuNorm) else None for proj in g.projections]
    sops = np.zeros((batch, n_proj), np.int64)
    macs = np.zeros((batch, n_pop), np.int64)
    trace = np.zeros((T, batch)) if probe is not None else None
    pots = [np.zeros((T, batch, n)) for n in sizes] if potentials else None

    def signal(k, t):
        """What the source of projection ``k`` sent at step ``t``: (values, its spikes)."""
        src = g.index(g.projections[k].source)
        if t < 0:
            zero = np.zeros((batch, n_src[k]), dtype)
            return zero, zero
        if src < 0:
            return x[t], spiking_in[t]
        s = out[src][t].astype(dtype)
        return s, s

    for t in range(T):
        for p, pop in enumerate(g.populations):
            current = np.zeros((batch, sizes[p]), dtype)
            current2 = np.zeros((batch, sizes[p]), dtype)  # into the second current
            for k in g.into(p):
                norm = g.projections[k].ops[0]
                for d, Mt, paths, fan_out in parts[k]:
                    values, spiking = signal(k, t - d)
                    if isinstance(norm, NeuNorm):  # the auxiliary neurons step with the spikes
                        c, h, w = norm.alpha.shape
                        kk, coef = dtype.type(norm.decay), dtype.type(norm.coef(c))
                        nn_x[k] = kk * nn_x[k] + coef * spiking.reshape(batch, c, h, w).sum(1)
                        values = (spiking.reshape(batch, c, h, w)
                                  - norm.alpha.astype(dtype) * nn_x[k][:, None]).reshape(batch, -1)
                    if g.projections[k].port:
                        current2 += values @ Mt
                    else:
                        current += values @ Mt
                    sops[:, k] += spiking.astype(bool) @ paths
                    macs[:, p] += (values != spiking) @ fan_out
            v_th, b = thresholds[p], drive[p]
            if pop.reset == "zero":
                kept = u[p] * (1 - o[p]) + dtype.type(pop.v_reset) * o[p]
            elif np.isinf(v_th).any():  # a leaky integrator never fires: nothing to subtract
                kept = u[p]
            else:
                kept = u[p] - (v_th + adapt[p]) * o[p]  # (b = 0 without adaptation)
            if pop.adaptive:  # the last step's spikes raise it; it decays
                adapt[p] = dtype.type(pop.adapt_decay) * (adapt[p]
                                                          + dtype.type(pop.adapt_jump) * o[p])
            if pop.syn_decay > 0 and pop.integer:  # whole numbers, both decays truncated
                i_syn[p] = np.trunc(i_syn[p] * pop.syn_decay_num / 4096.0) + (current + b)
                u[p] = np.trunc(kept * pop.decay_num / 4096.0) + i_syn[p]
            elif pop.syn_decay > 0:  # current-based: the current decays, takes the input,
                i_syn[p] = dtype.type(pop.syn_decay) * i_syn[p] + (current + b)  # feeds u
                u[p] = dtype.type(pop.decay) * kept + leak[p] + i_syn[p]
                if pop.syn_decay_2 > 0:  # and the second current
                    i_syn2[p] = dtype.type(pop.syn_decay_2) * i_syn2[p] + current2
                    u[p] = u[p] + i_syn2[p]
            elif pop.integer:  # whole numbers, decay D / 4096 truncated towards zero
                u[p] = np.trunc(kept * pop.decay_num / 4096.0) + current + b
            else:
                u[p] = dtype.type(pop.decay) * kept + current + b
            if pop.refractory_steps:  # held: the membrane keeps its reset value
                waiting = held[p] > 0
                u[p] = np.where(waiting, kept, u[p])
                held[p] = np.maximum(held[p] - 1, 0)
            if probe is not None and probe[0] == p:
                trace[t] = u[p][:, probe[1]]
            if pots is not None:
                pots[p][t] = u[p]
            o[p] = (u[p] >= v_th + adapt[p]).astype(dtype)
            if pop.refractory_steps:
                o[p][waiting] = 0
                held[p][o[p] > 0] = pop.refractory_steps
            out[p][t] = o[p]
    outputs = [a[:, 0] if single else a for a in out]
    if not per_projection:
        by_pop = np.zeros((batch, n_pop), np.int64)
        for k, proj in enumerate(g.projections):
            by_pop[:, g.index(proj.target)] += sops[:, k]
        sops = by_pop
    if single:
        sops, macs = sops[0], macs[0]
    extra = ((macs,) if with_macs else ()) + ((trace[:, 0] if single else trace,)
                                              if probe is not None else ())
    if pots is not None:
        extra += ([a[:, 0] if single else a for a in pots],)
    return (outputs, sops, *extra)
