"""Continuous-time mode: real-valued spike times from the events' timestamps.

Between arrivals a neuron of population ``p`` follows its model's equations exactly, from
``u = v_init`` (else ``v_leak``) at time 0. A delta-synapse LIF follows ``du/dt = (v_leak -
u) / tau + bias / dt_us`` (``tau = tau_us``, or ``-dt_us / ln(decay)``; no leak when ``decay
== 1``)::

    u(t0 + d) = L + (u(t0) - L) * exp(-d / tau),   L = v_leak + bias * tau / dt_us

and current-based synapses (one or two currents), an adaptive threshold, a refractory hold
and leaky-integrator readouts follow the equations of :mod:`.continuous_model`, each term's
time constant ``-dt_us / ln(decay)`` of its decay per step. The state is float64 whatever
the run's dtype (the weights keep it).

All spikes that reach a population at the same instant are summed, then the threshold is
checked once (as a clock-driven simulator does within a step, so simultaneous events do not
depend on their order); a spike resets ``u`` (to ``v_reset``, or by ``- v_th``) and travels
along every projection from its population, reaching the target ``delay_us`` later (one per
projection; in the same instant when it is 0). An input event travels along every
projection from the input the same way. Populations of the same instant run in their order,
so a spike reaches a population later in the order within the instant; a projection that
closes a cycle needs ``delay_us > 0`` somewhere on every cycle (the graph is refused
otherwise: a zero-delay loop would fire forever in one instant), and unlike discrete mode it
adds no step of its own. A neuron that its drive (bias, leak, currents, a falling
threshold, or a subtract reset leaving it above) takes over threshold without input gets its
crossing time on the queue (closed form for the delta-synapse LIF, refined to a few ulps
otherwise: :func:`~.continuous_model.first_reach`); new input makes that entry stale.
The queue orders by (time, target population, edge, neuron, push order). Events at or after
the end of the window (``T * dt_us``) are not processed.

A readout population (``v_th = inf``) is touched only by its input; its membrane's maximum
over ``[0, T * dt_us]`` and its time average there are exact (the maximum at an arrival, a
turning point or the window's end: :func:`~.continuous_model.stretch_max`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from eventsim.engine.continuous_model import (
    HOLD,
    JUMP,
    PLAIN,
    READOUT,
    TAU,
    TAU_SYN,
    brought,
    lif_after,
    lif_crossing,
    next_crossing,
    population_table,
)
from eventsim.engine.delivery import deliver_csr, deliver_spatial
from eventsim.engine.plan import (
    K_DENSE,
    KIND,
    OFF,
    PORT,
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
from eventsim.limits import check_memory
from eventsim.network.continuous import SPIKE_DTYPE, input_events
from eventsim.network.graph import Graph
from eventsim.network.network import Network

EVENTS, QUEUE, PEAK_QUEUE, POS, BATCH = range(5)


class CState(NamedTuple):
    """What continuous mode keeps per neuron (all shape (n_neurons,) but ``spk``): the
    potential, the two currents and the threshold's adaptation as of ``t_last`` (us); when a
    refractory hold ends (us); the queued crossing's version and whether one is queued; the
    arriving neuron; of one batch the summed input into the membrane or first current
    (``cur``) and the second (``cur2``), the batch that last listed a neuron, the list, and
    whether its own crossing is due; a readout's maximum and integral (us) so far."""

    u: np.ndarray
    i_syn: np.ndarray
    i_syn2: np.ndarray
    adapt: np.ndarray
    t_last: np.ndarray
    free_at: np.ndarray
    version: np.ndarray
    pending: np.ndarray
    spk: np.ndarray
    cur: np.ndarray
    cur2: np.ndarray
    mark: np.ndarray
    touched: np.ndarray
    due: np.ndarray
    ro_max: np.ndarray
    ro_sum: np.ndarray


@njit(cache=True, nogil=True)
def schedule_drive(lt, ft, cp, st, drive, beta, dt_us, t_end, heap, gstats, slot, tbuf):
    """Queue the first crossing of every neuron that its drive alone (bias, leak) takes over
    threshold from its start."""
    hkey, hkey2, hseq, hver, hstate = heap
    t_bits, bits = tbuf
    for l in range(lt.shape[0]):
        if math.isinf(ft[l, V_TH]):
            continue
        for i in range(lt[l, N]):
            g = lt[l, OFF] + i
            t_x = next_crossing(st.u[g], 0.0, 0.0, 0.0, 0.0, 0.0, cp, l, ft[l, V_TH],
                                drive[g], beta[g], dt_us, t_end)
            if t_x < t_end:
                t_bits[0] = t_x
                heap_push(hkey, hkey2, hseq, hver, hstate, bits[0], l * slot + i,
                          st.version[g])
                st.pending[g] = True
                gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def run_events(net_arrays, cp, drive, beta, dt_us, edge_delay, src_ptr, src_edges, in_t, in_ch,
               t_end, st, heap, out_t, out_gid, out_n, stats, edge_sops, gstats, stride, slot,
               margin, tbuf):
    """Process input events from ``gstats[POS]`` and queue entries in time order until both
    are exhausted or past ``t_end``. Returns 0 when done, 1 when a buffer needs room (the
    caller grows ``out_*`` and the heap and calls again).

    An input event (first at equal times) queues its arrivals along the input's edges. One
    *batch* is everything the queue holds for one population at one instant (arriving spikes,
    the neurons' own crossings): their weights are summed into ``cur`` (``cur2`` for a
    ``port=1`` edge) first; then each touched neuron is brought to the instant
    (:func:`bring`), given the sum, and tested once. Queue keys: ``target * slot + (edge + 1)
    * stride + neuron`` for an arrival, ``population * slot + neuron`` (version >= 0) for a
    crossing.
    """
    lt, ft, et, ef = net_arrays.lt, net_arrays.ft, net_arrays.et, net_arrays.ef
    csr_ptr, csr_idx, csr_w, conv_w, paths = (net_arrays.csr_ptr, net_arrays.csr_idx,
                                              net_arrays.csr_w, net_arrays.conv_w,
                                              net_arrays.paths)
    u, version, pending, cur, cur2, touched = (st.u, st.version, st.pending, st.cur, st.cur2,
                                               st.touched)
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
                st.due[g] = True
                if st.mark[g] != batch:
                    st.mark[g] = batch
                    touched[nt] = g
                    nt += 1
            else:  # a spike of source neuron j arrives along edge e
                gstats[QUEUE] -= 1
                e, st.spk[0] = sub // stride - 1, sub % stride
                # one call site per current: an array variable that may hold either costs
                # per arrival (10% of a plain LIF's run, measured)
                if et[e, KIND] == K_DENSE and et[e, PORT] == 0:
                    nt = deliver_csr(et, csr_ptr, csr_idx, csr_w, paths, e, l, off, st.spk, 1,
                                     batch, cur, st.mark, touched, nt, stats, edge_sops)
                elif et[e, KIND] == K_DENSE:
                    nt = deliver_csr(et, csr_ptr, csr_idx, csr_w, paths, e, l, off, st.spk, 1,
                                     batch, cur2, st.mark, touched, nt, stats, edge_sops)
                elif et[e, PORT] == 0:
                    nt = deliver_spatial(et, ef, conv_w, e, l, off, st.spk, 1, batch, cur,
                                         st.mark, touched, nt, stats, edge_sops)
                else:
                    nt = deliver_spatial(et, ef, conv_w, e, l, off, st.spk, 1, batch, cur2,
                                         st.mark, touched, nt, stats, edge_sops)
            gstats[EVENTS] += 1
        v_th = ft[l, V_TH]
        plain, readout, tau = cp[l, PLAIN] != 0.0, cp[l, READOUT] != 0.0, cp[l, TAU]
        current = cp[l, TAU_SYN] > 0.0
        for k in range(nt):
            g = touched[k]
            if plain:  # scalars only: a call that takes the state costs per array in it
                v = lif_after(u[g], t - st.t_last[g], tau, drive[g])
                st.t_last[g] = t
                if st.due[g]:
                    v = max(v, v_th)  # it crosses now, by construction
                    st.due[g] = False
                v += cur[g]
                cur[g] = 0.0
                held, theta = False, v_th
            else:
                v, i0, j0, b0, top, area = brought(
                    u[g], st.i_syn[g], st.i_syn2[g], st.adapt[g], st.t_last[g],
                    st.free_at[g], t, cp, l, drive[g], beta[g], dt_us)
                st.t_last[g] = t
                held = st.free_at[g] > t
                theta = v_th + b0
                if st.due[g]:
                    v = max(v, theta)  # it crosses now, by construction
                    st.due[g] = False
                if current:  # current-based: the input feeds the current
                    i0 += cur[g]
                elif not held:  # a held membrane ignores its input
                    v += cur[g]
                j0 += cur2[g]
                cur[g] = cur2[g] = 0.0
                if readout:
                    st.ro_max[g] = max(st.ro_max[g], top, v)
                    st.ro_sum[g] += area
            stats[l, UPDATES] += 1
            if pending[g]:
                version[g] += 1
                pending[g] = False
                gstats[QUEUE] -= 1
            if not held and v >= theta:
                out_t[out_n[0]] = t
                out_gid[out_n[0]] = g
                out_n[0] += 1
                stats[l, SPIKES] += 1
                v = v - theta if lt[l, SUBTRACT] != 0 else ft[l, V_RESET]
                if not plain:
                    b0 += cp[l, JUMP]
                    if cp[l, HOLD] > 0.0:
                        st.free_at[g] = t + cp[l, HOLD]
                _send(l + 1, g - off, t, t_end, et, csr_ptr, edge_delay, src_ptr, src_edges,
                      heap, gstats, stride, slot, tbuf)
            u[g] = v
            if not plain:
                st.i_syn[g], st.i_syn2[g], st.adapt[g] = i0, j0, b0
            if readout:
                continue
            t_x = lif_crossing(v, t, tau, drive[g], v_th) if plain else next_crossing(
                v, i0, j0, b0, t, st.free_at[g], cp, l, v_th, drive[g], beta[g], dt_us, t_end)
            if t_x < t_end:
                t_bits[0] = t_x
                heap_push(hkey, hkey2, hseq, hver, hstate, bits[0], l * slot + g - off,
                          version[g])
                pending[g] = True
                gstats[QUEUE] += 1
        gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


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


def new_state(plan: Plan, readouts: bool) -> CState:
    """A fresh :class:`CState` at time 0: every neuron at its start, float64."""
    n = plan.n_neurons
    zeros = np.zeros(n, np.float64)
    return CState(u=plan.start.astype(np.float64), i_syn=zeros.copy(), i_syn2=zeros.copy(),
                  adapt=zeros.copy(), t_last=zeros.copy(), free_at=zeros.copy(),
                  version=np.zeros(n, np.int64), pending=np.zeros(n, np.bool_),
                  spk=np.zeros(1, np.int64), cur=np.zeros(n, plan.ft.dtype),
                  cur2=np.zeros(n, plan.ft.dtype), mark=np.zeros(n, np.int64),
                  touched=np.zeros(n, np.int64), due=np.zeros(n, np.bool_),
                  ro_max=np.full(n if readouts else 1, -np.inf),
                  ro_sum=np.zeros(n if readouts else 1))


@njit(cache=True, nogil=True)
def flush(lt, cp, st, drive, beta, dt_us, t_end):
    """Every readout neuron's maximum and integral completed to the end of the window (the
    state left as it is)."""
    for l in range(lt.shape[0]):
        if cp[l, READOUT] != 0.0:
            for g in range(lt[l, OFF], lt[l, OFF] + lt[l, N]):
                v, _, _, _, top, area = brought(st.u[g], st.i_syn[g], st.i_syn2[g],
                                                st.adapt[g], st.t_last[g], st.free_at[g],
                                                t_end, cp, l, drive[g], beta[g], dt_us)
                st.ro_max[g] = max(st.ro_max[g], top, v)
                st.ro_sum[g] += area


def simulate_continuous(net: Network | Graph, plan: Plan, inputs, dt_us: int,
                        T: int | None) -> Result:
    """Continuous-mode simulation (see the module docstring) of a graph whose cycles have a
    delay; called by ``simulate``."""
    in_t, in_ch, t_end = input_events(net, inputs, dt_us, T)
    g = plan.graph
    cp = population_table(net, plan, dt_us)
    et = plan.et
    edge_delay = plan.delay_us
    src_edges = np.argsort(et[:, SRC], kind="stable").astype(np.int64)
    src_ptr = np.searchsorted(et[src_edges, SRC], np.arange(plan.n_pop + 2)).astype(np.int64)
    n = plan.n_neurons
    # the bias per us, and the leak towards v_leak as its drive v_leak / tau (in place of the
    # discrete step's (1 - decay) v_leak, which the plan's bias holds); a current's bias per us
    sizes = plan.lt[:, N]
    leak = np.repeat([p.leak_drive() for p in g.populations], sizes)
    toward = np.repeat([p.v_leak / t if p.v_leak else 0.0
                        for p, t in zip(g.populations, cp[:, TAU])], sizes)
    drive = (plan.bias.astype(np.float64) - leak) / dt_us + toward
    beta = plan.syn_bias.astype(np.float64) / dt_us
    stride = int(max(net.n_inputs, plan.lt[:, N].max()))
    slot = (len(et) + 1) * stride
    fan_max = int(max(net.n_inputs, n))
    readouts = bool(cp[:, READOUT].any())
    st = new_state(plan, readouts)
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
    schedule_drive(plan.lt, plan.ft, cp, st, drive, beta, float(dt_us), t_end, heap, gstats,
                   slot, tbuf)
    while run_events(net_arrays, cp, drive, beta, float(dt_us), edge_delay, src_ptr, src_edges,
                     in_t, in_ch, t_end, st, heap, out_t, out_gid, out_n, stats, edge_sops,
                     gstats, stride, slot, margin, tbuf):
        if out_n[0] + margin > len(out_t):
            check_memory(32 * len(out_t), f"continuous mode: {len(out_t)} output spikes "
                         "(growing the buffer that holds them)")
            out_t, out_gid = np.resize(out_t, 2 * len(out_t)), np.resize(out_gid, 2 * len(out_t))
        heap = _make_room(heap, st.version, plan.lt[:, OFF], slot, margin)
    if readouts:
        flush(plan.lt, cp, st, drive, beta, float(dt_us), t_end)
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
    result = make_result(spikes, counts, stats, gstats[POS], gstats[EVENTS], gstats[PEAK_QUEUE],
                         0, t_end, "continuous", plan, None, edge_sops)
    for l in np.flatnonzero(cp[:, READOUT]):  # leaky integrators: the membrane's max, mean
        sl = slice(int(plan.lt[l, OFF]), int(plan.lt[l, OFF] + plan.lt[l, N]))
        result.membrane_max[l] = st.ro_max[sl].copy()
        result.membrane_mean[l] = st.ro_sum[sl] / t_end if t_end > 0 else st.u[sl].copy()
    result.readout = g.output.readout
    return result
