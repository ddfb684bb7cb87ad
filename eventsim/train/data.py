"""Training data: N-MNIST-style folder trees, MNIST IDX files, rate coding, shifts, batches.

Event data is binned with :func:`eventsim.bin_events`, the one binning rule the runtime uses,
so a network trained on these frames sees exactly what :func:`eventsim.simulate` feeds it.
Everything random takes a ``numpy.random.Generator``: same seed, same output.
"""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from eventsim.errors import FormatError, InputError, whole
from eventsim.events.binning import bin_events
from eventsim.events.readers import read_events
from eventsim.limits import check_memory

NMNIST_SENSOR = (34, 34, 2)
NMNIST_SPLITS = ("Train", "Test")
MNIST_SPLITS = ("train", "t10k")
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_PROGRESS_OVER = 50  # samples: show a tqdm bar above this many


# ----------------------------------------------------------------------------- N-MNIST


def nmnist_files(root: str | os.PathLike, split: str = "Train") -> list[tuple[Path, int]]:
    """The samples of an N-MNIST-style tree ``root/<split>/<label>/*.bin``, in walk order.

    Label folders are taken in numeric order, files within a folder in name order. Hidden
    entries (names starting with ``.``) and files that are not ``.bin`` inside label folders
    are ignored.

    Parameters
    ----------
    root : str or PathLike
        The folder holding ``Train/`` and ``Test/`` (``shared/data/nmnist``).
    split : {"Train", "Test"}

    Returns
    -------
    list of (Path, int)
        Each sample's file and label.

    Raises
    ------
    InputError
        ``split`` is not ``"Train"`` or ``"Test"``.
    FileNotFoundError
        ``root`` does not exist.
    FormatError
        The layout is wrong: no ``root/<split>`` folder, a label folder whose name is not a
        non-negative integer, a ``.bin`` file outside a label folder, an empty label folder,
        no label folders at all. The message names the folder.
    """
    if split not in NMNIST_SPLITS:
        raise InputError(f"N-MNIST folder: field 'split' must be 'Train' or 'Test', got {split!r}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, "no such dataset folder", str(root))
    if not root.is_dir():
        raise FormatError(f"{root}: is a file; expected a folder holding {split}/<label>/*.bin")
    folder = root / split
    layout = f"expected {root}/{split}/<label>/*.bin (N-MNIST layout)"
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        hint = ""
        if root.name in NMNIST_SPLITS or (found and all(n.isdigit() for n in found)):
            hint = f"; give the folder above ({root.parent}) as root"
        raise FormatError(
            f"{root}: no folder {split!r} (found: {', '.join(found) or 'nothing'}); {layout}{hint}"
        )
    labels: list[tuple[int, Path]] = []
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.name.isdigit():
                raise FormatError(
                    f"{entry}: label folder name {entry.name!r} is not a "
                    f"non-negative integer; {layout}"
                )
            labels.append((int(entry.name), entry))
        elif entry.suffix.lower() == ".bin":
            raise FormatError(
                f"{folder}: holds the sample file {entry.name} outside a label folder; {layout}"
            )
    if not labels:
        raise FormatError(f"{folder}: no label folders; {layout}")
    samples: list[tuple[Path, int]] = []
    for label, sub in sorted(labels):
        files = sorted(
            p
            for p in sub.iterdir()
            if p.suffix.lower() == ".bin" and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise FormatError(f"{sub}: label folder holds no .bin files; {layout}")
        samples.extend((p, label) for p in files)
    return samples


def _stratified(labels: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the first ``limit`` samples taken round-robin over classes, sorted.

    The k-th sample of every class comes before the (k+1)-th of any class (classes in
    increasing label order), so a limited load holds every class as evenly as they allow.
    """
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    order = np.lexsort((labels, rank))  # by rank within class, then label
    return np.sort(order[:limit])


def load_nmnist_folder(
    root: str | os.PathLike,
    split: str = "Train",
    *,
    dt_us: int,
    T: int,
    limit: int | None = None,
    sensor_size: tuple[int, int, int] = NMNIST_SENSOR,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Read and bin every sample of ``root/<split>/<label>/*.bin``.

    Each file is read with :func:`eventsim.read_events` and binned with
    :func:`eventsim.bin_events` ``(stream, dt_us, T)``: binary frames, events at
    ``t >= T * dt_us`` dropped.

    Parameters
    ----------
    root : str or PathLike
        The folder holding ``Train/`` and ``Test/``.
    split : {"Train", "Test"}
    dt_us : int
        Bin width in microseconds (keyword only).
    T : int
        Steps per sample (keyword only).
    limit : int, optional
        Keep at most this many samples, taken round-robin over the classes (the first file of
        each class, then the second, ...), returned in walk order. Default: all.
    sensor_size : tuple of int
        ``(W, H, P)``; every event is checked against it. Default N-MNIST's ``(34, 34, 2)``.
    progress : bool
        Show a tqdm bar when more than 50 samples are read.

    Returns
    -------
    x : ndarray, shape (N, T, P, H, W), uint8
        0/1 frames; ``(N, T, 2, 34, 34)`` for N-MNIST.
    y : ndarray, shape (N,), int64
        Labels (the folder names).

    Raises
    ------
    InputError
        A bad ``split``, ``dt_us``, ``T`` or ``limit``.
    FileNotFoundError, FormatError
        As :func:`nmnist_files`; a sample file that cannot be read (the message names it).
    EventError
        A sample has events off ``sensor_size``.
    """
    dt_us = whole(dt_us, "load_nmnist_folder", "dt_us")
    T = whole(T, "load_nmnist_folder", "T")
    if limit is not None:
        limit = whole(limit, "load_nmnist_folder", "limit", 0)
    samples = nmnist_files(root, split)
    y = np.array([label for _, label in samples], dtype=np.int64)
    if limit is not None:
        keep = _stratified(y, int(limit))
        samples = [samples[i] for i in keep]
        y = y[keep]
    w, h, p = sensor_size
    # the frames, and bin_events' per-sample temporaries (int64 counts of T frames)
    check_memory(len(samples) * int(T) * p * h * w + 9 * int(T) * p * h * w,
                 f"load_nmnist_folder: {len(samples)} {split} samples binned into T={T} "
                 f"frames of {p}x{h}x{w}")
    x = np.zeros((len(samples), int(T), p, h, w), dtype=np.uint8)
    show = progress and len(samples) > _PROGRESS_OVER
    for i, (path, _) in enumerate(
        tqdm(samples, desc=f"reading {split}", unit="sample", disable=not show)
    ):
        x[i] = bin_events(read_events(path, sensor_size=sensor_size), int(dt_us), int(T))
    return x, y


# ----------------------------------------------------------------------------- MNIST IDX


def _read_exact(f, n: int, path: Path, what: str) -> np.ndarray:
    """``n`` bytes of a gzip stream as a uint8 array; FormatError if the data ends early."""
    out = np.empty(n, dtype=np.uint8)
    view = memoryview(out)
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            raise FormatError(
                f"{path}: {what}: the data ends after {got} of the {n} bytes the header "
                f"announces (file truncated?)"
            )
        got += k
    return out


def _read_idx(path: Path, magic: int, dims: int, what: str) -> np.ndarray:
    """An IDX file of unsigned bytes: ``magic`` then ``dims`` big-endian int32 sizes, data."""
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such MNIST file", str(path))
    if path.is_dir():
        raise FormatError(f"{path}: is a folder; expected a gzipped IDX file")
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(4 * (1 + dims))
            if len(head) < 4 * (1 + dims):
                raise FormatError(
                    f"{path}: header: {len(head)} bytes, expected {4 * (1 + dims)} "
                    f"(magic and {dims} sizes)"
                )
            fields = np.frombuffer(head, dtype=">i4").astype(np.int64)
            if fields[0] != magic:
                raise FormatError(
                    f"{path}: header: field 'magic' is {fields[0]}; expected {magic} ({what})"
                )
            shape = tuple(int(s) for s in fields[1:])
            names = ("n", "rows", "cols")[:dims]
            for name, size in zip(names, shape):
                if size < 0:
                    raise FormatError(f"{path}: header: field '{name}' is {size}; expected >= 0")
            data = _read_exact(f, int(np.prod(shape)), path, what)
            if f.read(1):
                raise FormatError(
                    f"{path}: data: more bytes than the header's "
                    f"{' x '.join(f'{n}={s}' for n, s in zip(names, shape))} announces"
                )
    except (EOFError, zlib.error) as e:
        raise FormatError(f"{path}: damaged or truncated gzip data ({e})") from None
    except gzip.BadGzipFile as e:
        raise FormatError(f"{path}: not a gzip file ({e}); expected a gzipped IDX file") from None
    return data.reshape(shape)


def load_mnist_idx(
    folder: str | os.PathLike, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST from ``<split>-images-idx3-ubyte.gz`` and ``<split>-labels-idx1-ubyte.gz``.

    IDX format, big-endian: images are magic 2051, then int32 ``n``, ``rows``, ``cols``, then
    ``n * rows * cols`` uint8 pixels (0 is background); labels are magic 2049, int32 ``n``,
    then ``n`` uint8 labels.

    Parameters
    ----------
    folder : str or PathLike
        Folder of the ``.gz`` files (``shared/data/mnist``).
    split : {"train", "t10k"}

    Returns
    -------
    images : ndarray, shape (N, rows, cols), uint8
        ``(60000, 28, 28)`` for train, ``(10000, 28, 28)`` for t10k.
    labels : ndarray, shape (N,), int64

    Raises
    ------
    InputError
        ``split`` is not ``"train"`` or ``"t10k"``.
    FileNotFoundError
        A file is missing.
    FormatError
        A file is not gzip, is truncated, or its header (field ``magic``, ``n``, ``rows``,
        ``cols``) does not fit its data, a label is above 9, or the two files disagree on
        ``n``; the message names the file and the field.
    """
    if split not in MNIST_SPLITS:
        raise InputError(f"load_mnist_idx: field 'split' must be 'train' or 't10k', got {split!r}")
    folder = Path(folder)
    images_path = folder / f"{split}-images-idx3-ubyte.gz"
    labels_path = folder / f"{split}-labels-idx1-ubyte.gz"
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC, 1, "IDX labels").astype(np.int64)
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC, 3, "IDX images")
    if len(labels) and labels.max() > 9:
        i = int(np.argmax(labels > 9))
        raise FormatError(f"{labels_path}: data: label {i} is {labels[i]}; expected 0..9")
    if len(images) != len(labels):
        raise FormatError(
            f"{images_path}: header: field 'n' is {len(images)}, but {labels_path.name} "
            f"holds {len(labels)} labels"
        )
    return images, labels


# ----------------------------------------------------------------------------- coding


def _check_rng(owner: str, rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise InputError(
            f"{owner}: field 'rng' must be a numpy.random.Generator "
            f"(np.random.default_rng(seed)), got {type(rng).__name__}"
        )


def rate_code(images: np.ndarray, T: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate coding: at each of ``T`` steps a pixel spikes with probability p.

    ``p = images / 255`` for uint8 images, ``p = images`` for float images in ``[0, 1]``.
    Draws are ``rng.random((T, *images.shape), dtype=float32)`` and a spike is
    ``draw < p``: the same generator state gives the same spikes.

    Parameters
    ----------
    images : ndarray, shape (B, ...), uint8 or float in [0, 1]
    T : int
        Steps (non-negative).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (T, B, ...), float32
        0/1 spikes.
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 0:
        raise InputError(f"rate_code: field 'T' must be a non-negative integer, got {T!r}")
    _check_rng("rate_code", rng)
    images = np.asarray(images)
    if images.dtype == np.uint8:
        p = images.astype(np.float32) / np.float32(255.0)
    elif images.dtype.kind == "f":
        if images.size and not (images.min() >= 0 and images.max() <= 1):  # NaN fails too
            raise InputError(
                f"rate_code: field 'images' must hold intensities in [0, 1] when float, got "
                f"values in [{images.min()}, {images.max()}]"
            )
        p = images.astype(np.float32)
    else:
        raise InputError(
            f"rate_code: field 'images' must be uint8 (0..255) or float in [0, 1], "
            f"got dtype {images.dtype}"
        )
    draws = rng.random((int(T), *images.shape), dtype=np.float32)
    return (draws < p).astype(np.float32)


def shift_frames(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each sample's frames by whole pixels, filling with zeros.

    ``out[b, ..., y, x] = frames[b, ..., y - dy[b], x - dx[b]]`` where in range, else 0:
    positive ``dx`` moves content right (to larger x), positive ``dy`` down.

    Parameters
    ----------
    frames : ndarray, shape (B, ..., H, W)
        For example ``(B, T, C, H, W)``.
    shifts : ndarray, shape (B, 2), int
        ``(dy, dx)`` per sample.

    Returns
    -------
    ndarray, shape and dtype of ``frames``
    """
    frames = np.asarray(frames)
    shifts = np.asarray(shifts)
    if frames.ndim < 3:
        raise InputError(
            f"shift_frames: field 'frames' must have shape (B, ..., H, W), got {frames.shape}"
        )
    if shifts.shape != (frames.shape[0], 2) or shifts.dtype.kind not in "iu":
        raise InputError(
            f"shift_frames: field 'shifts' must be integers of shape "
            f"({frames.shape[0]}, 2), got {shifts.dtype} {shifts.shape}"
        )
    h, w = frames.shape[-2:]
    out = np.zeros_like(frames)

    def spans(d: int, n: int) -> tuple[slice, slice]:
        d = max(-n, min(n, d))
        return slice(max(d, 0), n + min(d, 0)), slice(max(-d, 0), n - max(d, 0))

    for b, (dy, dx) in enumerate(shifts.tolist()):
        (ys_out, ys_in), (xs_out, xs_in) = spans(dy, h), spans(dx, w)
        out[b, ..., ys_out, xs_out] = frames[b, ..., ys_in, xs_in]
    return out


def random_shift(frames: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each sample by random whole pixels in ``[-max_shift, max_shift]`` in x and y.

    The shifts are ``rng.integers(-max_shift, max_shift + 1, size=(B, 2))``, columns
    ``(dy, dx)``, applied by :func:`shift_frames` (zero fill).

    Parameters
    ----------
    frames : ndarray, shape (B, T, C, H, W)
        Any ``(B, ..., H, W)``.
    max_shift : int
        Non-negative; 0 returns a copy.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape and dtype of ``frames``
    """
    max_shift = whole(max_shift, "random_shift", "max_shift", 0)
    _check_rng("random_shift", rng)
    frames = np.asarray(frames)
    shifts = rng.integers(-int(max_shift), int(max_shift) + 1, size=(frames.shape[0], 2))
    return shift_frames(frames, shifts)


def batches(
    n: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> list[np.ndarray]:
    """Split sample indices ``0..n-1`` into batches.

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int
        Positive.
    rng : numpy.random.Generator
        Used for ``rng.permutation(n)`` when ``shuffle`` (needed only then).
    shuffle : bool
        Shuffle with ``rng``; else in order.
    drop_last : bool
        Drop a last batch smaller than ``batch_size``.

    Returns
    -------
    list of ndarray, each shape (batch_size,) (the last may be shorter), int64
    """
    n = whole(n, "batches", "n", 0)
    batch_size = whole(batch_size, "batches", "batch_size")
    if shuffle:
        _check_rng("batches", rng)
        order = rng.permutation(int(n)).astype(np.int64)
    else:
        order = np.arange(int(n), dtype=np.int64)
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size] for i in range(0, int(stop), int(batch_size))]
