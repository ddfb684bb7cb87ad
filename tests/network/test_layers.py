"""Network construction: shapes through every layer kind, and the checks on bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stacks import conv_numpy, layer_stacks, pool_numpy

from eventsim.errors import NetworkError
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network, layer_name

# ----------------------------------------------------------------------------- shapes


@settings(max_examples=150, deadline=None)
@given(layer_stacks())
def test_shapes_match_numpy(case):
    layers, input_shape, expected = case
    net = Network(layers, input_shape)
    assert net.shapes == expected
    assert net.n_outputs == math.prod(expected[-1])
    assert net.n_inputs == math.prod(input_shape)
    for i in range(len(layers)):
        assert net.input_shape_of(i) == (input_shape if i == 0 else expected[i - 1])
    assert net.lif_layers == [i for i, lay in enumerate(layers)
                              if not isinstance(lay, (Flatten, NeuNorm))]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 2),
)
def test_conv_shape_matches_numpy(c_in, h, w, k, stride, padding):
    if k > min(h, w) + 2 * padding:
        with pytest.raises(NetworkError, match=r"layer 0 \(Conv2d\): kernel .* does not fit"):
            Network([Conv2d(np.ones((2, c_in, k, k)), stride, padding)], (c_in, h, w))
        return
    weight = np.ones((2, c_in, k, k))
    net = Network([Conv2d(weight, stride=stride, padding=padding)], (c_in, h, w))
    assert net.shapes[0] == conv_numpy(np.zeros((c_in, h, w)), weight, stride, padding).shape


@pytest.mark.parametrize("cls", [AvgPool2d, SumPool2d])
@pytest.mark.parametrize("k, stride", [(1, None), (2, None), (2, 1), (3, 2), (2, 3)])
def test_pool_shape_matches_numpy(cls, k, stride):
    x = np.random.default_rng(0).random((2, 7, 6))
    net = Network([cls(k, stride=stride)], x.shape)
    expected = pool_numpy(x, k, k if stride is None else stride, cls is AvgPool2d)
    assert net.shapes[0] == expected.shape
    assert net.layers[0].stride == (k if stride is None else stride)


def test_pool_weights():
    assert AvgPool2d(3).pool_weight == pytest.approx(1 / 9)
    assert SumPool2d(3).pool_weight == 1.0
    assert AvgPool2d(2).bias is None


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 1, 5), (3, 2, 2)])
def test_dense_after_chw_input_takes_flattened_input(shape):
    n = math.prod(shape)
    net = Network([Dense(np.zeros((4, n)))], shape)
    assert net.shapes == [(4,)]
    with pytest.raises(NetworkError, match=rf"layer 0 \(Dense\): field 'weight'.*\(n_out, {n}\)"):
        Network([Dense(np.zeros((4, n + 1)))], shape)


def test_flatten_then_dense():
    net = Network(
        [Conv2d(np.zeros((3, 2, 2, 2))), Flatten(), Dense(np.zeros((5, 3 * 3 * 3)))], (2, 4, 4)
    )
    assert net.shapes == [(3, 3, 3), (27,), (5,)]


def test_weights_become_float64_arrays():
    net = Network([Dense([[1, 2], [3, 4]], bias=[0, 1])], (2,))
    assert net.layers[0].weight.dtype == np.float64
    assert net.layers[0].bias.dtype == np.float64


# ----------------------------------------------------------------------------- bad layers


def _two_layers(**second) -> Network:
    """Input (4,), layer 0 Dense 4->3, layer 1 Dense 3->2 with the given overrides."""
    kw = {"weight": np.ones((2, 3))}
    kw.update(second)
    return Network([Dense(np.ones((3, 4))), Dense(**kw)], (4,))


L1 = re.escape("layer 1 (Dense)")


@pytest.mark.parametrize(
    "override, match",
    [
        (
            {"weight": np.array([[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]])},
            rf"{L1}: field 'weight' has 1 non-finite.*index \(0, 1\)",
        ),
        (
            {"weight": np.array([[1.0, 0.0, 0.0], [0.0, np.inf, -np.inf]])},
            rf"{L1}: field 'weight' has 2 non-finite",
        ),
        ({"weight": np.ones((2, 4))}, rf"{L1}: field 'weight' has shape \(2, 4\); expected"),
        ({"weight": np.ones(3)}, rf"{L1}: field 'weight' must have 2 dimensions"),
        ({"weight": np.ones((0, 3))}, rf"{L1}: field 'weight' is empty"),
        ({"weight": "abc"}, rf"{L1}: field 'weight' must be a numeric array"),
        ({"bias": np.ones(3)}, rf"{L1}: field 'bias' has shape \(3,\); expected \(2,\)"),
        ({"bias": np.ones((2, 1))}, rf"{L1}: field 'bias' must have 1 dimensions"),
        ({"bias": np.array([0.0, np.nan])}, rf"{L1}: field 'bias' has 1 non-finite"),
        ({"decay": 0.0}, rf"{L1}: field 'decay' must be in \(0, 1\]"),
        ({"decay": 1.5}, rf"{L1}: field 'decay' must be in \(0, 1\]"),
        ({"decay": -0.1}, rf"{L1}: field 'decay' must be in \(0, 1\]"),
        ({"decay": float("nan")}, rf"{L1}: field 'decay' must be finite"),
        ({"decay": "0.5"}, rf"{L1}: field 'decay' must be a number"),
        ({"decay": True}, rf"{L1}: field 'decay' must be a number"),
        ({"v_th": 0.0}, rf"{L1}: field 'v_th' must be > 0"),
        ({"v_th": -1.0}, rf"{L1}: field 'v_th' must be > 0"),
        ({"v_th": float("-inf")}, rf"{L1}: field 'v_th' must be finite"),
        ({"reset": "hard"}, rf"{L1}: field 'reset' must be 'zero' or 'subtract'"),
        ({"v_reset": float("nan")}, rf"{L1}: field 'v_reset' must be finite"),
        ({"v_leak": float("inf")}, rf"{L1}: field 'v_leak' must be finite"),
        ({"v_leak": 0.1, "decay": 1.0}, rf"{L1}: field 'v_leak' is 0.1, but decay 1 does not"),
        ({"v_leak": 0.1, "integer": True, "weight": np.ones((2, 3)), "v_th": 2.0,
          "decay": 0.5}, rf"{L1}: field 'v_leak' is 0.1, but an integer layer has no leak"),
        ({"v_reset": "low"}, rf"{L1}: field 'v_reset' must be a number"),
        ({"v_reset": 0.5}, rf"{L1}: field 'v_reset' must be below 'v_th'"),
        ({"v_reset": -0.1, "reset": "subtract"},
         rf"{L1}: field 'v_reset' is -0.1, but a subtract reset has none"),
        ({"tau_us": 0.0}, rf"{L1}: field 'tau_us' must be a number > 0"),
        ({"tau_us": float("nan")}, rf"{L1}: field 'tau_us' must be a number > 0"),
        ({"tau_us": "fast"}, rf"{L1}: field 'tau_us' must be a number > 0"),
        ({"delay_us": -1.0}, rf"{L1}: field 'delay_us' must be >= 0"),
    ],
)
def test_bad_dense_layer_named_with_field(override, match):
    with pytest.raises(NetworkError, match=match):
        _two_layers(**override)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True), st.just(float("nan"))
    )
)
def test_decay_outside_unit_interval_rejected(decay):
    with pytest.raises(NetworkError, match=rf"{L1}: field 'decay'"):
        _two_layers(decay=decay)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    st.floats(min_value=1e-9, max_value=1e9),
    st.sampled_from(["zero", "subtract"]),
)
def test_valid_lif_parameters_accepted(decay, v_th, reset):
    net = _two_layers(decay=decay, v_th=v_th, reset=reset)
    assert (net.layers[1].decay, net.layers[1].v_th, net.layers[1].reset) == (decay, v_th, reset)


def _conv_net(layer, input_shape=(2, 5, 5)) -> Network:
    return Network([Conv2d(np.ones((2, 2, 1, 1))), layer], input_shape)


L1C = re.escape("layer 1 (Conv2d)")


@pytest.mark.parametrize(
    "layer, match",
    [
        (
            Conv2d(np.ones((3, 1, 2, 2))),
            rf"{L1C}: field 'weight' has 1 input channels; the input has 2",
        ),
        (Conv2d(np.ones((3, 2, 2))), rf"{L1C}: field 'weight' must have 4 dimensions"),
        (Conv2d(np.full((3, 2, 2, 2), np.nan)), rf"{L1C}: field 'weight' has 24 non-finite"),
        (Conv2d(np.ones((3, 2, 6, 6))), rf"{L1C}: kernel 6x6 does not fit"),
        (Conv2d(np.ones((3, 2, 2, 2)), stride=0), rf"{L1C}: field 'stride' must be a positive"),
        (Conv2d(np.ones((3, 2, 2, 2)), stride=1.0), rf"{L1C}: field 'stride' must be a positive"),
        (Conv2d(np.ones((3, 2, 2, 2)), padding=-1), rf"{L1C}: field 'padding' must be an integer"),
        (Conv2d(np.ones((3, 2, 2, 2)), bias=np.ones(2)), rf"{L1C}: field 'bias' has shape"),
        (Conv2d(np.ones((3, 2, 2, 2)), decay=1.5), rf"{L1C}: field 'decay'"),
        (Conv2d(np.ones((3, 2, 2, 2)), reset="hard"), rf"{L1C}: field 'reset'"),
        (AvgPool2d(6), r"layer 1 \(AvgPool2d\): kernel_size 6 does not fit"),
        (SumPool2d(0), r"layer 1 \(SumPool2d\): field 'kernel_size' must be a positive"),
        (SumPool2d(2, stride=-1), r"layer 1 \(SumPool2d\): field 'stride' must be a positive"),
        (AvgPool2d(2, v_th=0), r"layer 1 \(AvgPool2d\): field 'v_th' must be > 0"),
    ],
)
def test_bad_conv_and_pool_layers_named_with_field(layer, match):
    with pytest.raises(NetworkError, match=match):
        _conv_net(layer)


@pytest.mark.parametrize("layer", [Conv2d(np.ones((1, 1, 1, 1))), AvgPool2d(1), SumPool2d(1)])
def test_spatial_layer_needs_chw_input(layer):
    with pytest.raises(NetworkError, match=r"layer 0 \(\w+\): needs an input of shape \(C, H, W\)"):
        Network([layer], (4,))


# ----------------------------------------------------------------------------- bad networks


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layers": []}, r"network: field 'layers' is empty"),
        ({"input_shape": (2, 2)}, r"network: field 'input_shape' must be \(n,\) or \(P, H, W\)"),
        ({"input_shape": (0,)}, r"network: field 'input_shape'"),
        ({"input_shape": ("a",)}, r"network: field 'input_shape' must be integers"),
        ({"dt_us": 0}, r"network: field 'dt_us' must be a positive integer"),
        ({"dt_us": 1.5}, r"network: field 'dt_us' must be a positive integer"),
        ({"T": -3}, r"network: field 'T' must be a positive integer"),
        ({"sensor_size": (2, 2, 2)}, r"network: field 'sensor_size' \(2, 2, 2\) gives 8"),
        ({"sensor_size": (2, 2)}, r"network: field 'sensor_size' must be \(W, H, P\)"),
        ({"sensor_size": (-2, -2, 1)}, r"network: field 'sensor_size' must be positive"),
        ({"labels": ["a"]}, r"network: field 'labels' has 1 names; the output layer has 2"),
        ({"layers": [Dense(np.ones((2, 4))), Flatten()]}, r"layer 1 \(Flatten\): the last layer"),
        ({"layers": [Dense(np.ones((2, 4))), "relu"]}, r"layer 1: unknown layer type str"),
        ({"layers": Dense(np.ones((2, 4)))},
         r"network: field 'layers' must be a list of layers, got a Dense"),
        ({"layers": None}, r"network: field 'layers' must be a list of layers, got None"),
        ({"provenance": [1, 2]}, r"network: field 'provenance' must be a dict .*, got a list"),
        ({"labels": "ab"}, r"network: field 'labels' must be a list of names, got 'ab'"),
        ({"labels": 2}, r"network: field 'labels' must be a list of names, got 2"),
        ({"input_shape": (4.9,)}, r"network: field 'input_shape' must be integers, got \(4.9,\)"),
        ({"input_shape": (4.0,)}, r"network: field 'input_shape' must be integers"),
        ({"input_shape": (True,)}, r"network: field 'input_shape' must be integers"),
        ({"sensor_size": (2, 2, 1.5)},
         r"network: field 'sensor_size' must be \(W, H, P\) integers, got \(2, 2, 1.5\)"),
        ({"sensor_size": 4}, r"network: field 'sensor_size' must be \(W, H, P\) integers"),
    ],
)
def test_bad_network_fields(kwargs, match):
    args = {"layers": [Dense(np.ones((2, 4)))], "input_shape": (4,)}
    args.update(kwargs)
    with pytest.raises(NetworkError, match=match):
        Network(**args)


def test_single_layer_not_in_a_list_rejected():
    with pytest.raises(NetworkError, match=r"network: field 'layers' must be a list of layers"):
        Network(Dense(np.ones((2, 4))), (4,))


def test_network_fields_accepted():
    net = Network(
        [Dense(np.ones((2, 4)))],
        (1, 2, 2),
        dt_us=1000,
        T=np.int64(20),
        sensor_size=[2, 2, 1],
        labels=["left", 7],
        provenance=None,
    )
    assert net.sensor_size == (2, 2, 1)
    assert net.labels == ["left", "7"]
    assert net.provenance == {}
    assert net.input_shape == (1, 2, 2)


def test_network_numpy_integers_and_tuple_of_layers_accepted():
    net = Network((Dense(np.ones((2, 4))),), np.array([1, 2, 2]), sensor_size=np.array([2, 2, 1]),
                  labels=("a", "b"), provenance={"seed": 0})
    assert net.input_shape == (1, 2, 2) and all(type(s) is int for s in net.input_shape)
    assert net.sensor_size == (2, 2, 1) and all(type(s) is int for s in net.sensor_size)
    assert isinstance(net.layers, list)
    assert net.labels == ["a", "b"]
    assert net.provenance == {"seed": 0}


def test_layer_name():
    assert layer_name(2, Conv2d(np.ones((1, 1, 1, 1)))) == "layer 2 (Conv2d)"


# ----------------------------------------------------------------------------- NeuNorm


def _neunorm_net(norm, after=None):
    """(2,5,5) -conv 3x3 (3 channels)-> (3,3,3) -norm-> Flatten -> Dense 2."""
    after = [Flatten(), Dense(np.ones((2, 27)))] if after is None else after
    return Network([Conv2d(np.ones((3, 2, 3, 3))), norm, *after], (2, 5, 5))


def test_neunorm_keeps_shape_and_has_no_neurons():
    net = _neunorm_net(NeuNorm(np.zeros((3, 3, 3))))
    assert net.shapes == [(3, 3, 3), (3, 3, 3), (27,), (2,)]
    assert net.lif_layers == [0, 3]
    assert net.neunorm_into(3) == 1 and net.neunorm_into(0) is None
    assert NeuNorm(np.zeros((3, 3, 3)), scale=1.5).coef(3) == 0.5


L1N = r"layer 1 \(NeuNorm\)"


@pytest.mark.parametrize(
    "norm, match",
    [
        (NeuNorm(np.zeros((3, 3, 2))),
         rf"{L1N}: field 'alpha' has shape \(3, 3, 2\); expected \(3, 3, 3\)"),
        (NeuNorm(np.zeros((3, 9))), rf"{L1N}: field 'alpha' must have 3 dimensions"),
        (NeuNorm(np.full((3, 3, 3), np.inf)), rf"{L1N}: field 'alpha' has 27 non-finite"),
        (NeuNorm(np.zeros((3, 3, 3)), decay=0.0), rf"{L1N}: field 'decay' must be in \(0, 1\]"),
        (NeuNorm(np.zeros((3, 3, 3)), decay=1.5), rf"{L1N}: field 'decay' must be in \(0, 1\]"),
        (NeuNorm(np.zeros((3, 3, 3)), scale=0.0), rf"{L1N}: field 'scale' must be > 0"),
        (NeuNorm(np.zeros((3, 3, 3)), scale=np.nan), rf"{L1N}: field 'scale' must be a finite"),
        (NeuNorm(np.zeros((3, 3, 3)), decay="0.5"), rf"{L1N}: field 'decay' must be a finite"),
    ],
)
def test_bad_neunorm_named_with_field(norm, match):
    with pytest.raises(NetworkError, match=match):
        _neunorm_net(norm)


def test_neunorm_placement():
    with pytest.raises(NetworkError, match=r"layer 0 \(NeuNorm\): NeuNorm normalizes the spikes "
                                           r"of a layer with neurons"):
        Network([NeuNorm(np.zeros((2, 5, 5))), Flatten(), Dense(np.ones((1, 50)))], (2, 5, 5))
    with pytest.raises(NetworkError, match=r"layer 2 \(NeuNorm\): NeuNorm normalizes"):
        _neunorm_net(Flatten(), after=[NeuNorm(np.zeros((27,))), Dense(np.ones((2, 27)))])
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): the last layer must have "
                                           "neurons"):
        _neunorm_net(NeuNorm(np.zeros((3, 3, 3))), after=[])
