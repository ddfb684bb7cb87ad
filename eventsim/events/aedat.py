"""AEDAT 2.0 (jAER) and AEDAT 3.1 (cAER; the original IBM DVS Gesture release) ``.aedat``
files: header parsed, sensor from the header, events decoded by the cameras' own rules.

**AEDAT 2.0** (jAER's ``AEFileOutputStream``): header lines starting with ``#`` (CRLF),
the first ``#!AER-DAT2.0``, one naming the camera class (``# AEChip: ...DAVIS240C``), the
last ``#End Of ASCII Header`` in newer files (older ones end where a line does not start
with ``#``); then big-endian records of a uint32 address and an int32 timestamp (us, which
wraps after 2**32 us: unwrapped here). Addresses as jAER's extractors and iniVation's
libcaer read them, in image coordinates (origin at the top left, as AEDAT 3.1 and 4 have it):

- DVS128 (``ch.unizh.ini.jaer.chip.retina.DVS128``, 128 x 128): x = 127 - bits 7..1,
  y = 127 - bits 14..8, ON when bit 0 is 0 (the hardware's inverted polarity; libcaer
  ``dvs128.c``); bit 15 (sync) or bit 31 set marks a special event, skipped.
- DAVIS240A/B/C (240 x 180) and DAVIS346A/B (346 x 260; ``eu.seebetter.ini.chips.davis``):
  x = W - 1 - bits 21..12, y = H - 1 - bits 30..22, ON when bit 11 is set (jAER's
  ``DavisChip``, ``DavisBaseCamera`` extractor); bit 31 set marks an APS or IMU sample and
  bit 10 an external input event, all skipped.

**AEDAT 3.1** (iniVation's specification, libcaer ``events/common.h``, ``polarity.h``): header
lines ``#!AER-DAT3.1``, ``#Format: RAW``, ``#Source <id>: <camera>``, ``#Start-Time: ...``,
``#!END-HEADER``; then packets, each a 28-byte little-endian header (int16 type, int16
source, int32 event size, int32 timestamp offset, int32 timestamp overflow, int32 capacity,
int32 number, int32 valid) and ``capacity`` events of ``event size`` bytes. Polarity events
(type 1, 8 bytes: uint32 data, int32 timestamp): bit 0 valid (invalid ones skipped), bit 1
ON, bits 16..2 y, bits 31..17 x, image coordinates; time ``overflow << 31 | timestamp``
(us). Packets of other types (special, frames, IMU) are skipped. The sensor comes from the
camera the ``#Source`` line names (DVS128, DAVIS240, DAVIS346), else it is inferred from
the events.

tonic 1.7.0 reads AEDAT 3.1 packets as 8-byte events whatever their type and size, and its
DVS128 reader swaps x and y and keeps the raw polarity (it also fails to run: it unpacks
three header values into two); its DAVIS346 and DVS Gesture (``read_dvs_ibm``) formulas are
the ones above.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eventsim.errors import FormatError
from eventsim.events.stream import EVENT_DTYPE
from eventsim.limits import check_memory

SensorSize = tuple[int, int, int]
MAGIC = b"#!AER-DAT"
#: Bytes of an AEDAT 2.0 record and of an AEDAT 3.1 packet header.
RECORD_BYTES, PACKET_HEADER_BYTES = 8, 28
PACKET_HEADER = struct.Struct("<hhiiiiii")
POLARITY_EVENT = 1
#: Peak bytes per record of a whole read: the file's bytes, the decode's temporaries, events.
READ_BYTES = 64
#: Camera -> (layout, sensor): jAER class names (AEDAT 2.0), cAER source names (3.1).
#: jAER's colour and cBSI DAVIS346 (``Davis346red``, ...) have extractors of their own: not
#: read until checked on one of their files.
CAMERAS = (
    (re.compile(r"(?:^|\.)(?:DVS128|Tmpdiff128)$"), "dvs128", (128, 128, 2)),
    (re.compile(r"(?:^|\.)DAVIS240[ABC]?$", re.IGNORECASE), "davis", (240, 180, 2)),
    (re.compile(r"(?:^|\.)DAVIS346[AB]?$", re.IGNORECASE), "davis", (346, 260, 2)),
)


def _camera(name: str) -> tuple[str, SensorSize] | None:
    for pattern, layout, size in CAMERAS:
        if pattern.search(name.strip()):
            return layout, size
    return None


def _header(path: Path) -> tuple[float, int, str | None]:
    """``(version, data offset, camera)`` of an AEDAT 2.0 or 3.1 file."""
    lines = []
    with open(path, "rb") as f:
        first = f.readline(256)
        if not first.startswith(MAGIC):
            raise FormatError(f"{path}: not an AEDAT file: it does not start with '#!AER-DAT'")
        match = re.match(rb"#!AER-DAT(\d+\.\d+)", first)
        version = float(match.group(1)) if match else -1.0
        if version not in (2.0, 3.1):
            shown = first[:20].decode("latin-1").strip()
            raise FormatError(f"{path}: AEDAT version {shown[9:] or '?'} ('{shown}'): .aedat "
                              "files of version 2.0 and 3.1 are read (.aedat4 for 4.0)")
        offset = len(first)
        while True:
            line = f.readline(1 << 16)
            if version == 3.1:
                if not line:
                    raise FormatError(f"{path}: AEDAT 3.1 header without its '#!END-HEADER' "
                                      f"line (file cut at byte offset {offset})")
                offset += len(line)
                lines.append(line)
                if line.startswith(b"#!END-HEADER"):
                    break
            else:
                if not line.startswith(b"#"):
                    break
                offset += len(line)
                lines.append(line)
                if b"End Of ASCII Header" in line:
                    break
    text = [ln.decode("latin-1").strip() for ln in lines]
    key = "# AEChip:" if version == 2.0 else "#Source "
    named = [ln.split(":", 1)[1].strip() for ln in text if ln.replace(" ", "").startswith(
        key.replace(" ", "")) and ":" in ln]
    return version, offset, named[0] if named else None


def probe(path: Path) -> SensorSize | None:
    """Check the header and the layout's size; the sensor the header names, or None."""
    version, offset, camera = _header(path)
    known = _camera(camera) if camera else None
    if version == 2.0:
        if known is None:
            raise _unsupported(path, camera)
        size = path.stat().st_size - offset
        if size % RECORD_BYTES:
            cut = path.stat().st_size - size % RECORD_BYTES
            raise FormatError(f"{path}: file cut mid-record at byte offset {cut} ({size} bytes "
                              f"after the header are not whole {RECORD_BYTES}-byte records)")
    else:
        for _ in _packets(path, offset):  # walks every packet header: a cut is named
            pass
    return known[1] if known else None


def _unsupported(path: Path, camera: str | None) -> FormatError:
    named = (f"names the camera {camera!r}" if camera
             else "names no camera (no '# AEChip:' line)")
    return FormatError(f"{path}: its AEDAT 2.0 header {named}; the address layout is known "
                       "for DVS128, DAVIS240A/B/C and DAVIS346A/B")


def _packets(path: Path, offset: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(type, event size, overflow, capacity, data offset)`` of each AEDAT 3.1 packet, its
    header and events checked to lie inside the file."""
    end = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(offset)
        while offset < end:
            head = f.read(PACKET_HEADER_BYTES)
            if len(head) < PACKET_HEADER_BYTES:
                raise FormatError(f"{path}: file cut in a packet header at byte offset "
                                  f"{offset} (AEDAT 3.1 packets start with 28 bytes)")
            kind, _, size, _, overflow, capacity, number, _ = PACKET_HEADER.unpack(head)
            if size < 1 or capacity < 0 or not 0 <= number <= capacity or overflow < 0:
                raise FormatError(f"{path}: damaged packet header at byte offset {offset} "
                                  f"(event size {size}, capacity {capacity}, number {number})")
            if kind == POLARITY_EVENT and size != 8:
                raise FormatError(f"{path}: polarity packet at byte offset {offset} has "
                                  f"{size}-byte events; AEDAT 3.1 polarity events are 8 bytes")
            data = offset + PACKET_HEADER_BYTES
            if data + capacity * size > end:
                raise FormatError(f"{path}: file cut in the packet at byte offset {offset}: "
                                  f"its {capacity} events of {size} bytes need "
                                  f"{capacity * size} bytes, the file has {end - data}")
            yield kind, size, overflow, capacity, data
            offset = data + capacity * size
            f.seek(offset)


def blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """The file's events in file order: ``chunk_events`` records at a time (AEDAT 2.0) or
    packet by packet (3.1; whole with ``chunk_events=None``)."""
    version, offset, camera = _header(path)
    size = path.stat().st_size - offset
    if chunk_events is None:
        check_memory(size // RECORD_BYTES * READ_BYTES,
                     f"{path}: reading the AEDAT file whole ({size} bytes of events; "
                     "iter_events, or eventsim run --chunk-events, streams it)")
    if version == 2.0:
        layout, sensor = _camera(camera or "") or (None, None)
        if layout is None:
            raise _unsupported(path, camera)
        yield from _records(path, offset, chunk_events, layout, sensor)
        return
    pending = []
    with open(path, "rb") as f:
        for kind, ev_size, overflow, capacity, data in _packets(path, offset):
            if kind != POLARITY_EVENT or capacity == 0:
                continue
            f.seek(data)
            raw = np.frombuffer(f.read(capacity * ev_size), "<u4").reshape(-1, 2)
            pending.append(_polarity(raw, overflow))
            if chunk_events is not None and sum(len(b) for b in pending) >= chunk_events:
                yield np.concatenate(pending)
                pending = []
    if pending or chunk_events is None:
        yield np.concatenate(pending) if pending else np.empty(0, EVENT_DTYPE)


def _polarity(raw: np.ndarray, overflow: int) -> np.ndarray:
    """AEDAT 3.1 polarity events (uint32 data, int32 timestamp), the valid ones."""
    data, ts = raw[:, 0], raw[:, 1].astype(np.int32).astype(np.int64)
    valid = (data & 1) == 1
    data = data[valid]
    events = np.empty(len(data), EVENT_DTYPE)
    events["x"] = (data >> 17) & 0x7FFF
    events["y"] = (data >> 2) & 0x7FFF
    events["p"] = (data >> 1) & 1
    events["t"] = (np.int64(overflow) << 31) | ts[valid]
    return events


def _records(path: Path, offset: int, chunk_events: int | None, layout: str,
             sensor: SensorSize) -> Iterator[np.ndarray]:
    """AEDAT 2.0 records decoded by ``layout``, timestamps unwrapped across chunks."""
    w, h, _ = sensor
    wraps, last = 0, None
    step = RECORD_BYTES * chunk_events if chunk_events else -1
    with open(path, "rb") as f:
        f.seek(offset)
        while buffer := f.read(step):
            rec = np.frombuffer(buffer[:len(buffer) // RECORD_BYTES * RECORD_BYTES], ">u4")
            addr, ts = rec[0::2].astype(np.int64), rec[1::2].astype(np.int64)
            back = np.flatnonzero(np.diff(ts, prepend=ts[0] if last is None else last)
                                  < -(1 << 31))  # a wrap: 2**32 us later
            t = ts + (wraps + np.searchsorted(back, np.arange(len(ts)), side="right")) \
                * (1 << 32)
            wraps += len(back)
            last = int(ts[-1]) if len(ts) else last
            if layout == "dvs128":
                keep = (addr & 0x80008000) == 0  # no sync or special bit
                x, y = 127 - ((addr >> 1) & 0x7F), 127 - ((addr >> 8) & 0x7F)
                on = (addr & 1) == 0
            else:
                keep = (addr & 0x80000400) == 0  # no APS/IMU or external bit
                x, y = w - 1 - ((addr >> 12) & 0x3FF), h - 1 - ((addr >> 22) & 0x1FF)
                on = (addr >> 11) & 1 == 1
            events = np.empty(int(keep.sum()), EVENT_DTYPE)
            events["x"], events["y"] = x[keep], y[keep]
            events["t"], events["p"] = t[keep], on[keep]
            yield events
