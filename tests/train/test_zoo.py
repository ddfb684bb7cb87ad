"""The shipped networks do what networks/README.md says, run event by event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim

NETWORKS = Path(__file__).resolve().parents[2] / "networks"


@pytest.mark.parametrize("name", ["nmnist-mlp", "nmnist-cnn"])
def test_nmnist_networks_accuracy_in_the_runtime(data_dir, name):
    """98% on the 100 test recordings in float32 and float64, as networks/README.md says; the
    CNN is at least as accurate as the MLP."""
    net = eventsim.load_network(NETWORKS / f"{name}.h5")
    assert net.provenance["train_samples"] == 1000 and net.provenance["dataset"] == "nmnist"
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    labels = np.array([int(f.parent.name) for f in files])
    predictions = {}
    for dtype in ("float32", "float64"):
        sim = eventsim.Simulator(net, dtype=dtype)
        predictions[dtype] = np.array(
            [sim.run(eventsim.read_events(f, net.sensor_size)).predicted for f in files])
    np.testing.assert_array_equal(predictions["float32"], predictions["float64"])
    assert np.mean(predictions["float32"] == labels) == 0.98  # as networks/README.md says


def test_mnist_mlp_accuracy_in_the_runtime(data_dir):
    """784-800-10 on the 10000 MNIST test images, rate-coded exactly as the trainer evaluates
    (seed 12345, batches of 100), run event by event: >= 98%, equal to the trainer's figure."""
    from eventsim.train.data import load_mnist_idx, rate_code

    net = eventsim.load_network(NETWORKS / "mnist-mlp.h5")
    assert net.provenance["train_samples"] == 60000
    images, labels = load_mnist_idx(data_dir / "mnist", "t10k")
    sim = eventsim.Simulator(net)
    rng = np.random.default_rng(12345)
    correct = 0
    for start in range(0, len(images), 100):
        spikes = rate_code(images[start:start + 100], net.T, rng)  # (T, B, 28, 28)
        for b in range(spikes.shape[1]):
            correct += sim.run(spikes[:, b].reshape(net.T, -1)).predicted == labels[start + b]
    accuracy = correct / len(images)
    assert accuracy >= 0.98
    assert accuracy == net.provenance["trainer_test_accuracy"]


def _test_recordings(net, data_dir):
    """The 100 N-MNIST test recordings: files, labels, event streams, and the frames the
    trainer reads, (T, B, n_inputs), binned by the one rule."""
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    labels = np.array([int(f.parent.name) for f in files])
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    frames = np.stack([eventsim.bin_events(s, net.dt_us, net.T).reshape(net.T, -1)
                       for s in streams], axis=1)
    return files, labels, streams, frames


def test_nmnist_rsnn_runtime_equals_trainer_on_the_test_recordings(data_dir):
    """2312-256r-10 (networks/nmnist-rsnn.toml): a Graph whose hidden population feeds back
    onto itself. Event by event, float32 and float64, it decides every test recording as the
    trainer's forward pass does (the same spikes of the output population, sample by sample),
    and scores the 96% networks/README.md gives."""
    from eventsim.train import graph_model
    from eventsim.train.trainer import predict

    net = eventsim.load_network(NETWORKS / "nmnist-rsnn.h5")
    assert isinstance(net, eventsim.Graph) and net.closes_cycle(1)
    assert net.provenance["train_samples"] == 1000
    files, labels, streams, frames = _test_recordings(net, data_dir)
    _, out = graph_model.forward(net, frames, dtype="float64")
    for dtype in ("float32", "float64"):
        sim = eventsim.Simulator(net, dtype=dtype)
        results = [sim.run(s) for s in streams]
        for b, r in enumerate(results):
            np.testing.assert_array_equal(r.spikes[1], np.argwhere(out[:, b]),
                                          err_msg=f"{files[b]}, {dtype}")
        predicted = np.array([r.predicted for r in results])
        np.testing.assert_array_equal(predicted, predict(out))
        assert np.mean(predicted == labels) == 0.96


def test_nmnist_cuba_runtime_equals_trainer_on_the_test_recordings(data_dir):
    """2312-256r-10 (networks/nmnist-cuba.toml): a recurrent current-based hidden population
    and a leaky-integrator readout. Event by event, float32 and float64, its hidden spikes are
    the trainer's forward pass's (float64), its readout's maximum potential the trainer's
    within float64 rounding, its decisions the trainer's, and it scores the 98%
    networks/README.md gives."""
    from eventsim.train import graph_model

    net = eventsim.load_network(NETWORKS / "nmnist-cuba.h5")
    hidden, out_pop = net.populations
    assert hidden.syn_decay == 0.5 and out_pop.v_th == np.inf and net.closes_cycle(1)
    files, labels, streams, frames = _test_recordings(net, data_dir)
    cache, potential = graph_model.forward(net, frames, dtype="float64")
    peak = potential.max(0)                                         # (B, 10)
    for dtype in ("float32", "float64"):
        sim = eventsim.Simulator(net, dtype=dtype)
        results = [sim.run(s) for s in streams]
        predicted = np.array([r.predicted for r in results])
        if dtype == "float64":
            for b, r in enumerate(results):
                np.testing.assert_array_equal(r.spikes[0], np.argwhere(cache.o[0][:, b]),
                                              err_msg=str(files[b]))
                np.testing.assert_allclose(r.membrane_max[1], peak[b], rtol=1e-9, atol=1e-9)
            np.testing.assert_array_equal(predicted, peak.argmax(1))
        assert np.mean(predicted == labels) == 0.98


@pytest.mark.parametrize("name, bits, least", [
    ("nmnist-mlp-qat4", 4, 0.97), ("nmnist-cnn-qat4", 4, 0.97), ("nmnist-mlp-qat8", 8, 0.97),
    ("nmnist-mlp-qat2", 2, 0.74), ("nmnist-cnn-speck", 8, 0.95)])
def test_qat_networks_run_as_the_trainer_ran_them(data_dir, name, bits, least):
    """The quantization-aware networks (networks/<name>.toml): integer layers whose spikes
    event by event equal the trainer's integer forward pass on every test recording, layer by
    layer, and whose accuracy is the trainer's; at 4 and 8 bits within 1 point of the float32
    networks' 98% (the issue's target; networks/README.md)."""
    from eventsim.train import model

    net = eventsim.load_network(NETWORKS / f"{name}.h5")
    assert net.provenance["quantization"]["bits"] == bits
    assert all(getattr(layer, "integer", True) for layer in net.layers)
    files, labels, streams, frames = _test_recordings(net, data_dir)
    cache, _ = model.forward(net, frames.reshape(net.T, len(files), *net.input_shape),
                             dtype="float64")
    sim = eventsim.Simulator(net)
    predicted = []
    for b, stream in enumerate(streams):
        result = sim.run(stream)
        for pop, li in enumerate(result.layer_index):
            np.testing.assert_array_equal(
                result.spikes[pop], np.argwhere(cache.layers[li].o[:, b].reshape(net.T, -1)),
                err_msg=f"{files[b].name}, layer {li}")
        predicted.append(result.predicted)
    accuracy = np.mean(np.array(predicted) == labels)
    assert accuracy == net.provenance["trainer_test_accuracy"]
    assert accuracy >= least
