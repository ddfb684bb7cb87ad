"""Static images as analog input current (``analog=True``) and NeuNorm's runtime rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks

from eventsim.engine.simulate import Simulator, simulate
from eventsim.errors import InputError, NetworkError
from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
from eventsim.network.network import Network
from eventsim.network.reference import simulate_dense


def _image_case(case, seed):
    net, x = case
    rng = np.random.default_rng(seed)
    image = rng.uniform(-0.5, 1.0, net.input_shape)
    image[rng.random(net.input_shape) < 0.3] = 0.0  # zero pixels carry no MACs
    return net, image, x.shape[0]


@settings(max_examples=100, deadline=None)
@given(st.one_of(dense_networks(cuba=True), conv_networks(cuba=True),
                 conv_networks(neunorm=True)),
       st.integers(0, 2**32 - 1))
def test_analog_image_equals_twin(case, seed):
    net, image, T = _image_case(case, seed)
    result = simulate(net, image, dtype="float64", T=T, analog=True)
    current = np.broadcast_to(image.reshape(1, -1), (T, net.n_inputs))
    outputs, sops, macs = simulate_dense(net, current, analog=True, with_macs=True)
    for i, out in enumerate(outputs):
        np.testing.assert_array_equal(result.spikes[i], np.argwhere(out),
                                      err_msg=f"population {i} spikes differ")
    # no input spikes: no SOPs into the first layer; its current W x is computed once
    np.testing.assert_array_equal(result.sops, sops)
    assert result.sops[0] == 0 and result.input_spikes == 0
    assert result.macs[0] * T == macs[0]
    np.testing.assert_array_equal(result.macs[1:], macs[1:])


def test_analog_macs_count_nonzero_pixels_times_nonzero_weights():
    w = np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.0]])
    net = Network([Dense(w, decay=0.5, v_th=1.0)], (3,))
    result = simulate(net, np.array([1.0, 3.0, 0.0]), T=4, analog=True, dtype="float64")
    assert result.macs.tolist() == [3]  # pixel 0: 2 weights, pixel 1: 1, pixel 2 is 0
    # neuron 0: u = 1 each step -> spikes every step; neuron 1: u = 2 -> every step
    assert result.spike_counts[0].tolist() == [4, 4]


def test_analog_input_checks():
    net = Network([Dense(np.ones((2, 4)))], (1, 2, 2))
    with pytest.raises(InputError, match=r"an analog input needs 'T'"):
        simulate(net, np.ones((1, 2, 2)), analog=True)
    with pytest.raises(InputError, match=r"analog input of shape \(2, 2\); expected \(1, 2, 2\) "
                                         r"or \(4,\)"):
        simulate(net, np.ones((2, 2)), T=3, analog=True)
    with pytest.raises(InputError, match=r"analog input has 1 non-finite values \(first at flat "
                                         r"index 2\)"):
        simulate(net, np.array([0.0, 1.0, np.nan, 0.0]), T=3, analog=True)
    with pytest.raises(InputError, match=r"must be a numeric array"):
        simulate(net, np.array(["a", "b", "c", "d"]), T=3, analog=True)


def test_analog_input_in_continuous_mode_is_a_constant_drive():
    """A current W x per dt_us, as a bias is: the neuron crosses when the drive reaches
    threshold, as a Dense layer with that bias and no input does."""
    w = np.array([[0.3, 0.1]])
    net = Network([Dense(w, decay=1.0, v_th=1.0)], (2,))
    biased = Network([Dense(np.zeros((1, 2)), bias=np.array([0.5]), decay=1.0, v_th=1.0)], (2,))
    a = simulate(net, np.array([1.0, 2.0]), mode="continuous", dt_us=1000, T=10, analog=True)
    b = simulate(biased, np.zeros((10, 2), np.uint8), mode="continuous", dt_us=1000)
    np.testing.assert_array_equal(a.spikes[0], b.spikes[0])
    assert a.n_spikes[0] == 4 and a.macs[0] == 2  # at 2, 4, 6, 8 ms of the 10 ms window


def test_neunorm_is_discrete_only():
    net = Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))), Flatten(),
                   Dense(np.ones((1, 4)))], (1, 2, 2))
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): NeuNorm runs in discrete "
                                           "mode only"):
        Simulator(net, mode="continuous", dt_us=1000)


def test_neunorm_auxiliary_share_by_hand():
    """One input spike at step 0 into a 1x1 conv (weight 1, v_th 0.5): the conv neuron spikes
    at step 0; NeuNorm (C=1, scale 1, decay 0.5, alpha 0.25) gives x = 1, 0.5, 0.25, ... and
    the dense neuron (weight 1, decay 1, v_th 10) receives 1 - 0.25 at step 0, then -0.125,
    -0.0625, ...: one MAC a step while x != 0, and no spike."""
    net = Network([Conv2d(np.ones((1, 1, 1, 1)), v_th=0.5),
                   NeuNorm(np.full((1, 1, 1), 0.25), decay=0.5, scale=1.0),
                   Flatten(), Dense(np.ones((1, 1)), decay=1.0, v_th=10.0)], (1, 1, 1))
    x = np.zeros((6, 1), np.uint8)
    x[0] = 1
    result = simulate(net, x, dtype="float64")
    assert result.spike_counts[0].tolist() == [1]
    assert result.sops.tolist() == [1, 1]
    assert result.macs.tolist() == [0, 6]  # one nonzero analog value a step, steps 0..5
    assert result.neuron_updates.tolist() == [1, 6]
