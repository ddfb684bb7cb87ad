"""NIR (Neuromorphic Intermediate Representation) in and out, through the ``nir`` package.

Export (:func:`to_nir`) writes each layer as its projection node (``Affine``/``Linear``,
``Conv2d``, ``SumPool2d``, ``AvgPool2d``) followed by a neuron node, in a chain from ``input``
to ``output`` (with an explicit ``Flatten`` before a dense layer that eventsim flattens
implicitly). NIR neurons are continuous-time; a discrete layer of step ``dt`` becomes

* ``LIF`` with ``tau = -dt / ln(decay)`` (the exact exponential: ``decay = exp(-dt / tau)``),
  ``r = tau`` (an input weight ``w`` moves ``v`` by ``r * w / tau = w``), ``v_leak = 0``,
  ``v_reset = 0`` and ``v_threshold = v_th``;
* ``IF`` with ``r = 1`` for ``decay == 1``.

Each neuron node's metadata also carries ``eventsim_decay``, ``eventsim_reset`` (``"zero"`` or
``"subtract"``: NIR resets to ``v_reset``, so a subtract reset is known only from it) and
``dt_s``, so eventsim reads back exactly what it wrote; the graph's metadata carries ``dt_s``,
the provenance (``eventsim_provenance``, JSON) and, where the network has them,
``eventsim_T``, ``eventsim_sensor_size`` and ``eventsim_labels``.

Import (:func:`from_nir`) needs ``dt`` (given, or the ``dt_s`` the graph carries) and says how
it discretises: by default the same exact exponential, ``decay = exp(-dt / tau)``, with the
input gain ``r / tau`` (LIF) or ``r`` (IF) folded into the projection's weights and bias;
forward Euler and zero-order hold read graphs snnTorch, Norse and Sinabs wrote (see
:func:`from_nir`). Anything that does not map exactly raises
:class:`~eventsim.errors.NetworkError` naming the node and the field: a leak towards a
nonzero ``v_leak``, a reset to a nonzero value, ``LI`` / ``CubaLIF`` neurons, dilation or
groups, asymmetric kernels or padding, a partial ``Flatten``, neuron parameters whose shape
is not the layer's, a graph that is not a chain.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eventsim.errors import EventsimError, FormatError, InputError, NetworkError
from eventsim.fileio import atomic_path, deferred_signals, input_path
from eventsim.h5io import (
    add_digest,
    check_datasets,
    guarded_file,
    open_for_reading,
    verify_digest,
)
from eventsim.limits import check_memory
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, SumPool2d, has_neurons
from eventsim.network.network import Network, layer_name, require_chain

if TYPE_CHECKING:  # imported by the functions that need it, not with eventsim
    import nir


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - a dependency
        raise NetworkError("NIR needs the nir package: pip install nir") from None
    return nir


def to_nir(net: Network, path: str | Path | None = None, dt_us: int | None = None):
    """The NIR graph of ``net``, written to ``path`` if given.

    Parameters
    ----------
    net : Network
        Float layers only (integer layers have a truncating decay NIR cannot express).
    path : str or Path, optional
        File to write (HDF5, through a temporary file: nothing half-written is left).
    dt_us : int, optional
        The step in microseconds the layers' ``decay`` refers to; needed when ``net.dt_us``
        is None, and must equal it otherwise.

    Returns
    -------
    nir.NIRGraph
        The chain ``input -> (projection -> neurons)* -> output`` (module docstring).

    Raises
    ------
    NetworkError
        No step known, a step that contradicts ``net.dt_us``, or a layer without a NIR node.
    """
    require_chain(net, "to_nir")
    nir = _nir()
    if dt_us is not None:
        _check_dt_us("to_nir", dt_us)
        if net.dt_us is not None and dt_us != net.dt_us:
            raise NetworkError(f"to_nir: field 'dt_us' is {dt_us} but the network's decays are "
                               f"per step of {net.dt_us} us; leave dt_us out")
    dt_us = dt_us if dt_us is not None else net.dt_us
    if dt_us is None:
        raise NetworkError("to_nir: the network has no dt_us; give dt_us (the step the decay "
                           "refers to)")
    dt = dt_us * 1e-6
    # five parameter arrays per neuron (float64), and their copies while writing
    check_memory(10 * 8 * net.n_neurons, f"to_nir: the NIR neuron nodes of {net.n_neurons} "
                 "neurons (one value per neuron and parameter)")
    nodes = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges, last = [], "input"
    for i, layer in enumerate(net.layers):
        name = layer_name(i, layer)
        if not has_neurons(layer) and not isinstance(layer, Flatten):
            raise NetworkError(f"{name}: {type(layer).__name__} has no NIR node")
        if getattr(layer, "integer", False):
            raise NetworkError(f"{name}: integer layers (truncating decay) have no NIR node")
        in_shape = net.input_shape_of(i)
        if isinstance(layer, Flatten):
            node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
            nodes[f"{i}.flatten"], last = node, _chain(edges, last, f"{i}.flatten")
            continue
        out_shape = net.shapes[i]
        if isinstance(layer, Dense) and len(in_shape) > 1:  # eventsim flattens implicitly
            node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1,
                               metadata={"eventsim_implicit": True})
            nodes[f"{i}.flatten"], last = node, _chain(edges, last, f"{i}.flatten")
        if isinstance(layer, Dense):
            weight = layer.weight
            proj = (nir.Affine(weight, np.asarray(layer.bias)) if layer.bias is not None
                    else nir.Linear(weight))
        elif isinstance(layer, Conv2d):
            bias = layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])
            proj = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=layer.weight,
                              stride=layer.stride, padding=layer.padding, dilation=1, groups=1,
                              bias=np.asarray(bias))
        else:
            cls = nir.SumPool2d if isinstance(layer, SumPool2d) else nir.AvgPool2d
            k, s = layer.kernel_size, layer.stride
            proj = cls(kernel_size=np.array([k, k]), stride=np.array([s, s]),
                       padding=np.array([0, 0]))
        nodes[f"{i}.proj"], last = proj, _chain(edges, last, f"{i}.proj")
        meta = {"eventsim_decay": float(layer.decay), "eventsim_reset": layer.reset, "dt_s": dt}
        ones = np.ones(out_shape)
        if layer.decay == 1.0:
            neuron = nir.IF(r=ones, v_threshold=ones * layer.v_th, v_reset=0 * ones,
                            metadata=meta)
        else:
            tau = -dt / math.log(layer.decay)
            neuron = nir.LIF(tau=ones * tau, r=ones * tau, v_leak=0 * ones,
                             v_threshold=ones * layer.v_th, v_reset=0 * ones, metadata=meta)
        nodes[f"{i}.lif"], last = neuron, _chain(edges, last, f"{i}.lif")
    nodes["output"] = nir.Output(output_type={"output": np.array(net.shapes[-1])})
    _chain(edges, last, "output")
    meta = {"dt_s": dt, "eventsim_provenance": json.dumps(net.provenance, default=_jsonable)}
    if net.T is not None:
        meta["eventsim_T"] = int(net.T)
    if net.sensor_size is not None:
        meta["eventsim_sensor_size"] = np.array(net.sensor_size, np.int64)
    if net.labels is not None:
        meta["eventsim_labels"] = list(net.labels)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
    if path is not None:  # through a temporary file: nothing half-written is left at path
        with atomic_path(path, "NIR graph") as tmp, deferred_signals(), \
                guarded_file(tmp) as fh:
            nir.write(fh, graph)  # through a file object: a full disk is an error, not a crash
            fh.check()  # a failed file is discarded: nothing to hash
            add_digest(fh, str(path))
    return graph


def _jsonable(value):
    """numpy values in provenance as plain JSON (anything else as its text)."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else str(value)


def _check_dt_us(where: str, dt_us) -> None:
    if not (isinstance(dt_us, numbers.Integral) and not isinstance(dt_us, bool) and dt_us > 0):
        raise NetworkError(f"{where}: field 'dt_us' must be a positive integer, got {dt_us!r}")


def _read(nir, path: Path):
    """The graph in the NIR file ``path``: its checksum verified (files eventsim wrote) and
    every dataset checked against the data present and the memory budget before ``nir.read``
    loads them whole."""
    try:
        with open_for_reading(path, "NIR") as f:
            verify_digest(f, str(path), "NIR graph")
            check_memory(2 * check_datasets(f, str(path)),
                         f"{path}: reading the NIR graph's arrays")
    except FormatError as err:
        detail = str(err).removeprefix(f"{path}: ")
        raise FormatError(f"{path}: not a readable NIR graph ({detail})") from err
    try:
        return nir.read(str(path), type_check=False)
    except EventsimError:
        raise
    except Exception as err:  # h5py and nir raise OSError, KeyError, ValueError, ...
        raise FormatError(f"{path}: not a readable NIR graph ({type(err).__name__}: "
                          f"{err})") from err


def _chain(edges: list, last: str, name: str) -> str:
    edges.append((last, name))
    return name


def _order(graph) -> list[str]:
    """The nodes from ``input`` to ``output`` of a chain graph, else NetworkError."""
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise NetworkError(f"from_nir: edge ({a!r}, {b!r}) names node {end!r}, which "
                                   "the graph does not have")
        succ.setdefault(a, []).append(b)
    starts = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(starts) != 1:
        raise NetworkError(f"from_nir: the graph has {len(starts)} Input nodes; expected one")
    order, node = [starts[0]], starts[0]
    while type(graph.nodes[node]).__name__ != "Output":
        nxt = succ.get(node, [])
        if len(nxt) != 1:
            raise NetworkError(f"from_nir: node {node!r} has {len(nxt)} successors; eventsim "
                               "runs feed-forward chains")
        node = nxt[0]
        if node in order:
            raise NetworkError(f"from_nir: node {node!r} closes a loop; eventsim runs "
                               "feed-forward chains")
        order.append(node)
    off_chain = sorted(set(graph.nodes) - set(order))
    if off_chain:
        feeds = {b for a, b in graph.edges if a == off_chain[0]}
        into = f" (it feeds {', '.join(map(repr, sorted(feeds)))})" if feeds else ""
        raise NetworkError(f"from_nir: node {off_chain[0]!r} is not on the chain from "
                           f"{starts[0]!r} to {order[-1]!r}{into}; eventsim runs every node of a "
                           "graph or refuses it (a projection into the output from outside "
                           "the chain would be dropped)")
    return order


DISCRETISATIONS = ("exact", "euler", "zoh")


def from_nir(graph_or_path: str | Path | nir.NIRGraph, dt_us: int | None = None,
             discretisation: str = "exact", reset: str | None = None,
             tau_scale: float = 1.0) -> Network:
    """An eventsim network from a NIR graph or file.

    ``dt_us``: the step in microseconds to discretise with; without it, the ``dt_s`` in the
    graph's metadata (a whole number of microseconds), else an error for the first LIF node.

    ``discretisation``: ``"exact"`` (default) steps a LIF node with ``decay = exp(-dt / tau)``
    and input gain ``r / tau`` (a spike is a delta of current); ``"euler"`` with ``decay = 1 -
    dt / tau`` and gain ``r * dt / tau``, the forward-Euler convention of snnTorch's exporter
    (``tau = dt / (1 - beta)``, ``r = tau / dt``, ``dt = 1e-4`` s: ``dt_us=100``); ``"zoh"``
    with ``decay = exp(-dt / tau)`` and gain ``r * (1 - decay)`` (the input held over the
    step), the convention of Sinabs' ``LIF`` (``norm_input=True``; its ``tau`` counts steps:
    ``dt_us=1_000_000``, or any step ``D`` with ``tau_scale=D * 1e-6``).

    ``reset``: how neuron nodes with ``v_reset = 0`` (or none) reset: NIR's own meaning,
    ``"zero"`` (default), or ``"subtract"`` where the writer subtracted the threshold, which
    NIR cannot say (Sinabs' default ``MembraneSubtract``; nir fills a missing ``v_reset`` with
    0).

    ``tau_scale``: every LIF ``tau`` in the graph is multiplied by it before discretising. Files
    Norse 1.1.0 wrote carry ``dt * tau`` (``dt / tau_mem_inv``, norse issue #411): read them
    with ``tau_scale = 1 / dt_s`` (1000 for Norse's default 1 ms), ``discretisation="euler"``
    (its ``LIFBoxCell`` is forward Euler with ``r = 1``) and ``dt_us`` its step.

    Framework conventions, each tested on a file the framework wrote (``tests/data``):

    ========= =============================================================================
    snnTorch  ``dt_us=100, discretisation="euler"`` (``reset_mechanism="zero"`` only: its
              subtract reset is not eventsim's, and the graph does not say which it used)
    Sinabs    ``dt_us=1_000_000, discretisation="zoh", reset="subtract"`` (``tau`` in steps;
              ``dt_us=D, tau_scale=D * 1e-6`` gives the same decays on a step of ``D`` us)
    Norse     ``dt_us=1000, discretisation="euler", tau_scale=1000`` (Norse 1.1.0, dt 1 ms;
              ``reset="subtract"`` for its ``reset_subtract``)
    ========= =============================================================================

    snnTorch and Norse fire at ``v > v_th``, eventsim at ``v >= v_th``: spikes differ where a
    potential lands exactly on the threshold. Norse 1.1.0 does not write ``v_reset`` and Sinabs
    not its ``spike_fn``: a nonzero Norse ``v_reset`` reads as 0, and only Sinabs'
    ``SingleSpike`` runs as in Sinabs. A gain within float32 rounding of 1 in a float32 file
    (snnTorch's ``r * dt / tau``) is read as 1. A graph eventsim wrote carries its exact
    decay and step; reading options that would change them are errors.

    Returns
    -------
    Network
        With ``dt_us``, and the ``T``, sensor size, labels and provenance an eventsim graph
        carries; ``provenance["nir_reading"]`` records how it was read.

    Raises
    ------
    NetworkError
        A node or field that does not map exactly, naming the node (and the file).
    FormatError
        A file that is not a readable NIR graph.
    """
    if reset not in (None, "zero", "subtract"):
        raise NetworkError(f"from_nir: field 'reset' must be 'zero' or 'subtract', got {reset!r}")
    if not (isinstance(tau_scale, numbers.Real) and not isinstance(tau_scale, bool)
            and math.isfinite(tau_scale) and tau_scale > 0):
        raise NetworkError(f"from_nir: field 'tau_scale' must be a positive number, got "
                           f"{tau_scale!r}")
    tau_scale = float(tau_scale)
    if dt_us is not None:
        _check_dt_us("from_nir", dt_us)
    if discretisation not in DISCRETISATIONS:
        raise NetworkError(f"from_nir: field 'discretisation' must be one of {DISCRETISATIONS}, "
                           f"got {discretisation!r}")
    nir = _nir()
    # NIR's own type inference rejects graphs other versions wrote (a leading batch axis on
    # the input, as Sinabs writes); the Network checks every shape itself
    if isinstance(graph_or_path, nir.NIRGraph):
        return _network(graph_or_path, dt_us, discretisation, reset, tau_scale)
    if not isinstance(graph_or_path, (str, os.PathLike)):
        raise InputError(f"from_nir: 'graph_or_path' must be the path of a NIR file or a "
                         f"nir.NIRGraph, got {type(graph_or_path).__name__}")
    path = input_path(graph_or_path, "NIR file", "from_nir")
    graph = _read(nir, path)
    try:
        net = _network(graph, dt_us, discretisation, reset, tau_scale)
    except NetworkError as err:  # name the file as well as the node
        raise NetworkError(f"{path}: {err}") from None
    net.provenance["nir_file"] = str(path)
    return net


def _network(graph, dt_us: int | None, discretisation: str, reset: str | None,
             tau_scale: float) -> Network:
    meta = graph.metadata or {}
    dt_s = dt_us * 1e-6 if dt_us else _graph_number(meta, "dt_s") if "dt_s" in meta else None
    if dt_s is not None and not (math.isfinite(dt_s) and dt_s > 0):
        raise NetworkError(f"from_nir: graph metadata field 'dt_s' is {dt_s}; expected a "
                           "positive step in seconds")
    if dt_s is not None and not dt_us and not _whole(dt_s * 1e6):
        raise NetworkError(f"from_nir: graph metadata field 'dt_s' is {dt_s} s, not a whole "
                           "number of microseconds; give dt_us")
    order = _order(graph)
    inp = graph.nodes[order[0]]
    written = tuple(int(v) for v in np.ravel(next(iter(inp.input_type.values()))))
    input_shape = written
    while len(input_shape) not in (1, 3) and input_shape and input_shape[0] == 1:
        input_shape = input_shape[1:]  # a leading batch or time axis of 1 (Sinabs writes one)
    batch_axes = len(written) - len(input_shape)
    layers, pending, neurons = [], None, {}
    for name in order[1:-1]:
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind == "Flatten":
            if pending is not None:
                raise NetworkError(f"from_nir: node {name!r} follows a projection without "
                                   "neurons")
            _check_flatten(name, node, batch_axes)
            if not (node.metadata or {}).get("eventsim_implicit"):  # else the Dense flattens
                layers.append(Flatten())
        elif kind in ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d"):
            if pending is not None:
                raise NetworkError(f"from_nir: node {name!r} follows a projection without "
                                   "neurons; eventsim layers are a projection then neurons")
            pending = (name, node)
        elif kind in ("LIF", "IF"):
            if pending is None:
                raise NetworkError(f"from_nir: node {name!r} ({kind}) has no projection before it")
            neurons[len(layers)] = (name, node)
            layers.append(_layer(pending, name, node, kind, dt_s, discretisation, reset,
                                 tau_scale))
            pending = None
        else:
            raise NetworkError(f"from_nir: node {name!r} is {kind}, which eventsim does not run "
                               "exactly (it runs Affine, Linear, Conv2d, SumPool2d, AvgPool2d, "
                               "Flatten, LIF and IF)")
    if pending is not None:
        raise NetworkError(f"from_nir: node {pending[0]!r} has no neurons after it")
    dt_us_out = round(dt_s * 1e6) if dt_s else None
    T = _graph_number(meta, "eventsim_T") if "eventsim_T" in meta else None
    if T is not None and not (T.is_integer() and T > 0):
        raise NetworkError(f"from_nir: graph metadata field 'eventsim_T' is {T}; expected a "
                           "positive whole number of steps")
    T = None if T is None else int(T)
    sensor = None
    if "eventsim_sensor_size" in meta:
        size = _graph_number(meta, "eventsim_sensor_size", scalar=False)
        if not (size.size == 3 and all(_whole(v) and v > 0 for v in size)):
            raise NetworkError(f"from_nir: graph metadata field 'eventsim_sensor_size' is "
                               f"{meta['eventsim_sensor_size']!r}; expected (W, H, P), "
                               "positive whole numbers")
        sensor = tuple(int(v) for v in size)
    labels = [v.decode() if isinstance(v, bytes) else str(v)
              for v in np.ravel(meta["eventsim_labels"])] if "eventsim_labels" in meta else None
    provenance = _provenance(meta)
    provenance.update({"source": "NIR", "nir_reading": {
        "dt_us": dt_us_out, "discretisation": discretisation, "reset": reset or "zero",
        "tau_scale": float(tau_scale)}})
    net = Network(layers, input_shape, dt_us=dt_us_out, T=T, sensor_size=sensor, labels=labels,
                  provenance=provenance)
    for i, (name, node) in neurons.items():
        _check_neuron_shape(name, node, net.shapes[i])
    out = graph.nodes[order[-1]]
    out_shape = _shape(next(iter(out.output_type.values()), None), len(net.shapes[-1]))
    if out_shape is not None and out_shape != tuple(net.shapes[-1]):
        raise NetworkError(f"from_nir: node {order[-1]!r}: output type {list(out_shape)} is not "
                           f"the shape of the last layer, {list(net.shapes[-1])}")
    return net


def _whole(x: float) -> bool:
    """``x`` is a whole number up to rounding (``1e-4 * 1e6`` is 100.00000000000001)."""
    return math.isfinite(x) and abs(x - round(x)) <= 1e-9 * max(1.0, abs(x))


def _without_batch(shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """``shape`` without the leading axes of 1 beyond ``ndim`` dimensions (a batch or time axis
    some writers add, Sinabs among them)."""
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return shape


def _shape(value, ndim: int) -> tuple[int, ...] | None:
    """A NIR type's shape, :func:`_without_batch`; None where the writer left it empty."""
    if value is None:
        return None
    shape = tuple(int(v) for v in np.ravel(value))
    return _without_batch(shape, ndim) if shape else None


def _provenance(meta: dict) -> dict:
    """The provenance an eventsim graph carries (``{}`` for other graphs)."""
    text = meta.get("eventsim_provenance")
    if text is None:
        return {}
    try:
        value = json.loads(text.decode() if isinstance(text, bytes) else str(text))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise NetworkError("from_nir: graph metadata field 'eventsim_provenance' is not a JSON "
                           "object")
    return value


def _check_flatten(name: str, node, batch_axes: int) -> None:
    """eventsim flattens a whole sample: NIR's ``start_dim=0, end_dim=-1``, or ``start_dim`` the
    number of batch axes the graph's Input has (Sinabs writes torch's ``start_dim=1``)."""
    start, end = int(node.start_dim), int(node.end_dim)
    in_type = next(iter(node.input_type.values()), None)
    whole = start in (0, batch_axes) and (end == -1 or (in_type is not None
                                                        and end == np.size(in_type) - 1))
    if not whole:
        raise NetworkError(f"from_nir: node {name!r}: Flatten from dim {start} to {end}; "
                           "eventsim flattens the whole sample (start_dim=0, end_dim=-1)")


def _check_neuron_shape(name: str, node, shape: tuple[int, ...]) -> None:
    """Every parameter of a neuron node broadcasts to the layer's output shape."""
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        value = getattr(node, field, None)
        if value is None:
            continue
        arr_shape = _without_batch(np.shape(value), len(shape))
        try:
            fits = np.broadcast_shapes(arr_shape, shape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            raise NetworkError(f"from_nir: node {name!r}: field '{field}' has shape "
                               f"{list(arr_shape)}; the projection before it gives "
                               f"{list(shape)} neurons")


def _graph_number(meta: dict, field: str, scalar: bool = True, where: str = "graph"):
    """The number (or, ``scalar=False``, the 1-D array of numbers) a metadata field holds."""
    try:
        value = np.asarray(meta[field], np.float64)
        return float(value) if scalar else np.ravel(value)
    except (TypeError, ValueError):
        raise NetworkError(f"from_nir: {where} metadata field {field!r} is {meta[field]!r}; "
                           f"expected {'a number' if scalar else 'numbers'}") from None


def _uniform(value, name: str, field: str) -> float:
    try:
        arr = np.ravel(np.asarray(value, np.float64))
    except (TypeError, ValueError):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is not numeric") from None
    if arr.size == 0:
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is empty; expected a "
                           "number")
    if not np.isfinite(arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {arr[0]}; expected a "
                           "finite number")
    if np.any(arr != arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' differs between neurons; "
                           "eventsim has one value per layer")
    return float(arr[0])


def _positive_r(node, name: str) -> float:
    """A neuron node's input resistance ``r``: a positive number (0 would silence every input,
    a negative one negate every weight: neither is a network anyone trained)."""
    r = _uniform(node.r, name, "r")
    if not r > 0:
        raise NetworkError(f"from_nir: node {name!r}: field 'r' is {r}; expected a positive "
                           "input resistance (eventsim folds r into the weights: "
                           f"{'0 would silence every input' if r == 0 else 'a negative r would negate every weight'})")
    return r


def _layer(pending: tuple[str, object], name: str, node, kind: str, dt_s: float | None,
           discretisation: str, reset_asked: str | None, tau_scale: float):
    """The eventsim layer of a projection node (``pending``) and the neuron node after it."""
    proj_name, proj = pending
    meta = node.metadata or {}
    v_reset = getattr(node, "v_reset", None)
    if "eventsim_decay" in meta:
        _check_eventsim_node(name, meta, dt_s, discretisation, reset_asked, tau_scale)
    if "eventsim_reset" in meta:
        reset = meta["eventsim_reset"]
    elif v_reset is not None and _uniform(v_reset, name, "v_reset") != 0.0:
        raise NetworkError(f"from_nir: node {name!r}: resets to a nonzero v_reset; eventsim "
                           "resets to 0 (or subtracts the threshold)")
    else:  # NIR's reset to v_reset = 0, unless the caller knows the writer subtracted
        reset = reset_asked or "zero"
    v_th = _uniform(node.v_threshold, name, "v_threshold")
    if kind == "IF":
        decay, gain = 1.0, _positive_r(node, name)
    else:
        if _uniform(node.v_leak, name, "v_leak") != 0.0:
            raise NetworkError(f"from_nir: node {name!r}: leaks towards a nonzero v_leak")
        tau = _uniform(node.tau, name, "tau") * tau_scale
        if not tau > 0:
            raise NetworkError(f"from_nir: node {name!r}: field 'tau' is {tau}; expected a "
                               "positive time constant in seconds")
        if dt_s is None:
            raise NetworkError(f"from_nir: node {name!r} is continuous-time; give dt_us (the "
                               "step to discretise it with)")
        r = _positive_r(node, name)
        if "eventsim_decay" in meta:
            decay = _graph_number(meta, "eventsim_decay", where=f"node {name!r}")
            gain = r / tau
        elif discretisation == "zoh":
            decay = math.exp(-dt_s / tau)
            gain = r * (1.0 - decay)
        elif discretisation == "euler":
            decay, gain = 1.0 - dt_s / tau, r * dt_s / tau
            if not 0.0 < decay <= 1.0:
                raise NetworkError(f"from_nir: node {name!r}: tau {tau} s is shorter than the "
                                   f"step {dt_s} s; forward Euler gives decay {decay} (a file "
                                   "Norse 1.1.0 wrote carries dt * tau: pass tau_scale = 1/dt)")
        else:
            decay, gain = math.exp(-dt_s / tau), r / tau
        gain = _float32_unit(gain, node.tau, node.r)
    lif = {"decay": decay, "v_th": v_th, "reset": reset}
    pkind = type(proj).__name__
    if pkind in ("Affine", "Linear"):
        w = np.asarray(proj.weight, np.float64)
        b = np.asarray(proj.bias, np.float64) if pkind == "Affine" else None
        return Dense(w * gain if gain != 1 else w,
                     bias=None if b is None else (b * gain if gain != 1 else b), **lif)
    if pkind == "Conv2d":
        stride, padding = _square(proj.stride, proj_name, "stride"), \
            _square(proj.padding, proj_name, "padding")
        if _square(proj.dilation, proj_name, "dilation") != 1 or int(proj.groups) != 1:
            raise NetworkError(f"from_nir: node {proj_name!r}: dilation or groups other than 1")
        w = np.asarray(proj.weight, np.float64)
        b = np.asarray(proj.bias, np.float64)
        return Conv2d(w * gain if gain != 1 else w, stride=stride, padding=padding,
                      bias=None if not b.any() else (b * gain if gain != 1 else b), **lif)
    if gain != 1:
        raise NetworkError(f"from_nir: node {name!r}: an input gain r/tau of {gain} after "
                           "pooling; eventsim pooling weights are fixed")
    k = _square(proj.kernel_size, proj_name, "kernel_size")
    if _square(proj.padding, proj_name, "padding") != 0:
        raise NetworkError(f"from_nir: node {proj_name!r}: pooling with padding")
    cls = SumPool2d if pkind == "SumPool2d" else AvgPool2d
    return cls(k, stride=_square(proj.stride, proj_name, "stride"), **lif)


def _check_eventsim_node(name: str, meta: dict, dt_s: float | None, discretisation: str,
                         reset_asked: str | None, tau_scale: float) -> None:
    """A node eventsim wrote carries its exact decay, reset and step: reading options that
    would change them are errors, not silently overridden."""
    written = _graph_number(meta, "dt_s", where=f"node {name!r}") if "dt_s" in meta \
        else (dt_s or 0.0)
    if dt_s is not None and not math.isclose(dt_s, written, rel_tol=1e-9):
        raise NetworkError(f"from_nir: node {name!r} carries the exact decay eventsim wrote for "
                           f"a step of {written * 1e6:g} us; dt_us {dt_s * 1e6:g} would change "
                           "its time base (convert it with that step)")
    for field, value, default in (("discretisation", discretisation, "exact"),
                                  ("tau_scale", tau_scale, 1.0)):
        if value != default:
            raise NetworkError(f"from_nir: node {name!r} carries the exact decay eventsim "
                               f"wrote; {field} does not apply to it")
    if reset_asked is not None and reset_asked != meta.get("eventsim_reset"):
        raise NetworkError(f"from_nir: node {name!r} carries eventsim's reset "
                           f"{meta.get('eventsim_reset')!r}; reset={reset_asked!r} contradicts it")


def _float32_unit(gain: float, *stored) -> float:
    """1.0 for a gain within float32 rounding of 1 when the file stores its parameters in
    float32: snnTorch writes ``tau = dt / (1 - beta)`` and ``r = tau / dt`` in float32, whose
    ``r * dt / tau`` is 1 only to float32 precision (the file cannot say more)."""
    float32 = all(np.asarray(v).dtype == np.float32 for v in stored)
    if float32 and gain != 1.0 and abs(gain - 1.0) <= 4 * np.finfo(np.float32).eps:
        return 1.0
    return gain


def _square(value, name: str, field: str) -> int:
    """One whole number for both dimensions (``3`` or ``[3, 3]``)."""
    arr = np.ravel(np.asarray(value))
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; expected "
                           "whole numbers")
    if np.any(arr != arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; eventsim "
                           "needs the same value in both dimensions")
    if not _whole(float(arr[0])):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; expected "
                           "whole numbers")
    return int(arr[0])
