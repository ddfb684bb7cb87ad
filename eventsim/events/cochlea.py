"""1-D spike records (``.bs1``) of a silicon cochlea: N-TIDIGITS as slayer stores it.

Each event is 5 bytes, bit 39 the most significant: bits 39..24 the channel (uint16,
big-endian), bit 23 the polarity, bits 22..0 the timestamp in microseconds. A channel becomes
``x`` with ``y = 0``; the sensor is ``(channels, 1, 2)``, by default ``(64, 1, 2)``, the 64
channels of the N-TIDIGITS cochlea (tonic's ``NTIDIGITS18`` has ``(64, 1, 1)``, but this
format carries a polarity bit, so two polarities keep it on the sensor).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eventsim.events.stream import RECORD_READ_BYTES, check_whole_records, events_from_columns
from eventsim.limits import check_memory

SensorSize = tuple[int, int, int]
#: Bytes per record.
RECORD_BYTES = 5
#: Channels of the N-TIDIGITS cochlea (the default sensor width).
COCHLEA_CHANNELS = 64


def decode(buffer: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode whole ``.bs1`` records (layout in the module docstring).

    Parameters
    ----------
    buffer : bytes, length a multiple of 5
        Records one after another.
    source : str
        Where ``buffer`` comes from, for error messages.

    Returns
    -------
    events : ndarray, shape (n_events,), ``EVENT_DTYPE``
        In record order; ``x`` the channel, ``y = 0``, ``t`` in microseconds.

    Raises
    ------
    FormatError
        ``len(buffer)`` is not a multiple of 5 (the byte offset counts from the buffer's start).
    """
    check_whole_records(len(buffer), RECORD_BYTES, source, ".bs1")
    rec = np.frombuffer(buffer, np.uint8).reshape(-1, RECORD_BYTES).astype(np.int64)
    channel = rec[:, 0] << 8 | rec[:, 1]
    t = (rec[:, 2] & 0x7F) << 16 | rec[:, 3] << 8 | rec[:, 4]
    return events_from_columns({"x": channel, "y": np.zeros_like(channel), "t": t,
                                "p": rec[:, 2] >> 7}, source)


def probe(path: Path) -> None:
    """Check that a ``.bs1`` file is whole records (no data is read).

    Parameters
    ----------
    path : Path

    Returns
    -------
    None
        The format stores no sensor size; :func:`infer` gives it from the events.

    Raises
    ------
    FormatError
        The file is cut mid-record, naming the byte offset of the partial record.
    """
    check_whole_records(path.stat().st_size, RECORD_BYTES, str(path), ".bs1")


def blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """Events of a ``.bs1`` file in file order, read ``chunk_events`` records at a time.

    Parameters
    ----------
    path : Path
        A file :func:`probe` accepted.
    chunk_events : int or None
        Records per block (bounded memory); None reads the whole file as one block.

    Yields
    ------
    events : ndarray, shape (n,), ``EVENT_DTYPE``
        ``n = chunk_events`` but for the last block; ``t`` in microseconds.
    """
    if chunk_events is None:
        size = path.stat().st_size
        check_memory(size // RECORD_BYTES * RECORD_READ_BYTES,
                     f"{path}: reading the 1-D spike records file whole ({size} bytes; "
                     "iter_events, or eventsim run --chunk-events, streams it)")
    start = 0
    with open(path, "rb") as f:
        while buffer := f.read(RECORD_BYTES * chunk_events if chunk_events else -1):
            where = str(path) if start == 0 else f"{path} (chunk from record {start})"
            yield decode(buffer, where)
            start += len(buffer) // RECORD_BYTES


def infer(extent: SensorSize) -> SensorSize:
    """``(64, 1, 2)`` when every channel is below 64, else ``(max channel + 1, 1, 2)``."""
    return (max(extent[0], COCHLEA_CHANNELS), 1, 2)
