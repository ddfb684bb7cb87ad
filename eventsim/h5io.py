"""HDF5 file plumbing shared by eventsim's file formats (networks, checkpoints, events).

The bottom layer: it imports nothing of eventsim but :mod:`eventsim.errors`,
:mod:`eventsim.fileio` and :mod:`eventsim.limits`, and imports h5py only inside the functions
that need it. Each format keeps its own layout, names and
version checks; this module holds what they do alike:

- :func:`fail`: a :class:`FormatError` naming the file, the group and the field;
- :func:`str_attr`: a string attribute as str, however h5py returns it;
- :func:`num_attr`: a number (or integer) attribute, checked;
- :func:`check_format`: the root ``format`` attribute is the one expected;
- :func:`write_h5`: an :class:`h5py.File` written atomically (:func:`eventsim.fileio.
  atomic_path`) through a Python file object, so that a full disk is an exception (HDF5
  writing to a path itself can crash the process on it), with a digest of its content;
- :func:`content_digest`, :func:`verify_digest`: SHA-256 over everything the file holds
  (every object's path, attributes and data), stored in the root attribute
  :data:`DIGEST_ATTR` when written and checked when read: a flipped byte that still parses
  (a weight 0.40 read as -3.4e211) is an error, not a different network;
- :func:`check_stored`: a dataset holds the data its shape claims (every chunk written, the
  contiguous block inside the file), before anything is allocated for it;
- :func:`open_for_reading`: the checks before reading (missing, a folder, not HDF5,
  damaged), then the open :class:`h5py.File`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from eventsim.errors import EventsimError, EventsimWarning, FormatError, quoted
from eventsim.fileio import PathLike, atomic_path, deferred_signals, input_path
from eventsim.limits import check_memory

#: Root attribute holding the SHA-256 of the file's content (:func:`content_digest`).
DIGEST_ATTR = "eventsim_sha256"
#: Bytes of a dataset read at a time while hashing it.
_HASH_BLOCK = 8 << 20


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



class GuardedFile(io.RawIOBase):
    """A file HDF5 writes through (h5py's file-object driver) that survives a full disk and
    Ctrl-C.

    HDF5 crashes the process when its writes fail: writing to a path it segfaults on close
    (EFBIG, ENOSPC), and through a plain file object it recurses while flushing every object
    it still holds; an exception raised inside the driver's callbacks (a KeyboardInterrupt
    landing there) can crash it too. Here the first failing write is remembered and it and
    every later write report success without writing; an interrupt (KeyboardInterrupt,
    SystemExit) raised inside a callback is remembered and the operation done again (reads and
    writes are positional, at the offset this object keeps, so doing one again is harmless);
    HDF5 closes normally, and :meth:`check` raises what was remembered, the interrupt first.
    The file's content is then useless: the caller discards it. (Writers also hold stop
    signals meanwhile: :func:`eventsim.fileio.deferred_signals`.)
    """

    def __init__(self, raw) -> None:
        super().__init__()
        self.fd = raw.fileno()
        self.pos = 0
        self.error: OSError | None = None
        self.stop: BaseException | None = None

    def _do(self, fn, *args):
        while True:
            try:
                return fn(*args)
            except (KeyboardInterrupt, SystemExit) as stop:  # finish HDF5's call first
                self.stop = self.stop or stop

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._do(self._readinto, buffer)

    def _readinto(self, buffer) -> int:
        n = os.preadv(self.fd, [buffer], self.pos)
        self.pos += n
        return n

    def write(self, data) -> int:
        return self._do(self._write, data)

    def _write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += os.pwrite(self.fd, view[done:], self.pos + done)
            except OSError as err:
                self.error = err
        self.pos += len(view)
        return len(view)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._do(self._seek, offset, whence)

    def _seek(self, offset: int, whence: int) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos}.get(whence)
        self.pos = (os.fstat(self.fd).st_size if base is None else base) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def truncate(self, size: int | None = None) -> int:
        return self._do(self._truncate, size)

    def _truncate(self, size: int | None) -> int:
        size = self.pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as err:
                self.error = err
        return size

    def flush(self) -> None:
        pass

    @property
    def failed(self) -> bool:
        """Whether a write failed or an interrupt landed in a callback."""
        return self.error is not None or self.stop is not None

    def check(self) -> None:
        """Raise the interrupt that landed in a callback, else the first write's failure."""
        if self.stop is not None:
            raise self.stop
        if self.error is not None:
            raise self.error


@contextmanager
def guarded_file(tmp) -> Iterator[GuardedFile]:
    """A :class:`GuardedFile` on the (existing) file ``tmp``; its failure is raised when the
    block ends, or instead of an error HDF5 raised because of it."""
    with open(tmp, "r+b", buffering=0) as raw:
        fh = GuardedFile(raw)
        try:
            yield fh
        except Exception:  # what HDF5 raised because of the failure: raise the failure
            if fh.failed:
                fh.check()
            raise
        fh.check()


@contextmanager
def write_h5(path: PathLike, what: str, digest: bool = True, **file_options) -> Iterator[Any]:
    """Yield an :class:`h5py.File` to fill, written atomically at ``path``.

    HDF5 writes through a :class:`GuardedFile` on a temporary file beside ``path``
    (:func:`eventsim.fileio.atomic_path`): a full disk or a file-size limit is then an
    :class:`~eventsim.errors.OutputError` naming ``path``, where HDF5 writing to a path itself
    crashes the process. With ``digest`` the root attribute :data:`DIGEST_ATTR` gets
    :func:`content_digest` when the block ends. ``file_options`` go to :class:`h5py.File`
    (``track_order=True``, ...).

    Raises
    ------
    OutputError
        Writing failed (a full disk, ...): nothing is left at ``path`` but what was there.
    """
    import h5py

    with atomic_path(path, what) as tmp, deferred_signals(), guarded_file(tmp) as fh:
        f = h5py.File(fh, "w", **file_options)
        try:
            yield f
            if digest and not fh.failed:  # a failed file is discarded: nothing to hash
                f.attrs[DIGEST_ATTR] = content_digest(f, os.fspath(path))
        except BaseException:
            try:
                f.close()
            except Exception:  # noqa: BLE001, S110 - the first failure is the one to report
                pass
            raise
        f.close()


def add_digest(fileobj, file: str) -> None:
    """Store :func:`content_digest` in the root of the HDF5 file open as ``fileobj`` (a file
    another library wrote, such as ``nir.write``); ``file`` names it in messages."""
    import h5py

    with h5py.File(fileobj, "r+") as f:
        f.attrs[DIGEST_ATTR] = content_digest(f, file)


def check_datasets(f, file: str) -> int:
    """:func:`check_stored` on every dataset of ``f``; the bytes they take once read."""
    import h5py

    total = 0

    def visit(_name, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            check_stored(obj, file)
            total += dataset_bytes(obj)

    f.visititems(visit)
    return total


def _canonical(value: Any) -> bytes:
    """Bytes standing for an attribute's or a dataset block's value: strings by their text,
    numbers by dtype, shape and bytes."""
    a = np.asarray(value)
    if a.dtype.kind in "OSU":
        items = [x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)
                 for x in a.ravel().tolist()]
        return b"s" + json.dumps([list(a.shape), items]).encode("utf-8", "surrogateescape")
    return b"n" + a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def content_digest(f, file: str = "") -> str:
    """SHA-256 (hex) of everything ``f`` holds but the :data:`DIGEST_ATTR` attribute: the
    path of every group and dataset in sorted order, its attributes (sorted by name) and each
    dataset's type, shape and data, read in blocks of at most 8 MiB (memory stays bounded).
    Every dataset is checked with :func:`check_stored` before it is read."""
    import h5py

    h = hashlib.sha256()
    names: list[str] = []
    f.visit(names.append)
    for name in ["", *sorted(names)]:
        obj = f[name] if name else f
        h.update(b"\0o" + name.encode("utf-8", "surrogateescape"))
        for key in sorted(obj.attrs):
            if not name and key == DIGEST_ATTR:
                continue
            h.update(b"\0a" + key.encode("utf-8", "surrogateescape"))
            h.update(_canonical(obj.attrs[key]))
        if isinstance(obj, h5py.Dataset):
            check_stored(obj, file or f.filename)
            h.update(b"\0d" + obj.dtype.str.encode() + repr(obj.shape).encode())
            if obj.shape is None or obj.shape == () or obj.size == 0:
                h.update(_canonical(obj[()] if obj.shape == () else []))
                continue
            row = max(obj.dtype.itemsize * int(np.prod(obj.shape[1:])), 1)
            step = max(_HASH_BLOCK // row, 1)
            for start in range(0, obj.shape[0], step):
                h.update(_canonical(obj[start:start + step]))
    return h.hexdigest()


def verify_digest(f, file: str, what: str) -> None:
    """Check the root :data:`DIGEST_ATTR` against the content: :class:`FormatError` when they
    differ; an :class:`~eventsim.errors.EventsimWarning` when the file has none (written by
    an older eventsim or by another tool: its content cannot be verified)."""
    if DIGEST_ATTR not in f.attrs:
        warnings.warn(f"{file}: the {what} file has no checksum (written by an eventsim older "
                      "than 0.2 or by another tool): its content cannot be verified",
                      EventsimWarning, stacklevel=3)
        return
    stored = str_attr(f.attrs[DIGEST_ATTR])
    actual = content_digest(f, file)
    if stored != actual:
        raise FormatError(f"{file}: damaged {what} file: its content does not match the "
                          f"checksum stored when it was written (root attribute "
                          f"'{DIGEST_ATTR}'); the file changed after eventsim wrote it")


def check_stored(ds, file: str) -> None:
    """Raise :class:`FormatError` unless dataset ``ds`` holds the data its shape claims.

    A chunked dataset must have every chunk written (HDF5 reads an unwritten chunk as its
    fill value: a file of a few KB can claim 1e11 values); a contiguous one must have its
    block allocated and inside the file. Compact datasets live in the object header.
    """
    import h5py

    if ds.shape is None or ds.size == 0:
        return
    where = f"{file}: field '{ds.name}'"
    claim = f"claims shape {ds.shape} ({ds.size} values of {ds.dtype.itemsize} bytes)"
    if ds.is_virtual or ds.id.get_create_plist().get_external_count():
        raise FormatError(f"{where} is stored outside the file (virtual or external); "
                          "expected data in the file itself")
    layout = ds.id.get_create_plist().get_layout()
    if layout == h5py.h5d.CHUNKED:
        expected = math.prod(-(-n // c) for n, c in zip(ds.shape, ds.chunks))
        written = ds.id.get_num_chunks()
        if written < expected:
            raise FormatError(f"{where} {claim}, but the file holds only {written} of its "
                              f"{expected} chunks (a damaged or crafted file)")
    elif layout == h5py.h5d.CONTIGUOUS:
        offset, size = ds.id.get_offset(), ds.id.get_storage_size()
        need = ds.size * ds.dtype.itemsize
        try:
            end = os.path.getsize(ds.file.filename)
        except (OSError, TypeError):  # a file object or an in-memory file
            end = None
        if offset is None or size < need or (end is not None and offset + need > end):
            raise FormatError(f"{where} {claim}, but the file holds "
                              f"{0 if offset is None else size} bytes of it (a damaged, cut or "
                              "crafted file)")


def dataset_bytes(ds) -> int:
    """Bytes a dataset takes once read into memory (its shape times its item size)."""
    return 0 if ds.shape is None else int(ds.size) * ds.dtype.itemsize


def read_dataset(ds, file: str, dtype=None) -> np.ndarray:
    """``ds[()]`` (as ``dtype``), after :func:`check_stored` and a memory-budget check."""
    check_stored(ds, file)
    itemsize = np.dtype(dtype).itemsize if dtype is not None else ds.dtype.itemsize
    check_memory(2 * int(ds.size or 0) * max(itemsize, ds.dtype.itemsize),
                 f"{file}: field '{ds.name}' of shape {ds.shape}: reading it")
    data = ds[()]
    return data if dtype is None else np.asarray(data, dtype=dtype)


@contextmanager
def open_for_reading(path: PathLike, what: str) -> Iterator[Any]:
    """Open the HDF5 file at ``path`` for reading, as a ``with`` block yielding the h5py.File.

    ``what`` names the kind of file in the messages ("network", "checkpoint"). Any exception
    h5py raises while opening or inside the ``with`` block (a damaged file raises OSError,
    RuntimeError, KeyError, ValueError, ...) becomes ``FormatError("{path}: damaged HDF5 file
    (...)")``; eventsim's own errors pass unchanged.

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

    name = os.fspath(input_path(path, f"{what} file", f"load {what}"))
    with open(name, "rb"):  # a permission problem surfaces here as itself
        pass
    if not h5py.is_hdf5(name):
        raise FormatError(f"{name}: not an HDF5 file; expected an eventsim {what} (.h5)")
    try:
        with h5py.File(name, "r") as f:
            yield f
    except (EventsimError, MemoryError):
        raise
    except Exception as e:
        raise FormatError(f"{name}: damaged HDF5 file ({type(e).__name__}: {quoted(e)})") from e
