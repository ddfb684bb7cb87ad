"""Networks as HDF5 files: :func:`save_network` and :func:`load_network`.

Layout (``format_version = 1``)::

    /                      attributes:
        format             "eventsim-network"
        format_version     1
        eventsim_version   version of eventsim that wrote the file ("unknown" if not installed)
        input_shape        int64 array, (n,) or (P, H, W)
        dt_us, T           int, only when the network has them
        sensor_size        int64 array (W, H, P), only when the network has one
        labels             array of UTF-8 strings, only when the network has them
        provenance_json    names of the provenance keys stored as JSON (see below), if any
    /provenance            group, one attribute per key: str, int, float, bool, or a list of
                           numbers / of strings (read back as a list). Any other JSON value
                           (a nested dict, None, a mixed or nested list) is stored as a JSON
                           string and its key listed in the root attribute ``provenance_json``.
                           ``eventsim_version`` is always recorded (added at save time if absent).
                           Tuples and 1-D arrays come back as lists, and JSON turns the keys of
                           nested dicts into strings.
    /layers/000, /layers/001, ...
                           one group per layer, in order; attribute ``kind`` (Dense, Conv2d,
                           AvgPool2d, SumPool2d, Flatten, NeuNorm); every kind but Flatten and
                           NeuNorm has the LIF attributes ``decay``, ``v_th``, ``reset``,
                           ``delay_us``, ``tau_us`` (only when set) and ``integer`` (True, only
                           for an integer layer); Conv2d has ``stride`` and ``padding``, the
                           pooling layers ``kernel_size`` and ``stride``; Dense and Conv2d have a float64
                           dataset ``weight`` and, when set, ``bias``. NeuNorm has the
                           attributes ``decay`` and ``scale`` and a float64 dataset ``alpha``.

A :class:`~eventsim.network.graph.Graph` is written as ``format_version = 2``: the root as
above, and instead of ``/layers``::

    /populations/000, ...  attributes ``name`` (string), ``shape`` (int64 array), ``decay``,
                           ``v_th`` (a dataset when one per channel), ``reset``, ``tau_us``
                           (only when set), ``integer`` (only when True)
    /projections/000, ...  attributes ``source``, ``target``; int64 dataset ``delay`` and
                           float64 dataset ``delay_us`` (scalar, per source or per synapse);
                           ``ops/000, ...`` one group per op, as a layer's group above without
                           the LIF attributes (``kind``, ``stride``, ``weight``, ...)

A chain is still written as version 1, so files of chains read in every eventsim since 0.1.
A network with a population that resets to a nonzero ``v_reset`` or leaks towards a nonzero
``v_leak`` is written as ``format_version = 3``: the layout of version 1 (a chain,
``/layers``) or 2 (a graph), and the attributes ``v_reset``, ``v_leak`` on each such layer or
population (absent: 0). Earlier eventsim versions refuse it rather than run it without.
A network with a current-based population (``syn_decay > 0``) or a refractory period is
written as ``format_version = 4``, the same with the attributes ``syn_decay`` and
``refractory_steps`` (absent: 0). A graph with a second current, an adaptive threshold or a
start (``v_init`` given) is written as ``format_version = 5``: the population attributes
``syn_decay_2``, ``adapt_decay``, ``adapt_jump`` (absent: 0) and ``v_init`` (an attribute,
or a float64 dataset of one per neuron; absent: ``v_leak``), and the projection attribute
``port`` (absent: 0); a readout decoded by its mean (a layer's or population's attribute
``readout = "mean"``; absent: ``"max"``) is version 5 too.

The root attribute ``eventsim_sha256`` holds the SHA-256 of everything else in the file
(:func:`eventsim.h5io.content_digest`); :func:`load_network` checks it and refuses a file
whose content changed, and warns about a file without one (written before eventsim 0.2, or
by another tool). Every dataset's storage is checked against its shape before it is read, and
its size against the memory budget (:mod:`eventsim.limits`).

Strings are written as UTF-8 and read whether h5py returns them as str or bytes (other tools
write fixed-length byte strings). Files are written to a temporary file in the target folder
and renamed onto the path, so a failed save leaves nothing behind. Nothing is pickled. h5py is
imported inside the functions.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from eventsim.errors import FormatError, NetworkError
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
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection, as_graph
from eventsim.network.layers import LAYER_TYPES, Flatten, NeuNorm
from eventsim.network.network import Network

FORMAT = "eventsim-network"
#: Version 2 stores graphs; chains are still written as version 1 (which every eventsim
#: since 0.1 reads).
FORMAT_VERSION = 5
#: What a projection's ops may be, by ``kind``.
OP_KINDS = {cls.kind: cls for cls in (*ops.OP_TYPES, NeuNorm)}
_LIF_FLOATS = ("decay", "v_th", "delay_us")
_INTS = {
    "Conv2d": ("stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride"),
    "SumPool2d": ("kernel_size", "stride"),
}
_ARRAYS = {"Dense": ("weight", "bias"), "Conv2d": ("weight", "bias"), "NeuNorm": ("alpha",)}
_REQUIRED_ARRAYS = ("weight", "alpha")
_NEUNORM_FLOATS = ("decay", "scale")


def _eventsim_version() -> str:
    try:
        return version("eventsim")
    except PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------- saving


def save_network(net: Network | Graph, path: str | os.PathLike) -> None:
    """Write ``net`` to an HDF5 file at ``path`` (layout in the module docstring).

    The network is checked again first (its layers may have been changed since it was
    built), then written to a temporary file beside ``path`` and renamed onto it: on any
    error the temporary file is removed and an existing file at ``path`` is left untouched.

    Parameters
    ----------
    net : Network or Graph
    path : str or PathLike

    Raises
    ------
    NetworkError
        The network is invalid, or a provenance value cannot be stored.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    import h5py

    if isinstance(net, Graph):
        checked = Graph(net.input_shape, net.populations, net.projections, net.dt_us, net.T,
                        net.sensor_size, net.labels)
    elif not isinstance(net, Network):
        raise TypeError(f"save_network: expected a Network or Graph, got {type(net).__name__}")
    else:
        checked = Network(net.layers, net.input_shape, net.dt_us, net.T, net.sensor_size,
                          net.labels)
    if checked.labels is not None and any("\x00" in label for label in checked.labels):
        raise NetworkError(f"network: field 'labels' {checked.labels!r} has a NUL character")
    provenance = _encode_provenance(net.provenance)
    with write_h5(path, "network") as f:
        _write(f, checked, provenance, h5py)


def _write(f, net: Network, provenance: tuple[dict[str, Any], list[str]], h5py) -> None:
    strings = h5py.string_dtype()
    f.attrs["format"] = FORMAT
    # a reset to v_reset or a leak towards v_leak: version 3, a synaptic current: 4; which
    # older readers refuse
    pops = as_graph(net).populations
    resets = any(n.v_reset != 0.0 or n.v_leak != 0.0 for n in pops)
    cuba = any(n.syn_decay != 0.0 or n.refractory_steps for n in pops)
    extra = any(p.readout != "max" for p in pops) or isinstance(net, Graph) and (
        any(p.syn_decay_2 or p.v_init is not None or p.adaptive for p in pops)
        or any(k.port for k in net.projections))  # version 5
    f.attrs["format_version"] = np.int64(5 if extra else 4 if cuba else 3 if resets else
                                         2 if isinstance(net, Graph) else 1)
    f.attrs["eventsim_version"] = _eventsim_version()
    f.attrs["input_shape"] = np.asarray(net.input_shape, dtype=np.int64)
    for name in ("dt_us", "T"):
        if getattr(net, name) is not None:
            f.attrs[name] = np.int64(getattr(net, name))
    if net.sensor_size is not None:
        f.attrs["sensor_size"] = np.asarray(net.sensor_size, dtype=np.int64)
    if net.labels is not None:
        f.attrs["labels"] = np.array(net.labels, dtype=strings)
    values, json_keys = provenance
    if json_keys:
        f.attrs["provenance_json"] = np.array(json_keys, dtype=strings)
    group = f.create_group("provenance")
    for key, value in values.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "U":
            value = np.array(value.tolist(), dtype=strings)
        group.attrs[key] = value
    if isinstance(net, Graph):
        pops = f.create_group("populations")
        for i, pop in enumerate(net.populations):
            group = pops.create_group(f"{i:03d}")
            group.attrs["name"], group.attrs["shape"] = pop.name, np.asarray(pop.shape, np.int64)
            _write_neurons(group, pop, ("decay", "v_th"))
            for name in ("syn_decay_2", "adapt_decay", "adapt_jump"):
                if getattr(pop, name):
                    group.attrs[name] = float(getattr(pop, name))
            if isinstance(pop.v_init, np.ndarray):
                group.create_dataset("v_init", data=pop.v_init.astype(np.float64))
            elif pop.v_init is not None:
                group.attrs["v_init"] = float(pop.v_init)
        projs = f.create_group("projections")
        for i, proj in enumerate(net.projections):
            group = projs.create_group(f"{i:03d}")
            group.attrs["source"], group.attrs["target"] = proj.source, proj.target
            if proj.port:
                group.attrs["port"] = np.int64(proj.port)
            group.create_dataset("delay", data=np.asarray(proj.delay, np.int64))
            group.create_dataset("delay_us", data=np.asarray(proj.delay_us, np.float64))
            ops_group = group.create_group("ops")
            for j, op in enumerate(proj.ops):
                _write_op(ops_group.create_group(f"{j:03d}"), op)
        return
    layers = f.create_group("layers")
    for i, layer in enumerate(net.layers):
        _write_layer(layers.create_group(f"{i:03d}"), layer)


def _write_layer(group, layer) -> None:
    if isinstance(layer, (Flatten, NeuNorm)):
        _write_op(group, layer)
        return
    _write_neurons(group, layer, _LIF_FLOATS)
    _write_op(group, layer)


def _write_op(group, op) -> None:
    kind = type(op).kind
    group.attrs["kind"] = kind
    if isinstance(op, NeuNorm):
        for name in _NEUNORM_FLOATS:
            group.attrs[name] = float(getattr(op, name))
        group.create_dataset("alpha", data=np.asarray(op.alpha, dtype=np.float64))
        return
    for name in _INTS.get(kind, ()):
        group.attrs[name] = np.int64(getattr(op, name))
    for name in _ARRAYS.get(kind, ()):
        if getattr(op, name) is not None:
            group.create_dataset(name, data=_stored(np.asarray(getattr(op, name), np.float64)))


def _stored(a: np.ndarray) -> np.ndarray:
    """A weight or bias as written: whole numbers (an integer layer's) in the narrowest integer
    type that holds them exactly, read back as the same float64 values (an int8 network's file
    is an eighth of its float64 one); anything else as float64."""
    if a.size and np.isfinite(a).all() and np.array_equal(a, np.round(a)):
        for kind in (np.int8, np.int16, np.int32):
            if np.iinfo(kind).min <= a.min() and a.max() <= np.iinfo(kind).max:
                return a.astype(kind)
    return a


def _write_neurons(group, layer, floats) -> None:
    for name in floats:
        value = getattr(layer, name)
        if isinstance(value, np.ndarray):  # thresholds per output channel
            group.create_dataset(name, data=value.astype(np.float64))
        else:
            group.attrs[name] = float(value)
    group.attrs["reset"] = str(layer.reset)
    for name in ("v_reset", "v_leak", "syn_decay"):
        if getattr(layer, name) != 0.0:
            group.attrs[name] = float(getattr(layer, name))
    if layer.refractory_steps:
        group.attrs["refractory_steps"] = np.int64(layer.refractory_steps)
    if layer.readout != "max":
        group.attrs["readout"] = str(layer.readout)
    if layer.tau_us is not None:
        group.attrs["tau_us"] = float(layer.tau_us)
    if layer.integer:
        group.attrs["integer"] = True


def _encode_provenance(prov: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split provenance into attribute values and JSON-encoded keys (see module docstring).

    A str, int (int64 range), float or bool, and a list (or tuple, or 1-D array) whose items
    are all ints, all floats, all bools or all strings, become plain attributes; anything
    else JSON-serialisable (nested dicts, None, mixed lists, strings holding NUL) is stored
    as JSON text.
    """
    values: dict[str, Any] = {}
    json_keys: list[str] = []
    for key, value in dict(prov or {}).items():
        if not isinstance(key, str) or not key or "\x00" in key:
            raise NetworkError(
                f"network: provenance key {key!r} must be a non-empty str without NUL"
            )
        if isinstance(value, (np.ndarray, np.generic)):
            value = value.tolist()
        if isinstance(value, tuple):
            value = list(value)
        if _plain(value):
            values[key] = value
        elif isinstance(value, list) and any(
            all(_plain(x) and type(x) is t for x in value) for t in (int, float, bool, str)
        ):
            values[key] = np.array(value, dtype=None if value else np.float64)
        else:
            try:
                values[key] = json.dumps(value)
            except (TypeError, ValueError) as e:
                raise NetworkError(
                    f"network: provenance value of {key!r} ({type(value).__name__}) cannot be "
                    f"saved: expected str, int, float, bool, a list of numbers or strings, or "
                    f"a JSON-serialisable value ({e})"
                ) from None
            json_keys.append(key)
    values.setdefault("eventsim_version", _eventsim_version())
    return values, json_keys


def _plain(v: Any) -> bool:
    """Whether ``v`` is stored as an attribute as it is: str, int64, float, bool."""
    if isinstance(v, str):
        return "\x00" not in v
    if isinstance(v, int) and not isinstance(v, bool):
        return -(2**63) <= v < 2**63
    return isinstance(v, (float, bool))


# ----------------------------------------------------------------------------- loading


def load_network(path: str | os.PathLike) -> Network | Graph:
    """Read a network written by :func:`save_network`.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    Network or Graph
        A Graph for a file of format version 2.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    FormatError
        ``path`` is a folder, not an HDF5 file, an HDF5 file of another kind, a newer
        format version, damaged (its checksum does not match, a dataset claims more data
        than the file holds, h5py cannot read it), or a field is missing or of the wrong
        type; the message names the file, the group and the field.
    ResourceError
        A dataset is larger than the memory budget.
    NetworkError
        The file is well formed but describes an invalid network (a NaN weight, decay 1.5,
        ...); the message starts with the file path.
    """
    import h5py

    with open_for_reading(path, "network") as f:
        name = os.fspath(path)
        check_format(f.attrs, name, FORMAT, "network file")
        verify_digest(f, name, "network")
        parts = _read(f, name, h5py)
    try:
        return Graph(**parts) if "populations" in parts else Network(**parts)
    except NetworkError as e:
        raise NetworkError(f"{name}: {e}") from e


def _attr_str(attrs, file: str, where: str, field: str, required: bool = True) -> str | None:
    if field not in attrs:
        if required:
            raise fail(file, where, field, "is missing; expected a string")
        return None
    s = str_attr(attrs[field])
    if s is None:
        raise fail(file, where, field, f"is {attrs[field]!r}; expected a string")
    return s


def _attr_ints(attrs, file: str, where: str, field: str, required: bool = True):
    if field not in attrs:
        if required:
            raise fail(file, where, field, "is missing; expected a list of integers")
        return None
    v = np.asarray(attrs[field])
    if v.ndim != 1 or v.dtype.kind not in "iu":
        raise fail(file, where, field, f"is {attrs[field]!r}; expected a list of integers")
    return tuple(int(x) for x in v)


def _read(f, file: str, h5py) -> dict[str, Any]:
    root = f.attrs
    check_format(root, file, FORMAT, "network file")
    ver = num_attr(root, file, "/", "format_version", integer=True)
    if ver > FORMAT_VERSION or ver < 1:
        raise fail(
            file,
            "/",
            "format_version",
            f"is {ver}; this eventsim reads versions 1 to {FORMAT_VERSION} "
            f"(written by eventsim {str_attr(root.get('eventsim_version', b'?'))}: upgrade)",
        )
    parts: dict[str, Any] = {"input_shape": _attr_ints(root, file, "/", "input_shape")}
    for name in ("dt_us", "T"):
        parts[name] = num_attr(root, file, "/", name, integer=True, required=False)
    parts["sensor_size"] = _attr_ints(root, file, "/", "sensor_size", required=False)
    parts["labels"] = _str_list(root, file, "/", "labels")
    parts["provenance"] = _read_provenance(f, file, h5py)
    if ver == 1 or (ver >= 3 and "layers" in f):
        parts["layers"] = [_read_layer(g, file, where, h5py)
                           for where, g in _numbered(f, "/layers", file, h5py)]
        return parts
    parts["populations"] = []
    for where, g in _numbered(f, "/populations", file, h5py):
        kw = _read_neurons(g, file, where, h5py, ("decay", "v_th"))
        for name in ("syn_decay_2", "adapt_decay", "adapt_jump"):
            kw[name] = num_attr(g.attrs, file, where, name, required=False) or 0.0
        kw["v_init"] = (_dataset(g, file, where, "v_init", h5py, np.float64) if "v_init" in g
                        else num_attr(g.attrs, file, where, "v_init", required=False))
        parts["populations"].append(Population(
            _attr_str(g.attrs, file, where, "name"), _attr_ints(g.attrs, file, where, "shape"),
            **kw))
    parts["projections"] = []
    for where, g in _numbered(f, "/projections", file, h5py):
        delays = [_dataset(g, file, where, n, h5py, np.int64 if n == "delay" else np.float64)
                  for n in ("delay", "delay_us")]
        parts["projections"].append(Projection(
            _attr_str(g.attrs, file, where, "source"), _attr_str(g.attrs, file, where, "target"),
            [_read_op(og, file, ow, h5py) for ow, og in _numbered(f, f"{where}/ops", file, h5py)],
            *(d if d.ndim else d[()] for d in delays),
            port=num_attr(g.attrs, file, where, "port", integer=True, required=False) or 0))
    return parts


def _numbered(f, where: str, file: str, h5py):
    """The groups ``where/000, 001, ...`` as ``(path, group)``, checked numbered without
    gaps."""
    folder = f.get(where)
    if not isinstance(folder, h5py.Group):
        raise fail(file, where.rsplit("/", 1)[0] or "/", where.rsplit("/", 1)[1],
                   f"is missing; expected a group {where}/000, ...")
    names = sorted(folder, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
    if not names or any(not n.isdigit() or int(n) != i for i, n in enumerate(names)):
        raise FormatError(
            f"{file}: {where}: holds {names}; expected groups 000, 001, ... numbered without gaps"
        )
    for key in names:
        group = folder[key]
        if not isinstance(group, h5py.Group):
            raise fail(file, f"{where}/{key}", "kind", "is missing: not a group")
        yield f"{where}/{key}", group


def _dataset(group, file: str, where: str, n: str, h5py, dtype) -> np.ndarray:
    ds = group.get(n)
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf" or ds.shape is None:
        raise fail(file, where, n, f"is {ds!r}; expected a numeric dataset")
    return read_dataset(ds, file, dtype)


def _str_list(attrs, file: str, where: str, field: str) -> list[str] | None:
    if field not in attrs:
        return None
    v = np.asarray(attrs[field], dtype=object).ravel()
    out = [str_attr(x) for x in v]
    if np.asarray(attrs[field]).ndim != 1 or any(s is None for s in out):
        raise fail(file, where, field, f"is {attrs[field]!r}; expected a list of strings")
    return out


def _read_layer(group, file: str, where: str, h5py):
    kind = _attr_str(group.attrs, file, where, "kind")
    if kind not in LAYER_TYPES:
        raise fail(file, where, "kind", f"is {kind!r}; expected one of {', '.join(LAYER_TYPES)}")
    if kind in ("Flatten", "NeuNorm"):
        return _read_op(group, file, where, h5py)
    kw = _read_neurons(group, file, where, h5py, _LIF_FLOATS)
    return LAYER_TYPES[kind](**kw, **_op_fields(group, file, where, kind, h5py))


def _read_neurons(group, file: str, where: str, h5py, floats) -> dict[str, Any]:
    kw = {n: num_attr(group.attrs, file, where, n) for n in floats
          if n != "v_th" or "v_th" not in group}
    if "v_th" in group:  # one threshold per output channel
        ds = group["v_th"]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf" or ds.ndim != 1:
            raise fail(file, where, "v_th", f"is {ds!r}; expected a 1-D numeric dataset")
        kw["v_th"] = read_dataset(ds, file, np.float64)
    kw["reset"] = _attr_str(group.attrs, file, where, "reset")
    kw["tau_us"] = num_attr(group.attrs, file, where, "tau_us", required=False)
    for name in ("v_reset", "v_leak", "syn_decay"):
        kw[name] = num_attr(group.attrs, file, where, name, required=False) or 0.0
    kw["refractory_steps"] = num_attr(group.attrs, file, where, "refractory_steps",
                                      integer=True, required=False) or 0
    kw["readout"] = _attr_str(group.attrs, file, where, "readout", required=False) or "max"
    integer = group.attrs.get("integer", False)
    if not isinstance(integer, (bool, np.bool_)):
        raise fail(file, where, "integer", f"is {integer!r}; expected a boolean")
    kw["integer"] = bool(integer)
    return kw


def _read_op(group, file: str, where: str, h5py):
    kind = _attr_str(group.attrs, file, where, "kind")
    if kind not in OP_KINDS:
        raise fail(file, where, "kind", f"is {kind!r}; expected one of {', '.join(OP_KINDS)}")
    if kind == "Flatten":
        return Flatten()
    kw: dict[str, Any] = {}
    if kind == "NeuNorm":
        kw = {n: num_attr(group.attrs, file, where, n) for n in _NEUNORM_FLOATS}
    return OP_KINDS[kind](**kw, **_op_fields(group, file, where, kind, h5py))


def _op_fields(group, file: str, where: str, kind: str, h5py) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for n in _INTS.get(kind, ()):
        kw[n] = num_attr(group.attrs, file, where, n, integer=True)
    for n in _ARRAYS.get(kind, ()):
        if n not in group:
            if n in _REQUIRED_ARRAYS:
                raise fail(file, where, n, "is missing; expected a float64 dataset")
            kw[n] = None
            continue
        kw[n] = _dataset(group, file, where, n, h5py, np.float64)
    return kw


def _read_provenance(f, file: str, h5py) -> dict[str, Any]:
    group = f.get("provenance")
    if group is None:
        return {}
    if not isinstance(group, h5py.Group):
        raise fail(file, "/", "provenance", "is not a group")
    json_keys = set(_str_list(f.attrs, file, "/", "provenance_json") or ())
    out: dict[str, Any] = {}
    for key, value in group.attrs.items():
        where = "/provenance"
        if key in json_keys:
            try:
                out[key] = json.loads(_attr_str(group.attrs, file, where, key))
            except ValueError as e:
                raise fail(file, where, key, f"is not valid JSON ({e})") from None
        elif isinstance(value, np.ndarray) and value.ndim > 0:
            out[key] = (
                _str_list(group.attrs, file, where, key)
                if value.dtype.kind in "OSU"
                else value.tolist()
            )
        elif isinstance(value, (np.bool_, bool)):
            out[key] = bool(value)
        elif isinstance(value, (np.integer, np.floating)):
            out[key] = value.item()
        else:
            s = str_attr(value)
            out[key] = s if s is not None else value
    return out
