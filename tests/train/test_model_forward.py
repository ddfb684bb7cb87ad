"""The trainer's forward pass gives the reference's spikes, every layer, every step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputError
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten
from eventsim.network.network import Network
from eventsim.network.reference import simulate_dense
from eventsim.train.model import backward, forward


def _load_netgen():
    """The engine tests' random networks (tests/engine/netgen.py), imported by path."""
    path = Path(__file__).resolve().parents[1] / "engine" / "netgen.py"
    spec = importlib.util.spec_from_file_location("_engine_netgen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netgen = _load_netgen()


@st.composite
def batched(draw, networks):
    """A network from ``networks`` and a batch: its sample first, then fresh random ones."""
    net, x = draw(networks)
    batch = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = rng.uniform(0.05, 0.8, (batch - 1,) + (1,) * x.ndim)
    others = rng.random((batch - 1, *x.shape)) < density
    xs = np.concatenate([x[None], others.astype(np.uint8)])  # (B, T, *shape)
    return net, np.ascontiguousarray(np.swapaxes(xs, 0, 1))   # (T, B, *shape)


def assert_same_spikes(net, x, dtype):
    T, B = x.shape[:2]
    cache, out = forward(net, x, dtype=dtype)
    outputs, _ = simulate_dense(net, x.reshape(T, B, -1), dtype=dtype)
    for j, i in enumerate(net.lif_layers):
        o = cache.layers[i].o
        assert o.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(o.reshape(T, B, -1) != 0, outputs[j],
                                      err_msg=f"layer {i} spikes differ")
    np.testing.assert_array_equal(out, outputs[-1])
    assert out.shape == (T, B, net.n_outputs)


@settings(max_examples=120, deadline=None)
@given(batched(netgen.dense_networks()))
def test_dense_networks_equal_reference(case):
    assert_same_spikes(*case, "float64")


@settings(max_examples=120, deadline=None)
@given(batched(netgen.conv_networks()))
def test_conv_networks_equal_reference(case):
    assert_same_spikes(*case, "float64")


@settings(max_examples=80, deadline=None)
@given(batched(netgen.conv_networks(neunorm=True)))
def test_neunorm_networks_equal_reference(case):
    assert_same_spikes(*case, "float64")


@settings(max_examples=40, deadline=None)
@given(st.one_of(batched(netgen.dense_networks()), batched(netgen.conv_networks())))
def test_float32_equals_reference_float32(case):
    assert_same_spikes(*case, "float32")


def test_hand_built_net_with_every_layer_kind():
    rng = np.random.default_rng(5)
    layers = [
        Conv2d(rng.normal(0, 0.6, (3, 2, 3, 3)), stride=2, padding=1,
               bias=rng.normal(0, 0.2, 3), decay=0.8, v_th=0.6),
        AvgPool2d(2, stride=1, decay=0.5, v_th=0.3, reset="subtract"),
        Flatten(),
        Dense(rng.normal(0, 0.8, (4, 3 * 3 * 3)), bias=rng.normal(0, 0.2, 4), decay=0.9),
    ]
    net = Network(layers, (2, 8, 8))
    x = (rng.random((12, 5, 2, 8, 8)) < 0.4).astype(np.uint8)
    assert_same_spikes(net, x, "float64")
    _, out = forward(net, x.reshape(12, 5, -1), dtype="float64")  # flat input accepted
    assert out.sum() > 0


def test_backward_shapes_and_dtypes():
    rng = np.random.default_rng(0)
    net = Network([Conv2d(rng.normal(size=(2, 1, 3, 3)), bias=[0.1, 0.2]),
                   AvgPool2d(2), Flatten(), Dense(rng.normal(size=(3, 8)))], (1, 6, 6))
    x = (rng.random((4, 2, 1, 6, 6)) < 0.5).astype(np.float32)
    cache, out = forward(net, x)
    assert out.dtype == np.float32
    grads, grad_x = backward(net, cache, np.ones_like(out), input_grad=True)
    assert grads[1] is None and grads[2] is None
    assert grads[0]["weight"].shape == (2, 1, 3, 3) and grads[0]["bias"].shape == (2,)
    assert grads[3]["weight"].shape == (3, 8) and grads[3]["bias"] is None
    assert grads[0]["weight"].dtype == grads[3]["weight"].dtype == np.float32
    assert grad_x.shape == x.shape
    assert len(backward(net, cache, np.ones_like(out))) == 4


def test_input_of_the_wrong_shape():
    net = Network([Dense(np.ones((2, 6)))], (6,))
    with pytest.raises(InputError, match=r"expected shape \(T, B, \*\(6,\)\)"):
        forward(net, np.zeros((3, 2, 5)))
    with pytest.raises(InputError, match="expected shape"):
        forward(net, np.zeros((3, 6)))
