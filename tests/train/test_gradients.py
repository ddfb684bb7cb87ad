"""The STBP backward pass against central finite differences on a smoothed network.

With ``Smoothed(tau=0.3)`` as spike function (``o = sigmoid((u - v_th) / tau)``) the network is
a smooth function of its weights, biases and input, and :func:`backward` must give its exact
gradient: through time (leak and reset gate) and through space (every layer kind).
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_diff import RTOL, SMOOTH, finite_difference

from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network
from eventsim.train.loss import cross_entropy_counts, mse_rate
from eventsim.train.model import backward, forward


def _mlp(rng, reset):
    return Network([
        Dense(rng.normal(0, 0.8, (4, 5)), bias=rng.normal(0, 0.2, 4), decay=0.7, v_th=0.5,
              reset=reset),
        Dense(rng.normal(0, 0.8, (3, 4)), bias=rng.normal(0, 0.2, 3), decay=0.4, v_th=0.6,
              reset=reset),
    ], (5,))


def _conv_avg(rng, reset):
    # (2,5,5) -conv 3x3 s2 p1-> (3,3,3) -avg 2 s1-> (3,2,2) -flatten-> 12 -dense-> 3
    return Network([
        Conv2d(rng.normal(0, 0.5, (3, 2, 3, 3)), stride=2, padding=1,
               bias=rng.normal(0, 0.2, 3), decay=0.6, v_th=0.5, reset=reset),
        AvgPool2d(2, stride=1, decay=0.8, v_th=0.4, reset=reset),
        Flatten(),
        Dense(rng.normal(0, 0.8, (3, 12)), bias=rng.normal(0, 0.2, 3), decay=0.5, v_th=0.5,
              reset=reset),
    ], (2, 5, 5))


def _conv_sum(rng, reset):
    # (1,6,6) -conv 3x3 s2 p1-> (2,3,3) -sum 2 s1-> (2,2,2) -dense (flattens)-> 3
    return Network([
        Conv2d(rng.normal(0, 0.6, (2, 1, 3, 3)), stride=2, padding=1,
               bias=rng.normal(0, 0.2, 2), decay=0.9, v_th=0.5, reset=reset),
        SumPool2d(2, stride=1, decay=0.3, v_th=1.2, reset=reset),
        Dense(rng.normal(0, 0.6, (3, 8)), bias=rng.normal(0, 0.2, 3), decay=1.0, v_th=0.5,
              reset=reset),
    ], (1, 6, 6))


def _conv_neunorm(rng, reset):
    # (2,5,5) -conv 3x3 p1-> (3,5,5) -NeuNorm-> -conv 3x3 s2-> (2,2,2) -avg 2-> (2,1,1)
    # -NeuNorm-> -dense-> 3: NeuNorm into a conv and (through a pool) into a dense layer
    return Network([
        Conv2d(rng.normal(0, 0.6, (3, 2, 3, 3)), padding=1, bias=rng.normal(0, 0.2, 3),
               decay=0.6, v_th=0.5, reset=reset),
        NeuNorm(rng.normal(0.3, 0.3, (3, 5, 5)), decay=0.7, scale=1.3),
        Conv2d(rng.normal(0, 0.6, (2, 3, 3, 3)), stride=2, bias=rng.normal(0, 0.2, 2),
               decay=0.8, v_th=0.5, reset=reset),
        AvgPool2d(2, decay=0.5, v_th=0.3, reset=reset),
        NeuNorm(rng.normal(0.3, 0.3, (2, 1, 1)), decay=0.4, scale=0.8),
        Dense(rng.normal(0, 0.8, (3, 2)), bias=rng.normal(0, 0.2, 3), decay=0.5, v_th=0.5,
              reset=reset),
    ], (2, 5, 5))


def _loss(out, labels, proj, kind):
    if kind == "projection":
        return float(np.sum(proj * out)), proj
    if kind == "mse_rate":
        return mse_rate(out, labels)
    return cross_entropy_counts(out, labels)


def _assert_close(grad, fd, what):
    assert grad.shape == fd.shape, what
    scale = np.linalg.norm(fd)
    assert scale > 1e-6, f"{what}: gradient too small to test ({scale})"
    err = np.linalg.norm(grad - fd) / scale
    assert err < RTOL, f"{what}: relative error {err:.2e}"


@pytest.mark.parametrize("reset", ["zero", "subtract", "v_reset"])
@pytest.mark.parametrize("build, T", [(_mlp, 6), (_conv_avg, 4), (_conv_sum, 5),
                                      (_conv_neunorm, 5)])
@pytest.mark.parametrize("loss_kind", ["projection", "mse_rate", "cross_entropy"])
def test_backward_matches_finite_differences(build, T, reset, loss_kind):
    """``reset="v_reset"``: a zero reset to ``v_reset = -0.3`` and a leak towards ``v_leak =
    0.2`` in every layer."""
    rng = np.random.default_rng(11)
    net = build(rng, "zero" if reset == "v_reset" else reset)
    if reset == "v_reset":
        for i in net.lif_layers:
            net.layers[i].v_reset = -0.3
            net.layers[i].v_leak = 0.2 if net.layers[i].decay < 1 else 0.0
    B = 2
    x = rng.random((T, B, *net.input_shape))  # analog input, so dL/dx is defined
    labels = rng.integers(0, net.n_outputs, B)
    proj = rng.normal(size=(T, B, net.n_outputs))

    def f():
        _, out = forward(net, x, SMOOTH, dtype="float64")
        return _loss(out, labels, proj, loss_kind)[0]

    cache, out = forward(net, x, SMOOTH, dtype="float64")
    _, grad_out = _loss(out, labels, proj, loss_kind)
    grads, grad_x = backward(net, cache, grad_out, SMOOTH, input_grad=True)

    for i, layer in enumerate(net.layers):
        if grads[i] is None:
            assert not isinstance(layer, (Dense, Conv2d, NeuNorm))
            continue
        if isinstance(layer, NeuNorm):
            _assert_close(grads[i]["alpha"], finite_difference(layer.alpha, f),
                          f"layer {i} alpha")
            continue
        _assert_close(grads[i]["weight"], finite_difference(layer.weight, f),
                      f"layer {i} weight")
        _assert_close(grads[i]["bias"], finite_difference(layer.bias, f), f"layer {i} bias")
    _assert_close(grad_x, finite_difference(x, f), "input")
