"""Write the few-KB cuts of real recordings in tests/data, one per format, from ../shared/data.

Each cut is the start of a real file (whole records, the format's header kept) so that the
fuzz and damaged-file tests need no data folder. Run from the project's root:

    python tests/data/make_cuts.py

Sources (see ../shared/data/README.md for their provenance and licenses):

=====================  =========================================================================
nmnist_cut.bin         nmnist/extra/tonic_sample_nmnist.bin, its first 400 5-byte records
dvsgesture_cut.bs2     dvsgesture_slayer/1.bs2, its first 400 5-byte records
davis346_cut.aedat4    dvs_aedat4/davis346_sample.aedat4: the header and the packets in its
                       first 12 KB; the trailing index dropped, and the header's
                       file_data_position set to the end of the cut
evt2_cut.raw           prophesee/evt2_sample.raw: the header and its first 2000 32-bit words
evt3_cut.raw           prophesee/evt3_sample.raw: the header and its first 4000 16-bit words
ncars_cut.dat          ncars/tonic_sample_ncars.dat: the header, the type/size bytes and the
                       first 400 8-byte records
ntidigits_cut.bs1      ntidigits/NTIDIGITS_1.bs1, its first 400 5-byte records
stmnist_cut.mat        stmnist/sample_stmnist.mat: its spiketrain's first 300 columns, saved
                       by scipy.io.savemat (MATLAB 5 format, compressed, as the original)
events_cut.npy         the events of nmnist_cut.bin as a structured .npy
events_cut.h5          the same through eventsim.write_events (Fletcher-32 checksums)
tiny_net.h5            a seeded random 128-8-4 network (eventsim.save_network, checksummed)
tiny_net.nir           the same network through eventsim.to_nir (dt 1 ms)
davis240c_cut.aedat    believeinlain/PyAedatTools (commit ec4290ee) example_data/IMU_translBoxes.aedat,
                       a jAER AEDAT 2.0 recording of a DAVIS240C (DVS and IMU words): its
                       first 7 header lines (the preferences XML dropped) and its first 600
                       records; written with ``--davis240c PATH`` (not in the shared data)
nmnist_mini/Test/D/F   nmnist/Test/D/F, its first 600 5-byte records: the first 8 recordings
                       of digits 1, 4 and 7, 3 of 3 and 2 of 8 (all it has), for the tests that run
                       folders of N-MNIST recordings (CLI, report, threads, Dask) when the
                       shared recordings are not there (tests/conftest.py: ``nmnist_test``)
=====================  =========================================================================
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: Digit folder -> recordings in ``nmnist_mini``.
MINI_NMNIST = {"1": 8, "3": 3, "4": 8, "7": 8, "8": 2}
DATA = HERE.parents[1].parent / "shared" / "data"


def _header_end(data: bytes) -> int:
    """Offset of the first byte after a Prophesee file's '% ' header lines."""
    offset = 0
    while data.startswith(b"% ", offset):
        offset = data.index(b"\n", offset) + 1
    return offset


def _aedat_cut(data: bytes, limit: int) -> bytes:
    """The AEDAT 4 header and the whole packets that end within ``limit`` bytes, the header's
    ``file_data_position`` (where the trailing index starts) set to the end of the cut, so
    that readers stop there (the aedat library reads on until that position)."""
    (length,) = struct.unpack_from("<I", data, 14)
    end = 18 + length
    while True:
        _, n = struct.unpack_from("<II", data, end)
        if end + 8 + n > limit:
            break
        end += 8 + n
    out = bytearray(data[:end])
    header = 18  # the IOHeader flatbuffer: root table, its vtable, field 1 (file_data_position)
    (table,) = struct.unpack_from("<I", out, header)
    (back,) = struct.unpack_from("<i", out, header + table)
    (field,) = struct.unpack_from("<H", out, header + table - back + 4 + 2 * 1)
    struct.pack_into("<q", out, header + table + field, end)
    return bytes(out)


def davis240c_cut(source: Path) -> None:
    """tests/data/davis240c_cut.aedat from the PyAedatTools recording (see the table)."""
    data = source.read_bytes()
    lines, offset = [], 0
    while data.startswith(b"#", offset):  # the header: lines starting with '#'
        end = data.index(b"\n", offset) + 1
        lines.append(data[offset:end])
        offset = end
    (HERE / "davis240c_cut.aedat").write_bytes(b"".join(lines[:7]) + data[offset:offset + 4800])


def main() -> None:
    import scipy.io

    import eventsim

    if len(sys.argv) == 3 and sys.argv[1] == "--davis240c":
        davis240c_cut(Path(sys.argv[2]))
        return
    if not DATA.is_dir():
        sys.exit(f"{DATA}: not found (the shared recordings)")
    records = {"nmnist_cut.bin": DATA / "nmnist" / "extra" / "tonic_sample_nmnist.bin",
               "dvsgesture_cut.bs2": DATA / "dvsgesture_slayer" / "1.bs2",
               "ntidigits_cut.bs1": DATA / "ntidigits" / "NTIDIGITS_1.bs1"}
    for name, src in records.items():
        (HERE / name).write_bytes(src.read_bytes()[:400 * 5])
    aedat = (DATA / "dvs_aedat4" / "davis346_sample.aedat4").read_bytes()
    (HERE / "davis346_cut.aedat4").write_bytes(_aedat_cut(aedat, 12_000))
    for name, src, words, size in (("evt2_cut.raw", "evt2_sample.raw", 2000, 4),
                                   ("evt3_cut.raw", "evt3_sample.raw", 4000, 2)):
        data = (DATA / "prophesee" / src).read_bytes()
        (HERE / name).write_bytes(data[:_header_end(data) + words * size])
    dat = (DATA / "ncars" / "tonic_sample_ncars.dat").read_bytes()
    (HERE / "ncars_cut.dat").write_bytes(dat[:_header_end(dat) + 2 + 400 * 8])
    mat = scipy.io.loadmat(DATA / "stmnist" / "sample_stmnist.mat")
    scipy.io.savemat(HERE / "stmnist_cut.mat", {"spiketrain": mat["spiketrain"][:, :300]},
                     do_compression=True)
    stream = eventsim.read_events(HERE / "nmnist_cut.bin", (34, 34, 2))
    np.save(HERE / "events_cut.npy", stream.events)
    eventsim.write_events(stream, HERE / "events_cut.h5")
    net = eventsim.random_mlp([128, 8, 4], (2, 8, 8), seed=0)
    net.dt_us = 1000
    eventsim.save_network(net, HERE / "tiny_net.h5")
    eventsim.to_nir(net, HERE / "tiny_net.nir")
    for digit, n in MINI_NMNIST.items():
        folder = HERE / "nmnist_mini" / "Test" / digit
        folder.mkdir(parents=True, exist_ok=True)
        for src in sorted((DATA / "nmnist" / "Test" / digit).glob("*.bin"))[:n]:
            (folder / src.name).write_bytes(src.read_bytes()[:600 * 5])
    for p in sorted(HERE.glob("*_cut.*")) + [HERE / "tiny_net.h5", HERE / "tiny_net.nir"]:
        print(f"{p.name:22s} {p.stat().st_size:7d} bytes")


if __name__ == "__main__":
    main()
