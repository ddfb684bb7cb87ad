"""Implicit fan-out of conv and pooling layers, for numba kernels.

A spike of source neuron ``j = (ci * H_in + yi) * W_in + xi`` of a conv edge reaches output
``(co, yo, xo)`` through kernel tap ``(ky, kx)`` when ``yo * stride - pad + ky == yi`` and
``xo * stride - pad + kx == xi`` with ``(yo, xo)`` inside the output: taps that fall off the
border do not exist, so a spike at the edge reaches fewer outputs. Pooling reaches output
``(ci, yo, xo)`` of every window that contains ``(yi, xi)``.
"""

from __future__ import annotations

from numba import njit

from eventsim.engine.plan import (
    C_OUT,
    H_IN,
    H_OUT,
    K_CONV,
    KH,
    KIND,
    KW,
    PAD,
    STRIDE,
    W_IN,
    W_OFF,
    W_OUT,
)


@njit(cache=True, nogil=True)
def window(j, h_in, w_in, h_out, w_out, kh, kw, stride, pad):
    """Where input ``j = (ci * h_in + yi) * w_in + xi`` lands: ``(ci, ny, nx, yo_lo, yo_hi,
    xo_lo, xo_hi)``. Outputs ``(yo, xo)`` in those inclusive ranges hold the input, through
    kernel tap ``(ny - yo * stride, nx - xo * stride)``. Scalars only, so calling it from a
    hot loop costs nothing.
    """
    ci = j // (h_in * w_in)
    rest = j - ci * h_in * w_in
    yi = rest // w_in
    xi = rest - yi * w_in
    ny, nx = yi + pad, xi + pad  # 0 <= ny - yo * stride < kh, inside the output map
    yo_lo, yo_hi = max(0, (ny - kh) // stride + 1), min(h_out - 1, ny // stride)
    xo_lo, xo_hi = max(0, (nx - kw) // stride + 1), min(w_out - 1, nx // stride)
    return ci, ny, nx, yo_lo, yo_hi, xo_lo, xo_hi


@njit(cache=True, nogil=True)
def spatial_targets(et, conv_w, e, j, tgt, wix):
    """Targets of source neuron ``j`` of conv/pool edge ``e`` (:mod:`.plan`).

    Writes local target indices to ``tgt`` and, for conv, the index of the weight in
    ``conv_w`` to ``wix`` (zero weights are skipped: they are no synapse); for pooling
    ``wix`` is -1. Returns the number of targets. ``tgt``/``wix`` need ``c_out * kh * kw``
    slots.
    """
    c_out, h_out, w_out = et[e, C_OUT], et[e, H_OUT], et[e, W_OUT]
    kh, kw, stride = et[e, KH], et[e, KW], et[e, STRIDE]
    ci, ny, nx, yo_lo, yo_hi, xo_lo, xo_hi = window(
        j, et[e, H_IN], et[e, W_IN], h_out, w_out, kh, kw, stride, et[e, PAD])
    conv = et[e, KIND] == K_CONV
    n = 0
    for yo in range(yo_lo, yo_hi + 1):
        for xo in range(xo_lo, xo_hi + 1):
            if conv:
                tap = (ci * kh + ny - yo * stride) * kw + nx - xo * stride
                wbase = et[e, W_OFF] + tap * c_out
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
