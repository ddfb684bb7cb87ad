"""HDF5 file plumbing shared by eventsim's file formats (networks, checkpoints, events).

The bottom layer: it imports nothing of eventsim but :mod:`eventsim.errors`, and imports
h5py only inside the functions that need it. Each format keeps its own layout, names and
version checks; this module holds what they do alike:

- :func:`fail`: a :class:`FormatError` naming the file, the group and the field;
- :func:`str_attr`: a string attribute as str, however h5py returns it;
- :func:`num_attr`: a number (or integer) attribute, checked;
- :func:`check_format`: the root ``format`` attribute is the one expected;
- :func:`temp_path_beside` and :func:`atomic_path`: write to a temporary file beside the
  target, then fsync and rename onto it (on any error the temporary file is removed);
- :func:`open_for_reading`: the checks before reading (missing, a folder, not HDF5,
  damaged), then the open :class:`h5py.File`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from eventsim.errors import FormatError


def fail(file: str, where: str, field: str, problem: str) -> FormatError:
    """The error for a bad field: ``"{file}: {where}: field '{field}' {problem}"``."""
    return FormatError(f"{file}: {where}: field '{field}' {problem}")


def str_attr(value: Any) -> str | None:
    """A string attribute as str, whether h5py returns str, bytes or a 0-d array.

    None when it is not a string (or bytes that are not UTF-8).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value) if isinstance(value, str) else None


def num_attr(
    attrs, file: str, where: str, field: str, integer: bool = False, required: bool = True
) -> float | int | None:
    """A numeric attribute as float (int if ``integer``); None if absent and not ``required``.

    A bool is not a number here; a 1-element array is taken as its element.
    """
    expected = "an integer" if integer else "a number"
    if field not in attrs:
        if required:
            raise fail(file, where, field, f"is missing; expected {expected}")
        return None
    v = attrs[field]
    if isinstance(v, np.ndarray) and v.shape in ((), (1,)):
        v = v.reshape(()).item()
    ok = isinstance(v, (int, np.integer)) if integer else _is_number(v)
    if isinstance(v, (bool, np.bool_)) or not ok:
        raise fail(file, where, field, f"is {v!r}; expected {expected}")
    return int(v) if integer else float(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def check_format(attrs, file: str, expected: str, kind: str) -> None:
    """Raise FormatError ("{file}: not an eventsim {kind}: ...") unless the format fits.

    ``attrs["format"]`` must be the string ``expected``.
    """
    fmt = str_attr(attrs["format"]) if "format" in attrs else None
    if fmt != expected:
        got = "is missing" if "format" not in attrs else f"is {attrs['format']!r}"
        raise FormatError(
            f"{file}: not an eventsim {kind}: field 'format' {got}; expected {expected!r}"
        )


def temp_path_beside(path: Path) -> Path:
    """A fresh hidden name in the folder of ``path``: ``.{name}.{32 hex digits}.tmp``."""
    return path.with_name(f".{path.name}.{os.urandom(16).hex()}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``path`` to write; then put it at ``path``.

    When the ``with`` block ends normally the temporary file is fsynced and renamed onto
    ``path``; on any exception (KeyboardInterrupt too), including one from the fsync or the
    rename, it is removed, ``path`` is left as it was, and the exception propagates.

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist ("folder to save the {what} in does not exist").
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"folder to save the {what} in does not exist", str(folder)
        )
    tmp = temp_path_beside(path)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # mode from umask
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def open_for_reading(
    path: str | os.PathLike, what: str, damaged: tuple[type[BaseException], ...] = (OSError,)
) -> Iterator[Any]:
    """Open the HDF5 file at ``path`` for reading, as a ``with`` block yielding the h5py.File.

    ``what`` names the kind of file in the messages ("network", "checkpoint"). The
    exceptions in ``damaged``, raised while opening or inside the ``with`` block, become
    ``FormatError("{path}: damaged HDF5 file (...)")``.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    FormatError
        ``path`` is a folder, not an HDF5 file, or damaged.
    PermissionError
        ``path`` cannot be read.
    """
    import h5py

    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(errno.ENOENT, f"no such {what} file", name)
    if os.path.isdir(name):
        raise FormatError(f"{name}: is a folder; expected an HDF5 {what} file")
    with open(name, "rb"):  # a permission problem surfaces here as itself
        pass
    if not h5py.is_hdf5(name):
        raise FormatError(f"{name}: not an HDF5 file; expected an eventsim {what} (.h5)")
    try:
        with h5py.File(name, "r") as f:
            yield f
    except damaged as e:
        raise FormatError(f"{name}: damaged HDF5 file ({e})") from e
