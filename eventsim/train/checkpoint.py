"""Training checkpoints as HDF5 files: :func:`save_checkpoint` and :func:`load_checkpoint`.

Layout (``format_version = 1``)::

    /                  attributes:
        format           "eventsim-checkpoint"
        format_version   1
        eventsim_version version of eventsim that wrote the file ("unknown" if not installed)
        epoch            int64, epochs completed
        rng_state        JSON text of ``rng.bit_generator.state`` (arrays as lists)
        extra            JSON text of the ``extra`` dict
    /weights           one dataset per weight, in the order given, dtype kept
    /optimizer         one dataset per array of the optimiser's ``state_dict()`` (dtype kept),
                       one attribute per number (int64, float64) or bool or str

Arrays are stored as they are (no compression, no conversion), so weights, moments and the
generator's state come back bit for bit, and a resumed run takes the same steps as one that
never stopped. The file is written to a temporary file beside ``path``, flushed, and renamed
onto it: on any error the temporary file is removed and an existing file at ``path`` is left
untouched; a full disk is an OutputError naming the file. The root attribute
``eventsim_sha256`` holds the SHA-256 of the rest (:func:`eventsim.h5io.content_digest`),
checked on loading: a checkpoint whose bytes changed is refused, not resumed from. Nothing is
pickled. h5py is imported inside the functions.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from eventsim.errors import InputError, whole
from eventsim.h5io import (
    check_format,
    fail,
    num_attr,
    open_for_reading,
    read_dataset,
    str_attr,
    verify_digest,
    write_h5,
)

FORMAT = "eventsim-checkpoint"
FORMAT_VERSION = 1


def _eventsim_version() -> str:
    try:
        return version("eventsim")
    except PackageNotFoundError:
        return "unknown"


def _json_default(value: Any) -> Any:
    """numpy values in JSON: arrays as lists, scalars as Python numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_name(what: str, name: Any) -> None:
    if not isinstance(name, str) or not name or "/" in name or "\x00" in name or name == ".":
        raise InputError(
            f"save_checkpoint: {what} name {name!r} must be a non-empty str without '/' or NUL"
        )


# ----------------------------------------------------------------------------- saving


def save_checkpoint(
    path: str | os.PathLike,
    weights: dict[str, np.ndarray],
    optimizer_state: dict[str, np.ndarray | float | int],
    rng: np.random.Generator,
    epoch: int,
    extra: dict | None = None,
) -> None:
    """Write a training checkpoint to ``path`` atomically (layout in the module docstring).

    Parameters
    ----------
    path : str or PathLike
    weights : dict of str to ndarray
        Trained arrays by name (``"0.weight"``), any numeric dtype and shape; kept in order.
    optimizer_state : dict of str to (ndarray or float or int)
        ``optimizer.state_dict()``; bools and strings are stored too, numpy scalars come
        back as Python numbers.
    rng : numpy.random.Generator
        Its bit generator's state is stored; :func:`load_checkpoint` returns a generator
        that continues the same stream.
    epoch : int
        Epochs completed (non-negative).
    extra : dict, optional
        Anything JSON can hold (configuration, history). JSON turns tuples into lists and
        dict keys into strings; numpy arrays and scalars are stored as lists and numbers.

    Raises
    ------
    InputError
        An argument of the wrong kind; the message names the field or key. Nothing is
        written.
    FileNotFoundError
        The folder of ``path`` does not exist.
    OutputError
        Writing failed (a full disk, ...); nothing is left at ``path`` but what was there.
    """
    if not isinstance(weights, dict):
        raise InputError(
            f"save_checkpoint: field 'weights' must be a dict, got {type(weights).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, w in weights.items():
        _check_name("weight", name)
        if not isinstance(w, np.ndarray) or w.dtype.kind not in "biuf":
            raise InputError(
                f"save_checkpoint: weight {name!r} must be a numeric ndarray, got "
                f"{type(w).__name__} {getattr(w, 'dtype', '')}"
            )
        arrays[name] = w
    opt_arrays, opt_attrs = _split_state(optimizer_state)
    if not isinstance(rng, np.random.Generator):
        raise InputError(
            f"save_checkpoint: field 'rng' must be a numpy.random.Generator, got "
            f"{type(rng).__name__}"
        )
    rng_json = json.dumps(rng.bit_generator.state, default=_json_default)
    epoch = whole(epoch, "save_checkpoint", "epoch", 0)
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise InputError(
            f"save_checkpoint: field 'extra' must be a dict, got {type(extra).__name__}"
        )
    try:
        extra_json = json.dumps(extra, default=_json_default)
    except (TypeError, ValueError) as e:
        raise InputError(f"save_checkpoint: field 'extra' cannot be stored as JSON ({e})") from None

    with write_h5(path, "checkpoint", track_order=True) as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["eventsim_version"] = _eventsim_version()
        f.attrs["epoch"] = np.int64(epoch)
        f.attrs["rng_state"] = rng_json
        f.attrs["extra"] = extra_json
        _write_group(f.create_group("weights", track_order=True), arrays, {})
        _write_group(f.create_group("optimizer", track_order=True), opt_arrays, opt_attrs)


def _split_state(state: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Optimiser state into arrays (datasets) and scalars (attributes), checked."""
    if not isinstance(state, dict):
        raise InputError(
            f"save_checkpoint: field 'optimizer_state' must be a dict, got {type(state).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for key, value in state.items():
        _check_name("optimizer_state", key)
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise InputError(
                    f"save_checkpoint: optimizer_state field {key!r} must be a "
                    f"numeric array, got dtype {value.dtype}"
                )
            arrays[key] = value
        elif isinstance(value, (bool, np.bool_)):
            attrs[key] = np.bool_(value)
        elif isinstance(value, (int, np.integer)):
            if not -(2**63) <= int(value) < 2**63:
                raise InputError(
                    f"save_checkpoint: optimizer_state field {key!r} = {value} "
                    f"does not fit in int64"
                )
            attrs[key] = np.int64(value)
        elif isinstance(value, (float, np.floating)):
            attrs[key] = np.float64(value)
        elif isinstance(value, str) and "\x00" not in value:
            attrs[key] = value
        else:
            raise InputError(
                f"save_checkpoint: optimizer_state field {key!r} must be an "
                f"ndarray, int, float, bool or str, got {type(value).__name__}"
            )
    return arrays, attrs


def _write_group(group, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    for name, a in arrays.items():
        group.create_dataset(name, data=a)
    for name, v in attrs.items():
        group.attrs[name] = v


# ----------------------------------------------------------------------------- loading


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    dict
        ``weights`` (dict of str to ndarray, in the saved order, dtype kept),
        ``optimizer_state`` (dict: arrays, ints, floats, bools, strs), ``rng`` (a new
        ``numpy.random.Generator`` continuing the saved stream), ``epoch`` (int),
        ``extra`` (dict, from JSON).

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    FormatError
        A folder, not an HDF5 file, an HDF5 file of another kind, a newer format version,
        a damaged file, or a field missing or of the wrong kind; the message names the file
        and the field.
    """
    import h5py

    with open_for_reading(path, "checkpoint") as f:
        name = os.fspath(path)
        check_format(f.attrs, name, FORMAT, "checkpoint")
        verify_digest(f, name, "checkpoint")
        return _read(f, name, h5py)


def _json_attr(attrs, file: str, field: str) -> Any:
    if field not in attrs:
        raise fail(file, "/", field, "is missing; expected JSON text")
    text = str_attr(attrs[field])
    if text is None:
        raise fail(file, "/", field, f"is {attrs[field]!r}; expected JSON text")
    try:
        return json.loads(text)
    except ValueError as e:
        raise fail(file, "/", field, f"is not valid JSON ({e})") from None


def _read(f, file: str, h5py) -> dict[str, Any]:
    root = f.attrs
    check_format(root, file, FORMAT, "checkpoint")
    ver = num_attr(root, file, "/", "format_version", integer=True)
    if not 1 <= ver <= FORMAT_VERSION:
        raise fail(
            file,
            "/",
            "format_version",
            f"is {ver}; this eventsim reads versions 1 to {FORMAT_VERSION} (upgrade)",
        )
    epoch = num_attr(root, file, "/", "epoch", integer=True)
    if epoch < 0:
        raise fail(file, "/", "epoch", f"is {epoch}; expected >= 0")
    extra = _json_attr(root, file, "extra")
    if not isinstance(extra, dict):
        raise fail(file, "/", "extra", f"is {type(extra).__name__} JSON; expected an object")
    rng = _rng(_json_attr(root, file, "rng_state"), file)
    weights, _ = _read_group(f, file, "weights", h5py)
    opt_arrays, opt_attrs = _read_group(f, file, "optimizer", h5py)
    optimizer_state: dict[str, Any] = {**opt_attrs, **opt_arrays}
    return {
        "weights": weights,
        "optimizer_state": optimizer_state,
        "rng": rng,
        "epoch": epoch,
        "extra": extra,
    }


def _rng(state: Any, file: str) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise fail(
            file,
            "/",
            "rng_state",
            f"names bit generator {name!r}; expected one of numpy's (PCG64, ...)",
        )
    bit_generator = cls()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise fail(file, "/", "rng_state", f"is not a valid {name} state ({e!r})") from None
    return np.random.Generator(bit_generator)


def _read_group(f, file: str, group_name: str, h5py) -> tuple[dict[str, np.ndarray], dict]:
    group = f.get(group_name)
    if not isinstance(group, h5py.Group):
        raise fail(file, "/", group_name, "is missing; expected a group")
    arrays: dict[str, np.ndarray] = {}
    for key, ds in group.items():
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf":
            raise fail(file, f"/{group_name}", key, f"is {ds!r}; expected a numeric dataset")
        arrays[key] = np.asarray(read_dataset(ds, file))
    attrs: dict[str, Any] = {}
    for key, value in group.attrs.items():
        if isinstance(value, (np.bool_, bool)):
            attrs[key] = bool(value)
        elif isinstance(value, (np.integer, np.floating)):
            attrs[key] = value.item()
        else:
            s = str_attr(value)
            if s is None:
                raise fail(
                    file, f"/{group_name}", key, f"is {value!r}; expected a number, bool or str"
                )
            attrs[key] = s
    return arrays, attrs
