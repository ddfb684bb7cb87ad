"""The LIF recurrence and its backward pass through time, on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.network.layers import Conv2d, Dense
from eventsim.train.lif import LIFParams, lif_backward, lif_forward
from eventsim.train.surrogates import Smoothed, surrogate


def _params(decay, v_th, reset, bias=None):
    return LIFParams(np.float64(decay), np.float64(v_th), reset,
                     None if bias is None else np.asarray(bias, np.float64))


@pytest.mark.parametrize("reset, u_last", [("zero", 0.6), ("subtract", 0.625)])
def test_forward_by_hand(reset, u_last):
    # k = 0.5, v_th = 1, I = 0.6 each step: u = 0.6, 0.9, 1.05 (spike), then the reset
    current = np.full((4, 1, 1), 0.6)
    u, o = lif_forward(current, _params(0.5, 1.0, reset), surrogate())
    np.testing.assert_allclose(u[:, 0, 0], [0.6, 0.9, 1.05, u_last])
    np.testing.assert_array_equal(o[:, 0, 0], [0, 0, 1, 0])


def test_bias_is_added_every_step():
    u, o = lif_forward(np.zeros((3, 2, 1)), _params(0.5, 0.5, "zero", [0.3]), surrogate())
    np.testing.assert_allclose(u[:, 0, 0], [0.3, 0.45, 0.525])
    np.testing.assert_array_equal(o[:, 1, 0], [0, 0, 1])


def test_backward_by_hand():
    # u0 = 0.8 (no spike), u1 = 0.5*0.8 + 0.7 = 1.1 (spike); L = o1; rectangle: h = 1 at both
    # g_u1 = h(0.1) = 1; g_o0 = -k u0 g_u1 = -0.4; g_u0 = g_o0 h(-0.2) + k (1 - o0) g_u1 = 0.1
    current = np.array([0.8, 0.7]).reshape(2, 1, 1)
    params = _params(0.5, 1.0, "zero", [0.0])
    u, o = lif_forward(current, params, surrogate())
    grad_o = np.array([0.0, 1.0]).reshape(2, 1, 1)
    grad_I, grad_b = lif_backward(grad_o, u, o, params, surrogate())
    np.testing.assert_allclose(grad_I[:, 0, 0], [0.1, 1.0])
    np.testing.assert_allclose(grad_b, [1.1])
    # subtract reset: g_o0 = -k v_th g_u1 = -0.5; g_u0 = -0.5 + 0.5 = 0
    params = _params(0.5, 1.0, "subtract")
    grad_I, grad_b = lif_backward(grad_o, *lif_forward(current, params, surrogate()), params,
                                  surrogate())
    np.testing.assert_allclose(grad_I[:, 0, 0], [0.0, 1.0], atol=1e-15)
    assert grad_b is None


def test_reset_gate_cuts_the_temporal_path():
    # a spike at t=0 with zero reset: u1 does not depend on u0 through the leak
    current = np.array([1.5, 0.2]).reshape(2, 1, 1)
    params = _params(0.9, 1.0, "zero")
    u, o = lif_forward(current, params, surrogate("rectangular", 10.0))
    grad_I, _ = lif_backward(np.array([0.0, 1.0]).reshape(2, 1, 1), u, o, params,
                             surrogate("rectangular", 10.0))
    # g_u1 = 0.1; g_o0 = -0.9*1.5*0.1 = -0.135; g_u0 = -0.135 * 0.1 + 0.9 * 0 * 0.1
    np.testing.assert_allclose(grad_I[:, 0, 0], [-0.0135, 0.1])


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_backward_matches_finite_differences_with_conv_bias(reset):
    rng = np.random.default_rng(7)
    fn = Smoothed(0.3)
    current = rng.normal(0.4, 0.5, (5, 2, 3, 2, 2))
    bias = rng.normal(0.0, 0.2, (3, 1, 1))
    weights = rng.normal(size=current.shape)

    def loss(current, bias):
        return np.sum(weights * lif_forward(current, _params(0.7, 0.5, reset, bias), fn)[1])

    u, o = lif_forward(current, _params(0.7, 0.5, reset, bias), fn)
    grad_I, grad_b = lif_backward(weights, u, o, _params(0.7, 0.5, reset, bias), fn)
    eps = 1e-6
    for arr, grad in ((current, grad_I), (bias, grad_b.reshape(bias.shape))):
        fd = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            saved = arr[idx]
            arr[idx] = saved + eps
            plus = loss(current, bias)
            arr[idx] = saved - eps
            minus = loss(current, bias)
            arr[idx] = saved
            fd[idx] = (plus - minus) / (2 * eps)
        assert np.linalg.norm(grad - fd) <= 1e-7 * np.linalg.norm(fd)


def test_params_from_layers():
    conv = Conv2d(np.ones((3, 1, 2, 2)), bias=[1.0, 2.0, 3.0], decay=0.3, v_th=0.7,
                  reset="subtract")
    p = LIFParams.from_layer(conv, "float32")
    assert p.bias.shape == (3, 1, 1) and p.bias.dtype == np.float32
    assert p.decay == np.float32(0.3) and p.v_th.dtype == np.float32 and p.reset == "subtract"
    assert LIFParams.from_layer(Dense(np.ones((2, 2))), "float64").bias is None
