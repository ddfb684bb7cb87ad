"""Implicit fan-out of conv and pooling layers, for numba kernels.

A spike of input ``j = (ci * H_in + yi) * W_in + xi`` of a conv population reaches output
``(co, yo, xo)`` through kernel tap ``(ky, kx)`` when ``yo * stride - pad + ky == yi`` and
``xo * stride - pad + kx == xi`` with ``(yo, xo)`` inside the output: taps that fall off the
border do not exist, so a spike at the edge reaches fewer outputs. Pooling reaches output
``(ci, yo, xo)`` of every window that contains ``(yi, xi)``.
"""

from __future__ import annotations

from numba import njit

from eventsim.engine.plan import C_OUT, H_IN, H_OUT, K_CONV, KH, KIND, KW, PAD, STRIDE, W_IN, \
    W_OFF, W_OUT


@njit(cache=True, inline="always")
def spatial_targets(lt, conv_w, l, j, tgt, wix):
    """Targets of input ``j`` of conv/pool population ``l``.

    Writes local target indices to ``tgt`` and, for conv, the index of the weight in
    ``conv_w`` to ``wix`` (zero weights are skipped: they are no synapse); for pooling
    ``wix`` is -1. Returns the number of targets. ``tgt``/``wix`` need ``c_out * kh * kw``
    slots.
    """
    h_in, w_in = lt[l, H_IN], lt[l, W_IN]
    c_out, h_out, w_out = lt[l, C_OUT], lt[l, H_OUT], lt[l, W_OUT]
    kh, kw, stride, pad = lt[l, KH], lt[l, KW], lt[l, STRIDE], lt[l, PAD]
    conv = lt[l, KIND] == K_CONV
    ci = j // (h_in * w_in)
    yi = (j // w_in) % h_in
    xi = j % w_in
    n = 0
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
            if conv:
                wbase = lt[l, W_OFF] + ((ci * kh + ky) * kw + kx) * c_out
                for co in range(c_out):
                    if conv_w[wbase + co] != 0:
                        tgt[n] = (co * h_out + yo) * w_out + xo
                        wix[n] = wbase + co
                        n += 1
            else:
                tgt[n] = (ci * h_out + yo) * w_out + xo
                wix[n] = -1
                n += 1
    return n
