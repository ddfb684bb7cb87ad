"""eventsim's own HDF5 event file: write atomically, append in chunks, read in slices.

Layout (format ``"eventsim-events"``, version 1)::

    /events            group, attributes: format = "eventsim-events", version = 1,
                                          sensor_size = [W, H, P] (int64)
    /events/x          int16, shape (n_events,), pixel column
    /events/y          int16, shape (n_events,), pixel row
    /events/t          int64, shape (n_events,), microseconds, non-decreasing
    /events/p          bool (uint8 0/1 is accepted on reading), shape (n_events,), polarity

The datasets are chunked and resizable, so a recording of 1e8 events can be written chunk by
chunk (:class:`EventWriter`) and read back in slices, both with bounded memory. Every chunk
carries HDF5's Fletcher-32 checksum, which HDF5 verifies on every read: a damaged chunk is an
error naming the file and the events, never different events (files without checksums, from
other tools or eventsim before 0.2, read with a warning). Before reading, every chunk the
datasets' length claims must be in the file (a file of a few KB cannot claim 1e11 events),
and a whole read must fit the memory budget (:mod:`eventsim.limits`). Files are written to a
temporary file beside the target (through a Python file object, so that a full disk is an
error, not a crash) and renamed when complete: the target never holds a half-written
recording. ``h5py`` is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from eventsim.errors import EventError, EventsimWarning, FormatError, OutputError, quoted
from eventsim.events.stream import (
    EVENT_DTYPE,
    EventStream,
    _check_sensor_size,
    as_event_array,
    check_events,
    events_from_columns,
    sort_by_time,
)
from eventsim.fileio import commit, deferred_signals, discard, new_temp
from eventsim.h5io import GuardedFile, check_stored
from eventsim.limits import check_memory

FORMAT = "eventsim-events"
VERSION = 1
#: Default events per HDF5 chunk (about 0.7 MB of x, y, t, p).
CHUNK_EVENTS = 65536


class EventWriter:
    """Write events to an eventsim HDF5 file chunk by chunk, with bounded memory.

    Events go to a temporary file in the folder of ``path``; :meth:`close` (or leaving the
    ``with`` block normally) renames it to ``path``. On an exception inside the ``with``
    block, or on :meth:`abort`, the temporary file is deleted and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file to create (replaced if it exists).
    sensor_size : tuple of int
        ``(W, H, P)``; every event written must lie on this sensor.
    chunk_events : int
        Events per HDF5 chunk.
    compression : str, optional
        HDF5 filter for the datasets (``"gzip"``, ``"lzf"``); default none (fastest).

    Examples
    --------
    >>> with EventWriter("big.h5", (128, 128, 2)) as writer:  # doctest: +SKIP
    ...     for chunk in produce_chunks():
    ...         writer.write(chunk)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sensor_size: tuple[int, int, int],
        chunk_events: int = CHUNK_EVENTS,
        compression: str | None = None,
    ) -> None:
        import h5py

        self.path = Path(path)
        self.sensor_size = _check_sensor_size(sensor_size, str(self.path))
        if self.path.is_dir():
            raise FormatError(f"{self.path}: is a folder, expected a file to write events to")
        self.n_events = 0
        self._last_t: int | None = None
        self._file = None
        self._closed = False
        self._tmp = new_temp(self.path, "event file")
        self._raw = self._fh = None
        try:
            self._raw = open(self._tmp, "r+b", buffering=0)  # noqa: SIM115 - closed by close()
            self._fh = GuardedFile(self._raw)  # a full disk: an error, not a crash in HDF5
            with deferred_signals():
                self._file = h5py.File(self._fh, "w")
                group = self._file.create_group("events")
                group.attrs["format"] = FORMAT
                group.attrs["version"] = VERSION
                group.attrs["sensor_size"] = np.array(self.sensor_size, np.int64)
                for name in EVENT_DTYPE.names:
                    group.create_dataset(
                        name, shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE[name],
                        chunks=(max(int(chunk_events), 1),), compression=compression,
                        fletcher32=True,
                    )
        except BaseException as err:
            self._fail(err)
            raise

    def write(self, events: EventStream | np.ndarray) -> None:
        """Append events, shape (n,), in time order after those already written.

        Raises
        ------
        EventError
            An event off the sensor, or earlier than the one before it (the writer cannot
            sort: sort first with :func:`~eventsim.events.stream.sort_by_time`). Record
            numbers count from the start of ``events``.
        """
        source = str(self.path)
        if self._file is None:
            raise FormatError(f"{source}: the writer is closed")
        if isinstance(events, EventStream):
            events = events.events
        events = as_event_array(events, source)
        if len(events) == 0:
            return
        check_events(events, self.sensor_size, source)
        t = events["t"]
        before = np.empty_like(t)
        before[0] = t[0] if self._last_t is None else self._last_t
        before[1:] = t[:-1]
        bad = np.flatnonzero(t < before)
        if len(bad):
            i = int(bad[0])
            raise EventError(
                f"{source}: record {i} of this chunk has t={t[i]} us, earlier than the event "
                f"before it (t={before[i]} us); events must be written in time order"
            )
        group = self._file["events"]
        stop = self.n_events + len(events)
        try:
            with deferred_signals():  # Ctrl-C lands after HDF5's write, not inside it
                for name in EVENT_DTYPE.names:
                    group[name].resize((stop,))
                    group[name][self.n_events:stop] = events[name]
            self._fh.check()
        except BaseException as err:  # a full disk, Ctrl-C: nothing is left behind
            self._fail(err)
            raise
        self.n_events = stop
        self._last_t = int(t[-1])

    def close(self) -> Path:
        """Finish the file and rename it to ``path``; return ``path``.

        Raises
        ------
        OutputError
            Writing failed (a full disk, ...), now or in an earlier :meth:`write` (or the
            writer was aborted): nothing is left at ``path`` but what was there.
        """
        if self._file is None and not self._closed:
            raise OutputError(f"{self.path}: the event file was not written: an earlier write "
                              "failed or the writer was aborted")
        if self._file is not None:
            try:
                with deferred_signals():
                    self._file.close()
                self._file = None
                self._fh.check()
                self._raw.close()
                commit(self._tmp, self.path)
                self._closed = True
            except BaseException as err:
                self._fail(err)
                raise
        return self.path

    def abort(self) -> None:
        """Drop everything written; ``path`` is left as it was."""
        self._fail(None)

    def _fail(self, err: BaseException | None) -> None:
        """Close quietly, remove the temporary file; raise what caused ``err`` (an interrupt
        or a failed write that HDF5 met, see :class:`GuardedFile`), an I/O failure as an
        OutputError naming ``path``; return if ``err`` is its own cause."""
        with deferred_signals():
            for handle in (self._file, self._raw):
                try:
                    if handle is not None:
                        handle.close()
                except Exception:  # noqa: BLE001, S110 - the first failure is the one to report
                    pass
        self._file = None
        fh = self._fh
        root = (fh.stop or fh.error) if fh is not None and err is not None else None
        discard(self._tmp, self.path, "event file", root or err)
        if root is not None and root is not err:
            raise root from err

    def __enter__(self) -> EventWriter:  # noqa: PYI034 (typing.Self needs 3.11)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_events(
    stream_or_events: EventStream | np.ndarray,
    path: str | os.PathLike,
    sensor_size: tuple[int, int, int] | None = None,
    chunk_events: int = CHUNK_EVENTS,
    compression: str | None = None,
) -> Path:
    """Write events to an eventsim HDF5 file, atomically (temporary file, then rename).

    Parameters
    ----------
    stream_or_events : EventStream or ndarray, shape (n_events,)
        Events (a structured array with fields x, y, t, p). Events out of time order are
        sorted, with a warning.
    path : str or Path
        The ``.h5`` file to create (replaced if it exists).
    sensor_size : tuple of int, optional
        ``(W, H, P)``. Default: the stream's; required for a plain array.
    chunk_events, compression
        As for :class:`EventWriter`.

    Returns
    -------
    Path
        ``path``.
    """
    source = str(path)
    if isinstance(stream_or_events, EventStream):
        events = stream_or_events.events
        sensor_size = stream_or_events.sensor_size if sensor_size is None else sensor_size
    else:
        events = as_event_array(stream_or_events, source)
        if sensor_size is None:
            raise EventError(
                f"{source}: field 'sensor_size' is needed to write a plain event array"
            )
    events = sort_by_time(events, source)
    with EventWriter(path, sensor_size, min(chunk_events, max(len(events), 1)), compression) as w:
        w.write(events)
    return Path(path)


#: Bytes per event of a whole read (the columns as read, then the event array).
_READ_BYTES_PER_EVENT = 2 * EVENT_DTYPE.itemsize


def _open(path: Path):
    """Open an HDF5 file for reading; :class:`FormatError` if it is not one."""
    import h5py

    if not h5py.is_hdf5(path):
        raise FormatError(f"{path}: not an HDF5 file (expected eventsim's HDF5 event layout)")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise FormatError(f"{path}: damaged HDF5 file ({quoted(err)})") from None


def _datasets(file, source: str) -> tuple[dict, int]:
    """The datasets x, y, t, p of ``/events`` and their common length, checked."""
    import h5py

    group = file.get("events")
    if not isinstance(group, h5py.Group):
        raise FormatError(
            f"{source}: missing group '/events' (expected datasets /events/x, y, t, p)"
        )
    fmt = group.attrs.get("format", FORMAT)
    fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
    if fmt != FORMAT:
        raise FormatError(f"{source}: attribute '/events' format is {fmt!r}; expected {FORMAT!r}")
    version = int(group.attrs.get("version", VERSION))
    if version > VERSION:
        raise FormatError(
            f"{source}: attribute '/events' version is {version}; this eventsim reads up to "
            f"{VERSION} (written by a newer eventsim?)"
        )
    columns = {}
    for name in EVENT_DTYPE.names:
        ds = group.get(name)
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
            raise FormatError(f"{source}: missing field '/events/{name}' (expected a 1-D dataset)")
        check_stored(ds, source)  # every chunk its length claims is in the file
        columns[name] = ds
    lengths = {name: len(ds) for name, ds in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"/events/{k} has {v}" for k, v in lengths.items())
        raise FormatError(
            f"{source}: fields differ in length ({listed} events); expected one length"
        )
    return columns, lengths["x"]


def h5_sensor_size(path: Path) -> tuple[int, int, int] | None:
    """Check the layout of an eventsim HDF5 file; its stored ``sensor_size`` (None if absent)."""
    with _open(path) as file:
        columns, _ = _datasets(file, str(path))
        if not all(ds.fletcher32 for ds in columns.values()):
            warnings.warn(f"{path}: the event file has no checksums (written by another tool or "
                          "an eventsim older than 0.2): its content cannot be verified",
                          EventsimWarning, stacklevel=4)
        size = file["events"].attrs.get("sensor_size")
        return None if size is None else _check_sensor_size(np.asarray(size).tolist(), str(path))


def h5_blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """Events of an eventsim HDF5 file in file order, ``chunk_events`` at a time (None: all)."""
    source = str(path)
    with _open(path) as file:
        columns, n = _datasets(file, source)
        if chunk_events is None:
            check_memory(n * _READ_BYTES_PER_EVENT, f"{source}: reading its {n} events whole "
                         "(iter_events, or eventsim run --chunk-events, streams them)")
        step = chunk_events or max(n, 1)
        for start in range(0, n, step):
            try:
                block = {name: ds[start:start + step] for name, ds in columns.items()}
            except OSError as err:  # a Fletcher-32 mismatch too
                raise FormatError(
                    f"{source}: damaged HDF5 data at events {start}.. ({quoted(err)})"
                ) from None
            yield events_from_columns(block, source)
