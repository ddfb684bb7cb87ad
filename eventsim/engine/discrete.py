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

Counters (``stats[l]``): ``SOPS`` synapses traversed into population ``l`` (nonzero weights
only, borders exact), ``SPIKES``, ``UPDATES`` (threshold evaluations, one per touched neuron
and step), ``SELF`` (valid self-events popped). ``gstats``: ``EVENTS`` (input spikes + spikes
+ self-events), ``QUEUE`` (live entries now), ``PEAK_QUEUE``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.fanout import spatial_targets
from eventsim.engine.plan import DECAY, DW_OFF, K_DENSE, KIND, N, OFF, POOL_W, SUBTRACT, V_TH, W_OFF
from eventsim.engine.queue import SIZE, heap_compact, heap_pop, heap_push

SOPS, SPIKES, UPDATES, SELF = range(4)
EVENTS, QUEUE, PEAK_QUEUE = range(3)


@njit(cache=True)
def next_crossing(u0, b, P, G, l, v_th, decay, n_max):
    """Smallest ``n`` in ``1..n_max`` with ``P[l, n] * u0 + b * G[l, n] >= v_th``, else -1.

    Without input ``u`` moves monotonically towards ``b / (1 - decay)`` (linearly when
    ``decay == 1``), so the crossing is found in closed form, then checked against the very
    expression the engine evaluates, stepping ``n`` until both agree.
    """
    if n_max < 1:
        return -1
    if P[l, 1] * u0 + b * G[l, 1] >= v_th:
        return 1
    if b <= 0:
        return -1  # decays (or stays) below threshold after a failed first step
    if decay < 1.0:
        limit = b / (1.0 - decay)
        if limit <= v_th or u0 >= limit:
            return -1
        n = int(np.ceil(np.log((limit - v_th) / (limit - u0)) / np.log(decay)))
    else:
        n = int(np.ceil((v_th - u0) / b))
    n = min(max(n, 2), n_max + 1)
    while n > 2 and P[l, n - 1] * u0 + b * G[l, n - 1] >= v_th:
        n -= 1
    while n <= n_max and P[l, n] * u0 + b * G[l, n] < v_th:
        n += 1
    return n if n <= n_max else -1


@njit(cache=True)
def _list(g, s, mark, touched, nt):
    """List neuron ``g`` as touched in step ``s`` (once). Returns the new list length."""
    if mark[g] != s:
        mark[g] = s
        touched[nt] = g
        nt += 1
    return nt


@njit(cache=True)
def _deliver(net_arrays, l, j, s, cur, mark, all_mark, touched, nt, tgt, wix, stats):
    """Phase A for one spike of input ``j`` of population ``l``. Returns the touched count."""
    lt, ft, csr_ptr, csr_idx, csr_w, dense_w, conv_w, bias = net_arrays
    off = lt[l, OFF]
    if lt[l, KIND] == K_DENSE:
        row = lt[l, W_OFF] + j
        begin, end = csr_ptr[row], csr_ptr[row + 1]
        n_out = lt[l, N]
        if lt[l, DW_OFF] >= 0 and end > begin:
            base = lt[l, DW_OFF] + j * n_out
            for i in range(n_out):  # contiguous: vectorised
                cur[off + i] += dense_w[base + i]
            if end - begin == n_out:
                all_mark[l] = s  # every neuron touched: no list needed
            else:
                for p in range(begin, end):
                    nt = _list(off + csr_idx[p], s, mark, touched, nt)
        else:
            for p in range(begin, end):
                g = off + csr_idx[p]
                nt = _list(g, s, mark, touched, nt)
                cur[g] += csr_w[p]
        stats[l, SOPS] += end - begin
    else:
        n = spatial_targets(lt, conv_w, l, j, tgt, wix)
        pool_w = ft[l, POOL_W]
        for i in range(n):
            g = off + tgt[i]
            nt = _list(g, s, mark, touched, nt)
            cur[g] += conv_w[wix[i]] if wix[i] >= 0 else pool_w
        stats[l, SOPS] += n
    return nt


@njit(cache=True)
def schedule_bias(net_arrays, P, G, T, version, pending, heap, gstats):
    """Queue the first crossing of every neuron that its bias alone drives over threshold."""
    lt, ft, csr_ptr, csr_idx, csr_w, dense_w, conv_w, bias = net_arrays
    hkey, hseq, hver, hstate = heap
    n_total = lt[-1, OFF] + lt[-1, N]
    for l in range(lt.shape[0]):
        for g in range(lt[l, OFF], lt[l, OFF] + lt[l, N]):
            if bias[g] > 0:
                n = next_crossing(0.0, bias[g], P, G, l, ft[l, V_TH], ft[l, DECAY], T)
                if n > 0:  # from step -1 (u = 0) to step n - 1
                    heap_push(hkey, hseq, hver, hstate, (n - 1) * n_total + g, version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True)
def run_steps(net_arrays, P, G, in_ptr, in_idx, s_begin, s_end, T, state, heap, scratch,
              out_step, out_gid, out_n, stats, gstats):
    """Run steps ``s_begin .. s_end - 1``; return the first step not run.

    Input spikes of step ``s`` are ``in_idx[in_ptr[s - s_begin] : in_ptr[s - s_begin + 1]]``.
    Spikes are appended to ``out_step`` / ``out_gid`` at ``out_n[0]``; the kernel stops at the
    start of a step when fewer than ``n_neurons`` slots are left, so the caller can grow the
    buffers and call again from the returned step. Queue entries are kept for steps < T only.
    """
    lt, ft, csr_ptr, csr_idx, csr_w, dense_w, conv_w, bias = net_arrays
    u, cur, t_last, version, pending, mark, all_mark = state
    hkey, hseq, hver, hstate = heap
    touched, spk, tgt, wix = scratch
    n_pop = lt.shape[0]
    n_total = lt[n_pop - 1, OFF] + lt[n_pop - 1, N]
    for s in range(s_begin, s_end):
        if out_n[0] + n_total > out_step.shape[0]:
            return s
        nt = 0
        for p in range(in_ptr[s - s_begin], in_ptr[s - s_begin + 1]):
            nt = _deliver(net_arrays, 0, in_idx[p], s, cur, mark, all_mark, touched, nt,
                          tgt, wix, stats)
        gstats[EVENTS] += in_ptr[s - s_begin + 1] - in_ptr[s - s_begin]
        for l in range(n_pop):
            off, n_l = lt[l, OFF], lt[l, N]
            v_th, decay = ft[l, V_TH], ft[l, DECAY]
            subtract = lt[l, SUBTRACT] != 0
            end_key = s * n_total + off + n_l
            while hstate[SIZE] > 0 and hkey[0] < end_key:  # this population's crossings due now
                key, ver = heap_pop(hkey, hseq, hver, hstate)
                g = key % n_total
                if ver == version[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                    stats[l, SELF] += 1
                    gstats[EVENTS] += 1
                    nt = _list(g, s, mark, touched, nt)
            everyone = all_mark[l] == s
            if everyone:
                nt = n_l
            else:
                touched[:nt].sort()
            n_spk = 0
            for i in range(nt):
                g = off + i if everyone else touched[i]
                dn = s - t_last[g]
                v = P[l, dn] * u[g] + bias[g] * G[l, dn] + cur[g]
                cur[g] = 0.0
                t_last[g] = s
                version[g] += 1
                if pending[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                if v >= v_th:
                    spk[n_spk] = g - off
                    n_spk += 1
                    out_step[out_n[0]] = s
                    out_gid[out_n[0]] = g
                    out_n[0] += 1
                    v = v - v_th if subtract else 0.0
                u[g] = v
                n = next_crossing(v, bias[g], P, G, l, v_th, decay, T - 1 - s)
                if n > 0:
                    if hstate[SIZE] == hkey.shape[0]:
                        heap_compact(hkey, hseq, hver, hstate, version, n_total)
                    heap_push(hkey, hseq, hver, hstate, (s + n) * n_total + g, version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
            gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])
            stats[l, UPDATES] += nt
            stats[l, SPIKES] += n_spk
            gstats[EVENTS] += n_spk
            nt = 0  # this population's spikes reach the next one in the same step
            if l + 1 < n_pop:
                for i in range(n_spk):
                    nt = _deliver(net_arrays, l + 1, spk[i], s, cur, mark, all_mark, touched,
                                  nt, tgt, wix, stats)
    return s_end
