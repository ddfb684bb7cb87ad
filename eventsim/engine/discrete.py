"""The discrete-time event engine: numba kernels over the flat arrays of :mod:`.plan`.

Semantics (DESIGN.md, the STBP recurrence) for a neuron of population ``l`` at step ``s``::

    u <- decay * u_post[s-1] + bias + sum of weights of the spikes arriving at step s
    spike if u >= v_th;  u_post[s] = 0 (zero reset) or u - v_th (subtract reset)

Event-driven: a neuron is *touched* only in steps where input arrives or where its own
closed-form crossing (bias, or a subtract reset that leaves it high) was scheduled on the
queue. On the first touch in a step it is brought forward from its last step ``t_last`` with
``u <- P[l, n] * u + bias * G[l, n]``, ``n = s - t_last`` (see :func:`.plan.decay_tables`).
Populations are processed in order within a step, so a spike of population ``l`` at step
``s`` reaches population ``l + 1`` in step ``s``.

Counters (``stats[l]``): ``SOPS`` synapses traversed into population ``l`` (nonzero weights
only, borders exact), ``SPIKES``, ``UPDATES`` (threshold evaluations, one per touched neuron
and step), ``SELF`` (valid self-events popped). ``gstats``: ``EVENTS`` (input spikes + spikes
+ self-events), ``QUEUE`` (valid entries now), ``PEAK_QUEUE``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.plan import (
    C_IN, C_OUT, DECAY, H_IN, H_OUT, K_CONV, K_DENSE, KH, KIND, KW, N, OFF, PAD, POOL_W,
    STRIDE, SUBTRACT, V_TH, W_IN, W_OFF, W_OUT,
)
from eventsim.engine.queue import SIZE, heap_compact, heap_pop, heap_push

SOPS, SPIKES, UPDATES, SELF = range(4)
EVENTS, QUEUE, PEAK_QUEUE = range(3)


@njit(cache=True)
def next_crossing(u0, b, P, G, l, v_th, decay, n_max):
    """Smallest ``n`` in ``1..n_max`` with ``P[l, n] * u0 + b * G[l, n] >= v_th``, else -1.

    Without input ``u`` moves monotonically towards ``b / (1 - decay)`` (or linearly when
    ``decay == 1``), so the crossing is found in closed form and then checked against the
    very expression the engine evaluates, stepping ``n`` until both agree.
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
def _touch(g, l, s, u, t_last, mark, bias, P, G, touched, nt):
    """First touch of neuron ``g`` in step ``s``: bring it forward and list it. Returns nt."""
    if mark[g] != s:
        mark[g] = s
        u[g] = P[l, s - t_last[g]] * u[g] + bias[g] * G[l, s - t_last[g]]
        t_last[g] = s
        touched[nt] = g
        nt += 1
    return nt


@njit(cache=True)
def _deliver(lt, ft, csr_ptr, csr_idx, csr_w, conv_w, l, j, s,
             u, t_last, mark, bias, P, G, touched, nt, stats):
    """Deliver a spike of input ``j`` of population ``l`` (its index in the layer below)."""
    off = lt[l, OFF]
    kind = lt[l, KIND]
    sops = 0
    if kind == K_DENSE:
        base = lt[l, W_OFF] + j
        for p in range(csr_ptr[base], csr_ptr[base + 1]):
            g = off + csr_idx[p]
            nt = _touch(g, l, s, u, t_last, mark, bias, P, G, touched, nt)
            u[g] += csr_w[p]
        sops = csr_ptr[base + 1] - csr_ptr[base]
    else:
        h_in, w_in = lt[l, H_IN], lt[l, W_IN]
        c_out, h_out, w_out = lt[l, C_OUT], lt[l, H_OUT], lt[l, W_OUT]
        kh, kw, stride, pad = lt[l, KH], lt[l, KW], lt[l, STRIDE], lt[l, PAD]
        ci = j // (h_in * w_in)
        yi = (j // w_in) % h_in
        xi = j % w_in
        for ky in range(kh):
            ny = yi + pad - ky
            if ny < 0 or ny % stride != 0 or ny // stride >= h_out:
                continue
            yo = ny // stride
            for kx in range(kw):
                nx = xi + pad - kx
                if nx < 0 or nx % stride != 0 or nx // stride >= w_out:
                    continue
                xo = nx // stride
                if kind == K_CONV:
                    wbase = lt[l, W_OFF] + ((ci * kh + ky) * kw + kx) * c_out
                    for co in range(c_out):
                        w = conv_w[wbase + co]
                        if w != 0:
                            g = off + (co * h_out + yo) * w_out + xo
                            nt = _touch(g, l, s, u, t_last, mark, bias, P, G, touched, nt)
                            u[g] += w
                            sops += 1
                else:  # pooling: one output channel, the input's own
                    g = off + (ci * h_out + yo) * w_out + xo
                    nt = _touch(g, l, s, u, t_last, mark, bias, P, G, touched, nt)
                    u[g] += ft[l, POOL_W]
                    sops += 1
    stats[l, SOPS] += sops
    return nt


@njit(cache=True)
def schedule_bias(lt, ft, bias, P, G, T, version, pending, hkey, hseq, hver, hstate, gstats):
    """Queue the first crossing of every neuron that a bias alone drives over threshold."""
    n_total = lt[-1, OFF] + lt[-1, N]
    for l in range(lt.shape[0]):
        off = lt[l, OFF]
        for g in range(off, off + lt[l, N]):
            if bias[g] > 0:
                n = next_crossing(0.0, bias[g], P, G, l, ft[l, V_TH], ft[l, DECAY], T)
                if n > 0:
                    heap_push(hkey, hseq, hver, hstate, (n - 1) * n_total + g, version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
    gstats[PEAK_QUEUE] = max(gstats[PEAK_QUEUE], gstats[QUEUE])


@njit(cache=True)
def run_steps(lt, ft, csr_ptr, csr_idx, csr_w, conv_w, bias, P, G,
              in_ptr, in_idx, s_begin, s_end, T,
              u, t_last, version, pending, mark, hkey, hseq, hver, hstate,
              touched, spk, out_step, out_gid, out_n, stats, gstats):
    """Run steps ``s_begin .. s_end - 1``; return the first step not run.

    Input spikes of step ``s`` are ``in_idx[in_ptr[s - s_begin] : in_ptr[s - s_begin + 1]]``.
    Spikes are appended to ``out_step`` / ``out_gid`` at ``out_n[0]``; the kernel stops at the
    start of a step when fewer than ``n_neurons`` slots are left, so the caller can grow the
    buffers and call again from the returned step. Queue entries are kept only for steps < T.
    """
    n_pop = lt.shape[0]
    n_total = lt[n_pop - 1, OFF] + lt[n_pop - 1, N]
    for s in range(s_begin, s_end):
        if out_n[0] + n_total > out_step.shape[0]:
            return s
        # population 0 receives the input spikes of the step
        nt = 0
        for p in range(in_ptr[s - s_begin], in_ptr[s - s_begin + 1]):
            nt = _deliver(lt, ft, csr_ptr, csr_idx, csr_w, conv_w, 0, in_idx[p], s,
                          u, t_last, mark, bias, P, G, touched, nt, stats)
        gstats[EVENTS] += in_ptr[s - s_begin + 1] - in_ptr[s - s_begin]
        for l in range(n_pop):
            off = lt[l, OFF]
            v_th = ft[l, V_TH]
            decay = ft[l, DECAY]
            subtract = lt[l, SUBTRACT] != 0
            # self-events of this population due now
            end_key = s * n_total + off + lt[l, N]
            while hstate[SIZE] > 0 and hkey[0] < end_key:
                key, ver = heap_pop(hkey, hseq, hver, hstate)
                g = key % n_total
                if ver == version[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                    stats[l, SELF] += 1
                    gstats[EVENTS] += 1
                    nt = _touch(g, l, s, u, t_last, mark, bias, P, G, touched, nt)
            # threshold, reset and reschedule every touched neuron, in neuron order
            touched[:nt].sort()
            n_spk = 0
            for i in range(nt):
                g = touched[i]
                version[g] += 1
                if pending[g]:
                    pending[g] = False
                    gstats[QUEUE] -= 1
                if u[g] >= v_th:
                    spk[n_spk] = g - off
                    n_spk += 1
                    out_step[out_n[0]] = s
                    out_gid[out_n[0]] = g
                    out_n[0] += 1
                    u[g] = u[g] - v_th if subtract else 0.0
                n = next_crossing(u[g], bias[g], P, G, l, v_th, decay, T - 1 - s)
                if n > 0:
                    if hstate[SIZE] == hkey.shape[0]:
                        heap_compact(hkey, hseq, hver, hstate, version, n_total)
                    heap_push(hkey, hseq, hver, hstate, (s + n) * n_total + g, version[g])
                    pending[g] = True
                    gstats[QUEUE] += 1
            if gstats[QUEUE] > gstats[PEAK_QUEUE]:
                gstats[PEAK_QUEUE] = gstats[QUEUE]
            stats[l, UPDATES] += nt
            stats[l, SPIKES] += n_spk
            gstats[EVENTS] += n_spk
            # this population's spikes reach the next one in the same step
            nt = 0
            if l + 1 < n_pop:
                for i in range(n_spk):
                    nt = _deliver(lt, ft, csr_ptr, csr_idx, csr_w, conv_w, l + 1, spk[i], s,
                                  u, t_last, mark, bias, P, G, touched, nt, stats)
    return s_end
