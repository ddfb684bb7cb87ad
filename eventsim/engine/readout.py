"""The membrane readout of a leaky integrator (a population with ``v_th = inf``: NIR's ``LI``,
``CubaLI``, ``I``): the maximum and the mean of each neuron's potential over the steps of a
run, computed exactly from the event times.

A readout neuron never fires, so it is touched only when input arrives (its updates cost per
input event, not per step). Left alone for ``j`` steps from potential ``u``, current ``i``
and drives ``c`` (membrane) and ``b`` (current), its potential is the closed form the engine
evaluates (:func:`~eventsim.engine.crossing.value_after`, or
:func:`~eventsim.engine.crossing.cuba_value` with a current)::

    f(j) = P[j] u + c G[j] + i H[j] + b J[j]

so over ``m`` idle steps

* the sum is ``u SP[m] + c SG[m] + i SH[m] + b SJ[m]`` with the prefix sums of
  :func:`~eventsim.engine.plan.decay_tables` (past the tables' ``cap``, where every table has
  stopped changing, each sum grows by its table's last value a step), ``u m + c m (m + 1)
  / 2`` for an integrator (decay 1);
* the maximum is ``f(1)`` or ``f(m)``, or the one peak of ``f`` when it rises first (a
  current still building up: :func:`~eventsim.engine.crossing.cuba_peak`).

The step loop (:mod:`.discrete`) adds the idle steps before each touch and the touched step
itself; :func:`flush` adds the idle steps from each neuron's last touch to the end of the run.
Sums are float64 whatever the run's dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.crossing import cuba_peak, cuba_value, current_after, value_after
from eventsim.engine.plan import OFF, SYN_DECAY, V_TH, N


@njit(cache=True, nogil=True)
def _prefix(S, X, l, cap, m):
    """``sum_{j=1..m} X[l, j]`` from the prefix sums ``S``, the table read at ``min(j, cap)``."""
    if m <= cap:
        return S[l, m]
    return S[l, cap] + (m - cap) * np.float64(X[l, cap])


@njit(cache=True, nogil=True)
def _value(u0, i0, c, b, tables, l, j, cuba):
    if cuba:
        return cuba_value(u0, i0, c, b, tables, l, j)
    return value_after(u0, c, tables, l, j)


@njit(cache=True, nogil=True)
def idle(u0, i0, c, b, tables, l, m, cuba):
    """The sum and the maximum of ``f(1) .. f(m)`` (``m >= 1``): ``(sum, max)``, float64."""
    f1 = np.float64(_value(u0, i0, c, b, tables, l, 1, cuba))
    fm = np.float64(_value(u0, i0, c, b, tables, l, m, cuba))
    if tables.P[l, 1] == 1:  # an integrator: f(j) = u + c j
        return np.float64(u0) * m + np.float64(c) * (m * (m + 1) / 2.0), max(f1, fm)
    cap = tables.cap[l]
    total = np.float64(u0) * _prefix(tables.SP, tables.P, l, cap, m) \
        + np.float64(c) * _prefix(tables.SG, tables.G, l, cap, m)
    if cuba:
        total += np.float64(i0) * _prefix(tables.SH, tables.H, l, cap, m) \
            + np.float64(b) * _prefix(tables.SJ, tables.J, l, cap, m)
    if cuba and m > 1 and cuba_value(u0, i0, c, b, tables, l, 2) > f1:  # rising first: a peak
        peak = cuba_peak(u0, i0, c, b, tables, l, m)
        return total, max(np.float64(cuba_value(u0, i0, c, b, tables, l, peak)), fm)
    return total, max(f1, fm)


@njit(cache=True, nogil=True)
def bring(net, tables, state, l, off, touched, nt, everyone, s):
    """Phase B.1 of a readout population: each touched neuron's idle steps since its last
    touch added to its readout, the neuron brought forward in closed form with its input
    (into its current when it has one), and the touched step's potential added."""
    u, i_syn, cur, t_last = state.u, state.i_syn, state.cur, state.t_last
    ro_sum, ro_max = state.ro_sum, state.ro_max
    bias, sbias = net.bias, net.syn_bias
    cuba = net.ft[l, SYN_DECAY] > 0
    for k in range(nt):
        g = off + k if everyone else touched[k]
        dn = s - t_last[g]
        if dn > 1:
            i0 = i_syn[g] if cuba else 0.0  # (i_syn has one slot without currents)
            total, top = idle(u[g], i0, bias[g], sbias[g], tables, l, dn - 1, cuba)
            ro_sum[g] += total
            ro_max[g] = max(ro_max[g], top)
        if cuba:
            i0 = i_syn[g]
            u[g] = cuba_value(u[g], i0, bias[g], sbias[g], tables, l, dn) + cur[g]
            i_syn[g] = current_after(i0, sbias[g], tables, l, dn) + cur[g]
        else:
            u[g] = value_after(u[g], bias[g], tables, l, dn) + cur[g]
        ro_sum[g] += u[g]
        ro_max[g] = max(ro_max[g], np.float64(u[g]))
        cur[g] = 0.0
        t_last[g] = s


@njit(cache=True, nogil=True)
def flush(net, tables, state, T):
    """Add every readout neuron's idle steps from its last touch to step ``T - 1`` (once, at
    the end of the run: the state is left as it is)."""
    lt, ft = net.lt, net.ft
    for l in range(lt.shape[0]):
        if ft[l, V_TH] != np.inf:
            continue
        cuba = ft[l, SYN_DECAY] > 0
        for g in range(lt[l, OFF], lt[l, OFF] + lt[l, N]):
            m = T - 1 - state.t_last[g]
            if m > 0:
                i0 = state.i_syn[g] if cuba else 0.0
                total, top = idle(state.u[g], i0, net.bias[g], net.syn_bias[g], tables, l, m,
                                  cuba)
                state.ro_sum[g] += total
                state.ro_max[g] = max(state.ro_max[g], top)
