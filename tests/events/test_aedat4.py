"""AEDAT 4 files whose header or packet table is damaged are named errors before the aedat
library sees them (it panics, aborts the process or allocates what a length claims)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.errors import FormatError

CUT = Path(__file__).resolve().parents[1] / "data" / "davis346_cut.aedat4"


def _header_fields(data: bytes) -> dict[str, int]:
    """Absolute offsets of the IOHeader's pieces in the file (the flatbuffer's layout)."""
    base = 18
    (table,) = struct.unpack_from("<I", data, base)
    (back,) = struct.unpack_from("<i", data, base + table)
    vtable = table - back
    field = [struct.unpack_from("<H", data, base + vtable + 4 + 2 * i)[0] for i in range(3)]
    desc = base + table + field[2]
    (rel,) = struct.unpack_from("<I", data, desc)
    return {"root": base, "vtable": base + table, "compression": base + table + field[0],
            "file_data_position": base + table + field[1], "description": desc + rel + 4,
            "length": 14}


def _write(tmp_path: Path, data: bytes | bytearray) -> Path:
    path = tmp_path / "damaged.aedat4"
    path.write_bytes(bytes(data))
    return path


def test_the_cut_reads():
    stream = eventsim.read_events(CUT)
    assert len(stream) == 402 and stream.sensor_size == (346, 260, 2)


@pytest.mark.parametrize("damage, message", [
    ("description-not-utf8", "damaged AEDAT 4 header: the description is not UTF-8 text"),
    ("root-offset", ("damaged AEDAT 4 header: the vtable offset at header byte 2147483632 "
                     "lies outside the 3104-byte header")),
    ("vtable-offset", "damaged AEDAT 4 header: the vtable"),
    ("compression", "field 'compression' is 77; expected 0..4"),
    ("header-length", "AEDAT 4 file cut or damaged: header field 'length' is"),
    ("packet-length", "AEDAT 4 file cut or damaged: the packet at byte offset"),
    ("cut-in-packet-header", "AEDAT 4 file cut inside the packet header at byte offset"),
    ("index-before-packets", "AEDAT 4 file cut or damaged: the packet at byte offset"),
])
def test_damage_is_named_before_the_library_reads(tmp_path, damage, message):
    data = bytearray(CUT.read_bytes())
    at = _header_fields(data)
    if damage == "description-not-utf8":  # the library read it as text: UB, panics, aborts
        data[at["description"] + 10] = 0xE4
    elif damage == "root-offset":
        struct.pack_into("<I", data, at["root"], 0x7FFFFFF0)
    elif damage == "vtable-offset":
        struct.pack_into("<i", data, at["vtable"], -40000)
    elif damage == "compression":
        struct.pack_into("<i", data, at["compression"], 77)
    elif damage == "header-length":  # the library allocated what it claims (up to 4 GiB)
        struct.pack_into("<I", data, at["length"], 0xFFFFFFF0)
    elif damage == "packet-length":
        (length,) = struct.unpack_from("<I", data, 14)
        struct.pack_into("<I", data, 18 + length + 4, 0xFFFFFFF0)
    elif damage == "index-before-packets":  # the library reads on past a position it never
        (length,) = struct.unpack_from("<I", data, 14)  # stands on: the packets are checked
        struct.pack_into("<q", data, at["file_data_position"], 0)
        struct.pack_into("<I", data, 18 + length + 4, 0xFFFFFFF0)
    else:
        (length,) = struct.unpack_from("<I", data, 14)
        data = data[:18 + length + 5]
    path = _write(tmp_path, data)
    for read in (eventsim.read_events, lambda p: list(eventsim.iter_events(p, 100))):
        with pytest.raises(FormatError, match=f"^{path}: .*{message}"):
            read(path)


def test_every_header_byte_flipped_is_a_result_or_a_named_error(tmp_path):
    """Each byte of the header in turn, in a child (a library abort would end the process):
    every outcome is the events or an eventsim error naming the file, and no Rust panic is
    printed."""
    data = CUT.read_bytes()
    (length,) = struct.unpack_from("<I", data, 14)
    rng = np.random.default_rng(0)
    paths = []
    for i, offset in enumerate(range(14, 18 + length, 7)):
        flipped = bytearray(data)
        flipped[offset] ^= int(rng.integers(1, 256))
        path = tmp_path / f"flip{i}.aedat4"
        path.write_bytes(bytes(flipped))
        paths.append(path)
    code = ("import sys, eventsim\nfrom eventsim.errors import EventsimError\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        eventsim.read_events(p); print('ok')\n"
            "    except EventsimError as e:\n"
            "        print('named' if str(e).startswith(p + ': ') else 'unnamed', e)\n")
    done = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = done.stdout.split("\n")[:-1]
    assert len(outcomes) == len(paths)
    assert all(line == "ok" or line.startswith("named ") for line in outcomes), outcomes
    # a message is one printable line, whatever bytes the damaged header held
    assert all(line.isprintable() for line in outcomes)
    assert "panicked" not in done.stderr
