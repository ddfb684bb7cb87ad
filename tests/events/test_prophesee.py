"""Prophesee EVT 2.0 / EVT 3.0 ``.raw`` and ``.dat`` files, against the reference decodes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from eventsim import iter_events, read_events
from eventsim.errors import EventError, FormatError
from eventsim.events.readers import SUPPORTED_EXTENSIONS

REFERENCES = [("prophesee/evt3_sample.raw", "prophesee/evt3_sample.npy", (1280, 720, 2)),
              ("ncars/NCARS_obj_004397_td.dat", "ncars/NCARS_obj_004397_td.reference.npy", None)]


@pytest.mark.parametrize("name, reference, sensor", REFERENCES)
def test_equals_the_reference_decode(data_dir, name, reference, sensor):
    stream = read_events(data_dir / name)
    ref = np.load(data_dir / reference)
    assert len(stream) == len(ref) > 4000
    for field in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(stream.events[field].astype(np.int64),
                                      ref[field].astype(np.int64), err_msg=field)
    if sensor is not None:  # the camera the header's plugin_name names
        assert stream.sensor_size == sensor


def test_evt2_sample_as_documented(data_dir):
    """shared/data/README: 539481 events over 50 ms, x 60..599, y 18..475, Gen3 (640x480)."""
    s = read_events(data_dir / "prophesee" / "evt2_sample.raw")
    assert len(s) == 539481 and s.sensor_size == (640, 480, 2)
    assert s.events["t"].max() - s.events["t"].min() == 50000
    assert (s.events["x"].min(), s.events["x"].max()) == (60, 599)
    assert (s.events["y"].min(), s.events["y"].max()) == (18, 475)
    assert set(np.unique(s.events["p"]).tolist()) == {0, 1}


@pytest.mark.parametrize("name", ["prophesee/evt2_sample.raw", "prophesee/evt3_sample.raw",
                                  "ncars/tonic_sample_ncars.dat"])
def test_chunks_concatenate_to_the_whole_file(data_dir, name):
    whole = read_events(data_dir / name)
    chunks = list(iter_events(data_dir / name, chunk_events=50_000,
                              sensor_size=whole.sensor_size))
    assert len(chunks) >= 1
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), whole.events)


def _copy(data_dir, tmp_path, name):
    dst = tmp_path / name.split("/")[-1]
    shutil.copy(data_dir / name, dst)
    dst.chmod(0o644)
    return dst


@pytest.mark.parametrize("name, unit", [("prophesee/evt2_sample.raw", 4),
                                        ("prophesee/evt3_sample.raw", 2),
                                        ("ncars/tonic_sample_ncars.dat", 8)])
def test_truncated_file_names_the_offset(data_dir, tmp_path, name, unit):
    path = _copy(data_dir, tmp_path, name)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(FormatError, match=rf"{path}: truncated: {unit - 1} bytes after the last "
                                          rf"whole {unit}-byte record at byte offset \d+"):
        read_events(path)


def test_header_errors(data_dir, tmp_path):
    raw = _copy(data_dir, tmp_path, "prophesee/evt3_sample.raw")
    raw.write_bytes(raw.read_bytes().replace(b"% evt 3.0\n", b"% evt 4.0\n", 1))
    with pytest.raises(FormatError, match=r"header field 'evt' is 4.0; expected EVT 2.0 or 3.0"):
        read_events(raw)
    foreign = tmp_path / "atis.raw"
    shutil.copy(data_dir / "nmnist" / "Test" / "0" / "00004.bin", foreign)
    with pytest.raises(FormatError, match=rf"{foreign}: no '% ' header lines"):
        read_events(foreign)
    dat = _copy(data_dir, tmp_path, "ncars/tonic_sample_ncars.dat")
    data = dat.read_bytes()
    start = data.index(b"\n% Date") + 1
    body = data.index(b"\n", start) + 1  # after the last header line
    dat.write_bytes(data[:body + 1] + bytes([4]) + data[body + 2:])
    with pytest.raises(FormatError, match=rf"event size field is 4 at byte {body + 1}"):
        read_events(dat)


@pytest.mark.parametrize("name", ["prophesee/evt2_sample.raw", "prophesee/evt3_sample.raw",
                                  "ncars/NCARS_obj_004397_td.dat"])
def test_a_file_cut_in_or_right_after_its_header_is_named(data_dir, tmp_path, name):
    """Cut inside the last header line, expelliarmus searched for the header's end for ever;
    cut right after it (no events), it returned None."""
    path = _copy(data_dir, tmp_path, name)
    data = path.read_bytes()
    end = data.index(b"\n", data.rindex(b"\n% ") + 1) + 1  # after the last header line
    path.write_bytes(data[:end - 1])
    # in a process of its own: should the check go, expelliarmus hangs rather than fails
    script = ("import sys, eventsim\n"
              "try:\n    eventsim.read_events(sys.argv[1])\n"
              "except eventsim.errors.FormatError as err:\n    print(err)")
    read = subprocess.run([sys.executable, "-c", script, str(path)], check=False,
                          capture_output=True, text=True, timeout=60)
    assert read.stdout.startswith(f"{path}: ends inside its header at byte {end - 1} "), read
    after = end + (2 if path.suffix == ".dat" else 0)  # .dat: then event type and size
    path.write_bytes(data[:after])
    for read in (read_events, lambda p: list(iter_events(p, chunk_events=100))):
        with pytest.raises(FormatError, match=rf"{path}: no event data after the header "
                                              rf"\(the file ends at byte {after}\)"):
            read(path)


def test_data_without_events_reads_as_none(data_dir, tmp_path):
    """An EVT 3.0 body of time-high words only decodes to no event (expelliarmus: None)."""
    path = _copy(data_dir, tmp_path, "prophesee/evt3_sample.raw")
    data = path.read_bytes()
    end = data.index(b"\n", data.rindex(b"\n% ") + 1) + 1
    time_high = (0x8 << 12 | 5).to_bytes(2, "little")  # EVT 3.0 word type 0x8: time high
    path.write_bytes(data[:end] + time_high * 4)
    assert len(read_events(path, sensor_size=(1280, 720, 2)).events) == 0


def test_events_off_a_given_sensor(data_dir):
    with pytest.raises(EventError, match="evt3_sample.raw"):
        read_events(data_dir / "prophesee" / "evt3_sample.raw", sensor_size=(640, 480, 2))


def test_extensions_listed():
    assert {".raw", ".dat"} <= set(SUPPORTED_EXTENSIONS)
