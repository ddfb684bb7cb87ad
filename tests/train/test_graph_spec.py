"""Graph specs (populations and projections in [network]): what they build, a graph trained,
checkpointed and resumed bit-identically, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.errors import InputError
from eventsim.train.fit import fit
from eventsim.train.spec import load_spec
from eventsim.train.trainer import trainable

NETWORKS = Path(__file__).resolve().parents[2] / "networks"

SPEC = """
[data]
dataset = "nmnist"
path = "{path}"
dt_us = 10000
T = 20
limit_train = 48

[network]
decay = 0.5
bias = true
{network}

[train]
epochs = 2
batch_size = 16
seed = 3
"""

RSNN = """populations = [{name = "h", size = 24}, {name = "out", size = 10, decay = 0.8}]
projections = [
    {from = "input", to = "h", ops = [{type = "SumPool2d", kernel = 2}, {type = "Flatten"},
                                      {type = "Dense"}]},
    {from = "h", to = "h", ops = [{type = "Dense"}], bias = false},
    {from = "h", to = "out", ops = [{type = "Dense"}], delay = 2},
]"""


def _write(tmp_path: Path, data_dir: Path, network: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(path=data_dir / "nmnist", network=network))
    return path


def test_the_shipped_rsnn_spec_builds_a_recurrent_graph():
    spec = load_spec(NETWORKS / "nmnist-rsnn.toml")
    g = spec.net
    assert isinstance(g, eventsim.Graph)
    assert [(p.name, p.size) for p in g.populations] == [("hidden", 256), ("out", 10)]
    assert [g.closes_cycle(k) for k in range(3)] == [False, True, False]
    assert g.projections[0].ops[-1].weight.shape == (256, 2312)


def _quiet(*_args) -> None:
    pass


def test_a_population_with_an_adaptive_threshold_trains(tmp_path, data_dir):
    """``adapt_decay`` and ``adapt_jump`` in a population's table make an ALIF population
    (the others keep a fixed threshold), and a short run trains and saves it (the forward
    pass against the runtime: test_graph_training.py)."""
    net = RSNN.replace('{name = "h", size = 24}',
                       '{name = "h", size = 24, adapt_decay = 0.9, adapt_jump = 0.3}')
    spec = load_spec(_write(tmp_path, data_dir, net))
    h = spec.net.populations[0]
    assert (h.adapt_decay, h.adapt_jump, spec.net.populations[1].adaptive) == (0.9, 0.3, False)
    before = spec.net.projections[0].ops[-1].weight.copy()
    fit(spec, tmp_path / "out.h5", progress=False, log=lambda *a: None)
    trained = eventsim.load_network(tmp_path / "out.h5")
    assert trained.populations[0].adapt_jump == 0.3
    assert not np.array_equal(trained.projections[0].ops[-1].weight, before)


def test_a_mean_readout_trains_and_decides_as_the_runtime(tmp_path, data_dir):
    """An LI output with ``readout = "mean"`` trains on the cross-entropy of its mean
    potential; the saved network keeps the decoding, and the runtime's decisions on real
    recordings are the argmax of the trainer's mean potential."""
    from eventsim.train import graph_model

    net = RSNN.replace('{name = "out", size = 10, decay = 0.8}',
                       '{name = "out", size = 10, decay = 0.8, v_th = inf, readout = "mean"}')
    path = _write(tmp_path, data_dir, net)
    path.write_text(path.read_text().replace("seed = 3", 'seed = 3\nloss = "ce"'))
    spec = load_spec(path)
    assert spec.net.output.readout == "mean"
    fit(spec, tmp_path / "out.h5", progress=False, log=lambda *a: None)
    trained = eventsim.load_network(tmp_path / "out.h5")
    assert trained.output.readout == "mean"
    files = sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))[:12]
    streams = [eventsim.read_events(f, trained.sensor_size) for f in files]
    frames = np.stack([eventsim.bin_events(s, trained.dt_us, trained.T).reshape(trained.T, -1)
                       for s in streams], axis=1)
    _, potential = graph_model.forward(trained, frames, dtype="float64")
    ours = [eventsim.simulate(trained, s, dtype="float64").predicted for s in streams]
    assert ours == potential.mean(0).argmax(1).tolist()


def test_a_graph_resumes_bit_identically(tmp_path, data_dir):
    spec_path = _write(tmp_path, data_dir, RSNN)
    g = load_spec(spec_path).net
    assert g.populations[1].decay == 0.8 and g.projections[2].delay == 2
    assert g.projections[1].ops[0].bias is None and g.projections[2].ops[0].bias is not None
    fit(load_spec(spec_path), tmp_path / "straight.h5", progress=False, log=_quiet)
    fit(load_spec(spec_path), tmp_path / "half.h5", epochs=1, progress=False, log=_quiet)
    fit(load_spec(spec_path), tmp_path / "resumed.h5", resume=tmp_path / "half.h5.ckpt.h5",
        progress=False, log=_quiet)
    straight, resumed, half = (dict(trainable(eventsim.load_network(tmp_path / f"{n}.h5")))
                               for n in ("straight", "resumed", "half"))
    assert sorted(straight) == ["0.2.bias", "0.2.weight", "1.0.weight", "2.0.bias",
                                "2.0.weight"]
    for name, value in straight.items():
        np.testing.assert_array_equal(value, resumed[name], err_msg=name)
        assert not np.array_equal(half[name], value), f"{name} was not trained"


@pytest.mark.parametrize("network, match", [
    (RSNN + '\nlayers = [{type = "Dense", out = 10}]',
     r"give 'layers' \(a chain\) or 'populations' and 'projections' \(a graph\), not both"),
    (RSNN.replace('from = "h", to = "out"', 'from = "hh", to = "out"'),
     r"\[network\]\.projections\[2\]: key 'from' names 'hh', which is no population"),
    (RSNN.replace('{name = "h", size = 24}', '{name = "h", size = 24, shape = [1, 2, 12]}'),
     r"\[network\]\.populations\[0\]: give one of 'size' \(neurons\) or 'shape'"),
    (RSNN.replace('{type = "Flatten"},\n', '{type = "Flatten"}, {type = "Dense"},\n'),
     r"\[network\]\.projections\[0\]\.ops\[2\]: missing key 'out' \(only the last op"),
    (RSNN.replace('{type = "SumPool2d", kernel = 2}', '{type = "MaxPool2d", kernel = 2}'),
     r"\[network\]\.projections\[0\]\.ops\[0\]: key 'type' must be Dense, Conv2d"),
    (RSNN.replace('delay = 2', 'delay = -1'),
     r"projection 2 \(h -> out\): field 'delay' must be whole steps >= 0"),
])
def test_graph_spec_errors_name_the_key(tmp_path, data_dir, network, match):
    with pytest.raises(InputError, match=match):
        load_spec(_write(tmp_path, data_dir, network))
