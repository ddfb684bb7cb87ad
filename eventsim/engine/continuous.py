"""Continuous-time mode: real-valued spike times from the events' timestamps.

Between arrivals a neuron of population ``p`` follows ``du/dt = (v_leak - u) / tau + bias /
dt_us`` exactly (``tau = tau_us``, or ``-dt_us / ln(decay)``; no leak when ``decay == 1``),
from ``u = v_init`` (else ``v_leak``) at time 0::

    u(t0 + d) = L + (u(t0) - L) * exp(-d / tau),   L = v_leak + bias * tau / dt_us

All spikes that reach a population at the same instant are summed, then the threshold is
checked once (as a clock-driven simulator does within a step, so simultaneous events do not
depend on their order); a spike resets ``u`` (to ``v_reset``, or by ``- v_th``) and travels
along every projection from its population, reaching the target ``delay_us`` later (one per
projection; in the same instant when it is 0). An input event travels along every
projection from the input the same way. Populations of the same instant run in their order,
so a spike reaches a population later in the order within the instant; a projection that closes a cycle needs
``delay_us > 0`` somewhere on every cycle (the graph is refused otherwise: a zero-delay loop
would fire forever in one instant), and unlike discrete mode it adds no step of its own. A
neuron that its bias (or a subtract reset leaving ``u >= v_th``) drives over threshold without
input gets its crossing time in closed form on the queue; new input makes that entry stale.
The queue orders by (time, target population, edge, neuron, push order). Events at or after
the end of the window (``T * dt_us``) are not processed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from eventsim.engine.delivery import deliver_csr, deliver_spatial
from eventsim.engine.inputs import check_stream, dense_input
from eventsim.engine.plan import (
    K_DENSE,
    KIND,
    OFF,
    SRC,
    SUBTRACT,
    TGT,
    V_RESET,
    V_TH,
    W_OFF,
    N,
    Plan,
)
from eventsim.engine.queue import SIZE, grow_heap, heap_compact, heap_pop, heap_push, new_heap
from eventsim.engine.result import N_STATS, SELF, SPIKES, UPDATES, Result, make_result
from eventsim.errors import InputError
from eventsim.events.binning import n_steps
from eventsim.events.stream import EventStream
from eventsim.limits import check_memory
from eventsim.network.graph import Graph, population_label
from eventsim.network.network import Network

EVENTS, QUEUE, PEAK_QUEUE, POS, BATCH = range(5)
SPIKE_DTYPE = np.dtype([("t_us", "<f8"), ("neuron", "<i8")])


@njit(cache=True)
def _advance(u, t_from, t_to, tau, drive):
    """``u`` after ``t_to - t_from`` us of leak with constant ``drive`` (= bias / dt_us)."""
    d = t_to - t_from
    if d <= 0.0:
        return u
    if math.isinf(tau):
        return u + drive * d
    limit = drive * tau
    return limit + (u - limit) * math.exp(-d / tau)


@njit(cache=True)
def _crossing(u, t, tau, drive, v_th):
    """Time at which ``u`` reaches ``v_th`` without input (``inf`` if never)."""
    if u >= v_th:
        return t
    if drive <= 0.0:
        return math.inf
    if math.isinf(tau):
        return t + (v_th - u) / drive
    limit = drive * tau
    if limit <= v_th:
        return math.inf
    return t + tau * math.log((limit - u) / (limit - v_th))


@njit(cache=True)
def schedule_drive(lt, ft, tau, drive, u0, t_end, version, pending, heap, gstats, slot, tbuf):
    """Queue the first crossing of every neuron that its drive alone (bias, leak) takes over
    threshold from its start ``u0``."""
    hkey, hkey2, hseq, hver, hstate = heap
    t_bits, bits = tbuf
    for l in range(lt.shape[0]):
        for i in range(lt[l, N]):
            g = lt[l, OFF] + i
            t_x = _crossing(u0[g], 0.0, tau[l], drive[g], ft[l, V_TH])
            if t_x < t_end:
                t_bits[0] = t_x
                heap_push(hkey, hkey2, hseq, hver, hstate, bits[0], l * slot + i, version[g])
                pending[g] = True
                gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True)
def _send(src, j, t, t_end, et, csr_ptr, edge_delay, src_ptr, src_edges, heap, gstats, stride,
          slot, tbuf):
    """Queue the arrival of neuron ``j`` of source ``src`` (0: the input, ``p + 1``:
    population ``p``) along every edge from it that has synapses from ``j``, ``edge_delay``
    later (within the window)."""
    hkey, hkey2, hseq, hver, hstate = heap
    t_bits, bits = tbuf
    for k in range(src_ptr[src], src_ptr[src + 1]):
        e = src_edges[k]
        if et[e, KIND] == K_DENSE:
            row = et[e, W_OFF] + j
            if csr_ptr[row + 1] == csr_ptr[row]:
                continue  # none of its synapses have this delay
        t_a = t + edge_delay[e]
        if t_a < t_end:
            t_bits[0] = t_a
            heap_push(hkey, hkey2, hseq, hver, hstate, bits[0],
                      et[e, TGT] * slot + (e + 1) * stride + j, -1)
            gstats[QUEUE] += 1


@njit(cache=True)
def run_events(net_arrays, tau, drive, edge_delay, src_ptr, src_edges, in_t, in_ch, t_end,
               state, heap, out_t, out_gid, out_n, stats, edge_sops, gstats, stride, slot,
               margin, tbuf):
    """Process input events from ``gstats[POS]`` and queue entries in time order until both
    are exhausted or past ``t_end``. Returns 0 when done, 1 when a buffer needs room (the
    caller grows ``out_*`` and the heap and calls again).

    An input event (first at equal times) queues its arrivals along the input's edges. One
    *batch* is everything the queue holds for one population at one instant (arriving spikes,
    the neurons' own crossings): their weights are summed into ``cur`` first; then each
    touched neuron is advanced to the instant, given the sum, and tested once. Queue keys:
    ``target * slot + (edge + 1) * stride + neuron`` for an arrival, ``population * slot +
    neuron`` (version >= 0) for a crossing.
    """
    lt, ft, et, ef = net_arrays.lt, net_arrays.ft, net_arrays.et, net_arrays.ef
    csr_ptr, csr_idx, csr_w, conv_w, paths = (net_arrays.csr_ptr, net_arrays.csr_idx,
                                              net_arrays.csr_w, net_arrays.conv_w,
                                              net_arrays.paths)
    u, t_last, version, pending, spk, cur, mark, touched, due = state
    hkey, hkey2, hseq, hver, hstate = heap
    t_bits, bits = tbuf  # one float64 and an int64 view of it: times as heap keys
    while True:
        if out_n[0] + margin > out_t.shape[0] or hstate[SIZE] + margin > hkey.shape[0]:
            return 1
        pos = gstats[POS]
        t_in = in_t[pos] if pos < in_t.shape[0] else math.inf
        t = math.inf
        if hstate[SIZE] > 0:
            bits[0] = hkey[0]
            t = t_bits[0]
        if t_in <= t and t_in < t_end:  # input first: its arrivals go on the queue
            gstats[POS] += 1
            _send(0, in_ch[pos], t_in, t_end, et, csr_ptr, edge_delay, src_ptr, src_edges,
                  heap, gstats, stride, slot, tbuf)
            gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])
            continue
        if not t < t_end:
            return 0
        l = hkey2[0] // slot
        off = lt[l, OFF]
        gstats[BATCH] += 1
        batch = gstats[BATCH]
        nt = 0
        while hstate[SIZE] > 0:  # gather the batch (t, l)
            bits[0] = hkey[0]
            if t_bits[0] != t or hkey2[0] // slot != l:
                break
            _, key2, ver = heap_pop(hkey, hkey2, hseq, hver, hstate)
            sub = key2 % slot
            if ver >= 0:  # a neuron's own crossing
                g = off + sub
                if ver != version[g]:
                    continue  # stale: input reached it since (and was uncounted then)
                pending[g] = False
                gstats[QUEUE] -= 1
                stats[l, SELF] += 1
                due[g] = True
                if mark[g] != batch:
                    mark[g] = batch
                    touched[nt] = g
                    nt += 1
            else:  # a spike of source neuron j arrives along edge e
                gstats[QUEUE] -= 1
                e, spk[0] = sub // stride - 1, sub % stride
                if et[e, KIND] == K_DENSE:
                    nt = deliver_csr(et, csr_ptr, csr_idx, csr_w, paths, e, l, off, spk, 1,
                                     batch, cur, mark, touched, nt, stats, edge_sops)
                else:
                    nt = deliver_spatial(et, ef, conv_w, e, l, off, spk, 1, batch, cur, mark,
                                         touched, nt, stats, edge_sops)
            gstats[EVENTS] += 1
        v_th = ft[l, V_TH]
        for i in range(nt):
            g = touched[i]
            v = _advance(u[g], t_last[g], t, tau[l], drive[g])
            t_last[g] = t
            if due[g]:
                v = max(v, v_th)  # it crosses now, by construction
                due[g] = False
            v += cur[g]
            cur[g] = 0.0
            stats[l, UPDATES] += 1
            if pending[g]:
                version[g] += 1
                pending[g] = False
                gstats[QUEUE] -= 1
            if v >= v_th:
                out_t[out_n[0]] = t
                out_gid[out_n[0]] = g
                out_n[0] += 1
                stats[l, SPIKES] += 1
                v = v - v_th if lt[l, SUBTRACT] != 0 else ft[l, V_RESET]
                _send(l + 1, g - off, t, t_end, et, csr_ptr, edge_delay, src_ptr, src_edges,
                      heap, gstats, stride, slot, tbuf)
            u[g] = v
            t_x = _crossing(v, t, tau[l], drive[g], v_th)
            if t_x < t_end:
                t_bits[0] = t_x
                heap_push(hkey, hkey2, hseq, hver, hstate, bits[0], l * slot + g - off,
                          version[g])
                pending[g] = True
                gstats[QUEUE] += 1
        gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


def input_events(net: Network | Graph, inputs, dt_us: int, T: int | None):
    """Times (us, float64), channels (int64) and the window end of the input."""
    if isinstance(inputs, EventStream):
        check_stream(net, inputs)
        t = inputs.events["t"].astype(np.float64)
        ch = inputs.channels()
        if T is None:
            T = n_steps(int(inputs.events["t"].max()) if len(inputs) else None, dt_us)
    elif isinstance(inputs, np.ndarray):
        spikes, T = dense_input(net, inputs, T)
        steps, ch = np.nonzero(spikes)
        t = steps.astype(np.float64) * dt_us
    else:
        raise InputError("simulate: continuous mode takes an EventStream or a 0/1 array; "
                         "streaming chunks is supported in discrete mode only")
    order = np.argsort(t, kind="stable")
    return t[order], ch[order].astype(np.int64), float(T * dt_us)


def _make_room(heap, version, offsets, slot, margin):
    """Drop stale queue entries (crossings whose neuron got input since); grow if still full."""
    hkey, hkey2, hseq, hver, hstate = heap
    size = int(hstate[SIZE])
    if size + margin <= len(hkey):
        return heap
    ver = hver[:size]
    g = offsets[hkey2[:size] // slot] + hkey2[:size] % slot
    live = (ver < 0) | (ver == version[np.where(ver < 0, 0, g)])
    heap_compact(hkey, hkey2, hseq, hver, hstate, live)
    return grow_heap(heap) if hstate[SIZE] + margin > len(hkey) // 2 else heap


def simulate_continuous(net: Network | Graph, plan: Plan, inputs, dt_us: int,
                        T: int | None) -> Result:
    """Continuous-mode simulation (see the module docstring) of a graph whose cycles have a
    delay; called by ``simulate``."""
    dtype = plan.ft.dtype
    in_t, in_ch, t_end = input_events(net, inputs, dt_us, T)
    g = plan.graph
    tau = np.array([p.tau_for(dt_us, population_label(net, g, i))
                    for i, p in enumerate(g.populations)], np.float64)
    et = plan.et
    edge_delay = plan.delay_us
    src_edges = np.argsort(et[:, SRC], kind="stable").astype(np.int64)
    src_ptr = np.searchsorted(et[src_edges, SRC], np.arange(plan.n_pop + 2)).astype(np.int64)
    n = plan.n_neurons
    # the bias per us, and the leak towards v_leak as its drive v_leak / tau (in place of the
    # discrete step's (1 - decay) v_leak, which the plan's bias holds)
    sizes = plan.lt[:, N]
    leak = np.repeat([p.leak_drive() for p in g.populations], sizes)
    toward = np.repeat([p.v_leak / t if p.v_leak else 0.0 for p, t in zip(g.populations, tau)],
                       sizes)
    drive = (plan.bias.astype(np.float64) - leak) / dt_us + toward
    stride = int(max(net.n_inputs, plan.lt[:, N].max()))
    slot = (len(et) + 1) * stride
    fan_max = int(max(net.n_inputs, n))
    # u, t_last (us), version, pending, the arriving neuron, and of one batch: the summed
    # input, the batch that last listed a neuron, the list, and whether its own crossing is due
    state = (plan.rest(), np.zeros(n, np.float64), np.zeros(n, np.int64),
             np.zeros(n, np.bool_), np.zeros(1, np.int64), np.zeros(n, dtype),
             np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.bool_))
    margin = fan_max * (len(et) + 2) + 2  # what one batch may push: each spike per edge
    check_memory(40 * margin, f"continuous mode: room in the queue for one instant's arrivals "
                 f"({fan_max} neurons x {len(et)} edges)")
    heap = new_heap(4 * n + 64)
    out_t = np.zeros(max(4 * n, 4096), np.float64)
    out_gid = np.zeros(len(out_t), np.int64)
    out_n = np.zeros(1, np.int64)
    stats = np.zeros((plan.n_pop, N_STATS), np.int64)
    edge_sops = np.zeros(len(et), np.int64)
    gstats = np.zeros(5, np.int64)
    net_arrays = plan.arrays
    t_bits = np.zeros(1, np.float64)
    tbuf = (t_bits, t_bits.view(np.int64))
    schedule_drive(plan.lt, plan.ft, tau, drive, state[0], t_end, state[2], state[3], heap,
                   gstats, slot, tbuf)
    while run_events(net_arrays, tau, drive, edge_delay, src_ptr, src_edges, in_t, in_ch,
                     t_end, state, heap, out_t, out_gid, out_n, stats, edge_sops, gstats,
                     stride, slot, margin, tbuf):
        if out_n[0] + margin > len(out_t):
            check_memory(32 * len(out_t), f"continuous mode: {len(out_t)} output spikes "
                         "(growing the buffer that holds them)")
            out_t, out_gid = np.resize(out_t, 2 * len(out_t)), np.resize(out_gid, 2 * len(out_t))
        heap = _make_room(heap, state[2], plan.lt[:, OFF], slot, margin)
    k = int(out_n[0])
    order = np.lexsort((out_gid[:k], out_t[:k]))
    t_sorted, g_sorted = out_t[:k][order], out_gid[:k][order]
    spikes, counts = [], []
    for row in range(plan.n_pop):
        off, size = int(plan.lt[row, OFF]), int(plan.lt[row, N])
        sel = (g_sorted >= off) & (g_sorted < off + size)
        rec = np.zeros(int(sel.sum()), SPIKE_DTYPE)
        rec["t_us"], rec["neuron"] = t_sorted[sel], g_sorted[sel] - off
        spikes.append(rec)
        counts.append(np.bincount(rec["neuron"], minlength=size).astype(np.int64))
    return make_result(spikes, counts, stats, gstats[POS], gstats[EVENTS], gstats[PEAK_QUEUE],
                       0, t_end, "continuous", plan, None, edge_sops)
