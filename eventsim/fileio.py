"""Files on disk: the checks before reading one, the guard that no output is an input, and the
one way eventsim writes a file or a folder (atomically, fsync'd, named errors).

The bottom layer: it imports nothing of eventsim but :mod:`eventsim.errors`.

- :func:`input_path`: an existing file to read, or a named error (missing, a broken symbolic
  link, a symbolic-link loop, a folder, not a path at all);
- :func:`check_output`: refuse an output path that resolves to one of the inputs (through
  symbolic links, relative paths and hard links), before any work is done;
- :func:`check_writable_folder`: the folder an output goes into exists and takes new files;
- :func:`atomic_path`: write a file as a temporary file beside the target, then fsync and
  rename it onto the target; on any error or interruption the temporary file is removed and
  the target is left as it was; I/O failures (a full disk, a file-size limit) become
  :class:`~eventsim.errors.OutputError` naming the target;
- :func:`write_text`: a text file (JSON, Markdown, HTML) through :func:`atomic_path`;
- :func:`atomic_folder`: a folder of files written as a whole (the report): built in a
  temporary folder, then moved in file by file only when every file is complete.

Temporary files are named ``.{target name}.{host}-{pid}-{16 hex digits}.tmp`` (host: 8 hex
digits of the host name's SHA-1). A process killed with SIGKILL cannot remove its own; the next
write to the same target removes every such file (or folder) of this host whose process is no
longer running.

Stop signals: the command line's handlers (:mod:`eventsim.cli`) record a signal here
(:func:`note_stop_signal`); inside :func:`deferred_signals` (while HDF5 writes) they raise
nothing, and the block raises when it ends; :func:`commit` refuses to rename after one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from eventsim.errors import FormatError, InputError, OutputError

PathLike = str | os.PathLike


def _as_path(path, where: str, field: str = "path") -> Path:
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(bytes(path))
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{where}: field '{field}' must be a file path (str or os.PathLike), "
                         f"got {type(path).__name__}")
    return Path(path)


def input_path(path, what: str, where: str = "eventsim", folder_ok: bool = False) -> Path:
    """``path`` as a Path, checked to exist and to be a file (or, with ``folder_ok``, a folder);
    ``what`` names it in messages ("network file").

    Raises
    ------
    InputError
        ``path`` is not a path (None, a number, ...).
    FileNotFoundError
        Nothing at ``path`` ("no such {what}"), or a symbolic link to nothing.
    OSError
        ``errno.ELOOP``: a symbolic-link loop.
    FormatError
        A folder where a file is expected.
    """
    p = _as_path(path, where)
    try:
        p.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"symbolic link loop; expected a {what}",
                          str(p)) from None
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            if p.is_symlink():
                raise FileNotFoundError(errno.ENOENT, f"broken symbolic link (to "
                                        f"{os.readlink(p)}); expected a {what}",
                                        str(p)) from None
            raise FileNotFoundError(errno.ENOENT, f"no such {what}", str(p)) from None
        raise
    if p.is_dir() and not folder_ok:
        raise FormatError(f"{p}: is a folder; expected a {what}")
    return p


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_output(path, inputs: Iterable[PathLike | None], what: str,
                 where: str = "eventsim") -> Path:
    """``path`` as a Path, refused when it resolves to one of ``inputs`` (None entries are
    skipped): an output written there would destroy the input.

    Raises
    ------
    OutputError
        Naming the output, the input it is, and ``what`` it was to be.
    """
    out = _as_path(path, where, "out")
    for given in inputs:
        if given is None:
            continue
        src = Path(given)
        if _same(out, src):
            via = "" if os.path.abspath(out) == os.path.abspath(src) else \
                f" (the same file as {src})"
            raise OutputError(f"{out}: is an input of this run{via}; writing the {what} "
                              "there would destroy it: choose another path")
    return out


def check_writable_folder(folder: Path, what: str, shown: Path | None = None) -> None:
    """The folder ``folder`` exists and a file can be created in it, else a named error
    (``shown``: the path the user gave, named in the message)."""
    shown = shown if shown is not None else folder
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no such folder {folder} to write the {what} "
                                "in", str(shown))
    reason = None
    if not os.access(folder, os.W_OK):
        reason = f"folder {folder} is not writable"
    else:  # access() is not the last word (root, read-only or virtual file systems): try
        probe = _temp_name(folder / f"{shown.name or 'out'}")
        try:
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as err:
            reason = f"creating a file in folder {folder} fails ({err.strerror or err})"
        else:
            os.unlink(probe)
    if reason:
        raise OutputError(f"{shown}: cannot write the {what}: {reason}; expected a path in a "
                          "writable folder")


# --------------------------------------------------------------------------- temporary names


#: This machine in temporary names (8 hex digits of its host name's SHA-1): a write on another
#: host sharing the folder (NFS, containers on one volume) is never taken for a dead one here.
_HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:8]


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_HOST}-{os.getpid()}-{os.urandom(8).hex()}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # EPERM: somebody else's; not a pid at all
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files (and folders) of earlier writes to ``path`` on this host
    whose process no longer runs; return what was removed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_HOST}-(\d{{1,9}})-[0-9a-f]{{16}}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_IO_ERRNO = re.compile(r"errno = (\d+)")


def write_failure(err: BaseException) -> str | None:
    """What an exception raised while writing says about the disk, or None if it is not an
    I/O failure (h5py raises RuntimeError and OSError with the errno in their text)."""
    if isinstance(err, OSError) and err.errno is not None:
        return f"{os.strerror(err.errno)} (errno {err.errno})"
    if isinstance(err, (OSError, RuntimeError)):
        m = _IO_ERRNO.search(str(err))
        if m:
            code = int(m.group(1))
            return f"{os.strerror(code)} (errno {code})"
        if isinstance(err, OSError):
            return str(err) or type(err).__name__
    return None


def new_temp(path: PathLike, what: str) -> Path:
    """Create a new, empty temporary file beside ``path`` (the first half of
    :func:`atomic_path`, for writers that outlive one ``with`` block); removes leftovers of
    earlier writes to ``path`` whose process died.

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist ("folder to save the {what} in does not exist").
    OutputError
        ``path`` is a folder, or no file can be created beside it.
    """
    path = target_path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"folder to save the {what} in does not exist", str(folder)
        )
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; expected a path for the {what} file")
    return _fresh_temp(path, what, folder=False)


def _fresh_temp(path: Path, what: str, folder: bool) -> Path:
    """Remove the leftovers of dead writers to ``path``, then create its temporary file (or
    ``folder``); an OutputError naming ``path`` when that fails."""
    remove_stale_temps(path)
    tmp = _temp_name(path)
    try:
        if folder:
            tmp.mkdir()
        else:  # mode from umask
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as err:
        kind = "folder" if folder else "file"
        raise OutputError(f"{path}: cannot write the {what}: creating a {kind} in "
                          f"{path.parent} fails ({err.strerror or err})") from None
    return tmp


# Stop signals (Ctrl-C, SIGTERM) the command line received. Signals are the process's, so this
# is the one piece of module state: a library that swallows the KeyboardInterrupt a handler
# raised (h5py inside a weakref callback, say) cannot make a write go through unnoticed.
_stop_signals: list[int] = []


def note_stop_signal(signum: int) -> None:
    """Record that a stop signal arrived (the CLI's handlers call this)."""
    _stop_signals.append(signum)


def stop_signal_noted() -> int | None:
    """The first stop signal recorded and not yet cleared, or None."""
    return _stop_signals[0] if _stop_signals else None


def clear_stop_signal() -> None:
    """Forget recorded stop signals (the CLI, once a command has ended)."""
    _stop_signals.clear()


#: The signals that stop a command: held while native code writes a file (see
#: :func:`deferred_signals`).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


_critical: list[int] = [0]  # depth of deferred_signals blocks


def in_critical_section() -> bool:
    """Whether native code is writing a file now (a stop signal's handler must not raise)."""
    return _critical[0] > 0


@contextmanager
def deferred_signals() -> Iterator[None]:
    """A critical section: a stop signal arriving while the block runs stops the program when
    the block ends, not inside it.

    HDF5 calls back into Python while it writes (the file object of :class:`eventsim.h5io.
    GuardedFile`, weakref callbacks); an exception a signal handler raises there is swallowed
    or crashes the process. Two holds: the command line's handlers only record a signal inside
    the block (:func:`in_critical_section`), and the block then raises KeyboardInterrupt or
    SystemExit(128 + N) as it ends; and in the main thread SIGINT, SIGTERM and SIGHUP are
    blocked meanwhile, so Python's own handlers (a program that installed none) run after it.
    """
    mask = hasattr(signal, "pthread_sigmask") and \
        threading.current_thread() is threading.main_thread()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS) if mask else None
    _critical[0] += 1
    try:
        yield
    finally:
        _critical[0] -= 1
        if mask:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if not _critical[0]:
        _stop_if_signalled()


def _stop_if_signalled() -> None:
    """Raise KeyboardInterrupt (SIGINT) or SystemExit(128 + N) if a stop signal arrived."""
    if _stop_signals:
        signum = _stop_signals[0]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)


def target_path(path: PathLike) -> Path:
    """Where a write to ``path`` goes: an absolute path, through a symbolic link at ``path``
    to the file it names (as ``open(path, "w")`` writes through it; the link stays)."""
    path = Path(os.path.abspath(path))
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def commit(tmp: Path, path: PathLike) -> None:
    """fsync ``tmp`` and rename it onto ``path`` (the second half of :func:`atomic_path`);
    a stop signal that arrived meanwhile stops here instead (nothing is renamed)."""
    _stop_if_signalled()
    path = target_path(path)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def _raise_if_io_failure(err: BaseException | None, path: PathLike, what: str,
                         kept: str) -> None:
    """Raise :class:`OutputError` naming ``path`` if ``err`` is an I/O failure; ``kept`` says
    what stayed as it was."""
    reason = write_failure(err) if isinstance(err, Exception) else None
    if reason is not None and not isinstance(err, OutputError):
        raise OutputError(f"{path}: cannot write the {what}: {reason}; nothing was written "
                          f"({kept})") from err


def discard(tmp: Path, path: PathLike, what: str, err: BaseException | None) -> None:
    """Remove ``tmp``; raise :class:`OutputError` naming ``path`` if ``err`` is an I/O failure
    (else return, and the caller re-raises ``err``)."""
    tmp.unlink(missing_ok=True)
    _raise_if_io_failure(err, path, what, "a file there before is unchanged")


@contextmanager
def atomic_path(path: PathLike, what: str) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``path`` to write; then put it at ``path``.

    When the ``with`` block ends normally the temporary file is fsynced and renamed onto
    ``path``; on any exception (KeyboardInterrupt and SystemExit too), including one from the
    fsync or the rename, it is removed, ``path`` is left as it was, and the exception
    propagates; an I/O failure (OSError, or h5py's RuntimeError carrying an errno: a full
    disk, a file-size limit) propagates as :class:`OutputError` naming ``path``. Leftovers of
    earlier writes to ``path`` whose process died are removed first.

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist ("folder to save the {what} in does not exist").
    OutputError
        ``path`` is a folder, or writing failed.
    """
    tmp = new_temp(path, what)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException as err:
        discard(tmp, path, what, err)
        raise


def write_text(path: PathLike, text: str, what: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`; return ``path``."""
    with atomic_path(path, what) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


@contextmanager
def atomic_folder(path: PathLike, what: str) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; when the block ends normally, move its
    files into ``path`` (created if missing; its parent must exist), each replacing the file
    of that name, so that ``path`` gets every file or none. On any exception the temporary
    folder is removed and ``path`` is left as it was (an I/O failure as
    :class:`OutputError` naming ``path``). Files of ``path`` the block did not write stay.

    Raises
    ------
    FileNotFoundError
        The parent of ``path`` does not exist (only the folder itself is created).
    OutputError
        ``path`` exists and is not a folder, or writing failed.
    """
    path = Path(os.path.abspath(path))  # "." has a name here
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no such folder to create the {what} folder in "
                                "(only the last folder of the path is created)", str(parent))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; expected a folder for the {what}")
    tmp = _fresh_temp(path, what, folder=True)
    created = False
    try:
        yield tmp
        _stop_if_signalled()
        for f in tmp.iterdir():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
        if not path.exists():
            os.rename(tmp, path)  # the whole folder at once
            created = True
        else:  # file by file, a stop signal held till all are in; index.html last
            with deferred_signals():
                for f in sorted(tmp.iterdir(), key=lambda f: (f.name == "index.html", f.name)):
                    os.replace(f, path / f.name)
                tmp.rmdir()
        _fsync_folder(path)
        _fsync_folder(parent)
    except BaseException as err:
        if not created:
            shutil.rmtree(tmp, ignore_errors=True)
        _raise_if_io_failure(err, path, what, "the folder is as it was")
        raise
