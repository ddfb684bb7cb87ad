"""Surrogate derivatives: each matches its formula, has unit area; spike functions behave."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eventsim.errors import EventsimError
from eventsim.train.surrogates import SURROGATES, Smoothed, SpikeFunction, surrogate

POINTS = np.array([-3.0, -1.2, -0.5, -0.3, -0.01, 0.0, 0.2, 0.49, 0.5, 1.0, 1.9, 2.5])


def formula(name: str, v: float, a: float) -> float:
    """The curves of Wu et al. 2018 written out once more, one point at a time."""
    if name == "rectangular":
        return 1 / a if abs(v) < a / 2 else 0.0
    if name == "polynomial":
        return math.sqrt(a) / 2 - a / 4 * abs(v) if abs(v) < 2 / math.sqrt(a) else 0.0
    if name == "sigmoid":
        return (1 / a) * math.exp(-v / a) / (1 + math.exp(-v / a)) ** 2
    return 1 / math.sqrt(2 * math.pi * a) * math.exp(-v * v / (2 * a))


@pytest.mark.parametrize("name", SURROGATES)
@pytest.mark.parametrize("a", [0.3, 1.0, 2.5])
def test_surrogate_matches_formula(name, a):
    got = surrogate(name, a).grad(POINTS)
    expected = [formula(name, float(v), a) for v in POINTS]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", SURROGATES)
@pytest.mark.parametrize("a", [0.25, 1.0, 4.0])
def test_surrogate_has_unit_area(name, a):
    v = np.linspace(-80.0, 80.0, 1_600_001)
    area = np.trapezoid(surrogate(name, a).grad(v), v)
    assert area == pytest.approx(1.0, abs=1e-3)


def test_default_is_the_authors_rectangle():
    # the STBP code: grad * (|u - v_th| < 0.5), height 1
    fn = surrogate()
    assert fn == SpikeFunction("rectangular", 1.0)
    np.testing.assert_array_equal(fn.grad(np.array([-0.5, -0.49, 0.0, 0.49, 0.5])),
                                  [0, 1, 1, 1, 0])


def test_forward_is_the_step_with_threshold_included():
    v = np.array([-1e-30, 0.0, 1e-30, 2.0], np.float32)
    o = surrogate("gaussian", 0.5).forward(v)
    np.testing.assert_array_equal(o, [0, 1, 1, 1])
    assert o.dtype == np.float32


@pytest.mark.parametrize("name", SURROGATES)
def test_dtype_is_kept(name):
    v = np.linspace(-2, 2, 7, dtype=np.float32)
    assert surrogate(name).grad(v).dtype == np.float32
    assert surrogate(name).grad(v.astype(np.float64)).dtype == np.float64


def test_unknown_name_is_a_clear_error():
    with pytest.raises(EventsimError, match="unknown name 'triangle'.*rectangular, polynomial"):
        surrogate("triangle")


@pytest.mark.parametrize("a", [0, -1.0, float("nan"), "1"])
def test_bad_width_is_a_clear_error(a):
    with pytest.raises(EventsimError, match="field 'a'"):
        surrogate("sigmoid", a)


def test_smoothed_grad_is_the_derivative_of_its_forward():
    fn = Smoothed(tau=0.3)
    v = np.linspace(-3, 3, 61)
    eps = 1e-6
    fd = (fn.forward(v + eps) - fn.forward(v - eps)) / (2 * eps)
    np.testing.assert_allclose(fn.grad(v), fd, rtol=1e-6, atol=1e-9)
    # no overflow far from threshold
    np.testing.assert_array_equal(fn.forward(np.array([-1e4, 1e4])), [0.0, 1.0])
    assert np.all(np.isfinite(fn.grad(np.array([-1e4, 1e4]))))
