"""The discrete-time event engine: numba kernels over the flat arrays of :mod:`.plan`.

Semantics (DESIGN.md, the STBP recurrence) for a neuron of population ``l`` at step ``s``::

    u <- decay * u_post[s-1] + bias + (sum of the weights of the spikes arriving at step s)
    spike if u >= v_th;  u_post[s] = 0 (zero reset) or u - v_th (subtract reset)

Event-driven, in two phases per population and step:

A. *delivery*: each arriving spike adds its weights to the targets' input buffer ``cur`` and
   lists the targets as touched (a Dense layer kept as dense rows adds one contiguous row);
B. *update*: each touched neuron (input arrived, or its own crossing fell due on the queue)
   is brought forward from its last step ``t_last`` in closed form,
   ``u <- P[l, n] * u + bias * G[l, n] + cur`` with ``n = s - t_last``
   (:func:`.plan.decay_tables`), checked against threshold once, reset, and its next crossing
   without input (bias, or a subtract reset that leaves it high) put on the queue.

Populations run in order within a step, so a spike of population ``l`` at step ``s`` reaches
population ``l + 1`` in step ``s``.

Only the steps in which something can happen run: the next step with input (the input comes
as the steps that have some, ``in_steps``), the step of the queue's first entry, or every step
while a NeuNorm's auxiliary neurons are live; the kernel jumps over the others, in which no
neuron would be touched (the closed-form decay covers them), so its cost follows the events,
not the window. Per-step counters are rows ``(step, population, counters)`` of the steps with
activity.

A population fed by a NeuNorm layer (:class:`~eventsim.network.layers.NeuNorm`) also steps
that layer's auxiliary neurons in phase A, every step from the first spike below until they
have decayed to exactly 0, and adds their analog share ``-alpha * x`` through its weights
(:func:`deliver_analog`); every neuron of the population is then touched in that step.

An integer (quantized) population holds whole numbers and decays as ``trunc(D * u / 4096)``:
phase B.1 steps that decay over the idle steps (it stops at a fixed point, soon 0), and its
crossings are found by stepping (:func:`int_after`, :func:`int_crossing`); a population with a
threshold per channel reads it per neuron.

Counters (``stats[l]``): ``SOPS`` synapses traversed into population ``l`` (nonzero weights
only, borders exact), ``SPIKES``, ``UPDATES`` (threshold evaluations, one per touched neuron
and step), ``SELF`` (valid self-events popped), ``MACS`` (analog values times nonzero
weights). ``gstats``: ``EVENTS`` (input spikes + spikes
+ self-events), ``QUEUE`` (live entries now), ``PEAK_QUEUE``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.fanout import spatial_targets, window
from eventsim.engine.plan import (
    C_IN,
    C_OUT,
    CAN_SELF,
    DECAY,
    DECAY_NUM,
    DW_OFF,
    H_IN,
    H_OUT,
    INTEGER,
    K_CONV,
    K_DENSE,
    KH,
    KIND,
    KW,
    NN_ALPHA,
    NN_COEF,
    NN_DECAY,
    NN_HW,
    NN_X,
    OFF,
    OWN_TH,
    PAD,
    POOL_W,
    STRIDE,
    SUBTRACT,
    V_TH,
    W_IN,
    W_OFF,
    W_OUT,
    N,
)
from eventsim.engine.queue import SIZE, heap_compact, heap_pop, heap_push
from eventsim.engine.result import MACS, SELF, SOPS, SPIKES, UPDATES
from eventsim.events.binning_kernel import sort_prefix

EVENTS, QUEUE, PEAK_QUEUE = range(3)


@njit(cache=True)
def value_after(u0, b, tables, l, n):
    """``u`` after ``n`` steps without input from ``u0``: the expression the kernel evaluates."""
    P, G, cap, conv = tables
    k = min(n, cap[l])
    g = G[l, k]
    if P[l, 1] == 1:  # decay 1: G[n] = n, converted to the tables' dtype through ``conv``
        conv[0] = n
        g = conv[0]
    return P[l, k] * u0 + b * g


@njit(cache=True)
def next_crossing(u0, b, tables, l, v_th, decay, n_max):
    """Smallest ``n`` in ``1..n_max`` with :func:`value_after` ``>= v_th``, else -1.

    Without input ``u`` moves monotonically towards ``b / (1 - decay)`` (linearly when
    ``decay == 1``): the crossing is estimated in closed form, then checked against the very
    expression the engine evaluates, stepping ``n`` (or bisecting) until both agree.
    """
    if n_max < 1:
        return -1
    if value_after(u0, b, tables, l, 1) >= v_th:
        return 1
    if b <= 0:
        return -1  # decays (or stays) below threshold after a failed first step
    if decay < 1.0:
        limit = b / (1.0 - decay)
        if u0 >= limit:
            return -1  # decreasing from a failed first step
        if limit <= v_th:  # never in exact arithmetic; rounding may still reach v_th
            x = np.float64(n_max)
        else:
            x = np.ceil(np.log((limit - v_th) / (limit - u0)) / np.log(decay))
    else:
        x = np.ceil((v_th - u0) / b)
    n = int(min(max(x, 2.0), n_max + 1.0))  # clamp as a float: no integer overflow
    for _ in range(4):  # the estimate is off by rounding at most: step to the exact n
        if n > 2 and value_after(u0, b, tables, l, n - 1) >= v_th:
            n -= 1
        elif n <= n_max and value_after(u0, b, tables, l, n) < v_th:
            n += 1
        else:
            return n if n <= n_max else -1
    lo, hi = 1, n_max + 1  # still off (a plateau): bisect value >= v_th on (lo, hi]
    if value_after(u0, b, tables, l, n_max) < v_th:
        return -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if value_after(u0, b, tables, l, mid) >= v_th:
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True)
def int_after(u, n, D, b):
    """An integer layer's ``u`` after ``n`` steps without input: ``u <- trunc(D * u / 4096) +
    b``, exact in float64 for whole numbers below 2**41. Stops at a fixed point."""
    if D == 4096:
        return u + n * b
    for _ in range(n):
        nu = np.trunc(u * D / 4096.0) + b
        if nu == u:
            break
        u = nu
    return u


@njit(cache=True)
def int_crossing(u, b, D, v_th, n_max):
    """Smallest ``n`` in ``1..n_max`` with :func:`int_after` ``>= v_th``, else -1 (stepping;
    a fixed point below threshold ends the search)."""
    for n in range(1, n_max + 1):
        nu = u + b if D == 4096 else np.trunc(u * D / 4096.0) + b
        if nu >= v_th:
            return n
        if nu == u:
            return -1
        u = nu
    return -1


@njit(cache=True)
def crossing(lt, l, u0, b, tables, v_th, decay, n_max):
    """:func:`next_crossing`, or :func:`int_crossing` for an integer population."""
    if lt[l, INTEGER]:
        return int_crossing(u0, b, lt[l, DECAY_NUM], v_th, n_max)
    return next_crossing(u0, b, tables, l, v_th, decay, n_max)


@njit(cache=True)
def _list(g, s, mark, touched, nt):
    """List neuron ``g`` as touched in step ``s`` (once). Returns the new list length."""
    if mark[g] != s:
        mark[g] = s
        touched[nt] = g
        nt += 1
    return nt


@njit(cache=True)
def deliver_csr(lt, csr_ptr, csr_idx, csr_w, l, spk, n_spk, s, cur, mark, touched, stats):
    """Phase A, sparse Dense layer: each spike adds its CSR row. Returns the touched count."""
    off, base = lt[l, OFF], lt[l, W_OFF]
    nt = 0
    sops = 0
    for k in range(n_spk):
        begin, end = csr_ptr[base + spk[k]], csr_ptr[base + spk[k] + 1]
        for p in range(begin, end):
            g = off + csr_idx[p]
            if mark[g] != s:  # list it once per step (written out: a call here costs 8x)
                mark[g] = s
                touched[nt] = g
                nt += 1
            cur[g] += csr_w[p]
        sops += end - begin
    stats[l, SOPS] += sops
    return nt


@njit(cache=True)
def deliver_rows(lt, csr_ptr, csr_idx, dense_w, l, spk, n_spk, s, cur, mark, all_mark,
                 touched, stats):
    """Phase A, Dense layer kept as dense rows: each spike adds one contiguous row (zeros
    included, harmless), lists its nonzero targets, and counts those as SOPs. A full row
    touches every neuron: ``all_mark[l] = s`` then stands for the list."""
    off, base, n_l, d_off = lt[l, OFF], lt[l, W_OFF], lt[l, N], lt[l, DW_OFF]
    dst = cur[off:off + n_l]
    nt = 0
    sops = 0
    for k in range(n_spk):
        j = spk[k]
        begin, end = csr_ptr[base + j], csr_ptr[base + j + 1]
        if end == begin:
            continue
        row_w = dense_w[d_off + j * n_l:d_off + (j + 1) * n_l]
        for i in range(n_l):  # contiguous: vectorised
            dst[i] += row_w[i]
        if end - begin == n_l:
            all_mark[l] = s
        else:
            for p in range(begin, end):
                g = off + csr_idx[p]
                if mark[g] != s:
                    mark[g] = s
                    touched[nt] = g
                    nt += 1
        sops += end - begin
    stats[l, SOPS] += sops
    return nt


@njit(cache=True)
def deliver_spatial(lt, ft, conv_w, l, spk, n_spk, s, cur, mark, touched, stats):
    """Phase A, conv or pooling layer: implicit fan-out (:mod:`.fanout`), zero weights are
    no synapse. Returns the touched count."""
    off, c_out, h_out, w_out = lt[l, OFF], lt[l, C_OUT], lt[l, H_OUT], lt[l, W_OUT]
    kh, kw, stride, w_off = lt[l, KH], lt[l, KW], lt[l, STRIDE], lt[l, W_OFF]
    conv = lt[l, KIND] == K_CONV
    pool_w = ft[l, POOL_W]
    nt = 0
    sops = 0
    for k in range(n_spk):
        ci, ny, nx, yo_lo, yo_hi, xo_lo, xo_hi = window(
            spk[k], lt[l, H_IN], lt[l, W_IN], h_out, w_out, kh, kw, stride, lt[l, PAD])
        for yo in range(yo_lo, yo_hi + 1):
            for xo in range(xo_lo, xo_hi + 1):
                tap = 0
                if conv:
                    tap = (ci * kh + ny - yo * stride) * kw + nx - xo * stride
                    first, count = off + yo * w_out + xo, c_out
                else:
                    first, count = off + (ci * h_out + yo) * w_out + xo, 1
                for co in range(count):
                    w = conv_w[w_off + tap * c_out + co] if conv else pool_w
                    if w == 0:
                        continue
                    g = first + co * h_out * w_out
                    if mark[g] != s:
                        mark[g] = s
                        touched[nt] = g
                        nt += 1
                    cur[g] += w
                    sops += 1
    stats[l, SOPS] += sops
    return nt


@njit(cache=True)
def deliver_analog(lt, ft, net_arrays, l, a, n_in, cur, stats, tgt, wix):
    """Analog values ``a[:n_in]`` (one per input of population ``l``) through its weights:
    ``cur[g] += w * a[j]`` for every nonzero ``a[j]``; ``stats[l, MACS]`` counts the nonzero
    weights used. ``tgt``, ``wix``: buffers for one input's conv/pool fan-out
    (:func:`~eventsim.engine.fanout.spatial_targets`). The caller marks the whole population
    as touched."""
    csr_ptr, csr_idx, csr_w, dense_w, conv_w = net_arrays[2:7]
    off, n_l, base = lt[l, OFF], lt[l, N], lt[l, W_OFF]
    macs = 0
    if lt[l, KIND] == K_DENSE:
        d_off = lt[l, DW_OFF]
        for j in range(n_in):
            aj = a[j]
            if aj == 0:
                continue
            begin, end = csr_ptr[base + j], csr_ptr[base + j + 1]
            if d_off >= 0:
                row_w = dense_w[d_off + j * n_l:d_off + (j + 1) * n_l]
                for i in range(n_l):
                    cur[off + i] += row_w[i] * aj
            else:
                for p in range(begin, end):
                    cur[off + csr_idx[p]] += csr_w[p] * aj
            macs += end - begin
        stats[l, MACS] += macs
        return
    for j in range(n_in):  # conv / pooling: the fan-out the continuous engine uses too
        aj = a[j]
        if aj == 0:
            continue
        n = spatial_targets(lt, conv_w, l, j, tgt, wix)
        for k in range(n):
            w = conv_w[wix[k]] if wix[k] >= 0 else ft[l, POOL_W]
            cur[off + tgt[k]] += w * aj
        macs += n
    stats[l, MACS] += macs


@njit(cache=True)
def neunorm_step(lt, ft, nn_alpha, nn_x, l, spk, n_spk, tally, analog):
    """Step the auxiliary neurons of the NeuNorm layer below population ``l`` with the spikes
    ``spk[:n_spk]`` reaching it, ``x <- decay * x + coef * (spikes at the position)``, and
    write ``analog[j] = -(alpha[j] * x[position of j])``. Returns whether any ``x`` is nonzero
    (else ``analog`` is left alone and there is nothing to deliver)."""
    hw, x_off, a_off = lt[l, NN_HW], lt[l, NN_X], lt[l, NN_ALPHA]
    k_aux, coef = ft[l, NN_DECAY], ft[l, NN_COEF]
    for k in range(n_spk):
        tally[spk[k] % hw] += 1.0
    live = False
    for p in range(hw):
        x = k_aux * nn_x[x_off + p] + coef * tally[p]
        tally[p] = 0.0
        nn_x[x_off + p] = x
        live = live or x != 0
    if live:
        n_in = lt[l, C_IN] * lt[l, H_IN] * lt[l, W_IN]
        for j in range(n_in):
            analog[j] = -(nn_alpha[a_off + j] * nn_x[x_off + j % hw])
    return live


@njit(cache=True)
def schedule_bias(net_arrays, tables, T, version, pending, heap, gstats):
    """Queue the first crossing of every neuron that its bias alone drives over threshold."""
    lt, ft, bias, vth = net_arrays[0], net_arrays[1], net_arrays[7], net_arrays[9]
    hkey, hkey2, hseq, hver, hstate = heap
    n_total = lt[-1, OFF] + lt[-1, N]
    for l in range(lt.shape[0]):
        for g in range(lt[l, OFF], lt[l, OFF] + lt[l, N]):
            if bias[g] > 0:
                n = crossing(lt, l, 0.0, bias[g], tables, vth[g], ft[l, DECAY], T)
                if n > 0:  # from step -1 (u = 0) to step n - 1
                    heap_push(hkey, hkey2, hseq, hver, hstate, (n - 1) * n_total + g, 0, version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True)
def any_live(nn_live):
    """Whether a NeuNorm's auxiliary neurons are live (then every step must run)."""
    for l in range(nn_live.shape[0]):
        if nn_live[l]:
            return True
    return False


@njit(cache=True)
def due_step(hkey, hstate, n_total):
    """Step of the queue's first entry (key ``step * n_total + neuron``); the largest int64
    if the queue is empty."""
    return hkey[0] // n_total if hstate[SIZE] > 0 else np.iinfo(np.int64).max


@njit(cache=True)
def run_steps(net_arrays, tables, in_steps, in_ptr, in_idx, s_begin, s_end, T, state, heap,
              scratch, out_step, out_gid, out_n, counts, rec_from, stats, step_rows, n_rows,
              gstats):
    """Run steps ``s_begin .. s_end - 1``; return the first step not run.

    The input is given by the steps that have some: ``in_steps`` ascending, and the input
    spikes of step ``in_steps[j]`` are ``in_idx[in_ptr[j] : in_ptr[j + 1]]`` (entries before
    ``s_begin`` are passed over). Steps in which nothing can happen (no input, no queued
    crossing due, no live NeuNorm) are skipped in one jump, so the cost follows the events,
    not ``s_end - s_begin``.

    ``counts[g]`` counts the spikes of every neuron; spikes of populations ``>= rec_from`` are
    also appended to ``out_step`` / ``out_gid`` at ``out_n[0]``. When ``step_rows`` has rows,
    every population with any count in a step appends the row ``(step, population, SOPS,
    SPIKES, UPDATES, SELF, MACS)`` (the step's counters) at ``n_rows[0]``. The kernel stops at
    the start of a step when either buffer has too little room left (``n_neurons`` spikes,
    ``n_pop`` rows), so the caller can grow it and call again from the returned step. Queue
    entries are kept for steps < T only.
    """
    lt, ft, csr_ptr, csr_idx, csr_w, dense_w, conv_w, bias, nn_alpha, vth = net_arrays
    P, G, cap, conv = tables
    u, cur, t_last, version, pending, mark, all_mark, uniform, nn_x, nn_live = state
    hkey, hkey2, hseq, hver, hstate = heap
    touched, spk, tally, analog, fan_tgt, fan_wix = scratch
    n_pop = lt.shape[0]
    n_total = lt[n_pop - 1, OFF] + lt[n_pop - 1, N]
    n_out = out_n[0]
    n_row = n_rows[0]
    per_step = step_rows.shape[0] > 0
    n_in_steps = in_steps.shape[0]
    j = np.searchsorted(in_steps, s_begin)  # the next step with input
    s = s_begin
    while s < s_end:
        if n_out + n_total > out_step.shape[0] or (per_step and
                                                   n_row + n_pop > step_rows.shape[0]):
            out_n[0] = n_out
            n_rows[0] = n_row
            return s
        busy = due_step(hkey, hstate, n_total)
        if j < n_in_steps:
            busy = min(busy, in_steps[j])
        if busy > s and not any_live(nn_live):  # nothing happens before step ``busy``: jump
            s = min(busy, s_end)
            continue
        if j < n_in_steps and in_steps[j] == s:
            n_spk = in_ptr[j + 1] - in_ptr[j]
            spk[:n_spk] = in_idx[in_ptr[j]:in_ptr[j + 1]]
            j += 1
        else:
            n_spk = 0
        # spk holds the spikes reaching population l: the input spikes for l = 0
        gstats[EVENTS] += n_spk
        for l in range(n_pop):
            sops0, macs0, self0 = stats[l, SOPS], stats[l, MACS], stats[l, SELF]
            off, n_l = lt[l, OFF], lt[l, N]
            decay, v_th, own_th = ft[l, DECAY], ft[l, V_TH], lt[l, OWN_TH] != 0
            subtract = lt[l, SUBTRACT] != 0
            cap_l = cap[l]
            integrator = P[l, 1] == 1  # decay 1: G[n] = n
            # phase A: deliver the spikes of the layer below
            if n_spk == 0:
                nt = 0
            elif lt[l, KIND] != K_DENSE:
                nt = deliver_spatial(lt, ft, conv_w, l, spk, n_spk, s, cur, mark, touched,
                                     stats)
            elif lt[l, DW_OFF] >= 0:
                nt = deliver_rows(lt, csr_ptr, csr_idx, dense_w, l, spk, n_spk, s, cur, mark,
                                  all_mark, touched, stats)
            else:
                nt = deliver_csr(lt, csr_ptr, csr_idx, csr_w, l, spk, n_spk, s, cur, mark,
                                 touched, stats)
            if lt[l, NN_ALPHA] >= 0 and (n_spk > 0 or nn_live[l]):  # NeuNorm below
                nn_live[l] = neunorm_step(lt, ft, nn_alpha, nn_x, l, spk, n_spk, tally, analog)
                if nn_live[l]:
                    deliver_analog(lt, ft, net_arrays, l, analog, lt[l, C_IN] * lt[l, H_IN] *
                                   lt[l, W_IN], cur, stats, fan_tgt, fan_wix)
                    all_mark[l] = s
            end_key = s * n_total + off + n_l
            while hstate[SIZE] > 0 and hkey[0] < end_key:  # this population's crossings due now
                key, _, ver = heap_pop(hkey, hkey2, hseq, hver, hstate)
                g = key % n_total
                if ver == version[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                    stats[l, SELF] += 1
                    gstats[EVENTS] += 1
                    nt = _list(g, s, mark, touched, nt)
            everyone = all_mark[l] == s
            # phase B.1: bring every touched neuron forward and add its input
            integer = lt[l, INTEGER] != 0
            if everyone and uniform[l] and not integer:
                # all last updated together: one factor, vectorised
                nt = n_l
                uu, cc, bb, tl = u[off:off + n_l], cur[off:off + n_l], bias[off:off + n_l], \
                    t_last[off:off + n_l]
                dn = s - tl[0]
                pn, gn = P[l, min(dn, cap_l)], G[l, min(dn, cap_l)]
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
                if own_th:  # thresholds per channel (integer layers)
                    v_th = vth[g]
                if v >= v_th:
                    spk[n_spk] = g - off
                    n_spk += 1
                    counts[g] += 1
                    if l >= rec_from:
                        out_step[n_out] = s
                        out_gid[n_out] = g
                        n_out += 1
                    v = v - v_th if subtract else 0.0
                    u[g] = v
                # next crossing without input: only a bias, or a subtract reset that leaves
                # u high enough for the next step, can cause one
                if not can_self or (bias[g] <= 0 and P[l, 1] * v < v_th):
                    continue
                n = crossing(lt, l, v, bias[g], tables, v_th, decay, T - 1 - s)
                if n > 0:
                    if hstate[SIZE] == hkey.shape[0]:  # room: at most one live entry a neuron
                        live = hver[:hstate[SIZE]] == version[hkey[:hstate[SIZE]] % n_total]
                        heap_compact(hkey, hkey2, hseq, hver, hstate, live)
                    heap_push(hkey, hkey2, hseq, hver, hstate, (s + n) * n_total + g, 0,
                              version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
            gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])
            stats[l, UPDATES] += nt
            stats[l, SPIKES] += n_spk
            gstats[EVENTS] += n_spk
            if per_step:
                d_sops, d_self = stats[l, SOPS] - sops0, stats[l, SELF] - self0
                d_macs = stats[l, MACS] - macs0
                if d_sops or n_spk or nt or d_self or d_macs:
                    step_rows[n_row, 0] = s
                    step_rows[n_row, 1] = l
                    step_rows[n_row, 2 + SOPS] = d_sops
                    step_rows[n_row, 2 + SPIKES] = n_spk
                    step_rows[n_row, 2 + UPDATES] = nt
                    step_rows[n_row, 2 + SELF] = d_self
                    step_rows[n_row, 2 + MACS] = d_macs
                    n_row += 1
        s += 1
    out_n[0] = n_out
    n_rows[0] = n_row
    return s_end


@njit(cache=True)
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
