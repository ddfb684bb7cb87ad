"""Continuous mode's neuron models (currents, adaptation, refractoriness, readouts) against an
independent twin: one neuron's linear equations (:mod:`eventsim.engine.continuous_model`)
written as a matrix and propagated with ``scipy.linalg.expm``, its crossings found by a
scan on a fine grid and refined by ``brentq``; its integral a state of its own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.linalg import expm
from scipy.optimize import brentq

import eventsim
from eventsim.engine.continuous_model import TAU, TAU_ADAPT, TAU_SYN, TAU_SYN2, first_reach, terms
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.ops import Dense

DT_US = 100


def _tau(decay):
    return -DT_US / math.log(decay) if decay else 0.0


class Twin:
    """One neuron, state ``(u, i, i2, b, integral of u, 1)``, ``dx/dt = A x`` (``u``'s row
    zeroed while held); ``bias`` per step, into the current if it has one."""

    def __init__(self, pop: Population, bias: float = 0.0):
        self.pop = pop
        tau, ts, ts2, ta = (_tau(pop.decay), _tau(pop.syn_decay), _tau(pop.syn_decay_2),
                            _tau(pop.adapt_decay))
        a = np.zeros((6, 6))
        a[0, 0], a[0, 5] = -1 / tau, pop.v_leak / tau
        if ts:  # a current-based neuron's bias feeds its current
            a[0, 1], a[1, 1], a[1, 5] = 1 / DT_US, -1 / ts, bias / DT_US
        else:
            a[0, 5] += bias / DT_US
        if ts2:
            a[0, 2], a[2, 2] = 1 / DT_US, -1 / ts2
        if ta:
            a[3, 3] = -1 / ta
        a[4, 0] = 1.0
        self.free, self.held = a, a.copy()
        self.held[0] = 0.0

    def gap(self, x):
        return x[0] - x[3] - self.pop.v_th

    def run(self, arrivals, t_end, h=0.05):
        """Spike times, the maximum of ``u`` (on the grid and at arrivals) and its mean."""
        pop = self.pop
        x = np.array([pop.start()[0], 0, 0, 0, 0, 1.0])
        t, free_at, spikes, top = 0.0, -1.0, [], -np.inf
        stops = sorted({a[0] for a in arrivals if a[0] < t_end}) + [t_end]
        e_free, e_held = expm(self.free * h), expm(self.held * h)
        for stop in stops:
            while t < stop:
                held = t < free_at
                step = min(h, stop - t, (free_at - t) if held else h)
                e = (e_held if held else e_free) if step == h else \
                    expm((self.held if held else self.free) * step)
                nxt = e @ x
                if not held and self.gap(nxt) >= 0:  # a crossing in (t, t + step]
                    def f(d, x0=x):
                        return self.gap(expm(self.free * d) @ x0)

                    d = brentq(f, 0.0, step, xtol=1e-12, rtol=1e-15) if f(0.0) < 0 else 0.0
                    x, t = expm(self.free * d) @ x, t + d
                    x[0] = max(x[0], x[3] + pop.v_th)
                    self._fire(x, t, spikes)
                    free_at = t + pop.refractory_steps * DT_US if pop.refractory_steps else -1
                    continue
                x, t = nxt, t + step
                top = max(top, x[0])
                while held and t >= free_at and self.gap(x) >= 0:  # released at threshold
                    self._fire(x, t, spikes)
                    free_at = t + pop.refractory_steps * DT_US
            if stop >= t_end:
                break
            for t_a, w, port in arrivals:  # arrivals at this instant, summed
                if t_a == stop:
                    k = 2 if port else 1 if pop.syn_decay else 0
                    if k or t >= free_at:
                        x[k] += w
            top = max(top, x[0])
            while t >= free_at and self.gap(x) >= 0:
                self._fire(x, t, spikes)
                if pop.refractory_steps:
                    free_at = t + pop.refractory_steps * DT_US
        return np.array(spikes), top, x[4] / t_end

    def _fire(self, x, t, spikes):
        spikes.append(t)
        x[0] = x[0] - (self.pop.v_th + x[3]) if self.pop.reset == "subtract" else \
            self.pop.v_reset
        x[3] += self.pop.adapt_jump


def _ours(pop, arrivals, t_end, bias=0.0):
    """Run one neuron through the engine: each arrival its own input channel."""
    n = max(len(arrivals), 1)
    w = np.zeros((1, n))
    w2 = np.zeros((1, n))
    ev = np.zeros(len(arrivals), EVENT_DTYPE)
    for k, (t_a, weight, port) in enumerate(arrivals):
        (w2 if port else w)[0, k] = weight
        ev[k]["t"], ev[k]["x"] = t_a, k
    projs = [Projection(INPUT, "h", [Dense(w, bias=np.array([bias]))])]
    if pop.syn_decay_2:
        projs.append(Projection(INPUT, "h", [Dense(w2)], port=1))
    g = Graph((n,), [pop], projs, dt_us=DT_US)
    order = np.argsort(ev["t"], kind="stable")
    return eventsim.simulate(g, EventStream(ev[order], (n, 1, 1)), mode="continuous",
                             dtype="float64", T=int(t_end // DT_US))


models = st.sampled_from(["cuba", "two", "adapt", "hold", "cuba_hold"])


@settings(max_examples=40, deadline=None)
@given(models, st.floats(0.6, 0.95), st.floats(0.3, 0.9), st.sampled_from(["zero", "subtract"]),
       st.lists(st.tuples(st.integers(0, 1499), st.floats(-1.0, 3.0), st.booleans()),
                min_size=1, max_size=12), st.floats(-0.2, 0.3))
# a subtract reset leaves u at v_th: it fires again the moment its hold ends
@example("hold", 0.75, 0.5, "subtract", [(0, 1.0, False)], 0.0)
def test_one_neuron_against_the_expm_twin(model, decay, q, reset, arrivals, v_init):
    """Spike times equal the twin's to 1e-6 us, whatever the model."""
    kw = {"decay": decay, "v_th": 0.5, "reset": reset, "v_init": v_init,
          "v_reset": -0.1 if reset == "zero" else 0.0}
    if model in ("cuba", "two", "cuba_hold"):
        kw["syn_decay"] = q
    if model == "two":
        kw["syn_decay_2"] = min(0.97, q + 0.05) if abs(q + 0.05 - decay) > 0.02 else 0.2
    if model == "adapt":
        kw.update(adapt_decay=q, adapt_jump=0.4)
    if model in ("hold", "cuba_hold"):
        kw["refractory_steps"] = 2
    for key in ("syn_decay", "syn_decay_2", "adapt_decay"):
        assume(key not in kw or abs(kw[key] - decay) > 0.02)
    pop = Population("h", (1,), **kw)
    arrivals = [(float(t), w, p and model == "two") for t, w, p in arrivals]
    t_end = 2000.0
    theirs, _, _ = Twin(pop).run(arrivals, t_end, h=0.1)
    ours = _ours(pop, arrivals, t_end).spikes[0]["t_us"]
    assert len(ours) == len(theirs), (ours, theirs)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.6, 0.95), st.one_of(st.just(0.0), st.floats(0.3, 0.9)),
       st.lists(st.tuples(st.integers(0, 1499), st.floats(-1.0, 1.0)), min_size=0,
                max_size=8), st.floats(-0.3, 0.3), st.floats(-0.5, 0.5))
def test_a_readouts_maximum_and_mean(decay, q, arrivals, bias, v_leak):
    """A leaky integrator's maximum is at least the twin's on its fine grid and at most one
    grid step's change above it; its mean equals the twin's integral over the window."""
    assume(q == 0.0 or abs(q - decay) > 0.02)
    pop = Population("h", (1,), decay=decay, v_th=math.inf, syn_decay=q, v_leak=v_leak)
    arrivals = [(float(t), w, False) for t, w in arrivals]
    t_end = 2000.0
    _, top, mean = Twin(pop, bias).run(arrivals, t_end, h=0.05)
    r = _ours(pop, arrivals, t_end, bias)
    ours_top, ours_mean = r.membrane_max[0][0], r.membrane_mean[0][0]
    np.testing.assert_allclose(ours_mean, mean, atol=1e-9, rtol=1e-9)
    slope = abs(bias) / DT_US + (2 + abs(v_leak) + sum(abs(w) for _, w, _ in arrivals)) * (
        1 / _tau(decay) + 1 / DT_US)
    assert top - 1e-9 <= ours_top <= top + slope * 0.05 + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2), st.floats(-1, 1),
       st.sampled_from(["two", "adapt"]))
def test_first_reach_is_the_first_crossing_of_a_dense_scan(u0, i0, j0, b0, kind):
    """Three exponentials of either sign (two turning points at most): the crossing found
    is the first one a scan of 20001 points sees, refined."""
    cp = np.zeros((1, 8))
    cp[0, TAU], cp[0, TAU_SYN] = 300.0, 80.0
    if kind == "two":
        cp[0, TAU_SYN2], b0 = 900.0, 0.0
    else:
        cp[0, TAU_ADAPT], j0 = 900.0, 0.0
    big_k, x, y, z, s = terms(u0, i0, j0, cp, 0, 0.0, 0.0, 100.0)
    horizon = 4000.0
    d = np.linspace(0.0, horizon, 20001)

    def gap(t):
        v = big_k + x * np.exp(-t / 300.0) + y * np.exp(-t / 80.0)
        return v + (z * np.exp(-t / 900.0) if kind == "two" else -b0 * np.exp(-t / 900.0))

    g = gap(d)
    v_th = float(0.3 * g.min() + 0.7 * g.max())
    above = np.flatnonzero(g >= v_th)
    margin = np.abs(g - v_th).min()
    assume(margin > 1e-9 and len(above))
    first = above[0]
    expect = 0.0 if first == 0 else brentq(lambda t: gap(t) - v_th, d[first - 1], d[first],
                                            xtol=1e-12)
    found = first_reach(big_k, x, y, z, s, b0, cp, 0, v_th, horizon, 1e-9)
    assert found <= expect + 1e-6
    assert gap(found) >= v_th - 1e-12
    # nothing before it on the scan reached the threshold: a grazing crossing between two
    # scan points is the only way to be earlier
    assert found >= expect - 1e-6 or gap(np.linspace(0, found, 50001)).max() >= v_th - 1e-12


def test_a_refractory_current_based_neuron_by_hand():
    """One input of weight 30 into a current (syn_decay 0.95 of 100 us) fires the neuron
    again and again, each time held 200 us; the first crossing is where the closed-form
    u(t) = y (e^(-t/tau_s) - e^(-t/tau)) reaches v_th."""
    pop = Population("h", (1,), decay=0.8, syn_decay=0.95, v_th=0.5, refractory_steps=2)
    r = _ours(pop, [(10.0, 30.0, False)], 2000.0)
    t = r.spikes[0]["t_us"]
    tau, ts = _tau(0.8), _tau(0.95)
    y = 30.0 / (DT_US * (1 / tau - 1 / ts))
    first = brentq(lambda d: y * (math.exp(-d / ts) - math.exp(-d / tau)) - 0.5, 0, 50)
    assert t[0] == pytest.approx(10 + first, abs=1e-9)
    assert np.all(np.diff(t) > 200.0) and len(t) == 10
    assert r.self_events[0] == 10 and r.sops[0] == 1
