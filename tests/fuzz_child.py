"""The fuzz of tests/test_fuzz.py, run in a child process of its own (a library that aborts
would end it, not the test run).

    python tests/fuzz_child.py EXAMPLES SEED WORKDIR

Hypothesis draws a file of tests/data (a few-KB cut of every event format, networks and NIR
graphs, with and without checksums), bytes to overwrite and a length to cut it to; the file
is written to WORKDIR (where it stays if the process dies) and read as eventsim reads it.
Every outcome must be a result or an eventsim error (or an OSError) naming the file, and the
memory Python traces (numpy arrays included) must peak under ``PEAK_BOUND`` bytes; the
address space is limited to what the process had plus ``NATIVE_BOUND``, so a native library
allocating what a damaged header claims fails here too. Exit 0 when every example passes.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tracemalloc
import warnings
from pathlib import Path

import h5py
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import EventsimError
from eventsim.h5io import DIGEST_ATTR

DATA = Path(__file__).resolve().parent / "data"
#: Peak of the memory Python traces while one fuzzed file (at most 250 KB) is read.
PEAK_BOUND = 64 << 20
#: Address space allowed beyond what the process holds when the fuzz starts.
NATIVE_BOUND = 1 << 30
EVENT_FILES = sorted(p.name for p in DATA.glob("*_cut.*"))
NETWORK_FILES = ["tiny_net.h5", "tiny_net.nir", "snntorch_mlp.nir", "sinabs_mlp.nir"]


def _sources(workdir: Path) -> list[Path]:
    """The seed files: tests/data's, and copies of the checksummed ones without a checksum
    (files older eventsims and other tools write), so that the fuzz reaches the parsers."""
    out = [DATA / name for name in EVENT_FILES + NETWORK_FILES]
    for name, group in (("tiny_net.h5", "/"), ("events_cut.h5", "/events")):
        plain = workdir / f"unchecked_{name}"
        shutil.copy(DATA / name, plain)
        with h5py.File(plain, "r+") as f:
            if DIGEST_ATTR in f.attrs:
                del f.attrs[DIGEST_ATTR]
            if group == "/events":  # rewrite the datasets without Fletcher-32
                for field in ("x", "y", "t", "p"):
                    data = f["events"][field][()]
                    del f["events"][field]
                    f["events"].create_dataset(field, data=data)
        out.append(plain)
    return out


def _read(path: Path, kind: str) -> None:
    if kind == "network":
        eventsim.load_network(path)
    elif kind == "nir":
        eventsim.from_nir(path, dt_us=1000)
    else:
        eventsim.read_events(path)
        for _ in eventsim.iter_events(path, 97):
            pass


def main(examples: int, fuzz_seed: int, workdir: Path) -> None:
    warnings.simplefilter("ignore")
    sources = _sources(workdir)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        held = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (held + NATIVE_BOUND, hard))
    tracemalloc.start()

    @seed(fuzz_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(src=st.sampled_from(sources),
           edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                          min_size=0, max_size=16),
           cut=st.one_of(st.none(), st.floats(0, 1)))
    def fuzz(src: Path, edits, cut) -> None:
        data = bytearray(src.read_bytes())
        for where, value in edits:
            data[int(where * len(data))] = value
        if cut is not None:
            data = data[:int(cut * len(data))]
        if not edits and cut is None:
            data[len(data) // 2] ^= 0xFF
        name = src.name.removeprefix("unchecked_")
        path = workdir / f"fuzzed_{name}"
        path.write_bytes(bytes(data))
        kind = ("nir" if src.suffix == ".nir" else "network" if "net" in src.name
                else "events")
        tracemalloc.reset_peak()
        try:
            _read(path, kind)
        except EventsimError as err:
            assert str(path) in str(err), f"{type(err).__name__} does not name the file: {err}"
        except OSError as err:
            assert err.filename == str(path) or str(path) in str(err), repr(err)
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < PEAK_BOUND, f"{src.name}: reading it took {peak} bytes at the peak"

    fuzz()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
