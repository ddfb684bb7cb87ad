"""Phase B.1 of the step loop (:mod:`.discrete`) for the neuron models beyond the STBP LIF:
bringing a touched neuron forward from its last step in closed form, and adding its input.

Each is called once per population and step with the list of touched neurons, so the step
loop's own loop over a delta-synapse population stays as it was (measured:
``tools/ab_kernels.py``). The models' recurrences are in :mod:`eventsim.network.layers`; the
closed forms and tables in :func:`eventsim.engine.plan.decay_tables`. A leaky-integrator
readout's bring-forward is :func:`eventsim.engine.readout.bring`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.crossing import (
    cuba_value,
    current2_after,
    current_after,
    int_cuba_after,
    two_value,
    value_after,
)
from eventsim.engine.plan import DECAY_NUM, INTEGER, SYN_NUM


@njit(cache=True, nogil=True)
def bring_cuba(net, tables, state, l, off, touched, nt, everyone, s):
    """Phase B.1 of a current-based population: each touched neuron brought forward from its
    last step in closed form and its input ``cur`` added to its current, ``u <- P u + bias G
    + i H + syn_bias J + cur``, ``i <- A i + syn_bias GA + cur``."""
    u, i_syn, cur, t_last = state.u, state.i_syn, state.cur, state.t_last
    bias, sbias = net.bias, net.syn_bias
    if net.lt[l, INTEGER]:  # whole numbers, truncating decays: stepped (to a fixed point)
        D, Du = net.lt[l, DECAY_NUM], net.lt[l, SYN_NUM]
        for i in range(nt):
            g = off + i if everyone else touched[i]
            uu, ii = int_cuba_after(u[g], i_syn[g], s - t_last[g] - 1, D, Du, bias[g],
                                    sbias[g])
            i_syn[g] = np.trunc(ii * Du / 4096.0) + sbias[g] + cur[g]  # the touched step
            u[g] = np.trunc(uu * D / 4096.0) + i_syn[g] + bias[g]
            cur[g] = 0.0
            t_last[g] = s
        return
    for i in range(nt):
        g = off + i if everyone else touched[i]
        dn = s - t_last[g]
        i0 = i_syn[g]
        u[g] = cuba_value(u[g], i0, bias[g], sbias[g], tables, l, dn) + cur[g]
        i_syn[g] = current_after(i0, sbias[g], tables, l, dn) + cur[g]
        cur[g] = 0.0
        t_last[g] = s


@njit(cache=True, nogil=True)
def bring_two(net, tables, state, l, off, touched, nt, everyone, s):
    """Phase B.1 of a population with two currents: :func:`bring_cuba` with the second
    current's term, ``u <- P u + bias G + i H + syn_bias J + i2 H2 + cur + cur2``, ``i <- A i
    + syn_bias GA + cur``, ``i2 <- A2 i2 + cur2``."""
    u, i_syn, i_syn2, cur, cur2, t_last = (state.u, state.i_syn, state.i_syn2, state.cur,
                                           state.cur2, state.t_last)
    bias, sbias = net.bias, net.syn_bias
    for i in range(nt):
        g = off + i if everyone else touched[i]
        dn = s - t_last[g]
        i0, j0 = i_syn[g], i_syn2[g]
        u[g] = two_value(u[g], i0, j0, bias[g], sbias[g], tables, l, dn) + cur[g] + cur2[g]
        i_syn[g] = current_after(i0, sbias[g], tables, l, dn) + cur[g]
        i_syn2[g] = current2_after(j0, tables, l, dn) + cur2[g]
        cur[g] = 0.0
        cur2[g] = 0.0
        t_last[g] = s


@njit(cache=True, nogil=True)
def bring_held(net, tables, state, l, off, touched, nt, everyone, s, cuba, two):
    """Phase B.1 of a population with a refractory period: a neuron held at step ``s``
    (``s <= ref_until``) keeps its membrane (a delta synapse's input is dropped; a current
    is brought forward and takes it); otherwise its membrane runs from ``max(t_last,
    ref_until)``, the currents brought there first (``two``: a second current too)."""
    u, i_syn, cur, t_last, ref_until = (state.u, state.i_syn, state.cur, state.t_last,
                                        state.ref_until)
    i_syn2, cur2 = state.i_syn2, state.cur2
    bias, sbias = net.bias, net.syn_bias
    for k in range(nt):
        g = off + k if everyone else touched[k]
        held = ref_until[g]
        if cuba:
            if s <= held:  # the currents run on; the membrane waits
                i_syn[g] = current_after(i_syn[g], sbias[g], tables, l, s - t_last[g]) + cur[g]
                if two:
                    i_syn2[g] = current2_after(i_syn2[g], tables, l, s - t_last[g]) + cur2[g]
            else:
                start = max(t_last[g], held)
                if start > t_last[g]:  # the currents alone up to the end of the hold
                    i_syn[g] = current_after(i_syn[g], sbias[g], tables, l, start - t_last[g])
                    if two:
                        i_syn2[g] = current2_after(i_syn2[g], tables, l, start - t_last[g])
                i0 = i_syn[g]
                if two:
                    j0 = i_syn2[g]
                    u[g] = (two_value(u[g], i0, j0, bias[g], sbias[g], tables, l, s - start)
                            + cur[g] + cur2[g])
                    i_syn2[g] = current2_after(j0, tables, l, s - start) + cur2[g]
                else:
                    u[g] = cuba_value(u[g], i0, bias[g], sbias[g], tables, l, s - start) + cur[g]
                i_syn[g] = current_after(i0, sbias[g], tables, l, s - start) + cur[g]
        elif s > held:
            u[g] = value_after(u[g], bias[g], tables, l, s - max(t_last[g], held)) + cur[g]
        cur[g] = 0.0
        if two:
            cur2[g] = 0.0
        t_last[g] = s
