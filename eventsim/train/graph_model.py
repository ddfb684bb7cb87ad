"""STBP on a graph: forward step by step through the populations in their order, backward
through time, through every projection, its delays and the cycles (the rule of
:mod:`eventsim.network.graph`; the chain trainer is :mod:`eventsim.train.model`).

Forward, for ``t = 0 .. T-1`` and each population ``p`` in order::

    I_p[t] = sum_{k into p} F_k(s_k[t]),      s_k[t] = o_source(k)[t - e_k]  (0 before step 0)
    u_p[t] = k_p (u_p[t-1] (1 - o_p[t-1]) + v_reset o_p[t-1]) + I_p[t]     reset "zero"
    u_p[t] = k_p (u_p[t-1] - th_p[t-1] o_p[t-1]) + I_p[t]                  reset "subtract"
    o_p[t] = spike(u_p[t] - th_p[t])

with ``th_p[t] = v_th``, or ``v_th + b_p[t]`` with an adaptive threshold, ``b_p[t] = rho (b_p[t-1]
+ J o_p[t-1])`` (``b_p[-1] = 0``; its gradient ``g_b[t] = -g_o[t] h + rho g_b[t+1]`` (``- k o[t]
g_u[t+1]`` subtracting), and ``g_o[t]`` takes ``rho J g_b[t+1]``),

from ``u_p[-1] = v_init`` (else ``v_leak``, 0 unless given), ``I_p`` including the leak drive
``(1 - k_p) v_leak``. A current-based population (``syn_decay = a > 0``) filters its input
first, ``i_p[t] = a i_p[t-1] + I_p[t]`` (``i_p[-1] = 0``; its leak drive then goes to ``u``,
not ``i``), and ``u_p[t]`` takes ``i_p[t] + (1 - k_p) v_leak`` where the line above has
``I_p[t]``. A leaky integrator (``v_th = inf``) never fires (``o_p = 0``); as the output
its potential is what :func:`forward` returns and the loss reads. A refractory population
holds ``u_p[t]`` at its reset value (no spike, no input) for ``refractory_steps`` steps after
a spike (:mod:`eventsim.network.layers` for every model). ``F_k`` applies projection ``k``'s ops in order, each op's bias added after it, so a bias
drives from step 0 whatever the delay; ``e_k`` is its delay in steps (one more where it
closes a cycle). A delay per source neuron delays each source neuron's spikes by its own
``e_j``; a delay per synapse (a projection of one ``Dense``) splits ``W`` into one masked
``W * [D == d]`` per delay value ``d``, each fed ``o[t - d]`` (a *part*; the bias goes with
the first). Projections from the input run on all steps at once; the others step by step.

Backward, for ``t = T-1 .. 0`` and populations in reverse order (so a target of the same
step has passed its gradient back before its source comes)::

    g_o_p[t] = dL/do_p[t] + sum_{k from p} (dF_k/ds)^T g_u_target(k)[t + e_k]
    g_u_p[t] = (g_o_p[t] + k (v_reset - u_p[t]) g_u_p[t+1]) spike'(u_p[t] - v_th)
               + k (1 - o_p[t]) g_u_p[t+1]
                                                                                  (zero reset;
               subtract: (g_o_p[t] - k v_th g_u_p[t+1]) spike' + k g_u_p[t+1])

as :func:`eventsim.train.lif.lif_backward` steps it (a leaky integrator: ``g_u_p[t] = dL/du_p[t]
+ k g_u_p[t+1]``); a current-based population passes ``g_i_p[t] = g_u_p[t] + a g_i_p[t+1]``
on as ``dL/dI``. In a refractory population a held step ``t`` has ``u[t] = u[t-1]'`` (the
reset value: factor 1 where ``k`` stood, no spike, no input: ``dL/dI[t] = 0``). Then each projection's weight and bias gradients over all steps at once,
from ``dL/dI`` of its target and its delayed source signal. NeuNorm, integer populations and a second current are not trained on graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eventsim.errors import InputError, NetworkError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, projection_name
from eventsim.network.layers import NeuNorm
from eventsim.train.projections import (
    conv2d_backward,
    conv2d_forward,
    conv2d_input_grad,
    dense_backward,
    dense_forward,
    pool2d_backward,
    pool2d_forward,
)
from eventsim.train.surrogates import SpikeFn, SpikeFunction


@dataclass(frozen=True)
class Part:
    """What one projection delivers with one delay: ``delay`` in steps (a number, or one per
    source neuron, shape (n_source,)); ``mask`` selects the synapses of a per-synapse delay
    (shape of the Dense weight; None for all); ``bias``: whether this part adds the biases."""

    delay: int | np.ndarray
    mask: np.ndarray | None
    bias: bool


@dataclass
class GraphCache:
    """What :func:`backward` needs of :func:`forward`: the input, and ``u``, ``o`` of every
    population, shape (T, B, n_p), in the computation dtype; the ops' arrays in that dtype."""

    dtype: np.dtype
    x: np.ndarray
    readout: bool = False  # the output is a leaky integrator: forward returned its u
    u: list[np.ndarray] = field(default_factory=list)
    free: list = field(default_factory=list)  # not held (refractory populations), else None
    adapt: list = field(default_factory=list)  # b of an adaptive threshold, (T, B, n), else None
    o: list[np.ndarray] = field(default_factory=list)
    weights: list[list] = field(default_factory=list)
    biases: list[list] = field(default_factory=list)


def parts(g: Graph, k: int) -> list[Part]:
    """Projection ``k``'s parts (module docstring)."""
    delay = g.step_delays(k)
    if delay.ndim < 2:
        return [Part(int(delay) if delay.ndim == 0 else delay, None, True)]
    proj = g.projections[k]
    if sum(not isinstance(op, ops.Flatten) for op in proj.ops) != 1 or \
            not isinstance(proj.ops[-1], ops.Dense):
        raise NetworkError(f"train: {projection_name(k, proj)}: per-synapse delays train for a "
                           "projection of one Dense op")
    values = np.unique(delay)
    return [Part(int(d), delay == d, i == 0) for i, d in enumerate(values)]


def check_trainable(g: Graph) -> None:
    """InputError for an integer population, NetworkError for NeuNorm or a per-synapse delay
    the graph trainer cannot train, each naming the population or projection."""
    for pop in g.populations:
        if pop.integer:
            raise InputError(f"train: population '{pop.name}' is an integer (quantized) "
                             "population; train the float graph, then quantize it")
        if pop.syn_decay_2:
            raise NetworkError(f"train: population '{pop.name}': field 'syn_decay_2' is "
                               f"{pop.syn_decay_2}; a second synaptic current is not trained "
                               "(for now: it runs, validates and saves)")
    for k, proj in enumerate(g.projections):
        if any(isinstance(op, NeuNorm) for op in proj.ops):
            raise NetworkError(f"train: {projection_name(k, proj)}: NeuNorm is trained in "
                               "chain networks only")
        parts(g, k)


def forward(g: Graph, x: np.ndarray, spike_fn: SpikeFn | None = None,
            dtype: np.dtype | str = "float32") -> tuple[GraphCache, np.ndarray]:
    """Run graph ``g`` on a batch over ``T`` steps.

    Parameters
    ----------
    g : Graph
    x : ndarray, shape (T, B, *g.input_shape) (or (T, B, n_inputs))
        Input spikes (0/1) or input currents of each step.
    spike_fn : SpikeFn, optional
        Default: the Heaviside step.
    dtype : numpy dtype
        Computation dtype (float64 agrees spike for spike with the runtime).

    Returns
    -------
    cache : GraphCache
    out : ndarray, shape (T, B, n_out)
        The output population's spikes; its potential ``u`` where it is a leaky integrator
        (``v_th = inf``, a readout).
    """
    spike_fn = SpikeFunction() if spike_fn is None else spike_fn
    dtype = np.dtype(dtype)
    x = np.asarray(x)
    if x.ndim < 3 or int(np.prod(x.shape[2:])) != g.n_inputs:
        raise InputError(f"input: expected shape (T, B, *{g.input_shape}) (or (T, B, "
                         f"{g.n_inputs})), got {x.shape}")
    T, B = x.shape[:2]
    x = x.reshape(T, B, g.n_inputs).astype(dtype, copy=False)
    cache = GraphCache(dtype, x)
    for proj in g.projections:
        cache.weights.append([np.asarray(op.weight, dtype) if isinstance(
            op, (ops.Dense, ops.Conv2d)) else None for op in proj.ops])
        cache.biases.append([None if getattr(op, "bias", None) is None else
                             np.asarray(op.bias, dtype) for op in proj.ops])
    sizes = [p.size for p in g.populations]
    cache.u = [np.zeros((T, B, n), dtype) for n in sizes]
    cache.free = [np.ones((T, B, n), dtype) if p.refractory_steps else None
                  for n, p in zip(sizes, g.populations)]
    held = [np.zeros((B, n), np.int64) for n in sizes]  # refractory steps still to go
    cache.adapt = [np.zeros((T, B, n), dtype) if p.adaptive else None
                   for n, p in zip(sizes, g.populations)]
    cache.o = [np.zeros((T, B, n), dtype) for n in sizes]
    drive = [np.zeros((T, B, n), dtype) for n in sizes]  # from the input, all steps at once
    inner = [[] for _ in sizes]                            # (k, part) from populations
    for k, proj in enumerate(g.projections):
        p = g.index(proj.target)
        for part in parts(g, k):
            if proj.source == INPUT:
                s = _delayed(x, part.delay)
                drive[p] += _apply(g, k, cache, part, s.reshape(T * B, *g.input_shape)
                                   ).reshape(T, B, -1)
            else:
                inner[p].append((k, part))
    decay = [dtype.type(p.decay) for p in g.populations]
    v_th = [dtype.type(p.v_th) for p in g.populations]
    syn = [dtype.type(p.syn_decay) for p in g.populations]
    leak = [dtype.type(p.leak_drive()) for p in g.populations]
    fires = [not p.is_readout for p in g.populations]
    u_leak = [leak[p] if pop.syn_decay > 0 else dtype.type(0)  # a current-based one's leak
              for p, pop in enumerate(g.populations)]
    currents = [np.zeros((B, n), dtype) for n in sizes]
    for p, pop in enumerate(g.populations):  # the leak towards v_leak: a constant drive
        if pop.v_leak != 0.0 and pop.syn_decay == 0:  # (a current-based one's goes to u)
            drive[p] += leak[p]
    for t in range(T):
        for p, pop in enumerate(g.populations):
            current = drive[p][t].copy()
            for k, part in inner[p]:
                q = g.index(g.projections[k].source)
                s = _delayed_step(cache.o[q], t, part.delay)
                current += _apply(g, k, cache, part, s.reshape(B, *g.source_shape(k))
                                  ).reshape(B, -1)
            u_prev = cache.u[p][t - 1] if t else np.broadcast_to(
                pop.start().astype(dtype), current.shape)  # v_init, else v_leak
            o_prev = cache.o[p][t - 1] if t else np.zeros_like(current)
            th_prev = v_th[p]  # the threshold o_prev fired at (a subtract reset lowers u by it)
            if pop.adaptive:
                b_prev = cache.adapt[p][t - 1] if t else np.zeros_like(current)
                th_prev = v_th[p] + b_prev
                cache.adapt[p][t] = dtype.type(pop.adapt_decay) * (
                    b_prev + dtype.type(pop.adapt_jump) * o_prev)
            if pop.syn_decay > 0:  # the current decays, then takes the input
                currents[p] = syn[p] * currents[p] + current
                current = currents[p]
            if not fires[p]:  # a leaky integrator: nothing to reset
                u_t = decay[p] * u_prev
            elif pop.reset == "zero":
                u_t = decay[p] * (u_prev * (1 - o_prev) + dtype.type(pop.v_reset) * o_prev)
            else:
                u_t = decay[p] * (u_prev - th_prev * o_prev)
            u_t = u_t + u_leak[p] + current
            if pop.refractory_steps:  # held: the membrane keeps its reset value, no spike
                free = held[p] == 0
                kept = u_prev if not fires[p] else \
                    u_prev * (1 - o_prev) + dtype.type(pop.v_reset) * o_prev \
                    if pop.reset == "zero" else u_prev - th_prev * o_prev
                u_t = np.where(free, u_t, kept)
                cache.free[p][t] = free
                held[p] = np.maximum(held[p] - 1, 0)
            cache.u[p][t] = u_t
            if fires[p]:
                th = v_th[p] + cache.adapt[p][t] if pop.adaptive else v_th[p]
                cache.o[p][t] = spike_fn.forward(u_t - th)
                if pop.refractory_steps:
                    cache.o[p][t] *= cache.free[p][t]
                    held[p][cache.o[p][t] > 0] = pop.refractory_steps
    cache.readout = not fires[-1]
    return cache, cache.u[-1] if cache.readout else cache.o[-1]


def backward(g: Graph, cache: GraphCache, grad_out: np.ndarray,
             spike_fn: SpikeFn | None = None) -> list[dict[str, np.ndarray | None]]:
    """STBP backward pass on a graph: ``{"weight": dW, "bias": db}`` for every Dense and
    Conv2d op, in :func:`trainable` order (``db`` None without bias), computation dtype.

    ``grad_out``: ``dL/d out``, shape (T, B, n_out): of the output's spikes, or of its
    potential where it is a leaky integrator.
    """
    spike_fn = SpikeFunction() if spike_fn is None else spike_fn
    dtype = cache.dtype
    T, B = cache.x.shape[:2]
    grad_o = [np.zeros_like(o) for o in cache.o]
    direct = np.asarray(grad_out, dtype).reshape(grad_o[-1].shape)
    if not cache.readout:
        grad_o[-1] += direct
    grad_u = [np.zeros_like(o) for o in cache.o]
    grad_b = [None if b is None else np.zeros_like(b) for b in cache.adapt]  # dL/db
    grad_in = [np.zeros_like(grad_u[p]) if pop.syn_decay > 0 or pop.refractory_steps
               else grad_u[p] for p, pop in enumerate(g.populations)]  # dL/dI
    all_parts = [parts(g, k) for k in range(len(g.projections))]
    shapes_in = [_shapes_in(g, k) for k in range(len(g.projections))]
    into = [[(k, part) for k in g.into(p) for part in all_parts[k]
             if g.projections[k].source != INPUT] for p in range(len(g.populations))]
    for t in range(T - 1, -1, -1):
        for p in range(len(g.populations) - 1, -1, -1):
            pop = g.populations[p]
            k_p, v_th = dtype.type(pop.decay), dtype.type(pop.v_th)
            g_next = grad_u[p][t + 1] if t + 1 < T else np.zeros_like(grad_u[p][0])
            free = cache.free[p]
            if free is not None and t + 1 < T:  # a held step t+1 keeps u[t] (factor 1, not k)
                k_p = np.where(free[t + 1] > 0, k_p, dtype.type(1))
            adaptive = grad_b[p] is not None
            if adaptive:  # the threshold v_th + b[t]; b[t+1] = rho (b[t] + jump o[t])
                v_th = v_th + cache.adapt[p][t]
                rho = dtype.type(pop.adapt_decay)
                gb_next = grad_b[p][t + 1] if t + 1 < T else np.zeros_like(g_next)
            if pop.is_readout:  # never fires: u[t+1] = k u[t] + ...
                g_u = k_p * g_next + (direct[t] if p == len(g.populations) - 1 else 0)
            elif pop.reset == "zero":  # d u'/d o = v_reset - u
                h = spike_fn.grad(cache.u[p][t] - v_th)
                g_o = grad_o[p][t] + k_p * (dtype.type(pop.v_reset) - cache.u[p][t]) * g_next
                g_u = g_o * h + k_p * (1 - cache.o[p][t]) * g_next
            else:
                h = spike_fn.grad(cache.u[p][t] - v_th)
                g_o = grad_o[p][t] - (k_p * v_th) * g_next
                g_u = g_o * h + k_p * g_next
            if adaptive:  # o[t] raises b[t+1]; b[t] lowers o[t] (and u[t+1], subtracting)
                g_o_b = rho * dtype.type(pop.adapt_jump) * gb_next
                g_u = g_u + g_o_b * h
                g_o = g_o + g_o_b
                h_free = h if free is None else h * free[t]
                grad_b[p][t] = -g_o * h_free + rho * gb_next - (
                    k_p * cache.o[p][t] * g_next if pop.reset == "subtract" else 0)
            if free is not None:  # held at t: no spike (h = 0 there), no input into u
                if not pop.is_readout:
                    g_u = g_u - (1 - free[t]) * g_o * h
                grad_u[p][t] = g_u
                g_u = g_u * free[t]
            else:
                grad_u[p][t] = g_u
            if pop.syn_decay > 0:  # through the current's filter
                g_u = g_u + dtype.type(pop.syn_decay) * grad_in[p][t + 1] if t + 1 < T else g_u
                grad_in[p][t] = g_u
            elif free is not None:
                grad_in[p][t] = g_u
            for k, part in into[p]:
                q = g.index(g.projections[k].source)
                g_s = _input_grad(g, k, cache, part, g_u, shapes_in[k]).reshape(B, -1)
                _add_delayed(grad_o[q], t, part.delay, g_s)
    grads = []
    for k, proj in enumerate(g.projections):
        p = g.index(proj.target)
        source = cache.x if proj.source == INPUT else cache.o[g.index(proj.source)]
        per_op = [None] * len(proj.ops)
        for part in all_parts[k]:
            s = _delayed(source, part.delay).reshape(T * B, *g.source_shape(k))
            found = _op_grads(g, k, cache, part, s, grad_in[p].reshape(T * B, -1))
            for j, (gw, gb) in enumerate(found):
                if gw is None:
                    continue
                if per_op[j] is None:
                    per_op[j] = [np.zeros_like(gw), None]
                per_op[j][0] += gw if part.mask is None else gw * part.mask
                if gb is not None:
                    per_op[j][1] = gb if per_op[j][1] is None else per_op[j][1] + gb
        for j, op in enumerate(proj.ops):
            if isinstance(op, (ops.Dense, ops.Conv2d)):
                gw, gb = per_op[j]
                grads.append({"weight": gw, "bias": gb if op.bias is not None else None})
    return grads


def trainable(g: Graph) -> list[tuple[str, np.ndarray]]:
    """``(name, array)`` of every trained parameter in a fixed order (``"2.0.weight"``:
    projection 2, op 0)."""
    params = []
    for k, proj in enumerate(g.projections):
        for j, op in enumerate(proj.ops):
            if isinstance(op, (ops.Dense, ops.Conv2d)):
                params.append((f"{k}.{j}.weight", op.weight))
                if op.bias is not None:
                    params.append((f"{k}.{j}.bias", op.bias))
    return params


# --- delays ----------------------------------------------------------------------------------


def _delayed(s: np.ndarray, delay) -> np.ndarray:
    """``s`` (T, B, n) delayed: ``out[t] = s[t - d]`` (0 before step 0), ``d`` one number or
    one per neuron (n,)."""
    out = np.zeros_like(s)
    T = len(s)
    for d in np.unique(delay):
        cols = slice(None) if np.ndim(delay) == 0 else np.asarray(delay) == d
        if d < T:
            out[d:, :, cols] = s[:T - d, :, cols]
    return out


def _delayed_step(s: np.ndarray, t: int, delay) -> np.ndarray:
    """Row ``t`` of :func:`_delayed` of ``s`` (T, B, n): shape (B, n)."""
    if np.ndim(delay) == 0:
        return s[t - delay] if t >= delay else np.zeros_like(s[0])
    out = np.zeros_like(s[0])
    steps = t - np.asarray(delay)
    cols = np.flatnonzero(steps >= 0)
    out[:, cols] = s[steps[cols], :, cols].T
    return out


def _add_delayed(grad: np.ndarray, t: int, delay, g_s: np.ndarray) -> None:
    """The transpose of :func:`_delayed_step`: ``g_s`` (B, n) of step ``t`` added to ``grad``
    (T, B, n) at the steps the signal came from."""
    if np.ndim(delay) == 0:
        if t >= delay:
            grad[t - delay] += g_s
        return
    steps = t - np.asarray(delay)
    cols = np.flatnonzero(steps >= 0)
    grad[steps[cols], :, cols] += g_s[:, cols].T


# --- ops ---------------------------------------------------------------------------------------


def _weight(cache: GraphCache, k: int, j: int, part: Part):
    w = cache.weights[k][j]
    return w if part.mask is None or w is None else w * part.mask


def _apply(g: Graph, k: int, cache: GraphCache, part: Part, s: np.ndarray,
           keep: list | None = None) -> np.ndarray:
    """``F_k`` of one part on ``s`` (N, *source_shape); ``keep`` collects each op's input."""
    for j, op in enumerate(g.projections[k].ops):
        if keep is not None:
            keep.append(s)
        w, b = _weight(cache, k, j, part), cache.biases[k][j] if part.bias else None
        if isinstance(op, ops.Dense):
            s = dense_forward(s, w)
        elif isinstance(op, ops.Conv2d):
            s = conv2d_forward(s, w, op.stride, op.padding)
        elif isinstance(op, ops._Pool):
            s = pool2d_forward(s, op.kernel_size, op.stride, op.pool_weight)
        else:
            s = s.reshape(len(s), -1)
        if b is not None:
            s = s + (b.reshape(-1, 1, 1) if isinstance(op, ops.Conv2d) else b)
    return s


def _shapes_in(g: Graph, k: int) -> list[tuple[int, ...]]:
    shape, out = g.source_shape(k), []
    for op in g.projections[k].ops:
        out.append(shape)
        shape = op.output_shape(shape, "")
    return out


def _input_grad(g: Graph, k: int, cache: GraphCache, part: Part, grad: np.ndarray,
                shapes: list[tuple[int, ...]]) -> np.ndarray:
    """``(dF_k/ds)^T grad`` for ``grad`` of shape (N, n_target); ``shapes``: each op's input
    shape (:func:`_shapes_in`)."""
    proj_ops = g.projections[k].ops
    for j in range(len(proj_ops) - 1, -1, -1):
        op, shape, w = proj_ops[j], shapes[j], _weight(cache, k, j, part)
        n = len(grad)
        if isinstance(op, ops.Dense):
            grad = (grad.reshape(n, -1) @ w).reshape(n, *shape)
        elif isinstance(op, ops.Conv2d):
            grad = conv2d_input_grad(grad.reshape(n, *op.output_shape(shape, "")), shape, w,
                                     op.stride, op.padding)
        elif isinstance(op, ops._Pool):
            out_shape = op.output_shape(shape, "")
            grad = pool2d_backward(grad.reshape(n, *out_shape), (n, *shape), op.kernel_size,
                                   op.stride, op.pool_weight)
        else:
            grad = grad.reshape(n, *shape)
    return grad


def _op_grads(g: Graph, k: int, cache: GraphCache, part: Part, s: np.ndarray,
              grad: np.ndarray) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """Weight and bias gradients of every op of one part, over all steps: ``s`` its source
    signal (N, *source_shape), ``grad`` = dL/dI of its target (N, n_target)."""
    inputs: list = []
    _apply(g, k, cache, part, s, inputs)
    proj_ops = g.projections[k].ops
    out = [(None, None)] * len(proj_ops)
    for j in range(len(proj_ops) - 1, -1, -1):
        op, x, w = proj_ops[j], inputs[j], _weight(cache, k, j, part)
        n, need_x = len(x), j > 0
        out_shape = op.output_shape(x.shape[1:], "")
        grad = grad.reshape(n, *out_shape)
        gb = None
        if part.bias and cache.biases[k][j] is not None:
            gb = grad.sum(axis=(0, 2, 3)) if isinstance(op, ops.Conv2d) else grad.sum(axis=0)
        if isinstance(op, ops.Dense):
            grad, gw = dense_backward(grad, x, w, need_x)
        elif isinstance(op, ops.Conv2d):
            grad, gw = conv2d_backward(grad, x, w, op.stride, op.padding, need_x)
        elif isinstance(op, ops._Pool):
            gw = None
            grad = pool2d_backward(grad, x.shape, op.kernel_size, op.stride,
                                   op.pool_weight) if need_x else None
        else:
            gw, grad = None, grad.reshape(x.shape)
        out[j] = (gw, gb)
    return out
