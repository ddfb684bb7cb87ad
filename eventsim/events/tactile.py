"""ST-MNIST recordings (``.mat``) of a 10 x 10 neuromorphic tactile sensor, through scipy.

The MATLAB file holds ``spiketrain``, shape ``(101, n_events)``: rows 0..99 are the taxels
(+1 ON, -1 OFF, 0 none; one nonzero per column), row 100 the time in seconds. Taxel ``a`` is
at ``x = a % 10``, ``y = a // 10`` (as in tonic, after the ST-MNIST paper, See et al. 2020).
Times have sub-microsecond steps (16 ns in the shared sample); they are truncated to integer
microseconds as tonic does, so events of one microsecond share ``t``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eventsim.errors import FormatError, quoted
from eventsim.events.stream import events_from_columns

SensorSize = tuple[int, int, int]
#: Taxels per side of the ST-MNIST sensor.
SIDE = 10
SENSOR_SIZE: SensorSize = (SIDE, SIDE, 2)
VARIABLE = "spiketrain"
#: Largest time read: microseconds as int64 hold 9.2e12 s; no recording is near it.
MAX_SECONDS = 1e12


def _matlab_error(path: Path, err: Exception) -> FormatError:
    return FormatError(f"{path}: not a readable MATLAB file ({type(err).__name__}: "
                       f"{quoted(err)})")


def probe(path: Path) -> SensorSize:
    """Check the file's variable list (its data is not read here) and give the sensor size."""
    from scipy.io import whosmat

    with open(path, "rb") as f:
        if f.read(10) == b"MATLAB 7.3":
            raise FormatError(f"{path}: a MATLAB v7.3 (HDF5) file, which is not read; save it "
                              "with MATLAB's -v7 option")
    try:
        with warnings.catch_warnings():  # a file that is not MATLAB's warns before it fails
            warnings.simplefilter("ignore", UserWarning)
            variables = {name: shape for name, shape, _ in whosmat(str(path))}
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, ... for bad files
        raise _matlab_error(path, err) from err
    if VARIABLE not in variables:
        raise FormatError(f"{path}: no variable {VARIABLE!r}; expected an ST-MNIST recording")
    shape, rows = variables[VARIABLE], SIDE * SIDE + 1
    if len(shape) != 2 or shape[0] != rows:
        raise FormatError(f"{path}: field {VARIABLE!r} has shape {shape}; expected ({rows}, "
                          "n_events)")
    return SENSOR_SIZE


def _load(path: Path) -> np.ndarray:
    """The ``spiketrain`` array of a file :func:`probe` accepted."""
    from scipy.io import loadmat

    try:
        spikes = loadmat(str(path), variable_names=[VARIABLE])[VARIABLE]
    except Exception as err:
        raise _matlab_error(path, err) from err
    if hasattr(spikes, "toarray"):  # saved as a MATLAB sparse matrix
        spikes = spikes.toarray()
    if spikes.dtype.kind not in "iuf":
        raise FormatError(f"{path}: field {VARIABLE!r} has dtype {spikes.dtype}; expected "
                          "numbers")
    return spikes


def decode(spikes: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Events of a ``(101, n)`` ST-MNIST ``spiketrain`` array, ``EVENT_DTYPE``, column order."""
    # float64 before scaling: under numpy 2, float32 seconds * 1e6 is rounded to float32
    # (24-bit mantissa), so at a few seconds the truncated microseconds can be 1 us off.
    taxels, seconds = spikes[:-1], spikes[-1].astype(np.float64)
    bad = np.flatnonzero(~np.isin(taxels, (-1, 0, 1)).all(axis=0))
    if len(bad):
        raise FormatError(f"{source}: field {VARIABLE!r} column {bad[0]} has taxel values "
                          f"{np.unique(taxels[:, bad[0]])}; expected -1, 0 or +1")
    bad = np.flatnonzero(~(np.isfinite(seconds) & (seconds >= 0) & (seconds < MAX_SECONDS)))
    if len(bad):
        raise FormatError(f"{source}: field {VARIABLE!r} row {SIDE * SIDE} (time) column "
                          f"{bad[0]} is {seconds[bad[0]]}; expected seconds in [0, "
                          f"{MAX_SECONDS:.0e})")
    column, taxel = np.nonzero(taxels.T)
    return events_from_columns({
        "x": taxel % SIDE, "y": taxel // SIDE,
        "t": np.floor(seconds[column] * 1e6).astype(np.int64),
        "p": taxels[taxel, column] > 0}, source)


def blocks(path: Path, chunk_events: int | None) -> Iterator[np.ndarray]:
    """Events of an ST-MNIST file in column order, ``chunk_events`` at a time.

    The whole ``spiketrain`` is loaded and decoded first (recordings are small, a few thousand
    events); only the blocks handed out are sliced from it.

    Parameters
    ----------
    path : Path
        A file :func:`probe` accepted.
    chunk_events : int or None
        Events per block; None gives all events as one block.

    Yields
    ------
    events : ndarray, shape (n,), ``EVENT_DTYPE``
        ``n = chunk_events`` but for the last block; ``t`` in microseconds (truncated).
    """
    events = decode(_load(path), str(path))
    step = chunk_events or max(len(events), 1)
    for start in range(0, len(events), step):
        yield events[start:start + step]
