"""Prophesee files through ``expelliarmus``: EVT 2.0 / EVT 3.0 ``.raw`` and ``.dat`` (N-CARS).

A file starts with ASCII header lines beginning with ``% ``. ``.raw`` files name their encoding
there (``% evt 2.0``, ``% evt 3.0`` or ``% format EVT3;...``) and are a sequence of 32-bit
(EVT 2.0) or 16-bit (EVT 3.0) little-endian words. ``.dat`` files follow the header with two
bytes (event type, event size = 8) and 8-byte records. The header is checked here (encoding,
record size, whole records: a cut file is an error naming the byte offset), then expelliarmus
decodes the events. The sensor size is the one of the camera the header's ``plugin_name`` or
``geometry`` names, else inferred from the events.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eventsim.errors import FormatError, quoted
from eventsim.events.stream import events_from_columns
from eventsim.limits import check_memory

SensorSize = tuple[int, int, int]
#: Cameras by the ``plugin_name`` of the header (width, height).
PLUGINS = {"hal_plugin_gen3_fx3": (640, 480), "hal_plugin_gen31_fx3": (640, 480),
           "hal_plugin_gen41_evk3": (1280, 720), "hal_plugin_imx636_evk4": (1280, 720)}
WORD_BYTES = {"evt2": 4, "evt3": 2}
DAT_RECORD_BYTES = 8


def _header(path: Path) -> tuple[dict[str, str], int]:
    """The ``% key value`` lines and the offset of the first byte after them."""
    keys: dict[str, str] = {}
    offset = 0
    with open(path, "rb") as f:
        while True:
            line = f.readline()
            if not line.startswith(b"% "):
                break
            if not line.endswith(b"\n"):  # expelliarmus would search for the end for ever
                raise FormatError(f"{path}: ends inside its header at byte {offset + len(line)} "
                                  "(a header line without its newline): the file is cut")
            text = line[2:].decode("ascii", "replace").strip()
            key, _, value = text.partition(" ")
            keys[key.lower()] = value.strip()
            offset += len(line)
    if offset == 0:
        raise FormatError(f"{path}: no '% ' header lines: not a Prophesee file")
    return keys, offset


def _encoding(path: Path, keys: dict[str, str]) -> str:
    if path.suffix.lower() == ".dat":
        return "dat"
    version = keys.get("evt", "")
    fmt = keys.get("format", "").split(";")[0].strip().lower()
    if version in ("2.0", "3.0"):
        return "evt" + version[0]
    if fmt in ("evt2", "evt3"):
        return fmt
    raise FormatError(f"{path}: header field 'evt' is {version or 'missing'!s}"
                      f"{'' if not fmt else f', format {fmt!r}'}; expected EVT 2.0 or 3.0 "
                      "(EVT 2.1 and 4.0 are not read)")


def _geometry(keys: dict[str, str]) -> SensorSize | None:
    if "geometry" in keys:
        w, _, h = keys["geometry"].partition("x")
        if w.isdigit() and h.isdigit():
            return (int(w), int(h), 2)
    if keys.get("plugin_name") in PLUGINS:
        return (*PLUGINS[keys["plugin_name"]], 2)
    fmt = keys.get("format", "")
    if "width=" in fmt and "height=" in fmt:
        fields = dict(part.split("=", 1) for part in fmt.split(";")[1:] if "=" in part)
        if fields.get("width", "").isdigit() and fields.get("height", "").isdigit():
            return (int(fields["width"]), int(fields["height"]), 2)
    return None


def probe(path: Path) -> SensorSize | None:
    """Check the header, the record size and that the body is whole records."""
    keys, offset = _header(path)
    encoding = _encoding(path, keys)
    size = path.stat().st_size
    if encoding == "dat":
        with open(path, "rb") as f:
            f.seek(offset)
            kind = f.read(2)
        if len(kind) < 2:
            raise FormatError(f"{path}: ends after the header at byte {size}; expected the "
                              "event type and size bytes")
        if kind[1] != DAT_RECORD_BYTES:
            raise FormatError(f"{path}: event size field is {kind[1]} at byte {offset + 1}; "
                              f"expected {DAT_RECORD_BYTES}")
        body, unit, start = size - offset - 2, DAT_RECORD_BYTES, offset + 2
    else:
        body, unit, start = size - offset, WORD_BYTES[encoding], offset
    if body == 0:
        raise FormatError(f"{path}: no event data after the header (the file ends at byte "
                          f"{size})")
    if body % unit:
        last = start + body - body % unit
        raise FormatError(f"{path}: truncated: {body % unit} bytes after the last whole "
                          f"{unit}-byte record at byte offset {last}")
    return _geometry(keys)


#: Events per byte of data that a whole read is budgeted for: EVT 2.0 and DAT have one event
#: per 4 and 8 bytes; EVT 3.0 about one per 2.5 bytes in recordings (budgeted at one per
#: byte), up to 6 where vector words pack 12 events into 2 bytes.
EVENTS_PER_BYTE = {"evt2": 1 / 4, "dat": 1 / DAT_RECORD_BYTES, "evt3": 1.0}
#: Peak bytes per event of a whole read: expelliarmus' array and eventsim's.
READ_BYTES_PER_EVENT = 40


def blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """The events in file order, decoded by expelliarmus (all at once, or in chunks)."""
    from expelliarmus import Wizard

    keys, offset = _header(path)
    encoding = _encoding(path, keys)
    if chunk_events is None:
        events = (path.stat().st_size - offset) * EVENTS_PER_BYTE[encoding]
        check_memory(events * READ_BYTES_PER_EVENT, f"{path}: reading the Prophesee file whole "
                     f"(about {events:.3g} events; iter_events, or eventsim run --chunk-events, "
                     "streams it)")
    wizard = Wizard(encoding=encoding, fpath=str(path), chunk_size=chunk_events or 8192)
    try:
        parts = [wizard.read()] if chunk_events is None else wizard.read_chunk()
        for arr in parts:
            if arr is None:  # expelliarmus' answer for data that holds no event
                continue
            yield events_from_columns({f: arr[f] for f in ("x", "y", "t", "p")}, str(path))
    except (RuntimeError, ValueError, OSError) as err:
        raise FormatError(f"{path}: damaged {wizard.encoding} data ({quoted(err)})") from None
