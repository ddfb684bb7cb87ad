"""N-TIDIGITS ``.bs1`` (cochlea) and ST-MNIST ``.mat`` (tactile) files: the shared recordings,
generated files through a writer of the spec written here, and damaged files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import savemat

import eventsim
from eventsim.errors import EventError, FormatError
from eventsim.events import cochlea


def bs1_bytes(channel, p, t) -> bytes:
    """The spec as stated in shared/data/README.md, one record at a time."""
    return b"".join(int(c).to_bytes(2, "big") + (int(q) << 23 | int(u)).to_bytes(3, "big")
                    for c, q, u in zip(channel, p, t))


def test_ntidigits_sample(data_dir):
    """The README's figures: 898 spikes over 1.08 s, channels 0..63, all polarity 1; and the
    events equal a record-by-record decode with int.from_bytes."""
    path = data_dir / "ntidigits" / "NTIDIGITS_1.bs1"
    stream = eventsim.read_events(path)
    ev = stream.events
    assert stream.sensor_size == (64, 1, 2) and len(ev) == 898
    assert ev["x"].min() == 0 and ev["x"].max() == 63 and not ev["y"].any() and ev["p"].all()
    assert 1.07e6 < ev["t"][-1] <= 1.08e6 + 500
    raw = path.read_bytes()
    by_hand = [(int.from_bytes(raw[i:i + 2], "big"), int.from_bytes(raw[i + 2:i + 5], "big"))
               for i in range(0, len(raw), 5)]
    order = np.argsort([t & 0x7FFFFF for _, t in by_hand], kind="stable")
    assert [int(v) for v in ev["x"]] == [by_hand[i][0] for i in order]
    assert [int(v) for v in ev["t"]] == [by_hand[i][1] & 0x7FFFFF for i in order]
    chunks = list(eventsim.iter_events(path, chunk_events=100))
    assert len(chunks) == 9
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), ev)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 63, 64, 255, 256, 32767]) | st.integers(0, 99),
                          st.integers(0, 1), st.integers(0, 2**23 - 1)), min_size=1, max_size=60))
def test_bs1_records_read_back(tmp_path_factory, records):
    """Any channel int16 holds, either polarity, any 23-bit time, in any order: read back in
    time order (stable), y = 0; chunks of 7 give the same events when the file is in order."""
    channel, p, t = map(np.array, zip(*records))
    path = tmp_path_factory.mktemp("bs1") / "s.bs1"
    path.write_bytes(bs1_bytes(channel, p, t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warning for times going backwards
        stream = eventsim.read_events(path)
    order = np.argsort(t, kind="stable")
    assert stream.sensor_size == (max(64, int(channel.max()) + 1), 1, 2)
    np.testing.assert_array_equal(stream.events["x"], channel[order])
    np.testing.assert_array_equal(stream.events["t"], t[order])
    np.testing.assert_array_equal(stream.events["p"], p[order])
    assert not stream.events["y"].any()
    path.write_bytes(bs1_bytes(channel[order], p[order], t[order]))
    chunks = [c.events for c in eventsim.iter_events(path, chunk_events=7,
                                                      sensor_size=stream.sensor_size)]
    np.testing.assert_array_equal(np.concatenate(chunks), stream.events)


def test_bs1_damaged(tmp_path):
    path = tmp_path / "cut.bs1"
    path.write_bytes(bs1_bytes([3, 4, 5], [1, 1, 0], [10, 20, 30])[:12])
    with pytest.raises(FormatError, match=r"cut.bs1: file cut mid-record at byte offset 10"):
        eventsim.read_events(path)
    path.write_bytes(bs1_bytes([3, 40], [1, 1], [10, 20]))
    with pytest.raises(EventError, match=r"cut.bs1: record 1 has x=40, off the sensor"):
        eventsim.read_events(path, sensor_size=(32, 1, 2))
    path.write_bytes(bs1_bytes([1, 2, 3, 4, 5, 40000], [1] * 6, range(6)))
    with pytest.raises(EventError, match=r"cut.bs1: record 5 has x=40000"):
        eventsim.read_events(path)
    with pytest.raises(EventError, match=r"cut.bs1 \(chunk from record 4\): record 1 has x=40000"):
        list(eventsim.iter_events(path, chunk_events=2))


def test_bs1_decode_of_a_cut_buffer_names_the_offset():
    """``cochlea.decode`` is public: a buffer cut mid-record is a FormatError naming the source
    and the byte offset (it was a bare ValueError from numpy's reshape)."""
    whole = bs1_bytes([3, 4], [1, 0], [10, 20])
    assert len(cochlea.decode(whole, "two.bs1")) == 2
    with pytest.raises(FormatError, match=r"^two.bs1: file cut mid-record at byte offset 5 "
                                          r"\(8 bytes is not a whole number of 5-byte"):
        cochlea.decode(whole[:8], "two.bs1")


def test_stmnist_sparse_matrix_reads_as_dense(tmp_path, data_dir):
    from scipy.io import loadmat
    from scipy.sparse import csc_matrix

    spikes = loadmat(str(data_dir / "stmnist" / "sample_stmnist.mat"))["spiketrain"]
    savemat(tmp_path / "sparse.mat", {"spiketrain": csc_matrix(spikes)})
    savemat(tmp_path / "dense.mat", {"spiketrain": spikes})
    np.testing.assert_array_equal(eventsim.read_events(tmp_path / "sparse.mat").events,
                                  eventsim.read_events(tmp_path / "dense.mat").events)
    savemat(tmp_path / "empty.mat", {"spiketrain": np.zeros((101, 0))})
    empty = eventsim.read_events(tmp_path / "empty.mat")
    assert len(empty.events) == 0 and empty.sensor_size == (10, 10, 2)


def stmnist_by_columns(spikes: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, t_us, p) column by column, as the data README describes the file."""
    out = []
    for column in spikes.T:
        for taxel in np.flatnonzero(column[:100]):
            out.append((taxel % 10, taxel // 10, int(np.floor(column[100] * 1e6)),
                        int(column[taxel] > 0)))
    return out


def as_tuples(ev) -> list[tuple[int, int, int, int]]:
    return [tuple(int(v) for v in e) for e in zip(ev["x"], ev["y"], ev["t"], ev["p"])]


def test_stmnist_sample(data_dir):
    from scipy.io import loadmat

    path = data_dir / "stmnist" / "sample_stmnist.mat"
    stream = eventsim.read_events(path)
    spikes = loadmat(str(path))["spiketrain"]
    assert stream.sensor_size == (10, 10, 2) and len(stream.events) == spikes.shape[1] == 2346
    assert as_tuples(stream.events) == stmnist_by_columns(spikes)
    assert 196_000 < stream.events["t"][0] and stream.events["t"][-1] < 897_000
    assert stream.events["p"].sum() == (spikes[:100] > 0).sum()
    chunks = list(eventsim.iter_events(path, chunk_events=1000))
    assert [len(c.events) for c in chunks] == [1000, 1000, 346]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.sampled_from([-1, 1]),
                          st.floats(0, 2, allow_nan=False)), min_size=1, max_size=40))
def test_stmnist_arrays_read_back(tmp_path_factory, columns):
    columns.sort(key=lambda c: c[2])
    spikes = np.zeros((101, len(columns)))
    for j, (taxel, value, seconds) in enumerate(columns):
        spikes[taxel, j], spikes[100, j] = value, seconds
    path = tmp_path_factory.mktemp("mat") / "s.mat"
    savemat(path, {"spiketrain": spikes})
    assert as_tuples(eventsim.read_events(path).events) == stmnist_by_columns(spikes)


def test_stmnist_float32_times_are_exact_microseconds(tmp_path):
    """Single-precision times are scaled in float64: under numpy 2, float32 * 1e6 stays float32
    and, at 5-9 s, 13 of these 50 times came out 1 us off. Expected: the float64 product of the
    same float32 values, truncated (as tonic does)."""
    seconds = np.linspace(5, 9, 50, dtype=np.float32)
    expected = np.floor(seconds.astype(np.float64) * 1e6).astype(np.int64)
    assert (np.floor(seconds * 1e6).astype(np.int64) != expected).sum() == 13  # the bug's case
    spikes = np.zeros((101, len(seconds)), np.float32)
    spikes[np.arange(len(seconds)) % 100, np.arange(len(seconds))] = [1, -1] * 25
    spikes[100] = seconds
    path = tmp_path / "single.mat"
    savemat(path, {"spiketrain": spikes})
    stream = eventsim.read_events(path)
    np.testing.assert_array_equal(stream.events["t"], expected)
    assert as_tuples(stream.events) == stmnist_by_columns(spikes.astype(np.float64))
    chunks = [c.events["t"] for c in eventsim.iter_events(path, chunk_events=16)]
    np.testing.assert_array_equal(np.concatenate(chunks), expected)


@pytest.mark.parametrize("content, message", [
    ({"other": np.zeros((101, 2))}, "no variable 'spiketrain'"),
    ({"spiketrain": np.zeros((50, 3))}, r"field 'spiketrain' has shape \(50, 3\)"),
    ({"spiketrain": np.vstack([np.eye(100, 2) * [1, 2], [[0.1, 0.2]]])},
     r"'spiketrain' column 1 has taxel values \[0. 2.\]; expected -1, 0 or \+1"),
    ({"spiketrain": np.vstack([np.eye(100, 2), [[np.nan, 0.2]]])},
     r"row 100 \(time\) column 0 is nan"),
    (b"MATLAB 5.0 MAT-file, cut short", "not a readable MATLAB file"),
    (b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + bytes(200),
     "a MATLAB v7.3 \\(HDF5\\) file, which is not read; save it with MATLAB's -v7 option"),
    ({"spiketrain": np.vstack([np.eye(100, 2), [[0.1, 2e13]]])},
     r"row 100 \(time\) column 1 is 20000000000000.0; expected seconds in \[0, 1e\+12\)"),
])
def test_stmnist_damaged(tmp_path, content, message):
    path = tmp_path / "bad.mat"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        savemat(path, content)
    with pytest.raises(FormatError, match=f"bad.mat: .*{message}"):
        eventsim.read_events(path)
    cut = tmp_path / "cut.mat"
    good = tmp_path / "good.mat"
    savemat(good, {"spiketrain": np.vstack([np.eye(100, 3), [[0.1, 0.2, 0.3]]])})
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(FormatError, match="cut.mat: not a readable MATLAB file"):
        eventsim.read_events(cut)


def test_a_file_that_is_not_matlab_is_named_without_scipy_warnings(tmp_path, data_dir, recwarn):
    """scipy warns about a byte ordering ('Cray') before it fails on a foreign file: the
    error names the file, and the warning does not reach the user."""
    path = tmp_path / "atis.mat"  # an N-MNIST recording whose first bytes scipy reads so
    path.write_bytes((data_dir / "nmnist" / "Test" / "3" / "00019.bin").read_bytes())
    with pytest.raises(FormatError, match=f"{path}: not a readable MATLAB file"):
        eventsim.read_events(path)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], \
        [str(w.message) for w in recwarn]
