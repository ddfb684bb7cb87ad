"""`eventsim convert`: NIR graphs to network files and back, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.cli import main
from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
from eventsim.network.network import Network

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def convert(capsys, *argv) -> tuple[int, str, str]:
    code = main(["convert", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_norse_graph_becomes_a_network_file_that_spikes_as_norse(capsys, tmp_path):
    out_file = tmp_path / "norse.h5"
    code, out, err = convert(capsys, DATA / "norse_mlp.nir", "--out", out_file, "--dt-us", 1000,
                             "--discretisation", "euler", "--tau-scale", 1000)
    warned = (f"eventsim: warning: {DATA / 'norse_mlp.nir'}: the NIR graph file has no checksum "
              "(written by an eventsim older than 0.2 or by another tool): its content cannot be "
              "verified\n")
    assert (code, err) == (0, warned)
    assert out == (f"wrote {out_file}: input (5,), dt_us 1000, layers Dense(decay 0.9, zero), "
                   "Dense(decay 0.8, zero)\n")
    net = eventsim.load_network(out_file)
    assert net.provenance["nir_reading"] == {"dt_us": 1000, "discretisation": "euler",
                                             "reset": "zero", "tau_scale": 1000.0}
    io = np.load(DATA / "norse_mlp_io.npz")
    result = eventsim.simulate(net, io["x"].astype(np.uint8))
    for pop in range(2):
        np.testing.assert_array_equal(result.spikes[pop], np.argwhere(io[f"zero_spikes{pop}"]))


def test_network_to_nir_and_back(capsys, tmp_path):
    """The shipped CNN through NIR and back keeps weights, decay, binning and labels."""
    original = eventsim.load_network(ROOT / "networks" / "nmnist-cnn.h5")
    code, out, _ = convert(capsys, ROOT / "networks" / "nmnist-cnn.h5", "--out",
                           tmp_path / "cnn.nir")
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'cnn.nir'}: input (2, 34, 34)")
    code, _, _ = convert(capsys, tmp_path / "cnn.nir", "--out", tmp_path / "cnn.h5")
    assert code == 0
    back = eventsim.load_network(tmp_path / "cnn.h5")
    assert (back.dt_us, back.T, back.sensor_size, back.labels) == \
        (original.dt_us, original.T, original.sensor_size, original.labels)
    assert [type(lay).__name__ for lay in back.layers] == \
        [type(lay).__name__ for lay in original.layers]  # no Flatten added before the Dense
    weighted = [lay for lay in back.layers if hasattr(lay, "weight")]
    assert len(weighted) == 3
    for a, b in zip([lay for lay in original.layers if hasattr(lay, "weight")], weighted):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert (a.decay, a.v_th, a.reset) == (b.decay, b.v_th, b.reset)


def test_a_network_without_a_step_is_written_with_the_one_given(capsys, tmp_path):
    net = eventsim.random_mlp([5, 3], (5,), seed=0)
    eventsim.save_network(net, tmp_path / "net.h5")
    code, out, _ = convert(capsys, tmp_path / "net.h5", "--out", tmp_path / "net.nir",
                           "--dt-us", 100)
    assert code == 0 and f"wrote {tmp_path / 'net.nir'}: input (5,), dt_us 100, " in out
    assert eventsim.from_nir(tmp_path / "net.nir").dt_us == 100


@pytest.mark.parametrize("argv, message", [
    (["norse_mlp.nir", "--out", "x.nir"],
     "converts .nir to .h5 or .h5 to .nir; got norse_mlp.nir -> x.nir"),
    (["norse_mlp.nir", "--out", "x.h5"],
     "norse_mlp.nir: from_nir: node '1' is continuous-time; give dt_us"),
    (["norse_mlp.nir", "--out", "x.h5", "--dt-us", "0"],
     "argument --dt-us: 0 is out of range: expected a whole number from 1"),
    (["norse_mlp.nir", "--out", "x.h5", "--dt-us", "1000", "--tau-scale", "-2"],
     "argument --tau-scale: expected a finite number > 0, got '-2'"),
    (["none.nir", "--out", "x.h5"], "none.nir: no such NIR file"),
    (["none.h5", "--out", "x.nir"], "none.h5: no such network file"),
    (["sinabs_mlp_io.npz", "--out", "x.nir"], "converts .nir to .h5 or .h5 to .nir"),
    (["net.h5", "--out", "x.nir", "--reset", "zero", "--tau-scale", "3"],
     "--reset, --tau-scale: options for reading NIR, not for writing it"),
    (["net.h5", "--out", "x.nir", "--tau-scale", "0"],
     "argument --tau-scale: expected a finite number > 0, got '0'"),
    (["net.nir", "--out", "x.h5", "--dt-us", "100"],
     ("net.nir: from_nir: node '0.lif' carries the exact decay eventsim wrote for a step of "
      "1000 us; dt_us 100 would change its time base")),
    (["net.h5", "--out", "x.nir", "--dt-us", "100"],
     "net.h5: to_nir: field 'dt_us' is 100 but the network's decays are per step of 1000 us"),
    (["nodt.h5", "--out", "x.nir"], "nodt.h5: to_nir: the network has no dt_us"),
    (["neunorm.h5", "--out", "x.nir"],
     "neunorm.h5: layer 1 (NeuNorm): NeuNorm has no NIR node"),
])
def test_errors_name_the_file_and_write_nothing(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    for name in ("norse_mlp.nir", "sinabs_mlp_io.npz"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    net = eventsim.random_mlp([5, 3], (5,), seed=0)
    net.dt_us = 1000
    eventsim.save_network(net, tmp_path / "net.h5")
    eventsim.to_nir(net, tmp_path / "net.nir")
    eventsim.save_network(eventsim.random_mlp([5, 3], (5,), seed=0), tmp_path / "nodt.h5")
    eventsim.save_network(Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))),
                                   Flatten(), Dense(np.ones((1, 4)))], (1, 2, 2), dt_us=1000),
                          tmp_path / "neunorm.h5")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = convert(capsys, *argv)
    assert code == 1 and out == ""
    *warned, error = err.strip("\n").split("\n")  # a file another tool wrote: a warning first
    assert all(w.startswith("eventsim: warning: ") and "no checksum" in w for w in warned), err
    assert error.startswith("eventsim: error: ") and message in error, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_recurrent_graph_becomes_a_network_file_and_back(capsys, tmp_path):
    """snnTorch's RSNN file (tests/data/make_snntorch_rsnn.py) to HDF5 and on to NIR: the
    line names the populations and the projection that closes the cycle; the spikes stay."""
    code, out, _ = convert(capsys, DATA / "snntorch_rsnn.nir", "--out", tmp_path / "r.h5",
                           "--dt-us", 100, "--discretisation", "euler")
    assert code == 0
    assert out.endswith("populations 1.lif (8,) (decay 0.9, zero), 3 (3,) (decay 0.8, zero); "
                        "projections input -> 1.lif [Dense], 1.lif -> 1.lif [Dense] (closes a "
                        "cycle), 1.lif -> 3 [Dense]\n")
    assert convert(capsys, tmp_path / "r.h5", "--out", tmp_path / "r.nir")[0] == 0
    io = np.load(DATA / "snntorch_rsnn_io.npz")
    for net in (eventsim.load_network(tmp_path / "r.h5"), eventsim.from_nir(tmp_path / "r.nir")):
        result = eventsim.simulate(net, io["x"].astype(np.uint8))
        for pop in range(2):
            np.testing.assert_array_equal(result.spikes[pop],
                                          np.argwhere(io[f"nodelay_spikes{pop}"]))
