"""Checkpoints: exact round trip, the RNG resumes its stream, atomic writes, bad files."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from eventsim.errors import FormatError, InputError
from eventsim.h5io import DIGEST_ATTR, content_digest
from eventsim.network.hdf5 import save_network
from eventsim.network.random import random_mlp
from eventsim.train import checkpoint
from eventsim.train.checkpoint import load_checkpoint, save_checkpoint
from eventsim.train.optim import SGD, Adam


def _state(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = {
        "0.weight": rng.normal(size=(5, 7)).astype(np.float32),
        "0.bias": rng.normal(size=5),
        "2.weight": rng.normal(size=(3, 2, 3, 3)),
    }
    opt = Adam(lr=0.01, weight_decay=1e-4)
    for _ in range(3):
        opt.step(list(weights.values()), [rng.normal(size=w.shape) for w in weights.values()])
    extra = {
        "config": {"lr": 0.01, "layers": [2312, 800, 10], "name": "mlp"},
        "history": [{"epoch": 1, "loss": 0.25, "acc": np.float64(0.5)}],
        "nested": None,
    }
    return weights, opt, rng, extra


def test_round_trip_exact(tmp_path):
    weights, opt, rng, extra = _state()
    path = tmp_path / "ckpt.h5"
    save_checkpoint(path, weights, opt.state_dict(), rng, 4, extra)
    got = load_checkpoint(path)
    assert set(got) == {"weights", "optimizer_state", "rng", "epoch", "extra"}
    assert list(got["weights"]) == list(weights)  # order kept
    for name, w in weights.items():
        assert got["weights"][name].dtype == w.dtype
        np.testing.assert_array_equal(got["weights"][name], w)
    state = opt.state_dict()
    assert set(got["optimizer_state"]) == set(state)
    for key, value in state.items():
        loaded = got["optimizer_state"][key]
        if isinstance(value, np.ndarray):
            assert loaded.dtype == value.dtype
            np.testing.assert_array_equal(loaded, value)
        else:
            assert loaded == value and type(loaded) is type(value), key
    assert got["epoch"] == 4 and type(got["epoch"]) is int
    assert got["extra"] == {
        "config": {"lr": 0.01, "layers": [2312, 800, 10], "name": "mlp"},
        "history": [{"epoch": 1, "loss": 0.25, "acc": 0.5}],
        "nested": None,
    }


@pytest.mark.parametrize(
    "bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox, np.random.SFC64]
)
def test_rng_resumes_the_same_stream(tmp_path, bit_generator):
    rng = np.random.Generator(bit_generator(2024))
    rng.random(17)
    rng.integers(0, 10, size=3)
    rng.random(dtype=np.float32)  # leaves a buffered 32-bit half in some generators
    save_checkpoint(tmp_path / "c.h5", {}, {}, rng, 0, {})
    resumed = load_checkpoint(tmp_path / "c.h5")["rng"]
    assert type(resumed.bit_generator) is bit_generator
    np.testing.assert_array_equal(resumed.random(1000), rng.random(1000))
    np.testing.assert_array_equal(resumed.permutation(50), rng.permutation(50))
    np.testing.assert_array_equal(
        resumed.random(5, dtype=np.float32), rng.random(5, dtype=np.float32)
    )


def test_training_steps_resume_bit_identically(tmp_path):
    """Adam + seeded gradients: 6 straight steps == 3 steps, save, load, 3 steps."""

    def run(weights, opt, rng, steps):
        for _ in range(steps):
            grads = [rng.normal(size=w.shape).astype(w.dtype) for w in weights.values()]
            opt.step(list(weights.values()), grads)

    weights, opt, rng, _ = _state(1)
    w_straight = {k: v.copy() for k, v in weights.items()}
    opt_straight = Adam()
    opt_straight.load_state_dict(opt.state_dict())
    rng_straight = np.random.Generator(np.random.PCG64())
    rng_straight.bit_generator.state = rng.bit_generator.state
    run(w_straight, opt_straight, rng_straight, 6)

    run(weights, opt, rng, 3)
    save_checkpoint(tmp_path / "c.h5", weights, opt.state_dict(), rng, 1, {})
    got = load_checkpoint(tmp_path / "c.h5")
    opt2 = Adam()
    opt2.load_state_dict(got["optimizer_state"])
    run(got["weights"], opt2, got["rng"], 3)
    for k in weights:
        np.testing.assert_array_equal(got["weights"][k], w_straight[k])


def test_sgd_state_and_empty_optimizer_state(tmp_path):
    w = {"w": np.ones(3)}
    opt = SGD(lr=0.1)
    opt.step([w["w"]], [np.ones(3)])
    save_checkpoint(tmp_path / "c.h5", w, opt.state_dict(), np.random.default_rng(0), 2)
    got = load_checkpoint(tmp_path / "c.h5")
    opt2 = SGD(lr=1.0)
    opt2.load_state_dict(got["optimizer_state"])
    assert opt2.lr == 0.1 and opt2.t == 1
    np.testing.assert_array_equal(opt2.buf[0], opt.buf[0])
    assert got["extra"] == {}
    save_checkpoint(tmp_path / "d.h5", {}, Adam().state_dict(), np.random.default_rng(0), 0)
    assert load_checkpoint(tmp_path / "d.h5")["optimizer_state"]["n_params"] == 0


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    weights, opt, rng, extra = _state()
    path = tmp_path / "ckpt.h5"
    save_checkpoint(path, weights, opt.state_dict(), rng, 1, extra)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoint, "_write_group", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, weights, opt.state_dict(), rng, 2, extra)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "new.h5", weights, opt.state_dict(), rng, 2, extra)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.h5"]
    assert load_checkpoint(path)["epoch"] == 1


def test_bad_arguments_write_nothing(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "c.h5"
    cases = [
        (({"a/b": np.ones(2)}, {}, rng, 0, {}), "'a/b'"),
        (({"w": [1.0, 2.0]}, {}, rng, 0, {}), "weight 'w' must be a numeric ndarray"),
        (({}, {"m.0": np.array(["x"])}, rng, 0, {}), "'m.0' must be a numeric array"),
        (({}, {"x": None}, rng, 0, {}), "'x' must be an ndarray, int, float"),
        (({}, {}, np.random.RandomState(0), 0, {}), "'rng'"),
        (({}, {}, rng, -1, {}), "'epoch'"),
        (({}, {}, rng, 0, {"f": object()}), "'extra'"),
        (({}, {}, rng, 0, [1]), "'extra' must be a dict"),
    ]
    for args, message in cases:
        with pytest.raises(InputError, match=message):
            save_checkpoint(path, *args)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        save_checkpoint(tmp_path / "no" / "c.h5", {}, {}, rng, 0, {})


def test_damaged_and_foreign_files_name_the_file(tmp_path):
    weights, opt, rng, extra = _state()
    good = tmp_path / "good.h5"
    save_checkpoint(good, weights, opt.state_dict(), rng, 1, extra)

    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.h5")
    with pytest.raises(FormatError, match="is a folder"):
        load_checkpoint(tmp_path)

    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(FormatError, match=f"{text}: not an HDF5 file"):
        load_checkpoint(text)

    cut = tmp_path / "cut.h5"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=f"{cut}"):
        load_checkpoint(cut)

    network = tmp_path / "net.h5"
    save_network(random_mlp([4, 3], seed=0), network)
    with pytest.raises(
        FormatError,
        match=f"{network}: not an eventsim checkpoint: field 'format' is 'eventsim-network'",
    ):
        load_checkpoint(network)

    def edited(name, edit):
        p = tmp_path / name
        p.write_bytes(data)
        with h5py.File(p, "r+") as f:
            edit(f)
            f.attrs[DIGEST_ATTR] = content_digest(f)  # the field is tested, not the checksum
        return p

    cases = [
        ("v2.h5", lambda f: f.attrs.__setitem__("format_version", 2), "'format_version' is 2"),
        ("noepoch.h5", lambda f: f.attrs.__delitem__("epoch"), "'epoch' is missing"),
        ("rng.h5", lambda f: f.attrs.__setitem__("rng_state", "{nope"), "'rng_state' is not valid"),
        (
            "rngname.h5",
            lambda f: f.attrs.__setitem__("rng_state", '{"bit_generator": "os"}'),
            "'rng_state' names bit generator 'os'",
        ),
        (
            "rngbad.h5",
            lambda f: f.attrs.__setitem__("rng_state", '{"bit_generator": "PCG64", "state": 1}'),
            "'rng_state' is not a valid PCG64 state",
        ),
        ("extra.h5", lambda f: f.attrs.__setitem__("extra", "[1]"), "'extra' is list JSON"),
        ("noweights.h5", lambda f: f.__delitem__("weights"), "'weights' is missing"),
        (
            "strweight.h5",
            lambda f: f["weights"].create_dataset("s", data=np.array([b"x"])),
            r"/weights: field 's'",
        ),
    ]
    for name, edit, message in cases:
        p = edited(name, edit)
        with pytest.raises(FormatError, match=f"{p}.*{message}"):
            load_checkpoint(p)
