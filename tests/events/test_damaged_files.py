"""Crafted and damaged event files: every outcome a named error, no memory bomb.

Each case makes its file here (crafted bytes); see also test_aedat4.py and tests/test_fuzz.py.
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

import eventsim
from eventsim import limits
from eventsim.errors import EventsimWarning, FormatError, InputError, ResourceError

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("header", [
    (b"{'descr': [('x', '<i2'), ('y', '<i2'), ('t', '<i8'), ('p', '|b1')], 'fortran_order': "
     b"False, 'shape': (3,), "),  # the brace never closes: tokenize.TokenError
    b"{'descr': '''<i8, 'fortran_order': False, 'shape': (3,), }",  # an unclosed string
    b"{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'x': lambda: 0}",
])
def test_a_damaged_npy_header_is_named(tmp_path, header):
    path = tmp_path / "bad.npy"
    pad = 64 - (10 + len(header) + 1) % 64
    text = header + b" " * pad + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(39))
    with pytest.raises(FormatError, match=f"^{path}: not a valid .npy file"):
        eventsim.read_events(path)


def _claiming(path: Path, n: int, checksums: bool = True) -> Path:
    """An eventsim HDF5 event file of a few KB whose datasets claim ``n`` events (resized, no
    chunk written: HDF5 would read them as zeros)."""
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        group.attrs["format"] = "eventsim-events"
        group.attrs["version"] = 1
        group.attrs["sensor_size"] = np.array([34, 34, 2])
        for name, dtype in (("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")):
            group.create_dataset(name, shape=(n,), maxshape=(None,), dtype=dtype,
                                 chunks=(65536,), fletcher32=checksums)
    return path


def test_an_event_file_claiming_1e11_events_is_refused_before_any_allocation(tmp_path):
    path = _claiming(tmp_path / "huge.h5", 10**11)
    assert path.stat().st_size < 20_000
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=rf"^{path}: field '/events/x' claims shape "
                           r"\(100000000000,\).*but the file holds only 0 of its 1525879 "
                           "chunks"):
            eventsim.read_events(path)
        with pytest.raises(FormatError, match="holds only 0 of its 1525879 chunks"):
            next(iter(eventsim.iter_events(path, 100_000)))
        assert tracemalloc.get_traced_memory()[1] < 10 << 20
    finally:
        tracemalloc.stop()


def test_a_whole_read_beyond_the_budget_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "UNCHECKED_BYTES", 0)  # a small budget, and a small file
    path = eventsim.write_events(eventsim.read_events(DATA / "nmnist_cut.bin", (34, 34, 2)),
                                 tmp_path / "ev.h5")
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "5000")
    with pytest.raises(ResourceError, match=rf"^{path}: reading its 400 events whole "
                       r"\(iter_events, or eventsim run --chunk-events, streams them\) needs"):
        eventsim.read_events(path)
    bin_path = DATA / "nmnist_cut.bin"
    with pytest.raises(ResourceError, match=f"^{bin_path}: reading the ATIS 5-byte records "
                       "file whole"):
        eventsim.read_events(bin_path)
    bs1 = DATA / "ntidigits_cut.bs1"
    with pytest.raises(ResourceError, match=f"^{bs1}: reading the 1-D spike records file whole"):
        eventsim.read_events(bs1)
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "1G")
    assert len(eventsim.read_events(path)) == 400


def test_a_damaged_event_chunk_fails_its_checksum(tmp_path):
    """Flipped bytes in the data of an eventsim event file: Fletcher-32 names it, where
    before different events were read."""
    stream = eventsim.read_events(DATA / "nmnist_cut.bin", (34, 34, 2))
    path = eventsim.write_events(stream, tmp_path / "ev.h5")
    with h5py.File(path) as f:
        offset = f["events"]["t"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 100] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=rf"^{path}: damaged HDF5 data at events 0\.\."):
        eventsim.read_events(path)


def test_an_event_file_without_checksums_reads_with_a_warning(tmp_path):
    path = tmp_path / "old.h5"
    stream = eventsim.read_events(DATA / "nmnist_cut.bin", (34, 34, 2))
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        group.attrs.update({"format": "eventsim-events", "version": 1,
                            "sensor_size": np.array([34, 34, 2])})
        for name in ("x", "y", "t", "p"):
            group.create_dataset(name, data=stream.events[name])
    with pytest.warns(EventsimWarning, match=f"{path}: the event file has no checksums"):
        again = eventsim.read_events(path)
    assert np.array_equal(again.events, stream.events)


@pytest.mark.parametrize("bad", [None, 3, b"\xff\xfe"])
def test_not_a_path(bad):
    expected = InputError if not isinstance(bad, bytes) else FileNotFoundError
    with pytest.raises(expected):
        eventsim.read_events(bad)
    if expected is InputError:
        with pytest.raises(InputError, match="read_events: field 'path' must be a file path"):
            eventsim.iter_events(bad)


def test_a_symlink_loop_and_a_folder_are_named(tmp_path):
    (tmp_path / "a.bin").symlink_to(tmp_path / "b.bin")
    (tmp_path / "b.bin").symlink_to(tmp_path / "a.bin")
    with pytest.raises(OSError, match="symbolic link loop"):
        eventsim.read_events(tmp_path / "a.bin")
    (tmp_path / "x.bin").mkdir()
    with pytest.raises(FormatError, match="is a folder"):
        eventsim.read_events(tmp_path / "x.bin")


def test_chunks_beyond_the_budget_are_refused(monkeypatch):
    monkeypatch.setattr(limits, "UNCHECKED_BYTES", 0)
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "100K")
    with pytest.raises(ResourceError, match="iter_events: chunks of chunk_events=1000000"):
        eventsim.iter_events(DATA / "evt3_cut.raw", 1_000_000)
    assert sum(len(c) for c in eventsim.iter_events(DATA / "evt3_cut.raw", 500)) == 2773


@pytest.mark.parametrize("name, events", [("evt2_cut.raw", "about 2e+03 events"),
                                          ("evt3_cut.raw", "about 8e+03 events"),
                                          ("ncars_cut.dat", "about 400 events")])
def test_a_whole_prophesee_read_beyond_the_budget_is_refused(monkeypatch, name, events):
    monkeypatch.setattr(limits, "UNCHECKED_BYTES", 0)
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "10K")
    with pytest.raises(ResourceError, match=re.escape(f"{name}: reading the Prophesee file "
                                                      f"whole ({events}; iter_events")):
        eventsim.read_events(DATA / name)


def test_closing_a_writer_whose_write_failed_is_an_error(tmp_path):
    writer = eventsim.EventWriter(tmp_path / "ev.h5", (4, 4, 2))
    bad = np.zeros(2, eventsim.EVENT_DTYPE)
    bad["t"] = [5, 1]  # backwards: refused, the writer goes on
    with pytest.raises(eventsim.EventError):
        writer.write(bad)
    writer.abort()
    with pytest.raises(eventsim.errors.OutputError, match="the event file was not written"):
        writer.close()
    assert list(tmp_path.iterdir()) == []
