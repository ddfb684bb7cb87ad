"""``.aedat`` files, AEDAT 2.0 (jAER) and 3.1 (cAER, the original DVS Gesture release).

- AEDAT 2.0, DAVIS240C: a real jAER recording (tests/data/davis240c_cut.aedat, its DVS and
  IMU words; see make_cuts.py), decoded as tonic 1.7.0 decodes DAVIS addresses
  (``tonic.io.get_aer_events_from_file`` and ``read_davis_346``'s formula at 240 x 180, with
  the APS/IMU and external words left out, which tonic keeps).
- AEDAT 3.1: files written here by the specification (iniVation's; libcaer's
  ``events/common.h`` and ``polarity.h``) from the real DVS Gesture events of
  tests/data/dvsgesture_cut.bs2: equal to tonic's ``read_dvs_ibm`` formula on a file of
  polarity packets, and to the source events when special packets, invalid events and a
  timestamp overflow are mixed in (tonic reads those as events).
- AEDAT 2.0, DVS128: no real recording with events was found; a file written here by jAER's
  DVS128 extractor (mirrored x, y flipped to image coordinates, inverted polarity: libcaer's
  ``dvs128.c``) under a real jAER DVS128 header reads back the source events.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tonic

from eventsim.errors import FormatError
from eventsim.events.readers import iter_events, read_events

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER_31 = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
             b"#Start-Time: 2017-03-20 14:51:10 (TZ-0400)\r\n#!END-HEADER\r\n")
#: The header jAER writes for a DVS128 (lines of a real file: Mibblez/aedat-file-reader-rs,
#: test_files/header_test_128.aedat_test).
HEADER_20_DVS128 = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                    b"# Data format is int32 address, int32 timestamp (8 bytes total), "
                    b"repeated for each event\r\n# Timestamps tick is 1 us\r\n"
                    b"# HardwareInterface: DVS128-V1 0249\r\n"
                    b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
                    b"#End Of ASCII Header\r\n")


def _gesture():
    return read_events(DATA / "dvsgesture_cut.bs2").events


def _packet(kind: int, data: np.ndarray, ts: np.ndarray, overflow: int = 0) -> bytes:
    head = struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, len(data), len(data), len(data))
    body = np.empty((len(data), 2), "<u4")
    body[:, 0], body[:, 1] = data, ts
    return head + body.tobytes()


def _polarity_words(events: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    valid = np.ones(len(events), bool) if valid is None else valid
    return ((events["x"].astype(np.uint32) << 17) | (events["y"].astype(np.uint32) << 2)
            | (events["p"].astype(np.uint32) << 1) | valid.astype(np.uint32))


def test_davis240c_recording_as_tonic_decodes_it():
    path = DATA / "davis240c_cut.aedat"
    stream = read_events(path)
    version, start, _ = tonic.io.read_aedat_header_from_file(str(path))
    raw = tonic.io.get_aer_events_from_file(str(path), version, start)
    a = raw["address"].astype(np.int64)
    dvs = (a & 0x80000400) == 0  # tonic keeps APS/IMU and external words: left out here
    assert version == 2.0 and 100 < dvs.sum() < len(a)
    np.testing.assert_array_equal(stream.events["x"], (239 - ((a & 0x3FF000) >> 12))[dvs])
    np.testing.assert_array_equal(stream.events["y"], (179 - ((a & 0x7FC00000) >> 22))[dvs])
    np.testing.assert_array_equal(stream.events["p"], ((a & 0x800) >> 11)[dvs] == 1)
    np.testing.assert_array_equal(stream.events["t"], raw["timeStamp"][dvs])
    assert stream.sensor_size == (240, 180, 2)
    for chunk in (1, 37, 600):
        np.testing.assert_array_equal(
            np.concatenate([c.events for c in iter_events(path, chunk)]), stream.events)


def test_aedat31_polarity_packets_as_tonic_decodes_them(tmp_path):
    events = _gesture()
    path = tmp_path / "user01_natural.aedat"
    path.write_bytes(HEADER_31 + b"".join(
        _packet(1, _polarity_words(events[k:k + 97]), events["t"][k:k + 97])
        for k in range(0, len(events), 97)))
    stream = read_events(path)
    np.testing.assert_array_equal(stream.events, events)
    assert stream.sensor_size == (128, 128, 2)  # from '#Source 1: DVS128'
    version, start, _ = tonic.io.read_aedat_header_from_file(str(path))
    raw = tonic.io.get_aer_events_from_file(str(path), version, start)
    a = raw["address"]
    for field, value in (("x", (a >> 17) & 0x1FFF), ("y", (a >> 2) & 0x1FFF),
                         ("p", (a >> 1) & 1), ("t", raw["timeStamp"])):
        np.testing.assert_array_equal(stream.events[field], value)


def test_aedat31_skips_other_packets_and_invalid_events_and_adds_the_overflow(tmp_path):
    events = _gesture()[:300]
    valid = np.arange(300) % 7 != 3
    later = events[200:].copy()
    path = tmp_path / "mixed.aedat"
    path.write_bytes(HEADER_31 + _packet(0, np.array([5, 7], np.uint32), np.array([1, 2]))
                     + _packet(1, _polarity_words(events[:200], valid[:200]), events["t"][:200])
                     + _packet(1, _polarity_words(later, valid[200:]), later["t"], overflow=2))
    stream = read_events(path)
    expected = np.concatenate([events[:200][valid[:200]], later[valid[200:]]])
    expected["t"][valid[:200].sum():] += 2 << 31
    np.testing.assert_array_equal(stream.events, expected)
    np.testing.assert_array_equal(np.concatenate([c.events for c in iter_events(path, 50)]),
                                  expected)


def test_dvs128_aedat20_reads_back_what_jaer_extracts(tmp_path):
    events = _gesture()
    addr = (((127 - events["y"].astype(np.uint32)) << 8)
            | ((127 - events["x"].astype(np.uint32)) << 1) | (~events["p"]).astype(np.uint32))
    addr = np.insert(addr, 5, 0x8000)  # a sync event: skipped
    t = np.insert(events["t"], 5, events["t"][5]).astype(">u4")
    body = np.empty((len(addr), 2), ">u4")
    body[:, 0], body[:, 1] = addr, t
    path = tmp_path / "dvs128.aedat"
    path.write_bytes(HEADER_20_DVS128 + body.tobytes())
    stream = read_events(path)
    np.testing.assert_array_equal(stream.events, events)
    assert stream.sensor_size == (128, 128, 2)


def test_a_timestamp_that_wraps_is_unwrapped(tmp_path):
    body = np.array([[0x00000000, 2**32 - 10], [0x00000001, 2**32 - 1], [0x00000000, 5]], ">u4")
    path = tmp_path / "wrap.aedat"
    path.write_bytes(HEADER_20_DVS128 + body.tobytes())
    for chunk in (None, 1):
        t = (read_events(path).events if chunk is None
             else np.concatenate([c.events for c in iter_events(path, chunk)]))["t"]
        assert t.tolist() == [2**32 - 10, 2**32 - 1, 2**32 + 5]


@pytest.mark.parametrize(("content", "message"), [
    (HEADER_20_DVS128 + b"\x00" * 13, r"file cut mid-record at byte offset \d+ \(13 bytes"),
    (HEADER_20_DVS128.replace(b"ch.unizh.ini.jaer.chip.retina.DVS128", b"foo.Davis346red"),
     r"header names the camera 'foo.Davis346red'; the address layout is known for DVS128"),
    (HEADER_20_DVS128.replace(b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n", b""),
     r"names no camera \(no '# AEChip:' line\)"),
    (b"#!AER-DAT3.1\r\n#Format: RAW\r\n", r"without its '#!END-HEADER' line \(file cut at"),
    (HEADER_31 + b"\x01\x00" * 5, f"file cut in a packet header at byte offset {len(HEADER_31)}"),
    (HEADER_31 + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 10, 10, 10) + b"\x00" * 16,
     f"file cut in the packet at byte offset {len(HEADER_31)}: its 10 events of 8 bytes need"),
    (HEADER_31 + struct.pack("<hhiiiiii", 1, 1, 12, 4, 0, 1, 1, 1) + b"\x00" * 12,
     rf"polarity packet at byte offset {len(HEADER_31)} has 12-byte events"),
    (b"#!AER-DAT4.0\r\n" + b"\x00" * 20,
     r"content is a AEDAT 4 file, but the extension '.aedat' stands for AEDAT 2.0/3.1"),
    (b"#!AER-DAT1.0\r\n" + b"\x00" * 12, r"AEDAT version 1.0"),
])
def test_damaged_or_unsupported_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.aedat"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=rf"{path}: .*{message}|{path}: {message}"):
        read_events(path)
