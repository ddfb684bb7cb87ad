"""AEDAT 4.0 files (iniVation cameras), decoded by the ``aedat`` package, checked first here.

Layout (iniVation's AEDAT 4.0 specification)::

    "#!AER-DAT4.0\\r\\n"             14 bytes
    u32 little-endian L             the length of the IOHeader
    IOHeader                        L bytes: a flatbuffer table (compression: int32 enum,
                                    file_data_position: int64, description: string, the
                                    XML that names the streams and their sizes)
    packets                         each u32 stream id, u32 length N, N bytes (compressed
                                    or not) of a flatbuffer packet
    file data table                 from file_data_position (when >= 0): an index, no events

``aedat`` (Rust) reads the IOHeader without verifying the flatbuffer, so a damaged header can
make it panic (pyo3's ``PanicException``, a ``BaseException``), read invalid UTF-8 as text, or
abort the whole process; and it allocates whatever length a packet header claims (up to 4
GiB) before reading it. :func:`check_layout` therefore verifies the header's flatbuffer
(every offset inside the buffer, the enum in range, the description valid UTF-8) and walks
the packet headers (every length inside the file) before the library sees the file; what the
library still raises, panics included, the readers turn into :class:`FormatError` naming the
file (:func:`eventsim.events.readers._guarded`). The packets themselves are verified by the
library's flatbuffer parser.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eventsim.errors import FormatError, quoted
from eventsim.events.stream import _check_sensor_size, events_from_columns

SensorSize = tuple[int, int, int]
MAGIC = b"#!AER-DAT4.0\r\n"
#: Compression values the IOHeader's enum defines (None, Lz4, Lz4High, Zstd, ZstdHigh).
COMPRESSIONS = range(5)


def _u(buffer: bytes, offset: int, fmt: str, path: Path, what: str) -> int:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(buffer):
        raise FormatError(f"{path}: damaged AEDAT 4 header: {what} at header byte {offset} lies "
                          f"outside the {len(buffer)}-byte header")
    return struct.unpack_from(fmt, buffer, offset)[0]


def _ioheader(header: bytes, path: Path) -> tuple[int, int, str]:
    """``(compression, file_data_position, description)`` of the IOHeader flatbuffer, every
    offset verified (a flatbuffer table: root offset, vtable, then the fields it lists)."""
    table = _u(header, 0, "<I", path, "the root table offset")
    vtable = table - _u(header, table, "<i", path, "the vtable offset")
    vt_size = _u(header, vtable, "<H", path, "the vtable size")
    table_size = _u(header, vtable + 2, "<H", path, "the table size")
    if vt_size < 4 or vt_size % 2 or vtable + vt_size > len(header) or \
            table + table_size > len(header):
        raise FormatError(f"{path}: damaged AEDAT 4 header: vtable of {vt_size} bytes or table "
                          f"of {table_size} bytes does not fit the {len(header)}-byte header")

    def field(index: int) -> int | None:  # the field's offset in the table, None if absent
        at = 4 + 2 * index
        off = _u(header, vtable + at, "<H", path, f"field {index}") if at < vt_size else 0
        return table + off if off else None

    at = field(0)
    compression = 0 if at is None else _u(header, at, "<i", path, "field 'compression'")
    if compression not in COMPRESSIONS:
        raise FormatError(f"{path}: damaged AEDAT 4 header: field 'compression' is "
                          f"{compression}; expected 0..4 (none, LZ4, LZ4 high, Zstd, Zstd high)")
    at = field(1)
    data_table = -1 if at is None else _u(header, at, "<q", path, "field 'file_data_position'")
    at = field(2)
    if at is None:
        raise FormatError(f"{path}: damaged AEDAT 4 header: field 'description' is missing")
    start = at + _u(header, at, "<I", path, "field 'description'")
    length = _u(header, start, "<I", path, "the description's length")
    if start + 4 + length > len(header):
        raise FormatError(f"{path}: damaged AEDAT 4 header: the description of {length} bytes "
                          f"at header byte {start + 4} runs past the {len(header)}-byte header")
    try:
        description = header[start + 4:start + 4 + length].decode("utf-8")
    except UnicodeDecodeError as err:
        raise FormatError(f"{path}: damaged AEDAT 4 header: the description is not UTF-8 text "
                          f"(byte {start + 4 + err.start} of the header)") from None
    return compression, data_table, description


def check_layout(path: Path) -> None:
    """Verify the header and every packet header of an AEDAT 4 file (see the module
    docstring); :class:`FormatError` naming the byte offset of the first fault."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise FormatError(f"{path}: does not start with {MAGIC!r}: not an AEDAT 4.0 file")
        raw = f.read(4)
        if len(raw) < 4:
            raise FormatError(f"{path}: AEDAT 4 file cut at byte {size}, inside the header "
                              "length field")
        length = struct.unpack("<I", raw)[0]
        body = len(MAGIC) + 4
        if body + length > size:
            raise FormatError(f"{path}: AEDAT 4 file cut or damaged: header field 'length' is "
                              f"{length} bytes at byte {len(MAGIC)}, but the file has "
                              f"{size - body} bytes after it")
        _, data_table, _ = _ioheader(f.read(length), path)
        offset = body + length
        # the library reads packets until it stands exactly on file_data_position (the index),
        # else to the end of the file: check every packet it would read
        while offset < size and offset != data_table:
            f.seek(offset)
            raw = f.read(8)
            if len(raw) < 8:
                raise FormatError(f"{path}: AEDAT 4 file cut inside the packet header at byte "
                                  f"offset {offset}")
            _, n = struct.unpack("<II", raw)
            if offset + 8 + n > size:
                raise FormatError(f"{path}: AEDAT 4 file cut or damaged: the packet at byte "
                                  f"offset {offset} claims {n} bytes, but the file ends "
                                  f"{size - offset - 8} bytes after its header")
            offset += 8 + n


def _decoder(path: Path):
    """An ``aedat.Decoder`` on ``path`` (layout checked) and the id of its first event stream
    (as tonic picks)."""
    import aedat

    check_layout(path)
    try:
        decoder = aedat.Decoder(str(path))
    except RuntimeError as err:
        raise FormatError(f"{path}: not a readable AEDAT 4 file ({quoted(err)})") from None
    streams = decoder.id_to_stream()
    ids = [i for i, s in streams.items() if s["type"] == "events"]
    if not ids:
        raise FormatError(f"{path}: no event stream (streams: "
                          f"{quoted(sorted(streams.values(), key=str))})")
    return decoder, min(ids)


def probe(path: Path) -> SensorSize:
    """Check the file's layout; the sensor size its event stream declares."""
    decoder, stream_id = _decoder(path)
    stream = decoder.id_to_stream()[stream_id]
    return _check_sensor_size((stream["width"], stream["height"], 2), str(path))


def blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """The events of the first event stream, packet by packet."""
    decoder, stream_id = _decoder(path)
    try:
        for packet in decoder:
            if packet["stream_id"] == stream_id:
                ev = packet["events"]
                columns = {"x": ev["x"], "y": ev["y"], "t": ev["t"], "p": ev["on"]}
                yield events_from_columns(columns, str(path))
    except RuntimeError as err:
        raise FormatError(f"{path}: damaged AEDAT 4 data ({quoted(err)})") from None
