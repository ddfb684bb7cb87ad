"""When a neuron left alone crosses threshold: the closed-form arithmetic of the discrete engine.

A neuron of population ``l`` without input for ``n`` steps is brought forward as
``u <- P[l, n] * u + bias * G[l, n]`` (:func:`eventsim.engine.plan.decay_tables`; an integer
population steps ``u <- trunc(D * u / 4096) + bias``). These functions find the first step at
which that value reaches ``v_th``, exactly as the step loop (:mod:`.discrete`) will evaluate
it, so a crossing put on the queue is one the loop confirms. A current-based neuron (current
``i``, drives ``c`` of the membrane and ``b`` of the current) is brought forward as ``u <-
P u + c G + i H + b J`` (:func:`cuba_value`): no longer monotone, but with at most one
turning point, which :func:`cuba_crossing` brackets before it refines the crossing. With a
second current ``i2`` (:func:`two_value`), or an adaptive threshold, it has at most two,
located in closed form by :func:`three_turns` (:func:`three_crossing`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.plan import (
    ADAPT_DECAY,
    ADAPT_JUMP,
    DECAY,
    DECAY_NUM,
    INTEGER,
    SYN_DECAY,
    SYN_DECAY2,
    SYN_NUM,
)


@njit(cache=True, nogil=True)
def value_after(u0, b, tables, l, n):
    """``u`` after ``n`` steps without input from ``u0``: the expression the kernel evaluates."""
    k = min(n, tables.cap[l])
    g = tables.G[l, k]
    if tables.P[l, 1] == 1:  # decay 1: G[n] = n, converted to the tables' dtype by ``conv``
        tables.conv[0] = n
        g = tables.conv[0]
    return tables.P[l, k] * u0 + b * g


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def cuba_value(u0, i0, c, b, tables, l, n):
    """A current-based neuron's ``u`` after ``n`` steps without input from ``u0`` and current
    ``i0``: the expression the kernel evaluates (same terms, same order)."""
    k = min(n, tables.cap[l])
    return tables.P[l, k] * u0 + c * tables.G[l, k] + i0 * tables.H[l, k] + b * tables.J[l, k]


@njit(cache=True, nogil=True)
def current_after(i0, b, tables, l, n):
    """A current-based neuron's current after ``n`` steps without input from ``i0`` (its bias
    ``b``): ``A i0 + b GA``, read at ``min(n, cap)``; the input of a touched step is added to
    it, and to :func:`cuba_value`, by the caller."""
    k = min(n, tables.cap[l])
    return tables.A[l, k] * i0 + b * tables.GA[l, k]


@njit(cache=True, nogil=True)
def current2_after(i2, tables, l, n):
    """The second current after ``n`` steps without input: ``A2 i2``, read at ``min(n,
    cap)``."""
    return tables.A2[l, min(n, tables.cap[l])] * i2


@njit(cache=True, nogil=True)
def cuba_peak(u0, i0, c, b, tables, l, n_max):
    """Where :func:`cuba_value`, rising from ``n = 1`` (the caller checked), stops rising:
    the first ``n`` in ``1..n_max`` whose step to ``n + 1`` does not rise (``n_max`` if none),
    bisected (one turning point: see :func:`cuba_crossing`)."""
    lo, hi = 1, n_max  # the step from lo rises; from hi it does not (or hi = n_max)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (cuba_value(u0, i0, c, b, tables, l, mid + 1)
                > cuba_value(u0, i0, c, b, tables, l, mid)):
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, nogil=True)
def cuba_crossing(u0, i0, c, b, tables, l, v_th, n_max):
    """Smallest ``n`` in ``1..n_max`` with :func:`cuba_value` ``>= v_th``, else -1.

    In exact arithmetic ``u(n) = K + x k**n + y a**n`` (``k``, ``a`` the two decays), whose
    differences change sign at most once: ``u`` rises to one peak then falls, or falls to one
    trough then rises (towards ``K``), or is monotone. Falling first (from ``u(1) <
    v_th``), it can only cross on the rise after the trough, so ``u(n) >= v_th`` is monotone
    in ``n`` and is bisected on ``1..n_max``; rising first, the peak ``m`` (the first ``n``
    whose step to ``n + 1`` does not rise) is bisected, and the crossing, if ``u(m)``
    reaches ``v_th``, is bisected on ``1..m``. Every value is the expression the engine
    evaluates, so the crossing is one the step loop confirms.
    """
    if n_max < 1:
        return -1
    f1 = cuba_value(u0, i0, c, b, tables, l, 1)
    if f1 >= v_th:
        return 1
    if n_max == 1:
        return -1
    hi = n_max
    if cuba_value(u0, i0, c, b, tables, l, 2) > f1:  # rising first: bracket the peak
        hi = cuba_peak(u0, i0, c, b, tables, l, n_max)
    if cuba_value(u0, i0, c, b, tables, l, hi) < v_th:
        return -1
    lo = 1
    while hi - lo > 1:  # u(lo) < v_th <= u(hi), and v_th is crossed once on the way
        mid = (lo + hi) // 2
        if cuba_value(u0, i0, c, b, tables, l, mid) >= v_th:
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True, nogil=True)
def two_value(u0, i0, i2, c, b, tables, l, n):
    """:func:`cuba_value` of a neuron with a second current ``i2`` (no bias): plus ``i2 *
    H2``, the expression the kernel evaluates (same terms, same order)."""
    k = min(n, tables.cap[l])
    return (tables.P[l, k] * u0 + c * tables.G[l, k] + i0 * tables.H[l, k]
            + b * tables.J[l, k] + i2 * tables.H2[l, k])


@njit(cache=True, nogil=True)
def _rising(al, be, ga, tables, third, l, m):
    """Whether ``u(m + 1) > u(m)`` in exact arithmetic: ``al k**m + be a**m + ga q**m > 0``
    (the powers read from the tables: ``P``, ``A``, and ``third`` for ``q``)."""
    k = min(m, tables.cap[l])
    return al * tables.P[l, k] + be * tables.A[l, k] + ga * third[l, k] > 0


@njit(cache=True, nogil=True)
def _turn(al, be, ga, tables, third, l, lo, hi):
    """The ``n`` in ``lo + 1 .. hi`` where :func:`_rising` changes (``u(n)`` is a peak or a
    trough), on a range where it changes at most once; -1 if it does not."""
    r = _rising(al, be, ga, tables, third, l, lo)
    if lo >= hi or _rising(al, be, ga, tables, third, l, hi) == r:
        return -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _rising(al, be, ga, tables, third, l, mid) == r:
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, nogil=True)
def three_turns(al, be, ga, k, a, q, tables, third, l, n_max):
    """Where ``u(n) = K + x k**n + y a**n + z q**n`` turns on ``1..n_max`` (``al = x (k - 1)``,
    ``be = y (a - 1)``, ``ga = z (q - 1)``; ``third`` the table of ``q**n``): three ``n``,
    ascending, -1 for none (at most two are real turns).

    Its step ``u(m + 1) - u(m) = al k**m + be a**m + ga q**m`` divided by ``q**m`` has one
    stationary point, where ``(k / a)**m = -be log(a / q) / (al log(k / q))``; on each side it
    is monotone, so the step changes sign at most once there (:func:`_turn` bisects it). With
    two terms only (``ga = 0``, or ``be = 0``) it changes sign once at most anywhere. A tuple,
    not an array: no allocation per call.
    """
    last = n_max - 1  # the steps m = 1 .. last cover u(1 .. n_max)
    split = 0  # the last whole m at or before the stationary point (0: none inside)
    if al != 0.0 and be != 0.0 and ga != 0.0 and a != q and k != q and k != a:
        ratio = -be * np.log(a / q) / (al * np.log(k / q))
        if ratio > 0.0:
            m_star = np.log(ratio) / np.log(k / a)
            if m_star >= 1.0:
                split = int(min(m_star, np.float64(last)))
    if split == 0:
        return _turn(al, be, ga, tables, third, l, 1, last), -1, -1
    if split >= last:
        return _turn(al, be, ga, tables, third, l, 1, split), -1, -1
    return (_turn(al, be, ga, tables, third, l, 1, split),
            _turn(al, be, ga, tables, third, l, split, split + 1),
            _turn(al, be, ga, tables, third, l, split + 1, last))


@njit(cache=True, nogil=True)
def three_reaches(u0, i0, i2, c, b, theta, shift, tables, l, v_th, n):
    """Whether a neuron left alone fires ``n`` steps on: :func:`two_value` against ``v_th +
    theta * R[shift + n]``, the expressions the step loop evaluates. It serves both models
    of three exponentials: two currents (``theta = 0``; ``R`` is 0 there) and an adaptive
    threshold (``i2 = 0``, ``H2`` is 0; with delta synapses ``i0 = b = 0`` and ``H = J = 0``,
    so the value is :func:`value_after`'s), ``theta`` the threshold's adaptation ``shift``
    steps before the potential's ``n`` count from."""
    return (two_value(u0, i0, i2, c, b, tables, l, n)
            >= v_th + theta * tables.R[l, min(shift + n, tables.cap[l])])


@njit(cache=True, nogil=True)
def three_crossing(u0, i0, i2, c, b, theta, shift, tables, third, l, v_th, k, a, q, n_max):
    """Smallest ``n`` in ``1..n_max`` where :func:`three_reaches`, else -1.

    In exact arithmetic the potential less the threshold's adaptation is ``K + x k**n + y
    a**n + z q**n - v_th`` (``k``, ``a`` the membrane's and the current's decays, ``a != k``;
    ``q`` the second current's or the adaptation's, its powers in ``third``) with ``K = c / (1
    - k) + b / ((1 - a)(1 - k))``, ``y = (i - b / (1 - a)) a / (a - k)`` (0 with delta
    synapses: ``a = i = b = 0``), ``z = i2 q / (q - k) - theta q**shift`` and ``x = u0 - K -
    y - i2 q / (q - k)``: at most two turning points (:func:`three_turns`). Between them it is
    monotone, and the first stretch whose end reaches the threshold holds the crossing,
    bisected on the engine's own expressions.
    """
    if n_max < 1:
        return -1
    if three_reaches(u0, i0, i2, c, b, theta, shift, tables, l, v_th, 1):
        return 1
    if n_max == 1:
        return -1
    k, a, q = np.float64(k), np.float64(a), np.float64(q)
    big_k = c / (1.0 - k) + b / ((1.0 - a) * (1.0 - k))
    y = (i0 - b / (1.0 - a)) * a / (a - k)
    in_u = i2 * q / (q - k) if i2 != 0.0 else 0.0  # the second current's part of u
    z = in_u - theta * tables.R[l, min(shift, tables.cap[l])]
    x = u0 - big_k - y - in_u
    turns = three_turns(x * (k - 1.0), y * (a - 1.0), z * (q - 1.0), k, a, q, tables, third,
                        l, n_max)
    lo = 1  # below the threshold at lo
    for j in range(4):
        hi = turns[j] if j < 3 else n_max
        if hi <= lo:
            continue
        if three_reaches(u0, i0, i2, c, b, theta, shift, tables, l, v_th, hi):  # monotone
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if three_reaches(u0, i0, i2, c, b, theta, shift, tables, l, v_th, mid):
                    hi = mid
                else:
                    lo = mid
            return hi
        lo = hi
    return -1


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def int_cuba_after(u, i, n, D, Du, c, b):
    """An integer current-based neuron's ``(u, i)`` after ``n`` steps without input:
    ``i <- trunc(Du * i / 4096) + b``, then ``u <- trunc(D * u / 4096) + i + c``, exact in
    float64 for whole numbers below 2**41. Stops at a fixed point of both."""
    for _ in range(n):
        ni = np.trunc(i * Du / 4096.0) + b
        nu = np.trunc(u * D / 4096.0) + ni + c
        if ni == i and nu == u:
            break
        u, i = nu, ni
    return u, i


@njit(cache=True, nogil=True)
def int_cuba_crossing(u, i, D, Du, c, b, v_th, n_max):
    """Smallest ``n`` in ``1..n_max`` with :func:`int_cuba_after`'s ``u >= v_th``, else -1
    (stepping; a fixed point below threshold ends the search)."""
    for n in range(1, n_max + 1):
        ni = np.trunc(i * Du / 4096.0) + b
        nu = np.trunc(u * D / 4096.0) + ni + c
        if nu >= v_th:
            return n
        if ni == i and nu == u:
            return -1
        u, i = nu, ni
    return -1


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def crossing(lt, ft, l, u0, i0, i2, c, b, tables, v_th, decay, theta, shift, n_max):
    """The first crossing of a neuron of population ``l`` left alone (``u0``, currents ``i0``
    and ``i2``, drives ``c`` of the membrane and ``b`` of the current, adaptation ``theta`` of
    ``shift`` steps before): :func:`next_crossing`, :func:`int_crossing` for an integer
    population, :func:`cuba_crossing` for a current-based one, :func:`three_crossing` for one
    with two currents or an adaptive threshold."""
    if ft[l, SYN_DECAY2] > 0:  # three exponentials: a second current
        return three_crossing(u0, i0, i2, c, b, 0.0, 0, tables, tables.A2, l, v_th,
                              ft[l, DECAY], ft[l, SYN_DECAY], ft[l, SYN_DECAY2], n_max)
    if ft[l, ADAPT_JUMP] > 0:  # or an adaptive threshold
        return three_crossing(u0, i0, 0.0, c, b, theta, shift, tables, tables.R, l, v_th,
                              ft[l, DECAY], ft[l, SYN_DECAY], ft[l, ADAPT_DECAY], n_max)
    if ft[l, SYN_DECAY] > 0:
        if lt[l, INTEGER]:
            return int_cuba_crossing(u0, i0, lt[l, DECAY_NUM], lt[l, SYN_NUM], c, b, v_th,
                                     n_max)
        return cuba_crossing(u0, i0, c, b, tables, l, v_th, n_max)
    if lt[l, INTEGER]:
        return int_crossing(u0, c, lt[l, DECAY_NUM], v_th, n_max)
    return next_crossing(u0, c, tables, l, v_th, decay, n_max)


@njit(cache=True, nogil=True)
def held_crossing(lt, ft, l, u0, i0, i2, c, b, tables, v_th, decay, theta, hold, n_max):
    """:func:`crossing` of a neuron whose membrane is held for the next ``hold`` steps (a
    refractory period): counted from the end of the hold, the currents brought there first
    (``i <- A i + b GA``, ``i2 <- A2 i2``, as the step loop brings them), an adaptation
    ``theta`` decaying from now (``shift = hold``)."""
    if hold >= n_max:
        return -1
    if hold > 0 and ft[l, SYN_DECAY] > 0:
        i0 = current_after(i0, b, tables, l, hold)
        if ft[l, SYN_DECAY2] > 0:
            i2 = current2_after(i2, tables, l, hold)
    n = crossing(lt, ft, l, u0, i0, i2, c, b, tables, v_th, decay, theta, hold, n_max - hold)
    return n + hold if n > 0 else -1
