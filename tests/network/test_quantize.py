"""Post-training quantization: integer layers, exactness, the shipped networks, the command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.cli import main
from eventsim.errors import InputError, NetworkError
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network
from eventsim.network.quantize import model_bytes, quantize

NETWORKS = Path(__file__).resolve().parents[2] / "networks"


def _conv_net(rng):
    return Network([Conv2d(rng.normal(0, 0.4, (3, 2, 3, 3)), padding=1, bias=rng.normal(0, .1, 3),
                           decay=0.2, v_th=0.5),
                    AvgPool2d(2, decay=0.3, v_th=0.4), Flatten(),
                    Dense(rng.normal(0, 0.3, (4, 48)), decay=0.9, v_th=0.7, reset="subtract")],
                   (2, 8, 8))


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_integer_layers_within_range(bits):
    q = quantize(_conv_net(np.random.default_rng(0)), bits)
    q_max = 2 ** (bits - 1) - 1
    conv, pool, _, dense = q.layers
    for layer in (conv, dense):
        assert layer.integer and np.all(layer.weight == np.round(layer.weight))
        assert np.abs(layer.weight).max() == q_max  # the largest weight uses the full range
        assert layer.v_th == round(layer.v_th) >= 1
    assert isinstance(pool, SumPool2d) and pool.integer and pool.v_th == round(0.4 * 4)
    assert conv.decay == 819 / 4096 and dense.decay == 3686 / 4096
    assert dense.reset == "subtract"
    assert q.provenance["quantization"]["bits"] == bits
    assert len(q.provenance["quantization"]["scales"]) == 3


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40),
       st.sampled_from([1.0, 0.5, 2.0**-7, 4.0, 2.0**-12]), st.integers(-40, 0))
def test_exact_when_the_float_network_is_already_on_the_grid(seed, n_th, scale, n_reset):
    """Weights, thresholds and ``v_reset`` that are multiples of one scale (a power of two,
    so the float sums are exact too), integrating neurons: the integer network is the float
    one divided by the scale, spike for spike."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-127, 128, (6, 5)).astype(float)
    w1[0, 0] = 127  # the largest magnitude sets the scale
    w2 = rng.integers(-127, 128, (3, 6)).astype(float)
    w2[0, 0] = -127
    net = Network([Dense(w1 * scale, v_th=n_th * scale, decay=1.0, v_reset=n_reset * scale),
                   Dense(w2 * scale, v_th=n_th * scale, decay=1.0, reset="subtract")], (5,))
    x = (rng.random((25, 5)) < 0.4).astype(np.uint8)
    a = eventsim.simulate(net, x, dtype="float64")
    b = eventsim.simulate(quantize(net, 8), x)
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3))
def test_per_channel_scales_each_channel_on_its_own(seed, n_th):
    """Channels whose weights are multiples of their own power-of-two scale, integrating
    neurons: the per-channel integer network is exact, with one threshold per channel."""
    rng = np.random.default_rng(seed)
    scales = 2.0 ** rng.integers(-8, 3, 4)  # one per output channel of the conv
    w = rng.integers(-7, 8, (4, 2, 3, 3)).astype(float)
    w[:, 0, 0, 0] = 7  # each channel's largest magnitude: 7 = 2**(4-1) - 1
    conv = Conv2d(w * scales[:, None, None, None], padding=1, decay=1.0,
                  v_th=float(n_th * scales.max()))  # a whole number of every channel's scale
    net = Network([conv, Flatten(), Dense(np.full((2, 4 * 36), 0.5), v_th=4.0, decay=1.0)],
                  (2, 6, 6))
    q = quantize(net, 4, per_channel=True)
    assert q.layers[0].v_th.shape == (4,)
    assert q.provenance["quantization"]["scheme"] == "symmetric, per output channel"
    np.testing.assert_array_equal(q.layers[0].v_th, n_th * scales.max() / scales)
    x = (rng.random((15, 2, 6, 6)) < 0.3).astype(np.uint8)
    a = eventsim.simulate(net, x, dtype="float64")
    b = eventsim.simulate(q, x)
    np.testing.assert_array_equal(a.spikes[0], b.spikes[0])
    np.testing.assert_array_equal(a.spikes[1], b.spikes[1])


def test_round_trip_and_model_size(tmp_path):
    net = _conv_net(np.random.default_rng(1))
    q = quantize(net, 4, per_channel=True)
    assert q.layers[0].v_th.shape == (3,) and q.layers[3].v_th.shape == (4,)
    eventsim.save_network(q, tmp_path / "q.h5")
    back = eventsim.load_network(tmp_path / "q.h5")
    assert all(getattr(x, "integer", False) == getattr(y, "integer", False)
               for x, y in zip(q.layers, back.layers))
    np.testing.assert_array_equal(back.layers[0].v_th, q.layers[0].v_th)
    assert back.provenance["quantization"] == q.provenance["quantization"]
    x = (np.random.default_rng(2).random((12, 2, 8, 8)) < 0.3).astype(np.uint8)
    for sa, sb in zip(eventsim.simulate(q, x).spikes, eventsim.simulate(back, x).spikes):
        np.testing.assert_array_equal(sa, sb)
    n = 3 * 2 * 9 + 3 + 4 * 48
    assert model_bytes(q, 4) == (n * 4 + 7) // 8 and model_bytes(net) == n * 4


@pytest.mark.parametrize("name, bits, per_channel, accuracy", [
    ("nmnist-mlp", 8, False, 0.98), ("nmnist-mlp", 4, False, 1.00),
    ("nmnist-cnn", 8, False, 0.98), ("nmnist-cnn", 4, False, 0.95),
    ("nmnist-mlp", 4, True, 0.97), ("nmnist-cnn", 4, True, 0.94),
    ("nmnist-rsnn", 8, False, 0.97), ("nmnist-rsnn", 4, False, 0.98),
    ("nmnist-rsnn", 4, True, 0.97),
])
def test_shipped_networks_quantized(data_dir, name, bits, per_channel, accuracy):
    """As tools/quantize_tradeoff.py prints and the README's table says."""
    q = quantize(eventsim.load_network(NETWORKS / f"{name}.h5"), bits, per_channel)
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    sim = eventsim.Simulator(q)
    predicted = [sim.run(eventsim.read_events(f, q.sensor_size)).predicted for f in files]
    assert np.mean(np.array(predicted) == [int(f.parent.name) for f in files]) == accuracy


def test_what_cannot_be_quantized_or_trained():
    with pytest.raises(NetworkError, match="'bits' must be an integer in 2..16, got 1"):
        quantize(_conv_net(np.random.default_rng(0)), 1)
    nn = Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))), Flatten(),
                  Dense(np.ones((1, 4)))], (1, 2, 2))
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): NeuNorm carries analog"):
        quantize(nn)
    q = quantize(_conv_net(np.random.default_rng(0)))
    with pytest.raises(NetworkError, match=r"layer 0 \(Conv2d\): integer layers run in "
                                           "discrete mode only"):
        eventsim.Simulator(q, mode="continuous", dt_us=1000)
    from eventsim.train.trainer import TrainConfig, Trainer

    with pytest.raises(InputError, match="layer 0 is an integer .* train the float network"):
        Trainer(q, TrainConfig(), lambda x, rng, augment: x)


def test_v_reset_needs_one_scale():
    w = np.array([[127.0, -64.0], [32.0, 127.0]]) / 128
    net = Network([Dense(w, v_th=1.0, v_reset=-0.5)], (2,))
    assert quantize(net, 8).layers[0].v_reset == -64.0  # scale 1/128
    with pytest.raises(NetworkError, match=r"layer 0 \(Dense\): field 'v_reset' is -0.5, "
                                           r"and per-channel scales would need one per channel"):
        quantize(net, 8, per_channel=True)
    net.layers[0].v_reset, net.layers[0].v_leak = 0.0, 0.25
    with pytest.raises(NetworkError, match=r"layer 0 \(Dense\): field 'v_leak' is 0.25; an "
                                           r"integer layer has no leak drive"):
        quantize(net, 8)


@pytest.mark.parametrize("kwargs, match", [
    ({"v_reset": -0.5}, r"field 'v_reset' must be a whole number in an integer layer"),
    ({"weight": np.array([[0.5]])}, r"field 'weight' must hold whole numbers in an integer layer; value 0.5 at flat index 0"),
    ({"v_th": 1.5}, r"field 'v_th' must be a whole number in an integer layer"),
    ({"decay": 0.3}, r"field 'decay' must be a multiple of 1/4096"),
    ({"v_th": np.array([2.0, 3.0])}, r"field 'v_th' has 2 thresholds; the layer has 1 output"),
    ({"v_th": np.array([0.5])}, r"field 'v_th' must hold whole numbers >= 1"),
])
def test_integer_layer_checks(kwargs, match):
    args = {"weight": np.array([[2.0]]), "v_th": 3.0, "decay": 0.5} | kwargs
    with pytest.raises(NetworkError, match=match):
        Network([Dense(args.pop("weight"), integer=True, **args)], (1,))
    with pytest.raises(NetworkError, match=r"one threshold per output channel only in an "
                                           "integer layer"):
        Network([Dense(np.ones((2, 1)), v_th=np.array([1.0, 2.0]))], (1,))
    with pytest.raises(NetworkError, match=r"its weight 1/4 is not a whole number"):
        Network([AvgPool2d(2, v_th=1.0, decay=0.5, integer=True)], (1, 2, 2))


def test_quantize_command(capsys, tmp_path):
    path = tmp_path / "net.h5"
    eventsim.save_network(_conv_net(np.random.default_rng(3)), path)
    code = main(["quantize", str(path), "--bits", "4", "--out", str(tmp_path / "q4.h5")])
    out = capsys.readouterr().out
    assert code == 0 and f"wrote {tmp_path / 'q4.h5'}: 4-bit integer weights" in out
    assert eventsim.load_network(tmp_path / "q4.h5").layers[0].integer
    code = main(["quantize", str(path), "--bits", "40", "--out", str(tmp_path / "x.h5")])
    assert code == 1 and "argument --bits: 40 is out of range: expected a whole number from 2 " \
        "to 16" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.sampled_from([1.0, 2.0**-7, 4.0]),
       st.booleans())
def test_a_recurrent_graph_on_the_grid_is_exact(seed, n_th, scale, delayed):
    """A graph whose feed-forward and recurrent weights (and a backward projection, and a
    pooled path) are multiples of one power-of-two scale, integrating neurons: each projection
    gets its own grid, a power of two finer where its weights are small, and the integer
    graph is the float one in the population's unit, spike for spike."""
    from eventsim.network import ops
    from eventsim.network.graph import INPUT, Graph, Population, Projection

    rng = np.random.default_rng(seed)

    def on_grid(shape, top=127):
        w = rng.integers(-top, top + 1, shape).astype(float)
        w.flat[0] = top  # the largest magnitude sets the scale
        return w * scale

    g = Graph((1, 4, 4), [Population("h", (6,), decay=1.0, v_th=n_th * scale),
                          Population("out", (3,), decay=1.0, v_th=n_th * scale,
                                     reset="subtract")],
              [Projection(INPUT, "h", [ops.AvgPool2d(2), ops.Flatten(),
                                       ops.Dense(on_grid((6, 4)) * 4)]),   # 1/4 folds in
               Projection("h", "h", [ops.Dense(on_grid((6, 6), top=3))]),    # small: same grid
               Projection("h", "out", [ops.Dense(on_grid((3, 6)))], delay=2 * delayed),
               Projection("out", "h", [ops.Dense(on_grid((6, 3), top=5))])])
    q = quantize(g, 8)
    assert [p.integer for p in q.populations] == [True, True]
    assert isinstance(q.projections[0].ops[0], ops.SumPool2d)
    # the recurrent matrix (top 3) gets its own grid, 2**5 finer (127 / 3 >= 32), the one
    # back from 'out' (top 5) 2**4 finer: the population's unit is scale / 2**5
    shifts = q.provenance["quantization"]["scales"][0]["shifts"]
    assert shifts == {"0": 0, "1": 5, "3": 4}
    np.testing.assert_array_equal(q.projections[1].ops[0].weight,
                                  g.projections[1].ops[0].weight / (scale / 32))
    assert q.populations[0].v_th == n_th * 32
    x = (rng.random((25, 16)) < 0.5).astype(np.uint8)
    a = eventsim.simulate(g, x, dtype="float64")
    b = eventsim.simulate(q, x)
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)



def test_a_conv_then_flatten_projection_quantizes_per_population_not_per_channel():
    """Conv2d -> Flatten into a flat population: one scale for the population; per-channel
    scales would need the conv's channels to be the population's, and are refused."""
    from eventsim.network import ops
    from eventsim.network.graph import INPUT, Graph, Population, Projection

    w = np.random.default_rng(0).normal(0, 0.5, (2, 1, 3, 3))
    g = Graph((1, 4, 4), [Population("n", (8,), v_th=0.5)],
              [Projection(INPUT, "n", [ops.Conv2d(w), ops.Flatten()])])
    q = quantize(g, 8)
    assert np.abs(q.projections[0].ops[0].weight).max() == 127
    with pytest.raises(NetworkError, match=r"population 'n': per-channel scales need each "
                                           r"projection's Dense or Conv2d last"):
        quantize(g, 8, per_channel=True)


def test_a_current_based_network_quantizes_to_loihis_cuba():
    """A current's decay becomes ``Du / 4096`` (the nearest; at least 1/4096), the rest as
    for any layer; the integer network runs as its twin steps Loihi's truncating CUBA. A
    refractory period has no integer form yet: refused by name."""
    from eventsim.network.reference import simulate_dense

    rng = np.random.default_rng(0)
    net = Network([Dense(rng.normal(0.4, 0.5, (6, 5)), decay=0.9, syn_decay=0.6),
                   Dense(rng.normal(0.3, 0.5, (3, 6)), decay=0.8, syn_decay=1e-6)], (5,))
    q = quantize(net, 8)
    assert [lay.syn_decay for lay in q.layers] == [round(0.6 * 4096) / 4096, 1 / 4096]
    assert all(lay.integer for lay in q.layers)
    x = (rng.random((30, 5)) < 0.5).astype(np.uint8)
    r = eventsim.simulate(q, x)
    out, _ = simulate_dense(q, x)
    assert sum(len(s) for s in r.spikes) > 10
    for s, o in zip(r.spikes, out):
        np.testing.assert_array_equal(s, np.argwhere(o))
    net.layers[0].refractory_steps = 2
    with pytest.raises(NetworkError, match=r"layer 0 \(Dense\): field 'refractory_steps' is 2; "
                                           r"an integer layer has no refractory period"):
        quantize(net, 8)
