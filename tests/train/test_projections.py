"""Projections equal the reference's dense matrices; their backward passes are the adjoints."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.network.layers import AvgPool2d, Conv2d, Dense, SumPool2d
from eventsim.network.network import Network
from eventsim.network.reference import dense_matrix
from eventsim.train.projections import (
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    pool2d_backward,
    pool2d_forward,
)


@st.composite
def conv_cases(draw):
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    padding = draw(st.integers(0, 2))
    kh = draw(st.integers(1, min(4, h + 2 * padding)))
    kw = draw(st.integers(1, min(4, w + 2 * padding)))
    stride = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layer = Conv2d(rng.normal(size=(c_out, c_in, kh, kw)), stride=stride, padding=padding)
    return Network([layer], (c_in, h, w)), rng


@st.composite
def pool_cases(draw):
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    k = draw(st.integers(1, min(3, h, w)))
    stride = draw(st.integers(1, 3))
    kind = draw(st.sampled_from([AvgPool2d, SumPool2d]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return Network([kind(k, stride=stride)], (c, h, w)), rng


def _inputs(net, rng, n=4):
    x = rng.normal(size=(n, *net.input_shape))
    x[:, ...][rng.random(x.shape) < 0.5] = 0.0
    g = rng.normal(size=(n, *net.shapes[0]))
    return x, g


def _check_linear_map(net, x, g, out, grad_x):
    M = dense_matrix(net, 0)
    n = x.shape[0]
    assert out.shape == (n, *net.shapes[0])
    np.testing.assert_allclose(out.reshape(n, -1), x.reshape(n, -1) @ M.T, rtol=1e-12, atol=1e-12)
    assert grad_x.shape == x.shape
    np.testing.assert_allclose(grad_x.reshape(n, -1), g.reshape(n, -1) @ M, rtol=1e-12,
                               atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(conv_cases())
def test_conv2d_equals_dense_matrix(case):
    net, rng = case
    layer = net.layers[0]
    x, g = _inputs(net, rng)
    out = conv2d_forward(x, layer.weight, layer.stride, layer.padding)
    assert out.flags.c_contiguous
    grad_x, grad_w = conv2d_backward(g, x, layer.weight, layer.stride, layer.padding)
    _check_linear_map(net, x, g, out, grad_x)
    # the weight gradient: I is linear in W, so <g, conv(x, V)> = <grad_w, V> for every V
    assert grad_w.shape == layer.weight.shape
    for _ in range(2):
        v = rng.normal(size=layer.weight.shape)
        lhs = np.sum(g * conv2d_forward(x, v, layer.stride, layer.padding))
        np.testing.assert_allclose(np.sum(grad_w * v), lhs, rtol=1e-10, atol=1e-10)
    skipped, grad_w2 = conv2d_backward(g, x, layer.weight, layer.stride, layer.padding,
                                       input_grad=False)
    assert skipped is None
    np.testing.assert_array_equal(grad_w2, grad_w)


@settings(max_examples=100, deadline=None)
@given(pool_cases())
def test_pool2d_equals_dense_matrix(case):
    net, rng = case
    layer = net.layers[0]
    x, g = _inputs(net, rng)
    out = pool2d_forward(x, layer.kernel_size, layer.stride, layer.pool_weight)
    grad_x = pool2d_backward(g, x.shape, layer.kernel_size, layer.stride, layer.pool_weight)
    _check_linear_map(net, x, g, out, grad_x)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_dense_and_its_gradients(n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    net = Network([Dense(rng.normal(size=(n_out, n_in)))], (n_in,))
    x, g = _inputs(net, rng)
    w = net.layers[0].weight
    grad_x, grad_w = dense_backward(g, x, w)
    _check_linear_map(net, x, g, dense_forward(x, w), grad_x)
    np.testing.assert_allclose(grad_w, np.einsum("no,ni->oi", g, x), rtol=1e-12, atol=1e-12)


def test_dense_flattens_image_input_in_c_order():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 3, 4))
    w = rng.normal(size=(5, 24))
    np.testing.assert_allclose(dense_forward(x, w), x.reshape(3, 24) @ w.T)
    grad_x, _ = dense_backward(np.ones((3, 5)), x, w)
    assert grad_x.shape == x.shape


def test_float32_stays_float32():
    rng = np.random.default_rng(1)
    x = (rng.random((2, 2, 6, 6)) < 0.5).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    out = conv2d_forward(x, w, 2, 1)
    assert out.dtype == np.float32
    gx, gw = conv2d_backward(np.ones_like(out), x, w, 2, 1)
    assert gx.dtype == gw.dtype == np.float32
    assert pool2d_forward(x, 2, 2, 0.25).dtype == np.float32
    assert pool2d_backward(np.ones((2, 2, 3, 3), np.float32), x.shape, 2, 2, 0.25).dtype \
        == np.float32
