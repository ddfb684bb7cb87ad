"""Quantization-aware training: the trainer's integer forward pass is the exported network's
run in the engine, spike for spike, and its gradients are the float network's at the
quantized point."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks
from test_trainer import write_spec

import eventsim
from eventsim.cli import main
from eventsim.engine.simulate import simulate
from eventsim.errors import InputError, NetworkError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
from eventsim.network.network import Network
from eventsim.network.quantize import quantize
from eventsim.train import model
from eventsim.train.qat import float_grads, integer_chain
from eventsim.train.trainer import TrainConfig, Trainer


def _integer_or_reject(net, bits, per_channel):
    try:
        return integer_chain(net, bits, per_channel)
    except NetworkError:  # a leak, a v_reset with per-channel scales, NeuNorm: no integer form
        assume(False)


@settings(max_examples=120, deadline=None)
@given(st.one_of(dense_networks(), conv_networks()), st.sampled_from([2, 4, 8]),
       st.booleans())
def test_integer_forward_is_the_exported_network_in_the_engine(case, bits, per_channel):
    net, x = case
    int_net, scales = _integer_or_reject(net, bits, per_channel)
    exported = quantize(net, bits, per_channel)
    for a, b in zip(int_net.layers, exported.layers, strict=True):
        if isinstance(a, (Dense, Conv2d)):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.v_th, b.v_th)
    cache, _ = model.forward(int_net, x[:, None], dtype="float64", scales=scales)
    result = simulate(exported, x)
    spiking = [c for layer, c in zip(int_net.layers, cache.layers, strict=True)
               if c.o is not None]
    for i, c in enumerate(spiking):
        out = c.o[:, 0].reshape(x.shape[0], -1)
        np.testing.assert_array_equal(result.spikes[i], np.argwhere(out),
                                      err_msg=f"population {i}")


@st.composite
def _on_grid(draw):
    """A Dense chain already on its quantization grid, scales powers of two, decay 1 (the
    truncation is exact): its float network is its integer network times the scales."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bits = draw(st.sampled_from([3, 4, 8]))
    q = 2 ** (bits - 1) - 1
    sizes = draw(st.lists(st.integers(1, 8), min_size=2, max_size=4))
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        s = 2.0 ** draw(st.integers(-6, 0))
        w = rng.integers(-q, q + 1, (n_out, n_in)).astype(float)
        w.flat[rng.integers(w.size)] = q * draw(st.sampled_from([1, -1]))  # max |w| = q
        reset = draw(st.sampled_from(["zero", "subtract"]))
        layers.append(Dense(w * s, v_th=float(rng.integers(1, 3 * q)) * s, decay=1.0,
                            reset=reset, bias=rng.integers(-3, 4, n_out) * s
                            if draw(st.booleans()) else None))
    T = draw(st.integers(1, 12))
    x = (rng.random((T, 5, sizes[0])) < 0.4).astype(np.float64)
    return Network(layers, (sizes[0],)), x, bits


@settings(max_examples=100, deadline=None)
@given(_on_grid())
def test_gradients_reach_the_float_weights_straight_through(case):
    """On the grid, with powers-of-two scales, the quantized network is the float one: the
    QAT gradients (integer network's, divided by the scales; surrogates widened) must equal
    the float network's STBP gradients."""
    net, x, bits = case
    int_net, scales = integer_chain(net, bits)
    cache_f, out_f = model.forward(net, x, dtype="float64")
    cache_q, out_q = model.forward(int_net, x, dtype="float64", scales=scales)
    np.testing.assert_array_equal(out_f, out_q)
    grad_out = np.random.default_rng(0).normal(size=out_f.shape)
    want = model.backward(net, cache_f, grad_out)
    got = float_grads(net, model.backward(int_net, cache_q, grad_out), scales)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g["weight"], w["weight"], rtol=1e-12, atol=1e-12)
        if w["bias"] is not None:
            np.testing.assert_allclose(g["bias"], w["bias"], rtol=1e-12, atol=1e-12)


def _toy(seed=0, n=96):
    """Two classes told apart by which half of 16 inputs fires more, T = 8."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(np.arange(16)[None] < 8, 0.5 - 0.35 * (2 * y[:, None] - 1),
                 0.5 + 0.35 * (2 * y[:, None] - 1))
    x = (rng.random((n, 8, 16)) < p[:, None]).astype(np.uint8)
    return x, y


def test_qat_trains_and_exports_what_it_evaluated():
    x, y = _toy()
    net = Network([Dense(np.random.default_rng(1).normal(0, 0.3, (12, 16)), v_th=0.5,
                         decay=0.5), Dense(np.random.default_rng(2).normal(0, 0.3, (2, 12)),
                                           v_th=0.5, decay=0.5)], (16,))
    config = TrainConfig(epochs=15, batch_size=16, lr=5e-3, qat_bits=4, seed=3)
    trainer = Trainer(net, config, lambda xb, rng, augment: np.swapaxes(xb, 0, 1))
    for _ in range(config.epochs):
        trainer.train_epoch(x, y, progress=False)
    accuracy = trainer.evaluate(x, y)
    assert accuracy >= 0.9
    exported = trainer.integer_network()
    assert exported.provenance["quantization"]["bits"] == 4
    assert all(layer.integer for layer in exported.layers)
    assert np.abs(exported.layers[0].weight).max() <= 7
    engine = np.mean([simulate(exported, s).predicted == label for s, label in zip(x, y)])
    assert engine == accuracy


def test_qat_refuses_what_has_no_integer_form():
    net = Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))), Flatten(),
                   Dense(np.ones((2, 4)))], (1, 2, 2))
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): NeuNorm carries analog "
                                           "values and has no integer form"):
        Trainer(net, TrainConfig(qat_bits=4), lambda *a: None)
    with pytest.raises(InputError, match="field 'qat_bits' must be an integer in 2..16, got 1"):
        Trainer(Network([Dense(np.ones((2, 2)))], (2,)), TrainConfig(qat_bits=1),
                lambda *a: None)


def test_cli_fine_tunes_quantization_aware_and_writes_what_the_engine_runs(tmp_path, data_dir):
    """``eventsim train SPEC --init FLOAT.h5 --qat-bits 4``: the file written is the integer
    network; on the 100 real test recordings its spikes in the engine equal the trainer's
    integer forward pass, layer by layer, and so does the accuracy the trainer reported."""
    spec = write_spec(tmp_path, data_dir, T=30, n=64, epochs=1)
    assert main(["train", str(spec), "--out", str(tmp_path / "float.h5")]) == 0
    assert main(["train", str(spec), "--out", str(tmp_path / "q.h5"), "--qat-bits", "4",
                 "--init", str(tmp_path / "float.h5")]) == 0
    net = eventsim.load_network(tmp_path / "q.h5")
    assert all(layer.integer for layer in net.layers)
    quantization = net.provenance["quantization"]
    assert quantization["bits"] == 4 and quantization["training"].startswith("quantization-aware")
    assert net.provenance["init"] == str(tmp_path / "float.h5")
    assert np.abs(net.layers[0].weight).max() == 7
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    frames = np.stack([eventsim.bin_events(s, net.dt_us, net.T) for s in streams], axis=1)
    cache, _ = model.forward(net, frames, dtype="float64")
    sim = eventsim.Simulator(net)
    correct, spikes = 0, 0
    for b, (stream, f) in enumerate(zip(streams, files, strict=True)):
        result = sim.run(stream)
        for pop, li in enumerate(result.layer_index):
            expected = np.argwhere(cache.layers[li].o[:, b].reshape(net.T, -1))
            np.testing.assert_array_equal(result.spikes[pop], expected, err_msg=f.name)
            spikes += len(expected)
        correct += result.predicted == int(f.parent.name)
    assert spikes > 1000
    assert correct / len(files) == net.provenance["trainer_test_accuracy"]


def test_init_must_match_the_spec(tmp_path, data_dir, capsys):
    spec = write_spec(tmp_path, data_dir, T=10, n=16, epochs=1)
    other = Network([Dense(np.ones((5, 2312)))], (2, 34, 34))
    eventsim.save_network(other, tmp_path / "other.h5")
    assert main(["train", str(spec), "--out", str(tmp_path / "q.h5"), "--init",
                 str(tmp_path / "other.h5")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'other.h5'}: field 'init' holds ['0.weight']; the network has " \
           "['0.bias', '0.weight', '1.bias', '1.weight']" in err


def test_qat_refuses_graphs_for_now():
    g = Graph((2,), [Population("h", (2,), v_th=1.0), Population("o", (2,), v_th=1.0)],
              [Projection(INPUT, "h", [ops.Dense(np.ones((2, 2)))]),
               Projection("h", "h", [ops.Dense(np.ones((2, 2)))]),
               Projection("h", "o", [ops.Dense(np.ones((2, 2)))])])
    with pytest.raises(InputError, match=r"quantization-aware training \('qat_bits'\) runs "
                                         "chains of STBP LIF layers"):
        Trainer(g, TrainConfig(qat_bits=4), lambda *a: None)
