"""Phase A of the discrete engine: the spikes of one edge's source reach its target population.

Each function takes the arrays it reads of the network (:class:`~eventsim.engine.plan.
NetArrays`: the arrays themselves, not the named tuple, in the functions the step loop calls
per step, because a call costs per array it is passed), an edge ``e`` into population ``l``
(first neuron ``off``) and the source's spikes
``spk[:n_spk]`` (local neuron indices) of the step ``s`` the edge delivers now; it adds their
weights to the targets' input ``cur``, lists each target once per step in ``touched``
(``mark[g] == s`` once listed) and returns the new list length. SOPs (the synapses traversed,
see :mod:`.plan` for composed edges) go to ``stats[l, SOPS]`` and ``edge_sops[e]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.fanout import spatial_targets, window
from eventsim.engine.plan import (
    C_IN,
    C_OUT,
    DW_OFF,
    H_IN,
    H_OUT,
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
    PAD,
    PATHS,
    POOL_W,
    STRIDE,
    W_IN,
    W_OFF,
    W_OUT,
    N,
)
from eventsim.engine.result import MACS, SOPS


@njit(cache=True, nogil=True)
def deliver_csr(et, csr_ptr, csr_idx, csr_w, paths, e, l, off, spk, n_spk, s, cur, mark,
                touched, nt, stats, edge_sops):
    """A sparse edge: each spike adds its CSR row."""
    base, p_off = et[e, W_OFF], et[e, PATHS]
    sops = 0
    for k in range(n_spk):
        j = spk[k]
        begin, end = csr_ptr[base + j], csr_ptr[base + j + 1]
        for p in range(begin, end):
            g = off + csr_idx[p]
            if mark[g] != s:  # list it once per step (written out: a call here costs 8x)
                mark[g] = s
                touched[nt] = g
                nt += 1
            cur[g] += csr_w[p]
        sops += end - begin if p_off < 0 else paths[p_off + j]
    stats[l, SOPS] += sops
    edge_sops[e] += sops
    return nt


@njit(cache=True, nogil=True)
def deliver_rows(et, csr_ptr, dense_w, paths, e, l, off, n_l, spk, n_spk, s, cur, all_mark,
                 hit, stats, edge_sops):
    """An edge kept as dense rows: each spike adds one contiguous row (zeros included,
    harmless). A full row touches every neuron: ``all_mark[l] = s`` then stands for the
    list of touched neurons. A row with zeros (quantized or pruned weights) sets ``hit`` (one
    byte per neuron, 0 between steps) where it is nonzero, in the same pass as its add;
    :func:`gather_hits` lists those neurons once per step, not once per spike (a nonzero in
    the dense row is a synapse: the CSR of the same weights has dropped exactly its zeros).
    Returns whether it set any ``hit`` (full rows alone leave nothing to gather)."""
    base, d_off, p_off = et[e, W_OFF], et[e, DW_OFF], et[e, PATHS]
    dst = cur[off:off + n_l]
    reached = hit[off:off + n_l]
    sops = 0
    any_hit = False
    for k in range(n_spk):
        j = spk[k]
        begin, end = csr_ptr[base + j], csr_ptr[base + j + 1]
        if end == begin:
            continue
        row_w = dense_w[d_off + j * n_l:d_off + (j + 1) * n_l]
        if end - begin == n_l or all_mark[l] == s:
            for i in range(n_l):  # contiguous: vectorised
                dst[i] += row_w[i]
            all_mark[l] = s
        else:
            for i in range(n_l):  # vectorised too
                dst[i] += row_w[i]
                reached[i] |= np.uint8(row_w[i] != 0)
            any_hit = True
        sops += end - begin if p_off < 0 else paths[p_off + j]
    stats[l, SOPS] += sops
    edge_sops[e] += sops
    return any_hit


@njit(cache=True, nogil=True)
def gather_hits(hit, mark, all_mark, touched, nt, l, off, n_l, s):
    """List the neurons of population ``l`` that rows reached in step ``s`` (``hit``, set by
    :func:`deliver_rows`) and are not listed yet, and clear ``hit``; every neuron listed is
    ``all_mark[l] = s``. Returns the new length of ``touched``."""
    reached = hit[off:off + n_l]
    if all_mark[l] != s:
        for i in range(n_l):
            if reached[i] != 0 and mark[off + i] != s:
                mark[off + i] = s
                touched[nt] = off + i
                nt += 1
        if nt == n_l:
            all_mark[l] = s
    for i in range(n_l):
        reached[i] = 0
    return nt


@njit(cache=True, nogil=True)
def deliver_spatial(et, ef, conv_w, e, l, off, spk, n_spk, s, cur, mark, touched, nt, stats,
                    edge_sops):
    """A conv or pooling edge: implicit fan-out (:mod:`.fanout`); zero weights are no
    synapse."""
    c_out, h_out, w_out = et[e, C_OUT], et[e, H_OUT], et[e, W_OUT]
    kh, kw, stride, w_off = et[e, KH], et[e, KW], et[e, STRIDE], et[e, W_OFF]
    conv = et[e, KIND] == K_CONV
    pool_w = ef[e, POOL_W]
    sops = 0
    for k in range(n_spk):
        ci, ny, nx, yo_lo, yo_hi, xo_lo, xo_hi = window(
            spk[k], et[e, H_IN], et[e, W_IN], h_out, w_out, kh, kw, stride, et[e, PAD])
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
    edge_sops[e] += sops
    return nt


@njit(cache=True, nogil=True)
def deliver_analog(net, e, l, off, a, n_in, cur, stats, tgt, wix):
    """Analog values ``a[:n_in]`` (one per source neuron of edge ``e``) through its weights:
    ``cur[g] += w * a[j]`` for every nonzero ``a[j]``; ``stats[l, MACS]`` counts the nonzero
    weights used. ``tgt``, ``wix``: buffers for one neuron's conv/pool fan-out
    (:func:`~eventsim.engine.fanout.spatial_targets`). The caller marks the whole population
    as touched."""
    et = net.et
    n_l, base = net.lt[l, N], et[e, W_OFF]
    macs = 0
    if et[e, KIND] == K_DENSE:
        d_off = et[e, DW_OFF]
        for j in range(n_in):
            aj = a[j]
            if aj == 0:
                continue
            begin, end = net.csr_ptr[base + j], net.csr_ptr[base + j + 1]
            if d_off >= 0:
                row_w = net.dense_w[d_off + j * n_l:d_off + (j + 1) * n_l]
                for i in range(n_l):
                    cur[off + i] += row_w[i] * aj
            else:
                for p in range(begin, end):
                    cur[off + net.csr_idx[p]] += net.csr_w[p] * aj
            macs += end - begin
        stats[l, MACS] += macs
        return
    for j in range(n_in):  # conv / pooling: the fan-out the continuous engine uses too
        aj = a[j]
        if aj == 0:
            continue
        n = spatial_targets(et, net.conv_w, e, j, tgt, wix)
        for k in range(n):
            w = net.conv_w[wix[k]] if wix[k] >= 0 else net.ef[e, POOL_W]
            cur[off + tgt[k]] += w * aj
        macs += n
    stats[l, MACS] += macs


@njit(cache=True, nogil=True)
def neunorm_step(net, nn_x, e, spk, n_spk, tally, analog):
    """Step the auxiliary neurons of the NeuNorm op opening edge ``e`` with the source's
    spikes ``spk[:n_spk]``, ``x <- decay * x + coef * (spikes at the position)``, and write
    ``analog[j] = -(alpha[j] * x[position of j])``. Returns whether any ``x`` is nonzero
    (else ``analog`` is left alone and there is nothing to deliver)."""
    et = net.et
    hw, x_off, a_off = et[e, NN_HW], et[e, NN_X], et[e, NN_ALPHA]
    k_aux, coef = net.ef[e, NN_DECAY], net.ef[e, NN_COEF]
    for k in range(n_spk):
        tally[spk[k] % hw] += 1.0
    live = False
    for p in range(hw):
        x = k_aux * nn_x[x_off + p] + coef * tally[p]
        tally[p] = 0.0
        nn_x[x_off + p] = x
        live = live or x != 0
    if live:
        n_in = et[e, C_IN] * et[e, H_IN] * et[e, W_IN]
        for j in range(n_in):
            analog[j] = -(net.nn_alpha[a_off + j] * nn_x[x_off + j % hw])
    return live
