"""The neuron models in continuous time: closed-form trajectories, crossings and readouts.

A neuron of population ``l`` between inputs follows (times ``d`` in us since its last touch;
``tau`` the membrane's time constant, ``tau_s``, ``tau_s2`` its currents', ``tau_a`` its
threshold's, each ``-dt_us / ln(decay)`` of the per-step decay; ``c`` the membrane's drive,
``bias / dt_us + v_leak / tau``; ``beta`` the first current's, ``syn_bias / dt_us``)::

    du/dt  = -u / tau + c + (i + i2) / dt_us        (held at its reset while refractory)
    di/dt  = -i / tau_s + beta,   di2/dt = -i2 / tau_s2,   db/dt = -b / tau_a

so a current of ``i`` kept for one step adds about ``i`` to ``u``, as the discrete
recurrence's ``u[t] = decay u[t-1] + i[t]`` does. Its solution is a constant and up to three
exponentials (:func:`terms`)::

    u(d) = K + x e^(-d/tau) + y e^(-d/tau_s) + z e^(-d/tau_s2)
    K = tau (c + I / dt_us),  I = beta tau_s,  y = (i - I) / (dt_us (1/tau - 1/tau_s)),
    z = i2 / (dt_us (1/tau - 1/tau_s2)),  x = u - K - y - z

(``u(d) = u + c d`` for an integrator, ``tau = inf``, with delta synapses). It fires when
``u >= v_th + b``; ``b(d) = b e^(-d/tau_a)``. An arriving spike of weight ``w`` adds ``w`` to
``u`` (delta synapses; nothing while refractory), to ``i`` (a current-based population), or
to ``i2`` (a projection with ``port=1``). A spike resets ``u`` (to ``v_reset``, or by ``-
(v_th + b)``), then raises ``b`` by ``adapt_jump`` (at once: the discrete recurrence decays
it one step first), and holds ``u`` for ``refractory_steps * dt_us`` us, the currents and
``b`` running on.

``u - b`` less ``v_th`` is a constant and at most three exponentials (a population with two
currents has no adaptation); with two its one turning point is closed form, with three its
slope, divided by one term, has one stationary point in closed form, so it turns at most
twice (:func:`turns`), and the first crossing is refined on the first monotone stretch that
reaches the threshold (:func:`first_reach`), to a few float64 ulps of the time it is queued
at (``tol``: no finer time exists there). A readout's maximum over a stretch is at its ends
or a turning point (:func:`stretch_max`); its integral is closed form
(:func:`stretch_integral`).

Per neuron, on scalars (a numba call that takes the state costs per array in it):
:func:`brought` brings a neuron forward, :func:`next_crossing` finds when it next fires left
alone (:func:`lif_crossing` in closed form for the plain LIF); :func:`population_table`
builds the table ``cp`` of each population's constants.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from eventsim.errors import NetworkError
from eventsim.network.graph import population_label

if TYPE_CHECKING:
    from eventsim.engine.plan import Plan
    from eventsim.network.graph import Graph
    from eventsim.network.network import Network

# Columns of the continuous population table ``cp`` (float64): time constants in us (0: no
# such term), the threshold's jump, the hold after a spike in us, PLAIN (1.0: a delta-synapse
# LIF without hold or adaptation, whose crossing is the closed form of
# :func:`eventsim.engine.continuous._crossing`) and READOUT (1.0: a leaky integrator).
TAU, TAU_SYN, TAU_SYN2, TAU_ADAPT, JUMP, HOLD, PLAIN, READOUT = range(8)
CP_COLS = 8


@njit(cache=True, nogil=True)
def terms(u0, i0, j0, cp, l, c, beta, dt_us):
    """``(K, x, y, z, s)`` of ``u(d) = K + s d + x e^(-d/tau) + y e^(-d/tau_s) + z
    e^(-d/tau_s2)`` from ``u0`` and currents ``i0``, ``j0`` (module docstring; ``s`` is the
    integrator's slope, 0 otherwise)."""
    tau = cp[l, TAU]
    if math.isinf(tau):
        return u0, 0.0, 0.0, 0.0, c
    big_k = c * tau
    y = 0.0
    if cp[l, TAU_SYN] > 0.0:
        ts = cp[l, TAU_SYN]
        rest = beta * ts
        big_k += tau * rest / dt_us
        y = (i0 - rest) / (dt_us * (1.0 / tau - 1.0 / ts))
    z = 0.0
    if j0 != 0.0:
        z = j0 / (dt_us * (1.0 / tau - 1.0 / cp[l, TAU_SYN2]))
    return big_k, u0 - big_k - y - z, y, z, 0.0


@njit(cache=True, nogil=True)
def lif_after(u0, d, tau, c):
    """A delta-synapse LIF's ``u`` ``d`` us on: :func:`potential` of :func:`terms` without
    currents, from scalars (``u0 + c d`` for an integrator; ``u0`` for ``d <= 0``)."""
    if not d > 0.0:
        return u0
    if math.isinf(tau):
        return u0 + c * d
    big_k = c * tau
    return big_k + (u0 - big_k) * math.exp(-d / tau)


@njit(cache=True, nogil=True)
def potential(big_k, x, y, z, s, cp, l, d):
    """``u(d)`` of :func:`terms`'s coefficients."""
    if s != 0.0 or math.isinf(cp[l, TAU]):
        return big_k + s * d
    v = big_k + x * math.exp(-d / cp[l, TAU])
    if y != 0.0:
        v += y * math.exp(-d / cp[l, TAU_SYN])
    if z != 0.0:
        v += z * math.exp(-d / cp[l, TAU_SYN2])
    return v


@njit(cache=True, nogil=True)
def current_at(i0, cp, l, beta, d):
    """The first current ``d`` us on: ``I + (i0 - I) e^(-d/tau_s)``, ``I = beta tau_s``."""
    ts = cp[l, TAU_SYN]
    if ts == 0.0:
        return 0.0
    rest = beta * ts
    return rest + (i0 - rest) * math.exp(-d / ts)


@njit(cache=True, nogil=True)
def decayed(v, tau, d):
    """``v e^(-d/tau)`` (0 stays 0)."""
    return v * math.exp(-d / tau) if v != 0.0 else 0.0


@njit(cache=True, nogil=True)
def _gap(big_k, x, y, z, s, b0, cp, l, d):
    """``u(d) - b(d)``: the potential less the threshold's adaptation."""
    v = potential(big_k, x, y, z, s, cp, l, d)
    if b0 != 0.0:
        v -= b0 * math.exp(-d / cp[l, TAU_ADAPT])
    return v


@njit(cache=True, nogil=True)
def _slope(x, y, z, b0, cp, l, d):
    """``d/dd`` of :func:`_gap` (exponential terms only)."""
    v = -x / cp[l, TAU] * math.exp(-d / cp[l, TAU])
    if y != 0.0:
        v -= y / cp[l, TAU_SYN] * math.exp(-d / cp[l, TAU_SYN])
    if z != 0.0:
        v -= z / cp[l, TAU_SYN2] * math.exp(-d / cp[l, TAU_SYN2])
    if b0 != 0.0:
        v += b0 / cp[l, TAU_ADAPT] * math.exp(-d / cp[l, TAU_ADAPT])
    return v


@njit(cache=True, nogil=True)
def _sign_change(x, y, z, b0, cp, l, lo, hi):
    """Where :func:`_slope` changes sign on ``[lo, hi]`` (at most once there), bisected to
    ``1e-9`` of ``hi`` (a turning point only splits monotone stretches); -1.0 if it does not."""
    r = _slope(x, y, z, b0, cp, l, lo) > 0.0
    if not hi > lo or (_slope(x, y, z, b0, cp, l, hi) > 0.0) == r:
        return -1.0
    tol = 1e-9 * hi
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if (_slope(x, y, z, b0, cp, l, mid) > 0.0) == r:
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, nogil=True)
def turns(x, y, z, b0, cp, l, horizon):
    """Where :func:`_gap` turns on ``(0, horizon)``: two times, ascending, -1.0 for none.

    Its slope is ``sum_j A_j e^(-r_j d)`` over at most three terms. With two, it is zero once
    at most, where ``e^(-(r_1 - r_2) d) = -A_2 / A_1``. With three, divided by the third
    term's exponential it has one stationary point, where ``e^(-(r_1 - r_2) d) = -(r_2 -
    r_3) A_2 / ((r_1 - r_3) A_1)``; on either side the slope changes sign at most once, and
    is bisected there."""
    rs = (1.0 / cp[l, TAU], 1.0 / cp[l, TAU_SYN] if y != 0.0 else 0.0,
          1.0 / cp[l, TAU_SYN2] if z != 0.0 else 0.0,
          1.0 / cp[l, TAU_ADAPT] if b0 != 0.0 else 0.0)
    amps = (-x * rs[0], -y * rs[1], -z * rs[2], b0 * rs[3])
    n = 0
    r1 = r2 = r3 = a1 = a2 = 0.0
    for j in range(4):
        if amps[j] != 0.0:
            if n == 0:
                r1, a1 = rs[j], amps[j]
            elif n == 1:
                r2, a2 = rs[j], amps[j]
            else:
                r3 = rs[j]
            n += 1
    if n < 2:
        return -1.0, -1.0
    if n == 2:
        ratio = -a2 / a1
        if ratio > 0.0:
            d = -math.log(ratio) / (r1 - r2)
            if 0.0 < d < horizon:
                return d, -1.0
        return -1.0, -1.0
    split = -1.0
    ratio = -(r2 - r3) * a2 / ((r1 - r3) * a1)
    if ratio > 0.0:
        d_star = -math.log(ratio) / (r1 - r2)
        if 0.0 < d_star < horizon:
            split = d_star
    if split < 0.0:
        return _sign_change(x, y, z, b0, cp, l, 0.0, horizon), -1.0
    first = _sign_change(x, y, z, b0, cp, l, 0.0, split)
    second = _sign_change(x, y, z, b0, cp, l, split, horizon)
    return (first, second) if first >= 0.0 else (second, -1.0)


@njit(cache=True, nogil=True)
def _gap_slope(big_k, x, y, z, b0, cp, l, d):
    """:func:`_gap` and :func:`_slope` at ``d``, sharing the exponentials."""
    e = math.exp(-d / cp[l, TAU])
    v, sl = big_k + x * e, -x / cp[l, TAU] * e
    if y != 0.0:
        e = math.exp(-d / cp[l, TAU_SYN])
        v, sl = v + y * e, sl - y / cp[l, TAU_SYN] * e
    if z != 0.0:
        e = math.exp(-d / cp[l, TAU_SYN2])
        v, sl = v + z * e, sl - z / cp[l, TAU_SYN2] * e
    if b0 != 0.0:
        e = math.exp(-d / cp[l, TAU_ADAPT])
        v, sl = v - b0 * e, sl + b0 / cp[l, TAU_ADAPT] * e
    return v, sl


@njit(cache=True, nogil=True)
def _rising_cross(big_k, x, y, z, s, b0, cp, l, v_th, lo, hi, tol):
    """A ``d`` in ``(lo, hi]`` with :func:`_gap` ``>= v_th`` and none before ``d - tol``,
    where the gap rises from below ``v_th`` at ``lo`` to at least ``v_th`` at ``hi``: Newton
    steps kept inside the bracket (a bisection step where one would leave it or would not
    halve it), until the bracket is ``tol`` wide."""
    d = hi
    step_before = hi - lo
    while hi - lo > tol:
        g, slope = _gap_slope(big_k, x, y, z, b0, cp, l, d)
        if g - v_th >= 0.0:
            hi = d
        else:
            lo = d
        nxt = d - (g - v_th) / slope if slope > 0.0 else -1.0
        if abs(nxt - d) < tol:  # converged: step past it by tol to close the bracket
            nxt = d - tol if g >= v_th else d + tol
        if not lo < nxt < hi or abs(nxt - d) > 0.5 * step_before:
            nxt = 0.5 * (lo + hi)
            if not lo < nxt < hi:
                break
        step_before = abs(nxt - d)
        d = nxt
    return hi


@njit(cache=True, nogil=True)
def first_reach(big_k, x, y, z, s, b0, cp, l, v_th, horizon, tol):
    """The first ``d`` in ``[0, horizon)`` with ``u(d) - b(d) >= v_th`` (``inf`` if none),
    to ``tol``: where it is reached, and not before ``d - tol``. The first monotone stretch
    between :func:`turns` whose end reaches the threshold holds it, and it is refined there
    (:func:`_rising_cross`). A bound first: each exponential term is at most its larger
    end."""
    if _gap(big_k, x, y, z, s, b0, cp, l, 0.0) >= v_th:
        return 0.0
    if s != 0.0 or math.isinf(cp[l, TAU]):  # an integrator: linear
        return (v_th - big_k) / s if s > 0.0 and (v_th - big_k) / s < horizon else math.inf
    if not horizon > 0.0:
        return math.inf
    top = big_k + max(x, x * math.exp(-horizon / cp[l, TAU]))
    if y != 0.0:
        top += max(y, y * math.exp(-horizon / cp[l, TAU_SYN]))
    if z != 0.0:
        top += max(z, z * math.exp(-horizon / cp[l, TAU_SYN2]))
    if b0 != 0.0:
        top += max(-b0, -b0 * math.exp(-horizon / cp[l, TAU_ADAPT]))
    if top < v_th:
        return math.inf
    t1, t2 = turns(x, y, z, b0, cp, l, horizon)
    lo = 0.0
    for j in range(3):
        hi = t1 if j == 0 else t2 if j == 1 else horizon
        if not hi > lo:
            continue
        if _gap(big_k, x, y, z, s, b0, cp, l, hi) >= v_th:
            hi = _rising_cross(big_k, x, y, z, s, b0, cp, l, v_th, lo, hi, tol)
            return hi if hi < horizon else math.inf
        lo = hi
    return math.inf


@njit(cache=True, nogil=True)
def stretch_max(big_k, x, y, z, s, cp, l, span):
    """The maximum of ``u`` on ``[0, span]``: at an end or a turning point."""
    top = max(potential(big_k, x, y, z, s, cp, l, 0.0),
              potential(big_k, x, y, z, s, cp, l, span))
    if s != 0.0 or math.isinf(cp[l, TAU]):
        return top
    t1, t2 = turns(x, y, z, 0.0, cp, l, span)
    if t1 > 0.0:
        top = max(top, potential(big_k, x, y, z, s, cp, l, t1))
    if t2 > 0.0:
        top = max(top, potential(big_k, x, y, z, s, cp, l, t2))
    return top


@njit(cache=True, nogil=True)
def stretch_integral(big_k, x, y, z, s, cp, l, span):
    """``integral_0^span u(d) dd`` in closed form."""
    if s != 0.0 or math.isinf(cp[l, TAU]):
        return big_k * span + 0.5 * s * span * span
    total = big_k * span - x * cp[l, TAU] * math.expm1(-span / cp[l, TAU])
    if y != 0.0:
        total -= y * cp[l, TAU_SYN] * math.expm1(-span / cp[l, TAU_SYN])
    if z != 0.0:
        total -= z * cp[l, TAU_SYN2] * math.expm1(-span / cp[l, TAU_SYN2])
    return total


@njit(cache=True, nogil=True)
def lif_crossing(u, t, tau, drive, v_th):
    """Time at which ``u`` reaches ``v_th`` without input (``inf`` if never)."""
    if u >= v_th:
        return t
    if drive <= 0.0:
        return math.inf
    if math.isinf(tau):
        return t + (v_th - u) / drive
    limit = drive * tau
    if limit <= v_th:
        return math.inf
    return t + tau * math.log((limit - u) / (limit - v_th))


@njit(cache=True, nogil=True)
def next_crossing(u, i0, j0, b0, t, free, cp, l, v_th, c, beta, dt_us, t_end):
    """When a neuron at ``t`` (potential ``u``, currents ``i0``, ``j0``, adaptation ``b0``,
    held until ``free``) next reaches its threshold left alone: from the end of its hold,
    its currents and adaptation brought there first (``inf`` if not before ``t_end``).
    Scalars in and out: a call that takes the state costs per array in it."""
    if cp[l, PLAIN] != 0.0:
        return lif_crossing(u, t, cp[l, TAU], c, v_th)
    t0 = max(t, free)
    h = t0 - t
    i0 = current_at(i0, cp, l, beta, h)
    j0 = decayed(j0, cp[l, TAU_SYN2], h)
    b0 = decayed(b0, cp[l, TAU_ADAPT], h)
    big_k, x, y, z, s = terms(u, i0, j0, cp, l, c, beta, dt_us)
    tol = 4e-16 * t_end  # a few ulps of the times queued
    return t0 + first_reach(big_k, x, y, z, s, b0, cp, l, v_th, t_end - t0, tol)


@njit(cache=True, nogil=True)
def brought(u, i0, j0, b0, t0, free, t, cp, l, c, beta, dt_us):
    """A neuron's ``(u, i, i2, b)`` brought from ``t0`` to ``t`` (us) in closed form, its
    membrane held until ``free``, the currents and adaptation running on; and, for a
    readout population, its potential's maximum and integral over the stretch (``-inf``,
    0 otherwise)."""
    top, area = -math.inf, 0.0
    if not t > t0:
        return u, i0, j0, b0, top, area
    if free > t0:  # held: u stays
        t1 = min(t, free)
        h = t1 - t0
        i0 = current_at(i0, cp, l, beta, h)
        j0 = decayed(j0, cp[l, TAU_SYN2], h)
        b0 = decayed(b0, cp[l, TAU_ADAPT], h)
        t0 = t1
    d = t - t0
    if d > 0.0:
        big_k, x, y, z, s = terms(u, i0, j0, cp, l, c, beta, dt_us)
        if cp[l, READOUT] != 0.0:
            top = stretch_max(big_k, x, y, z, s, cp, l, d)
            area = stretch_integral(big_k, x, y, z, s, cp, l, d)
        u = potential(big_k, x, y, z, s, cp, l, d)
        i0 = current_at(i0, cp, l, beta, d)
        j0 = decayed(j0, cp[l, TAU_SYN2], d)
        b0 = decayed(b0, cp[l, TAU_ADAPT], d)
    return u, i0, j0, b0, top, area


def population_table(net: Network | Graph, plan: Plan, dt_us: int) -> np.ndarray:
    """The continuous population table ``cp`` (:mod:`.continuous_model`'s columns): each
    population's time constants in us, from its decays per step of ``dt_us`` (the
    membrane's from ``tau_us`` when given), its threshold's jump and its hold in us."""
    g = plan.graph
    cp = np.zeros((plan.n_pop, CP_COLS), np.float64)

    def tau(decay: float) -> float:
        return -dt_us / math.log(decay) if decay > 0 else 0.0

    for l, p in enumerate(g.populations):
        cp[l, TAU] = p.tau_for(dt_us, population_label(net, g, l))
        cp[l, TAU_SYN], cp[l, TAU_SYN2] = tau(p.syn_decay), tau(p.syn_decay_2)
        for f, col in (("syn_decay", TAU_SYN), ("syn_decay_2", TAU_SYN2)):
            if cp[l, col] and math.isclose(cp[l, col], cp[l, TAU], rel_tol=1e-9):
                raise NetworkError(f"{population_label(net, g, l)}: field '{f}' gives a time "
                                   f"constant of {cp[l, col]:g} us, the membrane's "
                                   f"({cp[l, TAU]:g} us); continuous mode needs them to differ")
        if p.adaptive:
            cp[l, TAU_ADAPT], cp[l, JUMP] = tau(p.adapt_decay), p.adapt_jump
        cp[l, HOLD] = p.refractory_steps * dt_us
        cp[l, READOUT] = p.is_readout
        cp[l, PLAIN] = not (p.syn_decay or p.adaptive or p.refractory_steps or p.is_readout)
    return cp
