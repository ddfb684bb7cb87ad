"""Event-file readers: equal to tonic's readers on real recordings, round trips, bad input."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tonic

from eventsim.errors import EventError, EventsimWarning, FormatError, InputError
from eventsim.events.hdf5 import EventWriter, write_events
from eventsim.events.readers import (
    SUPPORTED_EXTENSIONS,
    decode_atis,
    infer_atis_sensor_size,
    iter_events,
    read_events,
)
from eventsim.events.stream import EVENT_DTYPE, EventStream

NMNIST_SAMPLE = "nmnist/extra/tonic_sample_nmnist.bin"
GESTURE_1 = "dvsgesture_slayer/1.bs2"


def named(path, text: str) -> str:
    """A regex: the message names ``path`` and says ``text`` (a regex)."""
    return re.escape(str(path)) + ".*" + text


def concat(chunks) -> np.ndarray:
    arrays = [c.events for c in chunks]
    return np.concatenate(arrays) if arrays else np.empty(0, EVENT_DTYPE)


def random_events(n: int, sensor=(40, 30, 2), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, sensor[0], n)
    ev["y"] = rng.integers(0, sensor[1], n)
    ev["t"] = np.sort(rng.integers(0, 10**6, n))
    ev["p"] = rng.integers(0, sensor[2], n)
    return ev


def atis_bytes(x, y, t, p) -> bytes:
    """Encode records in Orchard's ATIS 5-byte layout (the reverse of the decoder)."""
    x, y, t, p = (np.asarray(a, np.int64) for a in (x, y, t, p))
    rec = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return rec.astype(np.uint8).tobytes()


# --- real recordings against tonic ------------------------------------------------------------

ATIS_SETS = {
    # pattern, expected number of files, expected sensor size (None: checked separately)
    "nmnist_test": ("nmnist/Test/*/*.bin", 100, (34, 34, 2)),
    "nmnist_train": ("nmnist/Train/[0-4]/*.bin", 510, (34, 34, 2)),
    "nmnist_extra": (NMNIST_SAMPLE, 1, (34, 34, 2)),
    "dvsgesture": ("dvsgesture_slayer/*.bs2", 10, (128, 128, 2)),
    "ncaltech101": ("ncaltech101/*.bin", 1, (151, 173, 2)),
}


@pytest.mark.parametrize("name", ATIS_SETS)
def test_atis_equals_tonic(data_dir, name):
    pattern, n_files, sensor = ATIS_SETS[name]
    files = sorted(data_dir.glob(pattern))
    assert len(files) == n_files
    for f in files:
        stream = read_events(f)
        expected = tonic.io.read_mnist_file(str(f), dtype=tonic.io.events_struct)
        assert stream.events.dtype == expected.dtype
        np.testing.assert_array_equal(stream.events, expected, err_msg=str(f))
        assert stream.sensor_size == sensor
        assert stream.source == str(f)


CUTS = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(("name", "sensor"), [("nmnist_cut.bin", (34, 34, 2)),
                                              ("dvsgesture_cut.bs2", (128, 128, 2)),
                                              ("davis346_cut.aedat4", (346, 260, 2))])
def test_the_shipped_cuts_read_as_tonic_reads_them(name, sensor):
    """The few-KB cuts of real recordings in tests/data (no data folder needed), against
    tonic's own readers, whole and in chunks."""
    path = CUTS / name
    stream = read_events(path)
    if path.suffix == ".aedat4":
        expected = tonic.io.read_aedat4(str(path))  # aedat's dtype: t, x, y, on
        expected = np.array(list(zip(expected["x"], expected["y"], expected["t"],
                                     expected["on"])), EVENT_DTYPE)
    else:
        expected = tonic.io.read_mnist_file(str(path), dtype=tonic.io.events_struct)
    assert len(expected) > 100
    np.testing.assert_array_equal(stream.events, expected)
    assert stream.sensor_size == sensor
    np.testing.assert_array_equal(concat(iter_events(path, 97)), expected)


def test_atis_overflow_records_as_tonic(tmp_path):
    # y == 240 marks a timestamp overflow: dropped, adds 2**13 us to later events (as tonic).
    y = [3, 240, 5, 6, 240, 240, 7]
    path = tmp_path / "overflow.bin"
    t = [10, 0, 20, 30, 0, 0, 40]
    path.write_bytes(atis_bytes([1, 0, 2, 3, 0, 0, 4], y, t, [1, 0, 0, 1, 0, 0, 1]))
    expected = tonic.io.read_mnist_file(str(path), dtype=tonic.io.events_struct)
    stream = read_events(path)
    np.testing.assert_array_equal(stream.events, expected)
    assert stream.events["t"].tolist() == [10, 20 + 2**13, 30 + 2**13, 40 + 3 * 2**13]
    for n in (1, 2, 3, 10):
        np.testing.assert_array_equal(concat(iter_events(path, n)), expected)


def test_decode_atis_bit_layout():
    buf = atis_bytes([33], [7], [(1 << 23) - 1], [1]) + atis_bytes([0], [33], [65536 + 258], [0])
    events, overflows = decode_atis(buf)
    assert overflows == 0
    assert events.tolist() == [(33, 7, (1 << 23) - 1, True), (0, 33, 65794, False)]


@pytest.mark.parametrize(
    ("extent", "sensor"),
    [((34, 34, 2), (34, 34, 2)), ((1, 35, 2), (128, 128, 2)), ((128, 128, 2), (128, 128, 2)),
     ((129, 2, 2), (129, 2, 2)), ((256, 256, 2), (256, 240, 2))],
)
def test_infer_atis_sensor_size(extent, sensor):
    assert infer_atis_sensor_size(extent) == sensor


@pytest.mark.parametrize(
    ("name", "sensor"),
    [("tonic_sample.aedat4", (320, 240, 2)), ("davis346_sample.aedat4", (346, 260, 2))],
)
def test_aedat4_equals_tonic(data_dir, name, sensor):
    path = data_dir / "dvs_aedat4" / name
    stream = read_events(path)
    expected = tonic.io.read_aedat4(str(path))  # aedat's dtype: t, x, y, on
    for field in ("x", "y", "t"):
        np.testing.assert_array_equal(stream.events[field], expected[field])
    np.testing.assert_array_equal(stream.events["p"], expected["on"])
    assert stream.events["t"][0] > 10**15  # absolute Unix microseconds, kept as tonic does
    assert stream.sensor_size == sensor
    np.testing.assert_array_equal(concat(iter_events(path, 5000)), stream.events)


def test_npy_reference_file(data_dir):
    path = data_dir / "prophesee" / "evt3_sample.npy"
    raw = np.load(path)
    stream = read_events(path)
    for field in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(stream.events[field], raw[field])
    assert stream.sensor_size == (raw["x"].max() + 1, raw["y"].max() + 1, 2)
    assert read_events(path, sensor_size=(1280, 720, 2)).sensor_size == (1280, 720, 2)


# --- round trips and chunked reading ----------------------------------------------------------

def test_npy_roundtrip(tmp_path):
    events = random_events(1000)
    path = tmp_path / "ev.npy"
    np.save(path, events)
    stream = read_events(path, sensor_size=(40, 30, 2))
    np.testing.assert_array_equal(stream.events, events)
    np.testing.assert_array_equal(concat(iter_events(path, 300)), events)


def test_h5_roundtrip(tmp_path, data_dir):
    stream = read_events(data_dir / GESTURE_1)
    path = write_events(stream, tmp_path / "gesture.h5")
    back = read_events(path)
    np.testing.assert_array_equal(back.events, stream.events)
    assert back.sensor_size == (128, 128, 2)
    assert os.listdir(tmp_path) == ["gesture.h5"]  # no temporary file left
    with h5py.File(path) as f:
        assert f["events"].attrs["format"] == "eventsim-events"
        assert f["events/x"].dtype == np.int16 and f["events/t"].dtype == np.int64
        assert f["events/t"].chunks is not None


@pytest.mark.parametrize("fmt", [".h5", ".bin", ".npy"])
@pytest.mark.parametrize("chunk", [1, 999, 4325, 10**7])
def test_iter_chunks_concatenate_to_read(tmp_path, data_dir, fmt, chunk):
    source = data_dir / NMNIST_SAMPLE  # 4325 events
    stream = read_events(source)
    path = tmp_path / f"ev{fmt}"
    if fmt == ".h5":
        write_events(stream, path)
    elif fmt == ".npy":
        np.save(path, stream.events)
    else:
        path.write_bytes(source.read_bytes())
    chunks = list(iter_events(path, chunk_events=chunk))
    np.testing.assert_array_equal(concat(chunks), stream.events)
    assert [len(c) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= chunk
    # the sensor size of the whole file, found before the first chunk (a first pass for .bin)
    assert {c.sensor_size for c in chunks} == {(34, 34, 2)}


def test_iter_bs2_large_chunks(data_dir):
    path = data_dir / GESTURE_1
    expected = read_events(path).events
    np.testing.assert_array_equal(concat(iter_events(path, 10_000)), expected)


def test_event_writer_appends_chunks(tmp_path):
    events = random_events(10_000)
    path = tmp_path / "big.h5"
    with EventWriter(path, (40, 30, 2), chunk_events=1000) as writer:
        for start in range(0, len(events), 777):
            writer.write(events[start:start + 777])
        assert not path.exists()  # only the temporary file exists until close
    assert writer.n_events == len(events)
    np.testing.assert_array_equal(read_events(path).events, events)
    np.testing.assert_array_equal(concat(iter_events(path, 4096)), events)


def test_event_writer_error_leaves_old_file(tmp_path):
    path = tmp_path / "keep.h5"
    old = random_events(10)
    write_events(old, path, sensor_size=(40, 30, 2))
    events = random_events(100, seed=1)
    match = named(path, r"record 0 of this chunk has t=.*time order")
    with pytest.raises(EventError, match=match), EventWriter(path, (40, 30, 2)) as writer:
        writer.write(events[50:])
        writer.write(events[:50])
    np.testing.assert_array_equal(read_events(path).events, old)
    assert os.listdir(tmp_path) == ["keep.h5"]


def test_event_writer_checks_sensor(tmp_path):
    path = tmp_path / "w.h5"
    match = named(path, "record 0 has x=39, off the sensor")
    with pytest.raises(EventError, match=match), EventWriter(path, (34, 34, 2)) as writer:
        writer.write(np.array([(39, 0, 0, 0)], EVENT_DTYPE))
    assert os.listdir(tmp_path) == []


def test_write_events_needs_sensor_size_for_plain_arrays(tmp_path):
    with pytest.raises(EventError, match="field 'sensor_size'"):
        write_events(random_events(5), tmp_path / "x.h5")


# --- time order -------------------------------------------------------------------------------

def backwards_npy(tmp_path):
    ev = np.zeros(5, [("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "u1")])
    ev["t"] = [5, 4, 3, 6, 7]
    ev["x"] = [0, 1, 2, 3, 4]
    path = tmp_path / "back.npy"
    np.save(path, ev)
    return path


def test_backwards_time_sorted_with_warning(tmp_path):
    path = backwards_npy(tmp_path)
    with pytest.warns(EventsimWarning, match=named(path, "go backwards at 2 records")):
        stream = read_events(path)
    assert stream.events["t"].tolist() == [3, 4, 5, 6, 7]
    assert stream.events["x"].tolist() == [2, 1, 0, 3, 4]


def test_backwards_time_across_chunks_raises(tmp_path):
    path = backwards_npy(tmp_path)
    match = named(path, "record 2 has t=3 us, earlier than t=5")
    # chunk [5, 4] is sorted (a warning); then 3 < 5 cannot be
    with pytest.warns(EventsimWarning), pytest.raises(EventError, match=match):
        list(iter_events(path, chunk_events=2))
    with pytest.warns(EventsimWarning):  # [5, 4, 3] then [6, 7]: sortable chunk by chunk
        np.testing.assert_array_equal(concat(iter_events(path, 3)), read_events(path).events)


def test_write_events_sorts_with_warning(tmp_path):
    ev = random_events(20)[::-1]
    with pytest.warns(EventsimWarning, match="go backwards"):
        path = write_events(ev, tmp_path / "s.h5", sensor_size=(40, 30, 2))
    assert np.all(np.diff(read_events(path).events["t"]) >= 0)


# --- bad input --------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.bin"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_events(path)


def test_folder(tmp_path):
    path = tmp_path / "folder.bin"
    path.mkdir()
    with pytest.raises(FormatError, match=named(path, "is a folder, expected a file")):
        read_events(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "events.txt"
    path.write_text("1 2 3 4")
    with pytest.raises(FormatError, match=named(path, r"unknown extension '\.txt'; supported: ")):
        read_events(path)
    assert set(SUPPORTED_EXTENSIONS) == {".bin", ".bs2", ".aedat", ".aedat4", ".raw", ".dat", ".bs1",
                                         ".mat", ".npy", ".h5", ".hdf5"}


@pytest.mark.parametrize("ext", SUPPORTED_EXTENSIONS)
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.touch()
    with pytest.raises(FormatError, match=named(path, r"empty \(0 bytes\)")):
        read_events(path)


def test_truncated_atis(tmp_path, data_dir):
    path = tmp_path / "cut.bin"
    path.write_bytes((data_dir / NMNIST_SAMPLE).read_bytes()[:-2])  # 21625 - 2 bytes
    match = named(path, "file cut mid-record at byte offset 21620")
    with pytest.raises(FormatError, match=match):
        read_events(path)
    with pytest.raises(FormatError, match=match):
        iter_events(path, 1000)  # raised before any chunk is produced


def test_random_bytes_atis(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(EventError, match=named(path, r"record \d+ has y=\d+, off the sensor")):
        read_events(path)
    with pytest.raises(EventError, match=named(path, r"record \d+ has y=\d+, off the sensor")):
        next(iter_events(path, 100))


def test_given_sensor_size_mismatch(data_dir):
    path = data_dir / GESTURE_1
    with pytest.raises(EventError, match=named(path, r"record 0 has x=49, off the sensor")):
        read_events(path, sensor_size=(34, 34, 2))
    with pytest.raises(EventError, match=named(path, "sensor_size")):
        read_events(path, sensor_size=(34, 34))


def test_chunk_error_names_the_file_record(tmp_path):
    """The file's record number, and the bad records counted as the chunk's."""
    path = tmp_path / "late.bin"
    path.write_bytes(atis_bytes([1] * 9 + [50, 60], [1] * 11, range(11), [0] * 11))
    with pytest.raises(EventError, match=named(path, r"record 9 has x=50, off the sensor .*; "
                                                     r"2 records of the 3 from record 8 on "
                                                     r"\(this chunk\) are off the sensor")):
        list(iter_events(path, 4, sensor_size=(34, 34, 2)))
    with pytest.raises(EventError, match=named(path, r"record 9 has x=50, .*; 2 records are "
                                                     r"off the sensor")):
        read_events(path, sensor_size=(34, 34, 2))


def test_content_does_not_match_extension(tmp_path):
    path = tmp_path / "really_npy.bin"
    with open(path, "wb") as f:
        np.save(f, random_events(3))
    with pytest.raises(FormatError, match=named(path, r"content is a NumPy \.npy file")):
        read_events(path)


def test_text_in_h5(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_text("not hdf5 at all")
    with pytest.raises(FormatError, match=named(path, "not an HDF5 file")):
        read_events(path)


def make_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        for name, data in datasets.items():
            if name == "attrs":
                group.attrs.update(data)
            else:
                group[name] = data
    return path


def test_h5_without_events_group(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = [1, 2, 3]
    with pytest.raises(FormatError, match=named(path, "missing group '/events'")):
        read_events(path)


def test_h5_missing_field(tmp_path):
    path = make_h5(tmp_path / "nox.h5", y=[1], t=[1], p=[0])
    with pytest.raises(FormatError, match=named(path, "missing field '/events/x'")):
        read_events(path)


def test_h5_lengths_differ(tmp_path):
    path = make_h5(tmp_path / "len.h5", x=[1, 2], y=[1], t=[1, 2], p=[0, 1])
    with pytest.raises(FormatError, match=named(path, "/events/x has 2, /events/y has 1")):
        read_events(path)


def test_h5_attributes(tmp_path):
    ok = {"x": np.int16([1]), "y": np.int16([2]), "t": [3], "p": np.uint8([1])}
    # no sensor_size attribute: inferred (max + 1); uint8 polarity accepted
    stream = read_events(make_h5(tmp_path / "bare.h5", **ok))
    assert stream.sensor_size == (2, 3, 2) and stream.events.tolist() == [(1, 2, 3, True)]
    bad_p = make_h5(tmp_path / "p.h5", **{**ok, "p": np.uint8([2])})
    with pytest.raises(EventError, match=named(bad_p, "record 0 has p=2; expected 0 or 1")):
        read_events(bad_p)
    foreign = make_h5(tmp_path / "foreign.h5", **ok, attrs={"format": "something-else"})
    with pytest.raises(FormatError, match=named(foreign, "format is 'something-else'")):
        read_events(foreign)
    newer = make_h5(tmp_path / "newer.h5", **ok, attrs={"version": 99})
    with pytest.raises(FormatError, match=named(newer, "version is 99")):
        read_events(newer)
    bad_size = make_h5(tmp_path / "size.h5", **ok, attrs={"sensor_size": [34, 34]})
    with pytest.raises(EventError, match=named(bad_size, "field 'sensor_size'")):
        read_events(bad_size)


def test_npy_not_structured(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.zeros((10, 4)))
    with pytest.raises(FormatError, match=named(path, "expected a 1-D structured array")):
        read_events(path)


def test_npy_that_is_not_npy_or_is_cut(tmp_path, data_dir):
    """Without NumPy's magic bytes it is not a .npy (numpy would call it a pickle); a cut one
    names the offset of its last whole record."""
    other = tmp_path / "atis.npy"
    shutil.copy(data_dir / "nmnist" / "Test" / "0" / "00004.bin", other)
    with pytest.raises(FormatError, match=named(other, r"not a \.npy file \(it does not start "
                                                       r"with NumPy's magic bytes\)")):
        read_events(other)
    cut = tmp_path / "cut.npy"
    np.save(cut, np.zeros(10, EVENT_DTYPE))
    k = EVENT_DTYPE.itemsize
    data = cut.read_bytes()
    start = len(data) - 10 * k
    cut.write_bytes(data[:start + 3 * k + 5])
    with pytest.raises(FormatError, match=named(cut, rf"file cut mid-record at byte offset "
                                                     rf"{start + 3 * k}: the header promises "
                                                     rf"{len(data)} bytes, the file has "
                                                     rf"{start + 3 * k + 5}")):
        read_events(cut)


def test_npy_missing_field(tmp_path):
    path = tmp_path / "nop.npy"
    np.save(path, np.zeros(3, [("x", "i2"), ("y", "i2"), ("t", "i8")]))
    with pytest.raises(FormatError, match=named(path, "missing field 'p'")):
        read_events(path)


def test_npy_bad_field_values(tmp_path):
    float_t = tmp_path / "float_t.npy"
    np.save(float_t, np.zeros(3, [("x", "i2"), ("y", "i2"), ("t", "f8"), ("p", "?")]))
    with pytest.raises(EventError, match=named(float_t, "field 't' has dtype float64")):
        read_events(float_t)
    wide_x = tmp_path / "wide_x.npy"
    ev = np.zeros(3, [("x", "i4"), ("y", "i2"), ("t", "i8"), ("p", "?")])
    ev["x"][1] = 40_000
    np.save(wide_x, ev)
    match = named(wide_x, "record 1 has x=40000; expected a value fitting int16")
    with pytest.raises(EventError, match=match):
        read_events(wide_x)


def test_npy_pickle_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match=named(path, r"not a valid \.npy file")):
        read_events(path)


def test_npy_no_events(tmp_path):
    path = tmp_path / "none.npy"
    np.save(path, np.empty(0, EVENT_DTYPE))
    with pytest.raises(EventError, match=named(path, "no events.*give sensor_size")):
        read_events(path)
    assert len(read_events(path, sensor_size=(4, 4, 2))) == 0
    assert list(iter_events(path, 10, sensor_size=(4, 4, 2))) == []


@pytest.mark.parametrize("damage", ["random", "text", "cut"])
def test_bad_aedat4(tmp_path, data_dir, damage):
    path = tmp_path / f"{damage}.aedat4"
    good = (data_dir / "dvs_aedat4" / "davis346_sample.aedat4").read_bytes()
    content = {
        "random": np.random.default_rng(1).bytes(2000),
        "text": b"hello",
        "cut": good[: len(good) // 2],
    }[damage]
    path.write_bytes(content)
    with pytest.raises(FormatError, match=named(path, "AEDAT 4")):
        read_events(path)


def test_bad_chunk_events(data_dir):
    for bad in (0, -5, 2.5, True):
        with pytest.raises(InputError, match="chunk_events"):
            iter_events(data_dir / NMNIST_SAMPLE, bad)


def test_stream_type(data_dir):
    stream = read_events(str(data_dir / NMNIST_SAMPLE))
    assert isinstance(stream, EventStream) and len(stream) == 4325


def test_every_shared_recording_reads(data_dir):
    """Every file of a supported kind in shared/data reads (N-MNIST: its first 20 files), and
    every kind of recording there is supported: only the MNIST images, the N-MNIST manifest
    and the README are left."""
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    readable = [p for p in files if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    rest = {p.relative_to(data_dir).parts[0] if p.parent != data_dir else p.name
            for p in files if p not in readable}
    assert rest == {"mnist", "nmnist", "README.md"}, rest
    nmnist = [p for p in readable if "nmnist" in p.parts]
    for path in [p for p in readable if "nmnist" not in p.parts] + nmnist[:20]:
        stream = read_events(path)
        assert len(stream.events) > 0, path
