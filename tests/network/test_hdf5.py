"""HDF5 network files: round trip, atomic writes, and damaged or foreign files."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stacks import layer_stacks

from eventsim.errors import EventsimWarning, FormatError, NetworkError, OutputError
from eventsim.h5io import DIGEST_ATTR, content_digest
from eventsim.network import hdf5
from eventsim.network.hdf5 import load_network, save_network
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten
from eventsim.network.network import Network


def assert_same_network(a: Network, b: Network) -> None:
    assert a.input_shape == b.input_shape
    assert (a.dt_us, a.T, a.sensor_size, a.labels) == (b.dt_us, b.T, b.sensor_size, b.labels)
    assert a.shapes == b.shapes
    assert len(a.layers) == len(b.layers)
    for i, (la, lb) in enumerate(zip(a.layers, b.layers)):
        assert type(la) is type(lb), f"layer {i}"
        for f in dataclasses.fields(la):
            va, vb = getattr(la, f.name), getattr(lb, f.name)
            if isinstance(va, np.ndarray):
                assert isinstance(vb, np.ndarray) and vb.dtype == np.float64, (i, f.name)
                np.testing.assert_array_equal(va, vb, err_msg=f"layer {i} field {f.name}")
            else:
                assert va == vb, (i, f.name, va, vb)


# ----------------------------------------------------------------------------- round trip

_KEY = st.text(
    st.characters(categories=["L", "N"], include_characters="_-. /"), min_size=1, max_size=12
)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_FLOAT = st.floats(allow_nan=False)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOAT | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_PROVENANCE = st.dictionaries(
    _KEY,
    st.one_of(
        st.text(max_size=20),
        _INT64,
        _FLOAT,
        st.booleans(),
        st.lists(_INT64, max_size=4),
        st.lists(_FLOAT, max_size=4),
        st.lists(st.text(max_size=6), min_size=1, max_size=3),
        st.lists(st.booleans(), min_size=1, max_size=3),
        st.integers(2**63, 2**80),
        st.dictionaries(st.text(max_size=5), _JSON, max_size=3),
        st.none(),
        _JSON,
    ),
    max_size=6,
)


@st.composite
def networks(draw):
    layers, input_shape, shapes = draw(layer_stacks())
    n_out = int(np.prod(shapes[-1]))
    if len(input_shape) == 3:
        sensor = (input_shape[2], input_shape[1], input_shape[0])
    else:
        sensor = (input_shape[0], 1, 1)
    return Network(
        layers,
        input_shape,
        dt_us=draw(st.none() | st.integers(1, 10**6)),
        T=draw(st.none() | st.integers(1, 1000)),
        sensor_size=draw(st.none() | st.just(sensor)),
        labels=draw(
            st.none()
            | st.lists(
                st.text(max_size=8).filter(lambda s: "\x00" not in s),
                min_size=n_out,
                max_size=n_out,
            )
        ),
        provenance=draw(_PROVENANCE),
    )


@settings(max_examples=150, deadline=None)
@given(networks())
def test_round_trip(net):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.h5"
        save_network(net, path)
        back = load_network(path)
        assert os.listdir(d) == ["net.h5"]
    assert_same_network(net, back)
    expected = dict(net.provenance)
    expected.setdefault("eventsim_version", hdf5._eventsim_version())
    assert back.provenance == expected


def test_layout(tmp_path):
    net = Network(
        [
            Conv2d(
                np.arange(8.0).reshape(2, 1, 2, 2),
                stride=2,
                padding=1,
                bias=np.ones(2),
                tau_us=5e3,
                delay_us=10.0,
            ),
            AvgPool2d(2),
            Flatten(),
            Dense(np.ones((3, 2)), reset="subtract"),
        ],
        (1, 4, 4),
        dt_us=1000,
        T=20,
        labels=["a", "b", "c"],
        provenance={"dataset": "nmnist", "epochs": 3, "accuracy": 0.98, "optimizer": {"lr": 1e-3}},
    )
    path = tmp_path / "net.h5"
    save_network(net, str(path))
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "eventsim-network"
        assert f.attrs["format_version"] == 1
        assert f.attrs["eventsim_version"] == hdf5._eventsim_version()
        assert list(f.attrs["input_shape"]) == [1, 4, 4]
        assert (f.attrs["dt_us"], f.attrs["T"]) == (1000, 20)
        assert "sensor_size" not in f.attrs
        assert list(f.attrs["labels"]) == ["a", "b", "c"]
        assert list(f["layers"]) == ["000", "001", "002", "003"]
        g = f["layers/000"]
        assert g.attrs["kind"] == "Conv2d"
        assert (g.attrs["stride"], g.attrs["padding"], g.attrs["tau_us"]) == (2, 1, 5e3)
        assert g["weight"].dtype == np.int8 and g["weight"].shape == (2, 1, 2, 2)  # whole numbers
        assert g["bias"].shape == (2,)
        assert f["layers/001"].attrs["kernel_size"] == 2
        assert "tau_us" not in f["layers/001"].attrs
        assert dict(f["layers/002"].attrs) == {"kind": "Flatten"}
        assert "bias" not in f["layers/003"] and f["layers/003"].attrs["reset"] == "subtract"
        p = f["provenance"].attrs
        assert (p["dataset"], p["epochs"], p["accuracy"]) == ("nmnist", 3, 0.98)
        assert p["optimizer"] == '{"lr": 0.001}'
        assert list(f.attrs["provenance_json"]) == ["optimizer"]
        assert p["eventsim_version"] == hdf5._eventsim_version()
    assert load_network(path).provenance["optimizer"] == {"lr": 1e-3}


def test_a_reset_to_v_reset_is_format_version_3(tmp_path):
    """A network with a nonzero ``v_reset`` is written as version 3 (earlier eventsim versions
    refuse it instead of resetting to 0), in the layout of its kind; without one, as before."""
    from eventsim.network.graph import as_graph

    chain = Network([Dense(np.ones((3, 4))), Dense(np.ones((2, 3)), v_reset=-0.25)], (4,))
    for net, layout in ((chain, "layers"), (as_graph(chain), "populations")):
        save_network(net, tmp_path / "r.h5")
        with h5py.File(tmp_path / "r.h5") as f:
            assert int(f.attrs["format_version"]) == 3 and layout in f
            assert sorted(g.attrs.get("v_reset", 0.0) for g in f[layout].values()) == [-0.25, 0]
        back = load_network(tmp_path / "r.h5")
        assert type(back) is type(net)
        assert [n.v_reset for n in getattr(back, "populations", None) or
                [back.layers[i] for i in back.lif_layers]] == [0.0, -0.25]
    chain.layers[1].v_reset = 0.0
    save_network(chain, tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5") as f:
        assert int(f.attrs["format_version"]) == 1 and "v_reset" not in f["layers/001"].attrs


def test_a_current_based_population_is_format_version_4(tmp_path):
    """``syn_decay`` is written as version 4 (a version-3 reader would run it without its
    current), in either layout, and reads back."""
    from eventsim.network.graph import as_graph

    chain = Network([Dense(np.ones((3, 4)), decay=0.8, syn_decay=0.6),
                     Dense(np.ones((2, 3)), v_reset=-0.25)], (4,))
    for net, layout in ((chain, "layers"), (as_graph(chain), "populations")):
        save_network(net, tmp_path / "c.h5")
        with h5py.File(tmp_path / "c.h5") as f:
            assert int(f.attrs["format_version"]) == 4 and layout in f
        back = load_network(tmp_path / "c.h5")
        assert type(back) is type(net)
        assert [n.syn_decay for n in getattr(back, "populations", None) or
                [back.layers[i] for i in back.lif_layers]] == [0.6, 0.0]


def test_provenance_keeps_given_eventsim_version(tmp_path):
    net = Network([Dense(np.ones((1, 1)))], (1,), provenance={"eventsim_version": "0.0.1"})
    save_network(net, tmp_path / "n.h5")
    assert load_network(tmp_path / "n.h5").provenance == {"eventsim_version": "0.0.1"}
    assert net.provenance == {"eventsim_version": "0.0.1"}  # the network is not changed


def test_provenance_values_that_cannot_be_saved(tmp_path):
    for prov, match in [
        ({"when": object()}, "provenance value of 'when'"),
        ({3: "x"}, "provenance key 3"),
        ({"": 1}, "provenance key ''"),
    ]:
        net = Network([Dense(np.ones((1, 1)))], (1,), provenance=prov)
        with pytest.raises(NetworkError, match=match):
            save_network(net, tmp_path / "n.h5")
        assert list(tmp_path.iterdir()) == []


def test_strings_with_nul(tmp_path):
    net = Network([Dense(np.ones((1, 1)))], (1,), provenance={"note": "a\x00b", "l": ["\x00"]})
    save_network(net, tmp_path / "n.h5")
    assert load_network(tmp_path / "n.h5").provenance["note"] == "a\x00b"
    net.labels = ["a\x00"]
    with pytest.raises(NetworkError, match="field 'labels'.*NUL"):
        save_network(net, tmp_path / "m.h5")


def test_save_checks_network_again(tmp_path):
    net = Network([Dense(np.ones((2, 3)))], (3,))
    net.layers[0].weight[1, 2] = np.nan  # e.g. a diverged training run
    with pytest.raises(NetworkError, match=r"layer 0 \(Dense\): field 'weight'"):
        save_network(net, tmp_path / "n.h5")
    assert list(tmp_path.iterdir()) == []


def test_save_wrong_type_and_missing_folder(tmp_path):
    with pytest.raises(TypeError, match="expected a Network"):
        save_network([Dense(np.ones((1, 1)))], tmp_path / "n.h5")
    net = Network([Dense(np.ones((1, 1)))], (1,))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        save_network(net, tmp_path / "nope" / "n.h5")


# ----------------------------------------------------------------------------- atomic write


def _small_net() -> Network:
    return Network([Dense(np.ones((3, 4))), Dense(np.ones((2, 3)))], (4,))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_save_leaves_nothing(tmp_path, monkeypatch, error, existing):
    path = tmp_path / "net.h5"
    if existing:
        save_network(Network([Dense(np.zeros((1, 2)))], (2,)), path)
        before = path.read_bytes()
    real = hdf5._write_layer
    calls = []

    def failing(group, layer):
        calls.append(group.name)
        if len(calls) == 2:  # the first layer is already in the temporary file
            raise error("disk full")
        real(group, layer)

    monkeypatch.setattr(hdf5, "_write_layer", failing)
    with pytest.raises(error, match="disk full"):
        save_network(_small_net(), path)
    assert calls == ["/layers/000", "/layers/001"]
    if existing:
        assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]
        assert path.read_bytes() == before
        assert load_network(path).shapes == [(1,)]
    else:
        assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_nothing(tmp_path, monkeypatch):
    def no_replace(src, dst):
        raise PermissionError("rename refused")

    monkeypatch.setattr(hdf5.os, "replace", no_replace)
    target = tmp_path / "net.h5"
    with pytest.raises(OutputError, match=f"^{target}: cannot write the network: rename "
                       "refused; nothing was written"):
        save_network(_small_net(), target)
    assert list(tmp_path.iterdir()) == []


def test_save_overwrites_existing(tmp_path):
    path = tmp_path / "net.h5"
    path.write_text("old")
    save_network(_small_net(), path)
    assert load_network(path).shapes == [(3,), (2,)]
    assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]


# ----------------------------------------------------------------------------- bad files


@pytest.fixture
def saved(tmp_path) -> Path:
    """A good file: Conv2d (with bias), AvgPool2d, Flatten, Dense; weights not whole numbers
    (kept float64 in the file, so the edits below can write NaN into them)."""
    net = Network(
        [
            Conv2d(np.full((2, 1, 2, 2), 0.5), bias=np.full(2, 0.25)),
            AvgPool2d(2),
            Flatten(),
            Dense(np.full((3, 8), 0.5)),
        ],
        (1, 5, 5),
        dt_us=1000,
        T=10,
        sensor_size=(5, 5, 1),
        labels=["a", "b", "c"],
    )
    path = tmp_path / "net.h5"
    save_network(net, path)
    return path


def _edit(path: Path, fn) -> None:
    """Change a saved file, and its checksum with it (as if eventsim had written the change),
    so that what is tested is the check of the field, not the checksum."""
    with h5py.File(path, "r+") as f:
        fn(f)
        f.attrs[DIGEST_ATTR] = content_digest(f)


def _raises(exc, path: Path, *parts: str):
    """pytest.raises whose message must start with the file and contain every part in order."""
    pattern = "^" + re.escape(str(path)) + ".*" + ".*".join(re.escape(p) for p in parts)
    return pytest.raises(exc, match=re.compile(pattern, re.DOTALL))


def test_missing_file(tmp_path):
    path = tmp_path / "absent.h5"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_network(path)


def test_folder(tmp_path):
    with _raises(FormatError, tmp_path, "folder"):
        load_network(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello, this is not a network\n",
        bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8)),
    ],
    ids=["empty", "text", "random"],
)
def test_not_hdf5(tmp_path, content):
    path = tmp_path / "net.h5"
    path.write_bytes(content)
    with _raises(FormatError, path, "not an HDF5 file"):
        load_network(path)


def test_truncated_hdf5(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with _raises(FormatError, saved, "damaged HDF5 file"):
        load_network(saved)


def test_foreign_hdf5_without_format(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with _raises(FormatError, path, "field 'format' is missing"):
        load_network(path)


def test_foreign_format(saved):
    _edit(saved, lambda f: f.attrs.__setitem__("format", "tonic-events"))
    with _raises(FormatError, saved, "field 'format'", "tonic-events", "eventsim-network"):
        load_network(saved)


def test_format_as_bytes_is_read(saved):
    """Files written by other tools may store strings as fixed-length bytes."""

    def to_bytes(f):
        f.attrs["format"] = np.bytes_(b"eventsim-network")
        f["layers/001"].attrs["kind"] = np.bytes_(b"AvgPool2d")
        f["layers/000"].attrs["reset"] = np.bytes_(b"zero")
        f.attrs["labels"] = np.array([b"a", b"b", b"c"], dtype="S1")

    _edit(saved, to_bytes)
    net = load_network(saved)
    assert isinstance(net.layers[1], AvgPool2d) and net.labels == ["a", "b", "c"]


@pytest.mark.parametrize(
    "value, expect",
    [(6, "is 6; this eventsim reads versions 1 to 5"), (0, "is 0"), ("1", "expected an integer")],
)
def test_format_version(saved, value, expect):
    _edit(saved, lambda f: f.attrs.__setitem__("format_version", value))
    with _raises(FormatError, saved, "field 'format_version'", expect):
        load_network(saved)


@pytest.mark.parametrize(
    "edit, parts",
    [
        (
            lambda f: f.attrs.__delitem__("format_version"),
            ["/", "field 'format_version' is missing"],
        ),
        (lambda f: f.attrs.__delitem__("input_shape"), ["/", "field 'input_shape' is missing"]),
        (lambda f: f.attrs.__setitem__("input_shape", [1.0, 5.0, 5.0]), ["field 'input_shape'"]),
        (lambda f: f.attrs.__setitem__("T", 2.5), ["field 'T'", "expected an integer"]),
        (lambda f: f.attrs.__setitem__("labels", 3), ["field 'labels'", "list of strings"]),
        (lambda f: f.__delitem__("layers"), ["field 'layers' is missing"]),
        (lambda f: (f.__delitem__("layers"), f.create_group("layers")), ["/layers: holds []"]),
        (lambda f: f["layers"].move("003", "last"), ["/layers: holds", "'last'"]),
        (
            lambda f: (f["layers"].__delitem__("002"), f["layers"].create_dataset("002", data=1)),
            ["/layers/002", "field 'kind' is missing: not a group"],
        ),
        (
            lambda f: f.move("layers/001", "layers/007"),
            ["/layers: holds ['000', '002', '003', '007']", "without gaps"],
        ),
        (
            lambda f: f["layers/000"].__delitem__("weight"),
            ["/layers/000", "field 'weight' is missing"],
        ),
        (
            lambda f: f["layers/003"].__delitem__("weight"),
            ["/layers/003", "field 'weight' is missing"],
        ),
        (
            lambda f: f["layers/000"].attrs.__delitem__("kind"),
            ["/layers/000", "field 'kind' is missing"],
        ),
        (
            lambda f: f["layers/000"].attrs.__setitem__("kind", "LSTM"),
            ["/layers/000", "field 'kind' is 'LSTM'", "Dense, Conv2d"],
        ),
        (
            lambda f: f["layers/001"].attrs.__delitem__("decay"),
            ["/layers/001", "field 'decay' is missing"],
        ),
        (
            lambda f: f["layers/003"].attrs.__setitem__("decay", "fast"),
            ["/layers/003", "field 'decay' is 'fast'; expected a number"],
        ),
        (
            lambda f: f["layers/003"].attrs.__delitem__("reset"),
            ["/layers/003", "field 'reset' is missing"],
        ),
        (lambda f: f["layers/003"].attrs.__setitem__("reset", 1), ["/layers/003", "field 'reset'"]),
        (
            lambda f: f["layers/000"].attrs.__delitem__("stride"),
            ["/layers/000", "field 'stride' is missing"],
        ),
        (
            lambda f: f["layers/000"].attrs.__setitem__("padding", 0.5),
            ["/layers/000", "field 'padding'", "expected an integer"],
        ),
        (
            lambda f: f["layers/001"].attrs.__delitem__("kernel_size"),
            ["/layers/001", "field 'kernel_size' is missing"],
        ),
        (
            lambda f: (
                f["layers/003"].__delitem__("weight"),
                f["layers/003"].create_dataset("weight", data=np.array([b"ab", b"cd"])),
            ),
            ["/layers/003", "field 'weight'", "expected a numeric dataset"],
        ),
        (
            lambda f: (f["layers/000"].__delitem__("bias"), f["layers/000"].create_group("bias")),
            ["/layers/000", "field 'bias'", "expected a numeric dataset"],
        ),
    ],
)
def test_malformed_fields(saved, edit, parts):
    _edit(saved, edit)
    with _raises(FormatError, saved, *parts):
        load_network(saved)


@pytest.mark.parametrize(
    "edit, parts",
    [
        (
            lambda f: f["layers/003/weight"].__setitem__((0, 1), np.nan),
            ["layer 3 (Dense): field 'weight' has 1 non-finite"],
        ),
        (
            lambda f: f["layers/000/weight"].__setitem__((1, 0, 0, 0), np.inf),
            ["layer 0 (Conv2d): field 'weight'"],
        ),
        (
            lambda f: f["layers/003"].attrs.__setitem__("decay", 1.5),
            ["layer 3 (Dense): field 'decay' must be in (0, 1]"],
        ),
        (
            lambda f: f["layers/001"].attrs.__setitem__("v_th", -1.0),
            ["layer 1 (AvgPool2d): field 'v_th'"],
        ),
        (
            lambda f: f["layers/003"].attrs.__setitem__("reset", "hard"),
            ["layer 3 (Dense): field 'reset'"],
        ),
        (lambda f: f.attrs.__setitem__("sensor_size", [9, 9, 1]), ["field 'sensor_size'"]),
        (lambda f: f.attrs.__setitem__("labels", ["a"]), ["field 'labels' has 1 names"]),
    ],
)
def test_invalid_values_raise_network_error_naming_file(saved, edit, parts):
    _edit(saved, edit)
    with _raises(NetworkError, saved, *parts) as info:
        load_network(saved)
    assert not isinstance(info.value, FormatError)


def test_bad_provenance_json(saved):
    def edit(f):
        f.attrs["provenance_json"] = np.array(["note"], dtype=h5py.string_dtype())
        f["provenance"].attrs["note"] = "{not json"

    _edit(saved, edit)
    with _raises(FormatError, saved, "/provenance", "field 'note' is not valid JSON"):
        load_network(saved)


def test_no_pickle_anywhere():
    source = Path(hdf5.__file__).read_text()
    assert "pickle" not in source.replace("Nothing is pickled", "")


# ----------------------------------------------------------------------------- checksums, claims


def test_a_changed_byte_is_refused_not_loaded(saved):
    """The checksum of the content: a weight changed in place (as flipped bytes can leave a
    file that still parses, 0.40 read as -3.4e211) is an error naming the file."""
    with h5py.File(saved, "r+") as f:
        f["layers/000/weight"][0, 0, 0, 0] = -3.4e211
    with _raises(FormatError, saved, "damaged network file: its content does not match the "
                 "checksum stored when it was written"):
        load_network(saved)


def test_a_file_without_checksum_loads_with_a_warning(saved):
    with h5py.File(saved, "r+") as f:
        del f.attrs[DIGEST_ATTR]
    with pytest.warns(EventsimWarning, match=f"{saved}: the network file has no checksum"):
        net = load_network(saved)
    assert net.shapes[-1] == (3,)


def test_a_dataset_claiming_1e9_weights_is_refused_before_reading(tmp_path):
    """A 10 KB file whose Dense weight claims (10, 1e8) float64 (8 GB, no chunk written)."""
    path = tmp_path / "huge.h5"
    save_network(Network([Dense(np.ones((10, 4)))], (4,)), path)
    with h5py.File(path, "r+") as f:
        del f["layers/000/weight"]
        f["layers/000"].create_dataset("weight", shape=(10, 10**8), dtype="f8",
                                       chunks=(10, 1 << 16))
        f.attrs["input_shape"] = np.array([10**8])
        f.attrs[DIGEST_ATTR] = "0" * 64
    assert path.stat().st_size < 20_000
    with _raises(FormatError, path, "field '/layers/000/weight' claims shape (10, 100000000)",
                 "holds only 0 of its 1526 chunks"):
        load_network(path)
    with h5py.File(path, "r+") as f:
        del f.attrs[DIGEST_ATTR]  # an older file: no checksum, the claim still checked
    with pytest.warns(EventsimWarning), _raises(FormatError, path, "holds only 0 of its 1526"):
        load_network(path)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(127, "int8"), (128, "int16"), (-128, "int8"), (-129, "int16"),
                        (32767, "int16"), (32768, "int32"), (2**31, "float64"),
                        (0.5, "float64")]), st.integers(0, 2**32 - 1))
def test_whole_weights_are_stored_in_the_narrowest_exact_type(edge, seed):
    """An integer layer's weights take 1 byte each in the file when they fit int8 (2 beyond,
    4 beyond that), and read back as the same float64 values; other weights stay float64."""
    value, kind = edge
    rng = np.random.default_rng(seed)
    w = rng.integers(-3, 4, (3, 4)).astype(np.float64)
    w[rng.integers(3), rng.integers(4)] = value
    net = Network([Dense(w, v_th=1.0)], (4,))
    with tempfile.TemporaryDirectory() as d:
        save_network(net, Path(d) / "net.h5")
        with h5py.File(Path(d) / "net.h5") as f:
            stored = [layer["weight"].dtype.name for layer in f["layers"].values()]
        back = load_network(Path(d) / "net.h5")
    assert stored == [kind]
    np.testing.assert_array_equal(back.layers[0].weight, w)
    assert back.layers[0].weight.dtype == np.float64
