"""Reading event files into :class:`~eventsim.events.stream.EventStream`, whole or in chunks.

Formats, chosen by extension and checked against the content:

===============  ==============================================================================
``.bin .bs2``    Orchard's ATIS 5-byte records (N-MNIST, N-Caltech101, slayer's DVS Gesture)
``.aedat``       AEDAT 2.0 (jAER: DVS128, DAVIS240, DAVIS346) and 3.1 (cAER; the original DVS
                 Gesture release), decoded here (:mod:`.aedat`)
``.aedat4``      AEDAT 4.0 (iniVation cameras), through the ``aedat`` package (:mod:`.aedat4`)
``.raw``         Prophesee EVT 2.0 / EVT 3.0, through ``expelliarmus`` (:mod:`.prophesee`)
``.dat``         Prophesee DAT event records (N-CARS), through ``expelliarmus``
``.bs1``         1-D spike records of a silicon cochlea (N-TIDIGITS, :mod:`.cochlea`)
``.mat``         ST-MNIST tactile recordings, MATLAB ``spiketrain`` (:mod:`.tactile`)
``.npy``         a structured array with fields x, y, t, p (loaded without pickle)
``.h5 .hdf5``    eventsim's HDF5 layout (:mod:`eventsim.events.hdf5`)
===============  ==============================================================================

Sensor size: a ``sensor_size`` given by the caller wins, and every event is checked against it.
Otherwise it is the one stored in the file (AEDAT4 stream width/height, the camera an AEDAT 2.0
or 3.1 header names, the HDF5 attribute), or
else inferred from the largest coordinates (:func:`infer_atis_sensor_size` for ATIS files, the
smallest sensor holding every event, with two polarities, for the others).

Errors name the file: :class:`FileNotFoundError` for a missing path (an ``OSError`` with
``errno.ELOOP`` for a symbolic-link loop), :class:`FormatError` for a folder, an unknown
extension, an empty or foreign or truncated file, and for whatever a codec raises on a damaged
file (the ``aedat`` library's Rust panics included, which Python sees as a ``BaseException``),
:class:`EventError` for events off the sensor, :class:`~eventsim.errors.ResourceError` when a
whole read would exceed the memory budget (:mod:`eventsim.limits`; :func:`iter_events`
streams). Timestamps going backwards are sorted, with a warning.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventsim.errors import (
    EventError,
    EventsimError,
    FormatError,
    ResourceError,
    quoted,
    whole,
)
from eventsim.events import aedat, aedat4, cochlea, prophesee, tactile
from eventsim.events.hdf5 import h5_blocks, h5_sensor_size
from eventsim.events.stream import (
    EVENT_DTYPE,
    RECORD_READ_BYTES,
    EventStream,
    _check_sensor_size,
    check_events,
    check_whole_records,
    events_from_columns,
    infer_sensor_size,
    sort_by_time,
)
from eventsim.fileio import input_path
from eventsim.limits import check_memory

SensorSize = tuple[int, int, int]

#: Bytes per ATIS record.
ATIS_RECORD_BYTES = 5
#: ``y`` value marking an ATIS timestamp-overflow record (not an event).
ATIS_OVERFLOW_Y = 240
#: Microseconds added to every later timestamp at each overflow record. This is the value of
#: Orchard's ``eventvision.py`` and of ``tonic.io.read_mnist_file``, kept so the arrays match.
ATIS_OVERFLOW_US = 2**13
#: Rows of the ATIS sensor array (304 x 240): ``y`` >= 240 cannot come from the sensor.
ATIS_HEIGHT = 240


def decode_atis(buffer: bytes, overflows_before: int = 0) -> tuple[np.ndarray, int]:
    """Decode ATIS 5-byte records (bit 39 is the most significant bit of a record).

    byte 0: x; byte 1: y; byte 2: bit 7 polarity, bits 6..0 timestamp bits 22..16;
    bytes 3-4: timestamp bits 15..0 (microseconds). A record with ``y == 240`` is a
    timestamp overflow, as in ``tonic.io.read_mnist_file``: it is dropped and adds
    ``ATIS_OVERFLOW_US`` to its own and every later timestamp.

    Parameters
    ----------
    buffer : bytes, length a multiple of 5
    overflows_before : int
        Overflow records seen earlier in the file (for chunked reading).

    Returns
    -------
    events : ndarray, shape (n_events,), ``EVENT_DTYPE``
    overflows : int
        Overflow records seen up to the end of ``buffer``.
    """
    from eventsim.events.decode_kernel import decode_atis_records

    rec = np.frombuffer(buffer, np.uint8).reshape(-1, ATIS_RECORD_BYTES)
    events = np.empty(len(rec), EVENT_DTYPE)
    n, overflows = decode_atis_records(rec, overflows_before, ATIS_OVERFLOW_Y,
                                       ATIS_OVERFLOW_US, events)
    return (events if n == len(rec) else events[:n].copy()), int(overflows)


def infer_atis_sensor_size(extent: SensorSize) -> SensorSize:
    """Sensor of an ATIS file from its extent ``(max x + 1, max y + 1, P)``.

    ``(34, 34, 2)`` (N-MNIST) if every x and y is below 34, else ``(128, 128, 2)`` (DVS128)
    if below 128, else the extent with two polarities, its height capped at the ATIS array's
    240 rows so that a larger y (random bytes, a foreign file) is reported as off the sensor.
    """
    w, h, _ = extent
    for side in (34, 128):
        if w <= side and h <= side:
            return (side, side, 2)
    return (w, min(h, ATIS_HEIGHT), 2)


def _atis_probe(path: Path) -> None:
    check_whole_records(path.stat().st_size, ATIS_RECORD_BYTES, str(path), "ATIS")


def _atis_blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    if chunk_events is None:
        size = path.stat().st_size
        check_memory(size // ATIS_RECORD_BYTES * RECORD_READ_BYTES,
                     f"{path}: reading the ATIS 5-byte records file whole ({size} bytes; "
                     "iter_events, or eventsim run --chunk-events, streams it)")
    overflows = 0
    with open(path, "rb") as f:
        while buffer := f.read(ATIS_RECORD_BYTES * chunk_events if chunk_events else -1):
            events, overflows = decode_atis(buffer, overflows)
            yield events


def _npy_open(path: Path) -> np.ndarray:
    """Memory-map a .npy file (no pickle) and check it holds a 1-D structured event array."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":  # else numpy takes it for a pickle and says so
            raise FormatError(f"{path}: not a .npy file (it does not start with NumPy's magic "
                              "bytes)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
        raise FormatError(f"{path}: not a valid .npy file ({_npy_cut(path) or err})") from None
    except Exception as err:  # noqa: BLE001 - numpy's header parser raises TokenError, ...
        raise FormatError(f"{path}: not a valid .npy file: its header does not parse "
                          f"({type(err).__name__}: {quoted(err)})") from None
    names = array.dtype.names
    if names is None or array.ndim != 1:
        raise FormatError(
            f"{path}: expected a 1-D structured array with fields x, y, t, p; "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
    missing = [f for f in EVENT_DTYPE.names if f not in names]
    if missing:
        raise FormatError(
            f"{path}: missing field {', '.join(map(repr, missing))} "
            f"(expected fields x, y, t, p; got {', '.join(names)})"
        )
    return array


def _npy_cut(path: Path) -> str | None:
    """How a .npy file whose header promises more data than it holds is cut, else None."""
    from numpy.lib import format as npy

    try:
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            read_header = {(1, 0): npy.read_array_header_1_0,
                           (2, 0): npy.read_array_header_2_0}.get(version)
            if read_header is None:
                return None
            shape, _, dtype = read_header(f)
            start = f.tell()
    except Exception:  # noqa: BLE001 - a header that does not parse is not a cut file
        return None
    need = start + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size >= need:
        return None
    whole = (size - start) // dtype.itemsize if dtype.itemsize else 0
    return (f"file cut mid-record at byte offset {start + whole * dtype.itemsize}: the header "
            f"promises {need} bytes, the file has {size}")


def _npy_probe(path: Path) -> None:
    _npy_open(path)


def _npy_blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    array = _npy_open(path)
    if chunk_events is None:
        check_memory(len(array) * 2 * EVENT_DTYPE.itemsize, f"{path}: reading its "
                     f"{len(array)} events whole (iter_events, or eventsim run --chunk-events, "
                     "streams them)")
    step = chunk_events or max(len(array), 1)
    for start in range(0, len(array), step):
        block = array[start:start + step]
        yield events_from_columns({f: block[f] for f in EVENT_DTYPE.names}, str(path))


@dataclass(frozen=True)
class _Format:
    name: str
    magic: bytes | None  # the file's first bytes, when the format has a signature
    probe: Callable[[Path], SensorSize | None]  # check the layout; the stored sensor size
    blocks: Callable[[Path, int | None], Iterator[np.ndarray]]  # events in file order
    infer: Callable[[SensorSize], SensorSize] = lambda extent: extent


# A whole read (``blocks(path, None)``) checks its memory against the budget in each codec,
# which knows how many events a file can hold (records, a header's count); AEDAT 4 and .mat
# files are read packet by packet or are small.
_ATIS = _Format("ATIS 5-byte records", None, _atis_probe, _atis_blocks, infer_atis_sensor_size)
_HDF5 = _Format("HDF5", b"\x89HDF\r\n\x1a\n", h5_sensor_size, h5_blocks)
_FORMATS = {
    ".bin": _ATIS,
    ".bs2": _ATIS,
    # no magic for .aedat: "#!AER-DAT" also starts AEDAT 4 files (its probe names versions)
    ".aedat": _Format("AEDAT 2.0/3.1", None, aedat.probe, aedat.blocks),
    ".aedat4": _Format("AEDAT 4", b"#!AER-DAT4", aedat4.probe, aedat4.blocks),
    ".npy": _Format("NumPy .npy", b"\x93NUMPY", _npy_probe, _npy_blocks),
    ".raw": _Format("Prophesee EVT", None, prophesee.probe, prophesee.blocks),
    ".dat": _Format("Prophesee DAT", None, prophesee.probe, prophesee.blocks),
    ".bs1": _Format("1-D spike records", None, cochlea.probe, cochlea.blocks, cochlea.infer),
    ".mat": _Format("ST-MNIST MATLAB", None, tactile.probe, tactile.blocks),
    ".h5": _HDF5,
    ".hdf5": _HDF5,
}
#: File extensions :func:`read_events` and :func:`iter_events` understand.
SUPPORTED_EXTENSIONS = tuple(_FORMATS)


def _locate(path: str | os.PathLike) -> tuple[Path, _Format, SensorSize | None]:
    """Check ``path`` is a file of a known format and its layout; the path, format, stored size."""
    supported = ", ".join(SUPPORTED_EXTENSIONS)
    path = input_path(path, "event file", "read_events", folder_ok=True)
    if path.is_dir():
        raise FormatError(f"{path}: is a folder, expected a file ({supported})")
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FormatError(f"{path}: unknown extension {path.suffix!r}; supported: {supported}")
    if path.stat().st_size == 0:
        raise FormatError(f"{path}: file is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(16)
    for other in set(_FORMATS.values()) - {fmt}:
        if other.magic and head.startswith(other.magic):
            raise FormatError(
                f"{path}: content is a {other.name} file, but the extension "
                f"{path.suffix!r} stands for {fmt.name}"
            )
    return path, fmt, _guarded(path, fmt, fmt.probe, path)


#: Exceptions that pass through a codec call unchanged.
_PASS = (EventsimError, KeyboardInterrupt, SystemExit, GeneratorExit)
#: OS errors that are about the file's access, not its content: they pass as themselves.
_ACCESS_ERRNOS = (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ELOOP)


def _codec_error(path: Path, fmt: _Format, err: BaseException) -> Exception:
    """What a codec's failure on ``path`` becomes (see :func:`_guarded`)."""
    if isinstance(err, MemoryError):
        return ResourceError(f"{path}: out of memory reading the {fmt.name} file "
                             f"({path.stat().st_size} bytes); iter_events (eventsim run "
                             "--chunk-events) streams it")
    text = quoted(str(err).strip())
    return FormatError(f"{path}: damaged {fmt.name} file ({type(err).__name__}"
                       f"{': ' + text if text else ''})")


def _guarded(path: Path, fmt: _Format, fn: Callable, *args):
    """``fn(*args)`` with any failure of the codec (numpy's header parser, h5py, scipy,
    expelliarmus, a Rust panic from ``aedat``: a ``BaseException``) as an eventsim error
    naming ``path``; eventsim's errors, interrupts and access errors pass unchanged."""
    try:
        return fn(*args)
    except _PASS:
        raise
    except OSError as err:
        if err.errno in _ACCESS_ERRNOS:
            raise
        raise _codec_error(path, fmt, err) from err
    except BaseException as err:
        raise _codec_error(path, fmt, err) from err


def _guarded_blocks(path: Path, fmt: _Format, chunk_events: int | None) -> Iterator[np.ndarray]:
    """``fmt.blocks(path, chunk_events)``, each step of it :func:`_guarded`."""
    blocks = _guarded(path, fmt, fmt.blocks, path, chunk_events)
    while True:
        block = _guarded(path, fmt, next, blocks, None)
        if block is None:
            return
        yield block


def _sensor_size(
    path: Path,
    fmt: _Format,
    sensor_size: SensorSize | None,
    stored: SensorSize | None,
    blocks: Callable[[], Iterable[np.ndarray]],
) -> SensorSize:
    """Given size, else the file's, else inferred from ``blocks()`` (read only if needed)."""
    if sensor_size is not None:
        return _check_sensor_size(sensor_size, str(path))
    if stored is not None:
        return stored
    extents = [infer_sensor_size(b) for b in blocks() if len(b)]
    if not extents:
        raise EventError(
            f"{path}: no events, so the sensor size cannot be inferred; give sensor_size"
        )
    return fmt.infer(tuple(max(sides) for sides in zip(*extents)))


def _concat(blocks: Iterable[np.ndarray]) -> np.ndarray:
    blocks = list(blocks)
    if len(blocks) == 1:
        return blocks[0]
    return np.concatenate(blocks) if blocks else np.empty(0, EVENT_DTYPE)


def read_events(path: str | os.PathLike, sensor_size: SensorSize | None = None) -> EventStream:
    """Read a whole event file.

    Parameters
    ----------
    path : str or Path
        A ``.bin``/``.bs2`` (ATIS), ``.aedat4``, ``.raw``/``.dat`` (Prophesee), ``.bs1``
        (cochlea), ``.mat`` (ST-MNIST), ``.npy`` or ``.h5``/``.hdf5`` file.
    sensor_size : tuple of int, optional
        ``(W, H, P)``. Default: stored in the file, else inferred (see the module docstring).

    Returns
    -------
    EventStream
        Events in time order (``t`` in microseconds as stored: re-zeroed per sample in
        N-MNIST and DVS Gesture, absolute Unix time in AEDAT4, as tonic reads them).

    Raises
    ------
    FileNotFoundError, FormatError, EventError
        Naming the file and the field, byte offset or record at fault.
    """
    path, fmt, stored = _locate(path)
    source = str(path)
    events = _concat(_guarded_blocks(path, fmt, None))
    size = _sensor_size(path, fmt, sensor_size, stored, lambda: [events])
    check_events(events, size, source)
    return EventStream(sort_by_time(events, source), size, source)


def iter_events(
    path: str | os.PathLike,
    chunk_events: int = 1_000_000,
    sensor_size: SensorSize | None = None,
) -> Iterator[EventStream]:
    """Read an event file in chunks of ``chunk_events`` events, with bounded memory.

    Every chunk has ``chunk_events`` events but the last; the chunks concatenate to
    :func:`read_events`' array. How each format is read:

    - streamed, ``chunk_events`` events at a time: ATIS ``.bin``/``.bs2`` and cochlea
      ``.bs1`` (that many 5-byte records per file read), NumPy ``.npy`` (memory-mapped,
      sliced), HDF5 ``.h5``/``.hdf5`` (dataset slices), Prophesee ``.raw``/``.dat``
      (expelliarmus' chunked reader);
    - streamed packet by packet: AEDAT4 ``.aedat4``, so memory is bounded by the larger of
      ``chunk_events`` and the largest packet the camera wrote;
    - loaded whole: ST-MNIST ``.mat`` (scipy reads the entire ``spiketrain``; the recordings
      are small, a few thousand events), then handed out in chunks.

    Without ``sensor_size`` and without one stored in the file (ATIS, NumPy and ``.bs1``
    always; HDF5 without a ``sensor_size`` attribute; Prophesee files whose header names no
    camera or geometry), a first pass over the file, read the same way, finds the largest
    coordinates. The file's layout (truncation, fields) is checked before the first chunk is
    yielded.

    Time order: a chunk whose events go backwards is sorted, with a warning; an event
    earlier than one in a previous chunk raises :class:`EventError` naming the record
    (streaming cannot sort across chunks: use :func:`read_events` or larger chunks).
    Errors on coordinates name the record by its number in the file and count the bad
    records of its chunk.

    Parameters
    ----------
    path : str or Path
    chunk_events : int
        Events per chunk (positive).
    sensor_size : tuple of int, optional
        ``(W, H, P)``; as for :func:`read_events`.

    Yields
    ------
    EventStream
        Consecutive chunks of the recording, each with the full recording's sensor size.
    """
    n = whole(chunk_events, "iter_events", "chunk_events")
    path, fmt, stored = _locate(path)
    # a chunk, and its copy while it is regrouped (no file holds more than 8 events a byte)
    check_memory(4 * EVENT_DTYPE.itemsize * min(int(n), 8 * path.stat().st_size),
                 f"iter_events: chunks of chunk_events={n} events of {path}")
    size = _sensor_size(path, fmt, sensor_size, stored,
                        lambda: _guarded_blocks(path, fmt, int(n)))
    return _checked_chunks(_rechunk(_guarded_blocks(path, fmt, int(n)), int(n)), size,
                           str(path))


def _rechunk(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Regroup arrays of any lengths into arrays of exactly ``n`` (the last may be shorter)."""
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        while len(block):
            take = min(n - count, len(block))
            pending.append(block[:take])
            block = block[take:]
            count += take
            if count == n:
                yield _concat(pending)
                pending, count = [], 0
    if count:
        yield _concat(pending)


def _checked_chunks(
    chunks: Iterable[np.ndarray], size: SensorSize, source: str
) -> Iterator[EventStream]:
    start, last_t = 0, None
    for chunk in chunks:
        check_events(chunk, size, source, first_record=start)
        t = chunk["t"]
        early = np.flatnonzero(t < last_t) if last_t is not None else ()
        if len(early):
            i = int(early[0])
            raise EventError(
                f"{source}: record {start + i} has t={t[i]} us, earlier than t={last_t} us in a "
                f"previous chunk; iter_events cannot sort across chunks (use read_events, or a "
                f"larger chunk_events)"
            )
        where = source if start == 0 else f"{source} (chunk from record {start})"
        chunk = sort_by_time(chunk, where)
        last_t = int(chunk["t"][-1])
        yield EventStream(chunk, size, source)
        start += len(chunk)
