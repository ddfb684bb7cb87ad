"""The training loop: exact resume, the hand-off to the event runtime spike for spike, specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.errors import InputError
from eventsim.train import model
from eventsim.train.data import load_mnist_idx
from eventsim.train.fit import fit
from eventsim.train.spec import load_spec
from eventsim.train.trainer import trainable

SPEC = """
[data]
dataset = "nmnist"
path = "{path}"
dt_us = 10000
T = {T}
limit_train = {n}

[network]
layers = {layers}
bias = {bias}

[train]
epochs = {epochs}
batch_size = 16
seed = 3
max_shift = 1
"""


MLP = '[{type = "Dense", out = 32}, {type = "Dense", out = 10}]'
# conv 3x3 stride 2 (4 channels, 17x17) -> NeuNorm -> avg pool 2 (8x8) -> dense 10
CNN_NEUNORM = ('[{type = "Conv2d", out = 4, kernel = 3, padding = 1, stride = 2}, '
               '{type = "NeuNorm", alpha = 0.2, decay = 0.6}, {type = "AvgPool2d", kernel = 2}, '
               '{type = "Flatten"}, {type = "Dense", out = 10}]')
ARCHITECTURES = pytest.mark.parametrize("layers", [MLP, CNN_NEUNORM], ids=["mlp", "cnn-neunorm"])


def write_spec(tmp_path: Path, data_dir: Path, T=20, n=64, epochs=2, bias="true",
               layers=MLP) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(path=data_dir / "nmnist", T=T, n=n, epochs=epochs, bias=bias,
                                layers=layers))
    return spec


def quiet(*_args):
    pass


@ARCHITECTURES
def test_resume_gives_bit_identical_weights(tmp_path, data_dir, layers):
    spec_path = write_spec(tmp_path, data_dir, layers=layers)
    fit(load_spec(spec_path), tmp_path / "straight.h5", progress=False, log=quiet)
    fit(load_spec(spec_path), tmp_path / "half.h5", epochs=1, progress=False, log=quiet)
    fit(load_spec(spec_path), tmp_path / "resumed.h5", resume=tmp_path / "half.h5.ckpt.h5",
        progress=False, log=quiet)
    straight = dict(trainable(eventsim.load_network(tmp_path / "straight.h5")))
    resumed = dict(trainable(eventsim.load_network(tmp_path / "resumed.h5")))
    half = dict(trainable(eventsim.load_network(tmp_path / "half.h5")))
    assert straight.keys() == resumed.keys()
    if layers == CNN_NEUNORM:
        assert "1.alpha" in straight
    for name, value in straight.items():
        np.testing.assert_array_equal(value, resumed[name], err_msg=name)
        assert not np.array_equal(half[name], value), f"{name} was not trained"
    assert eventsim.load_network(tmp_path / "straight.h5").provenance["history"] == \
        eventsim.load_network(tmp_path / "resumed.h5").provenance["history"]


@ARCHITECTURES
def test_handoff_to_the_runtime_is_spike_for_spike(tmp_path, data_dir, layers):
    """Trained, saved, loaded and run event by event on the 100 real test recordings: every
    layer's spikes at every step equal the trainer's own forward pass (float64), and float32
    agrees too."""
    spec_path = write_spec(tmp_path, data_dir, T=30, n=100, epochs=1, layers=layers)
    fit(load_spec(spec_path), tmp_path / "net.h5", progress=False, log=quiet)
    net = eventsim.load_network(tmp_path / "net.h5")
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    assert len(files) == 100
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    frames = np.stack([eventsim.bin_events(s, net.dt_us, net.T) for s in streams], axis=1)
    cache, _ = model.forward(net, frames, dtype="float64")
    total_spikes = 0
    for dtype in ("float64", "float32"):
        sim = eventsim.Simulator(net, dtype=dtype)
        for b, stream in enumerate(streams):
            result = sim.run(stream)
            for pop, li in enumerate(result.layer_index):
                expected = np.argwhere(cache.layers[li].o[:, b].reshape(net.T, -1))
                np.testing.assert_array_equal(
                    result.spikes[pop], expected,
                    err_msg=f"{dtype}: sample {files[b].name}, layer {li} differs")
                total_spikes += len(expected)
    assert total_spikes > 1000  # the comparison is not vacuous


def test_trainer_accuracy_is_the_runtime_accuracy(tmp_path, data_dir):
    spec_path = write_spec(tmp_path, data_dir, epochs=1)
    provenance = fit(load_spec(spec_path), tmp_path / "net.h5", progress=False, log=quiet)
    net = eventsim.load_network(tmp_path / "net.h5")
    sim = eventsim.Simulator(net)
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))
    predicted = [sim.run(eventsim.read_events(f, net.sensor_size)).predicted for f in files]
    labels = [int(f.parent.name) for f in files]
    runtime = np.mean(np.array(predicted) == np.array(labels))
    assert runtime == pytest.approx(provenance["trainer_test_accuracy"])


@pytest.mark.parametrize("edit, match", [
    (("T = 20", "T = 0"), r"\[data\]: key 'T' must be a positive integer"),
    (("dataset = \"nmnist\"", "dataset = \"cifar\""), "key 'dataset' must be one of"),
    (("epochs = 2", "epochs = 2\nlearning_rate = 1"), "unknown key 'learning_rate'"),
    (("batch_size = 16", "batch_size = \"16\""), "'batch_size'"),
    (("type = \"Dense\", out = 32", "type = \"Dense2\", out = 32"), "key 'type' must be"),
    (("type = \"Dense\", out = 32", "type = \"Dense\""), "missing key 'out'"),
    (("bias = true", "bias = 3"), "key 'bias' must be bool"),
])
def test_bad_spec_names_the_key(tmp_path, data_dir, edit, match):
    spec_path = write_spec(tmp_path, data_dir)
    spec_path.write_text(spec_path.read_text().replace(*edit))
    with pytest.raises(InputError, match=match):
        load_spec(spec_path)


@pytest.mark.parametrize("edit, match", [
    (("T = 20", "T = 20\nencoding = \"current\""),
     r"key 'encoding' must be 'rate' \(or 'current' for mnist\), got 'current'"),
    (("type = \"Dense\", out = 32", "type = \"NeuNorm\", decay = 0.5"),
     r"layers\[0\]: NeuNorm must come right after a conv or pooling layer"),
])
def test_bad_spec_values_for_encoding_and_neunorm(tmp_path, data_dir, edit, match):
    spec_path = write_spec(tmp_path, data_dir)
    spec_path.write_text(spec_path.read_text().replace(*edit))
    with pytest.raises(InputError, match=match):
        load_spec(spec_path)


def test_bad_neunorm_value_names_the_layer(tmp_path, data_dir):
    spec_path = write_spec(tmp_path, data_dir, layers=CNN_NEUNORM.replace("decay = 0.6",
                                                                          "decay = 1.6"))
    with pytest.raises(InputError, match=r"\[network\]\.layers\[1\]: layer 1 \(NeuNorm\): "
                                         r"field 'decay' must be in \(0, 1\]"):
        load_spec(spec_path)


MNIST_CURRENT = """
[data]
dataset = "mnist"
path = "{path}"
dt_us = 1000
T = 8
limit_train = 256
limit_test = 200
encoding = "current"

[network]
layers = [{{type = "Dense", out = 64}}, {{type = "Dense", out = 10}}]

[train]
epochs = 1
batch_size = 32
"""


def test_mnist_as_analog_current_hands_off_to_the_runtime(tmp_path, data_dir):
    """Images as input current: the runtime (``analog=True``) gives the trainer's spikes on
    200 real test images, every layer, every step, float64; the first layer's current is
    counted as MACs once per image, no SOPs."""
    spec_path = tmp_path / "mnist.toml"
    spec_path.write_text(MNIST_CURRENT.format(path=data_dir / "mnist"))
    provenance = fit(load_spec(spec_path), tmp_path / "net.h5", progress=False, log=quiet)
    assert provenance["input_encoding"] == "current"
    net = eventsim.load_network(tmp_path / "net.h5")
    images, labels = load_mnist_idx(data_dir / "mnist", "t10k")
    images, labels = images[:200] / np.float32(255), labels[:200]
    frames = np.broadcast_to(images[None, :, None], (net.T, *images.shape[:1], 1, 28, 28))
    cache, _ = model.forward(net, frames, dtype="float64")
    sim = eventsim.Simulator(net, dtype="float64")
    correct = 0
    for b, image in enumerate(images):
        result = sim.run(image.astype(np.float32)[None], analog=True)
        for pop, li in enumerate(result.layer_index):
            expected = np.argwhere(cache.layers[li].o[:, b].reshape(net.T, -1))
            np.testing.assert_array_equal(result.spikes[pop], expected,
                                          err_msg=f"image {b}, layer {li} differs")
        assert result.sops[0] == 0
        assert result.macs[0] == np.count_nonzero(image) * 64  # dense weights are nonzero
        correct += result.predicted == labels[b]
    assert correct / len(images) == pytest.approx(provenance["trainer_test_accuracy"])
