"""The discrete-time event engine: the step loop over the flat arrays of :mod:`.plan`.

Semantics (:mod:`eventsim.network.graph` for the graph, :mod:`eventsim.network.layers` for
the neuron) for a neuron of population ``l`` at step ``s``::

    u <- decay * u_post[s-1] + bias + (sum of the weights of the spikes arriving at step s)
    (u_post[-1] = v_leak; bias includes the leak drive (1 - decay) * v_leak)
    spike if u >= v_th;  u_post[s] = v_reset (zero reset) or u - v_th (subtract reset)

or, in a current-based population (``syn_decay > 0``), the arriving weights and the
projections' biases (``syn_bias``) go into the current ``i`` first::

    i <- syn_decay * i + syn_bias + (sum of the weights arriving at step s)
    u <- decay * u_post[s-1] + bias + i

and with a second current (``syn_decay_2 > 0``), fed by the edges of port 1 (their input
``cur2``), ``i2 <- syn_decay_2 * i2 + (their weights)`` and ``u <- ... + i + i2``. An adaptive
threshold (``adapt_jump > 0``) fires at ``u >= v_th + b``, ``b`` decaying by ``adapt_decay``
a step (applied in closed form at each touch, before the membrane's) and raised by
``adapt_jump`` after a spike; a subtract reset lowers ``u`` by ``v_th + b``.

where a spike of step ``t`` along an edge of delay ``e`` arrives at step ``t + e`` (closing a
cycle counts one step). Event-driven, in two phases per population and step, populations in
their order:

A. *delivery* (:mod:`.delivery`): for each edge into ``l``, the spikes its source fired at
   step ``s - e`` (kept in the source's ring of recent steps) add their weights to the
   targets' input ``cur`` and list the targets as touched;
B. *update*: each touched neuron (input arrived, or its own crossing fell due on the queue)
   is brought forward from its last step ``t_last`` in closed form,
   ``u <- P[l, n] * u + bias * G[l, n] + cur`` with ``n = s - t_last``
   (:func:`.plan.decay_tables`; a current-based neuron ``u <- P u + bias G + i H + syn_bias J
   + cur``, ``i <- A i + syn_bias GA + cur``), checked against threshold once, reset, and its next crossing
   without input (bias, or a subtract reset that leaves it high) put on the queue
   (:mod:`.crossing`). Its spikes go to its ring, for the edges that read them.

Only the steps in which something can happen run: the next step with input (given as the
steps that have some, ``in_steps``), the step of the queue's first entry, the next step a
delayed spike arrives (a calendar of the next ``max_delay + 1`` steps counts the rings' spikes
still to deliver), or every step while a NeuNorm's auxiliary neurons are live. The loop jumps
over the others, in which no neuron would be touched, so its cost follows the events, not the
window. Per-step counters are rows ``(step, population, counters)`` of the steps with
activity.

A NeuNorm op (:class:`~eventsim.network.layers.NeuNorm`) opening an edge steps its auxiliary
neurons with the edge's spikes, every step from the first spike until they have decayed to
exactly 0, and adds their analog share ``-alpha * x`` through the edge's weights
(:func:`.delivery.deliver_analog`); every neuron of the target is then touched in that step.

An integer (quantized) population holds whole numbers and decays as ``trunc(D * u / 4096)``:
phase B.1 steps that decay over the idle steps (it stops at a fixed point, soon 0), and its
crossings are found by stepping; a population with a threshold per channel reads it per
neuron.

Counters (``stats[l]``): ``SOPS`` synapses traversed into population ``l`` (nonzero weights
only, borders exact; ``edge_sops[e]`` per edge), ``SPIKES``, ``UPDATES`` (threshold
evaluations, one per touched neuron and step), ``SELF`` (valid self-events popped), ``MACS``
(analog values times nonzero weights). ``gstats``: ``EVENTS`` (input spikes + spikes +
self-events), ``QUEUE`` (live entries now), ``PEAK_QUEUE``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from eventsim.engine.crossing import crossing, held_crossing, int_after
from eventsim.engine.delivery import (
    deliver_analog,
    deliver_csr,
    deliver_rows,
    deliver_spatial,
    gather_hits,
    neunorm_step,
)
from eventsim.engine.neurons import bring_cuba, bring_held, bring_two
from eventsim.engine.plan import (
    ADAPT_JUMP,
    C_IN,
    CAN_SELF,
    DECAY,
    DECAY_NUM,
    DELAY,
    DW_OFF,
    H_IN,
    IN_END,
    IN_FIRST,
    INTEGER,
    K_DENSE,
    KIND,
    NN_ALPHA,
    OFF,
    OWN_TH,
    PORT,
    REFRACTORY,
    S_DLY_END,
    S_DLY_FIRST,
    S_IDX,
    S_N,
    S_SLOT,
    S_W,
    SRC,
    SUBTRACT,
    SYN_DECAY,
    SYN_DECAY2,
    V_RESET,
    V_TH,
    W_IN,
    N,
)
from eventsim.engine.queue import SIZE, heap_compact, heap_pop, heap_push
from eventsim.engine.readout import bring as readout_bring
from eventsim.engine.result import MACS, SELF, SOPS, SPIKES, UPDATES
from eventsim.events.binning_kernel import sort_prefix

EVENTS, QUEUE, PEAK_QUEUE = range(3)


class State(NamedTuple):
    """What a run carries from step to step.

    ``u``, ``adapt`` (an adaptive threshold's ``b``, after its last spike's jump),
    ``threshold`` (each neuron's threshold where a population reads it per neuron: per channel
    in an integer population, ``v_th + b`` at its last touch with adaptation), ``i_syn``
    (synaptic current; current-based populations), ``i_syn2`` and ``cur2``
    (a second current and its input of the step), ``ref_until`` (the last
    step the membrane is held after a spike; -1), ``ro_sum``, ``ro_max``
    (a readout population's membrane summed and its maximum, float64, :mod:`.readout`),
    ``cur`` (input of the step), ``t_last``, ``version`` and ``pending`` (its queue
    entry is live), ``mark`` (step it was last listed), ``hit`` (uint8: a dense row reached it this step, 0
    between steps; :func:`.delivery.deliver_rows`): per neuron. ``all_mark`` (step in which
    every neuron was touched), ``uniform`` (``t_last`` all equal): per population. ``nn_x``
    (NeuNorm auxiliary neurons), ``nn_live``: per edge. The rings: ``ring_idx`` (spikes),
    ``ring_n`` and ``ring_step`` (count and step of each slot). ``cal`` (spikes to deliver,
    per step modulo its length) and ``cal_total``.
    """

    u: np.ndarray
    adapt: np.ndarray
    threshold: np.ndarray
    i_syn: np.ndarray
    i_syn2: np.ndarray
    cur2: np.ndarray
    ref_until: np.ndarray
    ro_sum: np.ndarray
    ro_max: np.ndarray
    cur: np.ndarray
    t_last: np.ndarray
    version: np.ndarray
    pending: np.ndarray
    mark: np.ndarray
    hit: np.ndarray
    all_mark: np.ndarray
    uniform: np.ndarray
    nn_x: np.ndarray
    nn_live: np.ndarray
    ring_idx: np.ndarray
    ring_n: np.ndarray
    ring_step: np.ndarray
    cal: np.ndarray
    cal_total: np.ndarray


class Scratch(NamedTuple):
    """Buffers of one step: the touched list, a population's spikes, and for NeuNorm the
    spikes per position, the analog values and one neuron's fan-out."""

    touched: np.ndarray
    spk: np.ndarray
    tally: np.ndarray
    analog: np.ndarray
    fan_tgt: np.ndarray
    fan_wix: np.ndarray


class Record(NamedTuple):
    """What a run writes: the spike record ``out_step``/``out_gid`` (``out_n[0]`` used),
    spikes per neuron, the counters (``stats`` per population, ``edge_sops`` per edge,
    ``gstats``) and the per-step rows (``n_rows[0]`` used; none when ``step_rows`` is
    empty)."""

    out_step: np.ndarray
    out_gid: np.ndarray
    out_n: np.ndarray
    counts: np.ndarray
    stats: np.ndarray
    edge_sops: np.ndarray
    gstats: np.ndarray
    step_rows: np.ndarray
    n_rows: np.ndarray


class Input(NamedTuple):
    """Input spikes by the steps that have some: ``in_steps`` ascending, and the spikes of
    step ``in_steps[j]`` are ``in_idx[in_ptr[j] : in_ptr[j + 1]]``."""

    in_steps: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray


@njit(cache=True, nogil=True)
def schedule_bias(net, tables, T, state, heap, gstats):
    """Queue the first crossing of every neuron that its bias (leak drive included) alone
    drives over threshold from its rest ``state.u`` (``v_leak``, or 0), a current-based
    one's with the bias of its current too."""
    lt, ft, bias, vth, sb = net.lt, net.ft, net.bias, net.v_th, net.syn_bias
    n_total = lt[-1, OFF] + lt[-1, N]
    for l in range(lt.shape[0]):
        if ft[l, V_TH] == np.inf:  # a leaky integrator never fires
            continue
        for g in range(lt[l, OFF], lt[l, OFF] + lt[l, N]):
            if bias[g] > 0 or state.u[g] != 0 or sb[g] > 0:
                n = crossing(lt, ft, l, state.u[g], 0.0, 0.0, bias[g], sb[g], tables,
                             vth[g], ft[l, DECAY], 0.0, 0, T)
                if n > 0:  # from step -1 (u at rest) to step n - 1
                    heap_push(heap.hkey, heap.hkey2, heap.hseq, heap.hver, heap.hstate,
                              (n - 1) * n_total + g, 0, state.version[g])
                    state.pending[g] = True
                    gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True, nogil=True)
def any_live(nn_live):
    """Whether a NeuNorm's auxiliary neurons are live (then every step must run)."""
    for e in range(nn_live.shape[0]):
        if nn_live[e]:
            return True
    return False


@njit(cache=True, nogil=True)
def to_ring(st, src_delays, ring_idx, ring_n, ring_step, cal, cal_total, src, s, spk, n_spk, T):
    """Keep the spikes ``spk[:n_spk]`` (``n_spk > 0``) that source ``src`` (with a ring) fired
    at step ``s`` in its ring, and count their deliveries still to come in the calendar
    ``cal``."""
    w = st[src, S_W]
    at = s % w if w > 1 else 0  # the ring slot of step s (a division costs)
    slot = st[src, S_SLOT] + at
    base = st[src, S_IDX] + at * st[src, S_N]
    for k in range(n_spk):
        ring_idx[base + k] = spk[k]
    ring_n[slot] = n_spk
    ring_step[slot] = s
    width = cal.shape[0]
    for k in range(st[src, S_DLY_FIRST], st[src, S_DLY_END]):
        if s + src_delays[k] < T:
            cal[(s + src_delays[k]) % width] += 1
            cal_total[0] += 1


@njit(cache=True, nogil=True)
def run_steps(net, tables, inp, s_begin, s_end, T, rec_from, state, heap, scratch, rec):
    """Run steps ``s_begin .. s_end - 1``; return the first step not run.

    ``net``: :class:`~eventsim.engine.plan.NetArrays`; ``tables``:
    :class:`~eventsim.engine.plan.DecayTables`; ``inp``: :class:`Input` (entries before
    ``s_begin`` are passed over); ``state``, ``heap``, ``scratch``, ``rec``: :class:`State`,
    :class:`~eventsim.engine.queue.Heap`, :class:`Scratch`, :class:`Record`. Steps in which
    nothing can happen are skipped in one jump, so the cost follows the events, not
    ``s_end - s_begin``.

    ``rec.counts[g]`` counts the spikes of every neuron; spikes of populations ``>= rec_from``
    are also appended to ``rec.out_step`` / ``rec.out_gid`` at ``rec.out_n[0]``. When
    ``rec.step_rows`` has rows, every population with any count in a step appends the row
    ``(step, population, SOPS, SPIKES, UPDATES, SELF, MACS)`` (the step's counters). The
    kernel stops at the start of a step when either buffer has too little room left
    (``n_neurons`` spikes, ``n_pop`` rows), so the caller can grow it and call again from the
    returned step. Queue entries are kept for steps < T only.
    """
    lt, ft, et, st, bias, vth = net.lt, net.ft, net.et, net.st, net.bias, state.threshold
    P, G, cap, conv = tables.P, tables.G, tables.cap, tables.conv
    sbias = net.syn_bias
    u, cur, t_last, version, pending = (state.u, state.cur, state.t_last, state.version,
                                        state.pending)
    i_syn, ref_until = state.i_syn, state.ref_until
    i_syn2, cur2, adapt_b = state.i_syn2, state.cur2, state.adapt
    mark, all_mark, uniform, hit = state.mark, state.all_mark, state.uniform, state.hit
    hkey, hkey2, hseq, hver, hstate = heap.hkey, heap.hkey2, heap.hseq, heap.hver, heap.hstate
    touched, spk = scratch.touched, scratch.spk
    stats, gstats, edge_sops = rec.stats, rec.gstats, rec.edge_sops
    counts, out_step, out_gid, step_rows = rec.counts, rec.out_step, rec.out_gid, rec.step_rows
    in_steps, in_ptr, in_idx = inp.in_steps, inp.in_ptr, inp.in_idx
    ring_idx, ring_n, ring_step = state.ring_idx, state.ring_n, state.ring_step
    cal, cal_total, nn_live = state.cal, state.cal_total, state.nn_live
    src_delays = net.src_delays
    csr_ptr, csr_idx, csr_w, dense_w, conv_w, paths = (net.csr_ptr, net.csr_idx, net.csr_w,
                                                       net.dense_w, net.conv_w, net.paths)
    ef = net.ef
    n_pop = lt.shape[0]
    n_total = lt[n_pop - 1, OFF] + lt[n_pop - 1, N]
    n_out = rec.out_n[0]
    n_row = rec.n_rows[0]
    per_step = step_rows.shape[0] > 0
    width = state.cal.shape[0]
    j = np.searchsorted(in_steps, s_begin)  # the next step with input
    s = s_begin
    while s < s_end:
        if n_out + n_total > out_step.shape[0] or (per_step and
                                                   n_row + n_pop > step_rows.shape[0]):
            rec.out_n[0] = n_out
            rec.n_rows[0] = n_row
            return s
        # the next step in which something happens: a queued crossing (key ``step * n_total
        # + neuron``), input, or a delayed spike arriving (the calendar); written out here,
        # as a call costs per array passed
        busy = hkey[0] // n_total if hstate[SIZE] > 0 else np.iinfo(np.int64).max
        if j < in_steps.shape[0]:
            busy = min(busy, in_steps[j])
        if cal_total[0] > 0:
            for k in range(width):
                if cal[(s + k) % width] > 0:
                    busy = min(busy, s + k)
                    break
        if busy > s and not any_live(nn_live):  # nothing happens before ``busy``: jump
            s = min(busy, s_end)
            continue
        if cal_total[0] > 0:  # the deliveries due now are made below
            cal_total[0] -= cal[s % width]
            cal[s % width] = 0
        if j < in_steps.shape[0] and in_steps[j] == s:
            n_in = in_ptr[j + 1] - in_ptr[j]
            to_ring(st, src_delays, ring_idx, ring_n, ring_step, cal, cal_total, 0, s,
                    in_idx[in_ptr[j]:in_ptr[j + 1]], n_in, T)
            gstats[EVENTS] += n_in
            j += 1
        for l in range(n_pop):
            sops0, macs0, self0 = stats[l, SOPS], stats[l, MACS], stats[l, SELF]
            off, n_l = lt[l, OFF], lt[l, N]
            decay, v_th, own_th = ft[l, DECAY], ft[l, V_TH], lt[l, OWN_TH] != 0
            subtract, v_reset = lt[l, SUBTRACT] != 0, ft[l, V_RESET]
            cap_l = cap[l]
            integrator = P[l, 1] == 1  # decay 1: G[n] = n
            cuba = ft[l, SYN_DECAY] > 0  # current-based
            two = ft[l, SYN_DECAY2] > 0  # with a second current
            adapt = ft[l, ADAPT_JUMP] > 0  # an adaptive threshold (read per neuron, own_th)
            th_base = ft[l, V_TH]
            readout = v_th == np.inf  # a leaky integrator, its membrane read out
            refr = lt[l, REFRACTORY]  # steps held after a spike
            # phase A: deliver what arrives now along every edge into l
            nt = 0
            rows_in = False  # a row with zeros set hit: gather_hits lists and clears them
            for e in range(lt[l, IN_FIRST], lt[l, IN_END]):
                src, t_src = et[e, SRC], s - et[e, DELAY]
                w = st[src, S_W]
                at = t_src % w if w > 1 else 0  # the ring slot of step t_src
                slot = st[src, S_SLOT] + at
                n_spk = ring_n[slot] if t_src >= 0 and ring_step[slot] == t_src else 0
                neunorm = et[e, NN_ALPHA] >= 0 and (n_spk > 0 or nn_live[e])
                if n_spk == 0 and not neunorm:
                    continue
                base = st[src, S_IDX] + at * st[src, S_N]
                arriving = ring_idx[base:base + n_spk]
                into = cur2 if et[e, PORT] else cur  # the current the edge feeds
                if n_spk == 0:
                    pass
                elif et[e, KIND] != K_DENSE:
                    nt = deliver_spatial(et, ef, conv_w, e, l, off, arriving, n_spk, s, into,
                                         mark, touched, nt, stats, edge_sops)
                elif et[e, DW_OFF] >= 0:
                    if deliver_rows(et, csr_ptr, dense_w, paths, e, l, off, n_l, arriving,
                                    n_spk, s, into, all_mark, hit, stats, edge_sops):
                        rows_in = True
                else:
                    nt = deliver_csr(et, csr_ptr, csr_idx, csr_w, paths, e, l, off, arriving,
                                     n_spk, s, into, mark, touched, nt, stats, edge_sops)
                if neunorm:  # a NeuNorm op opens the edge: its auxiliary neurons step
                    live = neunorm_step(net, state.nn_x, e, arriving, n_spk, scratch.tally,
                                        scratch.analog)
                    nn_live[e] = live
                    if live:
                        deliver_analog(net, e, l, off, scratch.analog,
                                       et[e, C_IN] * et[e, H_IN] * et[e, W_IN], into, stats,
                                       scratch.fan_tgt, scratch.fan_wix)
                        all_mark[l] = s
            if rows_in:  # the neurons rows with zeros reached, listed once
                nt = gather_hits(hit, mark, all_mark, touched, nt, l, off, n_l, s)
            end_key = s * n_total + off + n_l
            while hstate[SIZE] > 0 and hkey[0] < end_key:  # this population's crossings due now
                key, _, ver = heap_pop(hkey, hkey2, hseq, hver, hstate)
                g = key % n_total
                if ver == version[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                    stats[l, SELF] += 1
                    gstats[EVENTS] += 1
                    if mark[g] != s:
                        mark[g] = s
                        touched[nt] = g
                        nt += 1
            everyone = all_mark[l] == s
            # phase B.1: bring every touched neuron forward and add its input
            integer = lt[l, INTEGER] != 0
            if everyone and uniform[l] and not readout and not cuba and refr == 0 \
                    and not adapt and (not integer or s - t_last[off] == 1):
                # all last updated together: one factor (an integer layer: one step), vectorised
                nt = n_l
                uu, cc, bb, tl = u[off:off + n_l], cur[off:off + n_l], bias[off:off + n_l], \
                    t_last[off:off + n_l]
                if integer:
                    D = lt[l, DECAY_NUM]
                    for i in range(n_l):  # int_after for one step
                        uu[i] = np.trunc(uu[i] * D / 4096.0) + bb[i] + cc[i]
                        cc[i] = 0.0
                        tl[i] = s
                else:
                    dn = s - tl[0]
                    k = min(dn, cap_l)
                    pn, gn = P[l, k], G[l, k]
                    if integrator:
                        conv[0] = dn
                        gn = conv[0]
                    for i in range(n_l):
                        uu[i] = pn * uu[i] + bb[i] * gn + cc[i]
                        cc[i] = 0.0
                        tl[i] = s
            else:
                if everyone:
                    nt = n_l
                elif 8 * nt > n_l:  # many touched: list them in order by a scan, not a sort
                    k = 0
                    for i in range(n_l):
                        if mark[off + i] == s:
                            touched[k] = off + i
                            k += 1
                else:
                    sort_prefix(touched, nt)
                D = lt[l, DECAY_NUM]
                if adapt:  # the threshold's adaptation decays since the last touch
                    R = tables.R
                    for i in range(nt):
                        g = off + i if everyone else touched[i]
                        adapt_b[g] *= R[l, min(s - t_last[g], cap_l)]
                        vth[g] = th_base + adapt_b[g]
                if readout:
                    readout_bring(net, tables, state, l, off, touched, nt, everyone, s)
                elif refr > 0:
                    bring_held(net, tables, state, l, off, touched, nt, everyone, s, cuba, two)
                elif two:
                    bring_two(net, tables, state, l, off, touched, nt, everyone, s)
                elif cuba:  # apart: the loop below stays as simple as before currents
                    bring_cuba(net, tables, state, l, off, touched, nt, everyone, s)
                else:
                    for i in range(nt):
                        g = off + i if everyone else touched[i]
                        dn = s - t_last[g]
                        if integer:  # whole numbers, truncating decay: stepped (stops at 0)
                            u[g] = int_after(u[g], dn, D, bias[g]) + cur[g]
                        else:
                            k = min(dn, cap_l)
                            gk = G[l, k]
                            if integrator:
                                conv[0] = dn
                                gk = conv[0]
                            u[g] = P[l, k] * u[g] + bias[g] * gk + cur[g]
                        cur[g] = 0.0
                        t_last[g] = s
            if nt > 0:
                uniform[l] = everyone  # a partial update leaves different t_last behind
            # phase B.2: threshold, reset, reschedule
            n_spk = 0
            check_pending = gstats[QUEUE] > 0
            can_self = lt[l, CAN_SELF] != 0
            for i in range(nt):
                g = off + i if everyone else touched[i]
                if check_pending and pending[g]:  # new input makes its queued crossing stale
                    version[g] += 1
                    pending[g] = False
                    gstats[QUEUE] -= 1
                v = u[g]
                if own_th:  # thresholds per channel (integer layers), or adapting
                    v_th = vth[g]
                if v >= v_th and (refr == 0 or s > ref_until[g]):  # held: it cannot fire
                    spk[n_spk] = g - off
                    n_spk += 1
                    counts[g] += 1
                    if l >= rec_from:
                        out_step[n_out] = s
                        out_gid[n_out] = g
                        n_out += 1
                    v = v - v_th if subtract else 0.0
                    if v_reset != 0.0:  # apart: as one expression the chain ran 10% slower
                        v = v_reset
                    u[g] = v
                    if refr > 0:
                        ref_until[g] = s + refr
                    if adapt:
                        adapt_b[g] += ft[l, ADAPT_JUMP]
                # next crossing without input: only a bias, a subtract reset that leaves u
                # high enough for the next step, a current, or a falling threshold (from
                # above v_th, the least it falls to) can cause one
                th0 = th_base if adapt else v_th
                if not can_self or (bias[g] <= 0 and P[l, 1] * v < th0 and (
                        not cuba or (i_syn[g] <= 0 and sbias[g] <= 0
                                     and (not two or i_syn2[g] <= 0)))):
                    continue
                i0 = i_syn[g] if cuba else 0.0  # (i_syn has one slot without currents)
                j0 = i_syn2[g] if two else 0.0
                b0 = adapt_b[g] if adapt else 0.0
                if refr > 0:  # held until ref_until: the crossing counts from there
                    n = held_crossing(lt, ft, l, v, i0, j0, bias[g], sbias[g], tables, th0,
                                      decay, b0, max(ref_until[g] - s, 0), T - 1 - s)
                else:
                    n = crossing(lt, ft, l, v, i0, j0, bias[g], sbias[g], tables, th0, decay,
                                 b0, 0, T - 1 - s)
                if n > 0:
                    if hstate[SIZE] == hkey.shape[0]:  # room: at most one live entry a neuron
                        live = hver[:hstate[SIZE]] == version[hkey[:hstate[SIZE]] % n_total]
                        heap_compact(hkey, hkey2, hseq, hver, hstate, live)
                    heap_push(hkey, hkey2, hseq, hver, hstate, (s + n) * n_total + g, 0,
                              version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
            if n_spk > 0 and st[l + 1, S_W] > 0:
                to_ring(st, src_delays, ring_idx, ring_n, ring_step, cal, cal_total, l + 1, s,
                        spk, n_spk, T)
            gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])
            stats[l, UPDATES] += nt
            stats[l, SPIKES] += n_spk
            gstats[EVENTS] += n_spk
            if per_step:
                d_sops, d_self = stats[l, SOPS] - sops0, stats[l, SELF] - self0
                d_macs = stats[l, MACS] - macs0
                if d_sops or n_spk or nt or d_self or d_macs:
                    rows = step_rows
                    rows[n_row, 0] = s
                    rows[n_row, 1] = l
                    rows[n_row, 2 + SOPS] = d_sops
                    rows[n_row, 2 + SPIKES] = n_spk
                    rows[n_row, 2 + UPDATES] = nt
                    rows[n_row, 2 + SELF] = d_self
                    rows[n_row, 2 + MACS] = d_macs
                    n_row += 1
        s += 1
    rec.out_n[0] = n_out
    rec.n_rows[0] = n_row
    return s_end


@njit(cache=True, nogil=True)
def split_spikes(out_step, out_gid, n_out, pop_of, offsets, n_pop):
    """Split the spike record by population, keeping (step, neuron) order.

    Returns ``rows`` (n_out, 2) int64 of ``(step, local neuron)`` grouped by population and
    ``ptr`` (n_pop + 1,) so that population ``l`` is ``rows[ptr[l]:ptr[l + 1]]``.
    """
    ptr = np.zeros(n_pop + 1, np.int64)
    for i in range(n_out):
        ptr[pop_of[out_gid[i]] + 1] += 1
    for l in range(n_pop):
        ptr[l + 1] += ptr[l]
    fill = ptr[:n_pop].copy()
    rows = np.empty((n_out, 2), np.int64)
    for i in range(n_out):
        g = out_gid[i]
        l = pop_of[g]
        rows[fill[l], 0] = out_step[i]
        rows[fill[l], 1] = g - offsets[l]
        fill[l] += 1
    return rows, ptr
