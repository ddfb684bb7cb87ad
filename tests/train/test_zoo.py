"""The shipped networks do what networks/README.md says, run event by event."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import eventsim

NETWORKS = Path(__file__).resolve().parents[2] / "networks"


def test_nmnist_mlp_accuracy_in_the_runtime(data_dir):
    net = eventsim.load_network(NETWORKS / "nmnist-mlp.h5")
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
