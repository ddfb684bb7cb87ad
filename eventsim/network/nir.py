"""NIR (Neuromorphic Intermediate Representation) in and out, through the ``nir`` package.

Export (:func:`to_nir`) writes each layer of a chain as its projection node
(``Affine``/``Linear``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d``) followed by a neuron node, in
a chain from ``input`` to ``output`` (with an explicit ``Flatten`` before a dense layer that
eventsim flattens implicitly); a :class:`~eventsim.network.graph.Graph` is written and read
as :mod:`eventsim.network.nir_graph` says (paths of projection nodes between neuron nodes,
``Delay`` nodes, the order populations run in). NIR neurons are continuous-time; a discrete layer of step ``dt`` becomes

* ``LIF`` with ``tau = -dt / ln(decay)`` (the exact exponential: ``decay = exp(-dt / tau)``),
  ``r = tau`` (an input weight ``w`` moves ``v`` by ``r * w / tau = w``), ``v_leak`` and
  ``v_reset`` (0 unless given) and ``v_threshold = v_th``;
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
nonzero ``v_reset`` read with ``reset="subtract"``, ``LI`` / ``CubaLIF`` neurons, dilation or
groups, asymmetric kernels or padding, a partial ``Flatten``, neuron parameters whose shape
is not the layer's, a node the input does not reach, a loop without neurons.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eventsim.errors import EventsimError, FormatError, InputError, NetworkError, whole
from eventsim.fileio import atomic_path, deferred_signals, input_path
from eventsim.h5io import (
    add_digest,
    check_datasets,
    guarded_file,
    open_for_reading,
    verify_digest,
)
from eventsim.limits import check_memory
from eventsim.network.graph import INPUT, Graph
from eventsim.network.layers import Dense, Flatten, has_neurons
from eventsim.network.network import Network, layer_name
from eventsim.network.nir_graph import (
    ORDER_KEY,
    as_chain,
    flat_graph,
    implicit_flatten,
    op_node,
    read_graph,
    structure,
    write_graph,
)
from eventsim.network.nir_nodes import (
    graph_number,
    near_whole,
    neuron_params,
    provenance_of,
    shape_of,
)

if TYPE_CHECKING:  # imported by the functions that need it, not with eventsim
    import nir


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - a dependency
        raise NetworkError("NIR needs the nir package: pip install nir") from None
    return nir


def to_nir(net: Network | Graph, path: str | Path | None = None, dt_us: int | None = None):
    """The NIR graph of ``net``, written to ``path`` if given.

    Parameters
    ----------
    net : Network or Graph
        Float layers or populations only (integer ones have a truncating decay NIR cannot
        express).
    path : str or Path, optional
        File to write (HDF5, through a temporary file: nothing half-written is left).
    dt_us : int, optional
        The step in microseconds the layers' ``decay`` refers to; needed when ``net.dt_us``
        is None, and must equal it otherwise.

    Returns
    -------
    nir.NIRGraph
        For a Network the chain ``input -> (projection -> neurons)* -> output`` (module
        docstring); for a Graph its populations and projections as
        :mod:`eventsim.network.nir_graph` writes them.

    Raises
    ------
    NetworkError
        No step known, a step that contradicts ``net.dt_us``, or a layer without a NIR node.
    """
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
    meta = {"dt_s": dt, "eventsim_provenance": json.dumps(net.provenance, default=_jsonable)}
    if isinstance(net, Graph):
        for pop in net.populations:  # what no NIR node holds
            for f, v in (("syn_decay_2", pop.syn_decay_2 or None), ("v_init", pop.v_init),
                         ("adapt_jump", pop.adapt_jump or None)):
                if v is not None:
                    raise NetworkError(f"to_nir: population '{pop.name}': field '{f}' is given; "
                                       "NIR's neuron nodes have one synaptic current, a fixed "
                                       "threshold and start at v_leak (save it with "
                                       "save_network instead)")
        nodes, edges = write_graph(nir, net, dt, lambda pop: _neuron_node(nir, pop.shape, pop, dt))
        meta[ORDER_KEY] = [pop.name for pop in net.populations]
    else:
        nodes, edges = _chain_nodes(nir, net, dt)
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


def _chain_nodes(nir, net: Network, dt: float) -> tuple[dict, list]:
    """The nodes and edges of a chain: ``{i}.proj``, ``{i}.lif`` per layer (``{i}.flatten``)."""
    nodes = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges, last = [], "input"
    for i, layer in enumerate(net.layers):
        name = layer_name(i, layer)
        if not has_neurons(layer) and not isinstance(layer, Flatten):
            raise NetworkError(f"{name}: {type(layer).__name__} has no NIR node")
        if getattr(layer, "integer", False):
            raise NetworkError(f"{name}: integer layers (truncating decay) have no NIR node")
        if getattr(layer, "delay_us", 0.0):
            raise NetworkError(f"{name}: field 'delay_us' (continuous mode) has no NIR node in "
                               "a chain; write as_graph(net) with delay = delay_us / dt_us")
        in_shape = net.input_shape_of(i)
        if isinstance(layer, Flatten):
            node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
            nodes[f"{i}.flatten"], last = node, _chain(edges, last, f"{i}.flatten")
            continue
        if isinstance(layer, Dense) and len(in_shape) > 1:  # eventsim flattens implicitly
            nodes[f"{i}.flatten"] = implicit_flatten(nir, in_shape)
            last = _chain(edges, last, f"{i}.flatten")
        nodes[f"{i}.proj"] = op_node(nir, layer.op(), in_shape, name)
        last = _chain(edges, last, f"{i}.proj")
        nodes[f"{i}.lif"] = _neuron_node(nir, net.shapes[i], layer, dt)
        last = _chain(edges, last, f"{i}.lif")
    nodes["output"] = nir.Output(output_type={"output": np.array(net.shapes[-1])})
    _chain(edges, last, "output")
    return nodes, edges


def _neuron_node(nir, shape: tuple[int, ...], neurons, dt: float):
    """The NIR node of a layer's or population's neurons, of ``shape``, with eventsim's exact
    decays, reset and step in its metadata: ``LIF`` (``IF`` for decay 1), ``LI`` (``I``)
    for a leaky integrator (``v_th = inf``), ``CubaLIF`` (``CubaLI``) with a synaptic current,
    written with forward Euler's values (``tau = dt / (1 - decay)``, ``w_in = tau_syn / dt``,
    ``r = tau_mem / dt``: the convention of snnTorch's exporter), which read back exactly."""
    meta = {"eventsim_decay": float(neurons.decay), "eventsim_reset": neurons.reset,
            "dt_s": dt}
    if neurons.refractory_steps:  # NIR has no refractory period: eventsim's own key
        meta["eventsim_refractory_steps"] = int(neurons.refractory_steps)
    if neurons.readout != "max":  # nor a readout's decoding
        meta["eventsim_readout"] = neurons.readout
    ones = np.ones(shape)
    readout = neurons.is_readout
    if neurons.syn_decay > 0:
        meta["eventsim_syn_decay"] = float(neurons.syn_decay)
        tau_syn, tau_mem = dt / (1.0 - neurons.syn_decay), dt / (1.0 - neurons.decay)
        kw = {"tau_syn": ones * tau_syn, "tau_mem": ones * tau_mem, "r": ones * tau_mem / dt,
              "w_in": ones * tau_syn / dt, "v_leak": ones * neurons.v_leak, "metadata": meta}
        if readout:
            return nir.CubaLI(**kw)
        return nir.CubaLIF(**kw, v_threshold=ones * neurons.v_th,
                           v_reset=ones * neurons.v_reset)
    if neurons.decay == 1.0:
        if readout:
            return nir.I(r=ones, metadata=meta)
        return nir.IF(r=ones, v_threshold=ones * neurons.v_th,
                      v_reset=ones * neurons.v_reset, metadata=meta)
    tau = -dt / math.log(neurons.decay)
    if readout:
        return nir.LI(tau=ones * tau, r=ones * tau, v_leak=ones * neurons.v_leak, metadata=meta)
    return nir.LIF(tau=ones * tau, r=ones * tau, v_leak=ones * neurons.v_leak,
                   v_threshold=ones * neurons.v_th, v_reset=ones * neurons.v_reset,
                   metadata=meta)


def _jsonable(value):
    """numpy values in provenance as plain JSON (anything else as its text)."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else str(value)


def _check_dt_us(where: str, dt_us) -> None:
    whole(dt_us, where, "dt_us", error=NetworkError)


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


DISCRETISATIONS = ("exact", "euler", "zoh", "norse", "spyx")


def from_nir(graph_or_path: str | Path | nir.NIRGraph, dt_us: int | None = None,
             discretisation: str = "exact", reset: str | None = None,
             tau_scale: float = 1.0) -> Network | Graph:
    """An eventsim network from a NIR graph or file.

    ``dt_us``: the step in microseconds to discretise with; without it, the ``dt_s`` in the
    graph's metadata (a whole number of microseconds), else an error for the first LIF node.

    ``discretisation``: ``"exact"`` (default) steps a LIF node with ``decay = exp(-dt / tau)``
    and input gain ``r / tau`` (a spike is a delta of current); ``"euler"`` with ``decay = 1 -
    dt / tau`` and gain ``r * dt / tau``, the forward-Euler convention of snnTorch's exporter
    (``tau = dt / (1 - beta)``, ``r = tau / dt``, ``dt = 1e-4`` s: ``dt_us=100``); ``"zoh"``
    with ``decay = exp(-dt / tau)`` and gain ``r * (1 - decay)`` (the input held over the
    step), the convention of Sinabs' ``LIF`` (``norm_input=True``; its ``tau`` counts steps:
    ``dt_us=1_000_000``, or any step ``D`` with ``tau_scale=D * 1e-6``); ``"spyx"`` as Spyx
    1.0.0 steps and writes a ``CubaLIF`` and an ``LI`` (below).

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
              ``reset="subtract"`` for its ``reset_subtract``); its CuBa ``LIFCell``:
              ``discretisation="norse"``
    Spyx      ``dt_us=1_000_000, discretisation="spyx"`` (``tau`` in steps): ``syn_decay = 1 -
              dt / tau_syn``, ``decay = 1 - dt / tau_mem``, input gain 1 (the ``r = beta``
              and ``w_in`` it writes are not its step), a subtract reset; a spike is emitted a
              step after its membrane crossed, so every projection from a population that
              does not close a cycle gets one step of delay (eventsim's spike at ``t`` is
              Spyx's at ``t + 1``); and the edge Spyx writes from its recurrent subgraph's
              input into the recurrent ``Linear`` goes to the ``CubaLIF`` (Spyx adds the
              input to the current unweighted)
    ========= =============================================================================

    snnTorch and Norse fire at ``v > v_th``, eventsim at ``v >= v_th``: spikes differ where a
    potential lands exactly on the threshold. Norse 1.1.0 does not write ``v_reset`` and Sinabs
    not its ``spike_fn``: a nonzero Norse ``v_reset`` reads as 0, and only Sinabs'
    ``SingleSpike`` runs as in Sinabs. A gain within float32 rounding of 1 in a float32 file
    (snnTorch's ``r * dt / tau``) is read as 1. A graph eventsim wrote carries its exact
    decay and step; reading options that would change them are errors.

    Returns
    -------
    Network or Graph
        A Network where the graph is a chain (``input -> (projection -> neurons)* -> output``),
        else a Graph (:mod:`eventsim.network.nir_graph`: skip paths, ops composed without
        neurons between them, cycles, ``Delay`` nodes); with ``dt_us``, and the ``T``, sensor
        size, labels and provenance an eventsim graph carries; ``provenance["nir_reading"]``
        records how it was read.

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
             tau_scale: float) -> Network | Graph:
    meta = graph.metadata or {}
    dt_s = dt_us * 1e-6 if dt_us else graph_number(meta, "dt_s") if "dt_s" in meta else None
    if dt_s is not None and not (math.isfinite(dt_s) and dt_s > 0):
        raise NetworkError(f"from_nir: graph metadata field 'dt_s' is {dt_s}; expected a "
                           "positive step in seconds")
    if dt_s is not None and not dt_us and not near_whole(dt_s * 1e6):
        raise NetworkError(f"from_nir: graph metadata field 'dt_s' is {dt_s} s, not a whole "
                           "number of microseconds; give dt_us")
    nodes, edges = flat_graph(graph)
    if discretisation == "spyx":
        edges = _spyx_recurrence(nodes, edges)
        reset = reset or "subtract"
        if reset != "subtract":
            raise NetworkError("from_nir: the 'spyx' reading resets by subtraction (Spyx "
                               f"subtracts the threshold); got reset={reset!r}")
    st = structure(nodes, edges, _written_order(meta))
    inp = nodes[st.input]
    written = tuple(int(v) for v in np.ravel(next(iter(inp.input_type.values()))))
    input_shape = written
    while len(input_shape) not in (1, 3) and input_shape and input_shape[0] == 1:
        input_shape = input_shape[1:]  # a leading batch or time axis of 1 (Sinabs writes one)
    params = {name: neuron_params(name, nodes[name], type(nodes[name]).__name__, dt_s,
                                  discretisation, reset, tau_scale) for name in st.populations}
    provenance = provenance_of(meta)
    provenance.update({"source": "NIR", "nir_reading": {
        "dt_us": round(dt_s * 1e6) if dt_s else None, "discretisation": discretisation,
        "reset": reset or "zero", "tau_scale": float(tau_scale)}})
    info = {"dt_us": round(dt_s * 1e6) if dt_s else None, "T": _T(meta),
            "sensor_size": _sensor(meta), "labels": _labels(meta), "provenance": provenance}
    net = read_graph(nodes, st, input_shape, len(written) - len(input_shape), params, dt_s,
                     info)
    if discretisation == "spyx":  # a spike leaves a step after its membrane crossed
        for k, proj in enumerate(net.projections):
            if proj.source != INPUT and not net.closes_cycle(k):
                proj.delay = proj.delay + 1
                proj.delay_us = proj.delay_us + dt_s * 1e6  # (continuous mode: one step)
    layers = as_chain(net, st, nodes)
    if layers is not None:  # the chain API: a Network, as before graphs
        net = Network(layers, input_shape, **info)
    out = nodes[st.output]
    last = net.shapes[-1] if isinstance(net, Network) else net.output.shape
    out_shape = shape_of(next(iter(out.output_type.values()), None), len(last))
    if out_shape is not None and out_shape != tuple(last):
        raise NetworkError(f"from_nir: node {st.output!r}: output type {list(out_shape)} is not "
                           f"the shape of the last layer, {list(last)}")
    return net


def _spyx_recurrence(nodes: dict, edges: list) -> list:
    """Spyx 1.0.0's recurrent subgraph (a ``CubaLIF`` and a ``Linear`` in a loop) as Spyx
    runs it: an edge from outside the loop into its ``Linear`` goes to the ``CubaLIF``
    instead (Spyx writes the subgraph's input into ``w_rec``, but adds it to the current
    unweighted)."""
    loops = {b: a for a, b in edges if type(nodes[a]).__name__ == "CubaLIF"
             and type(nodes[b]).__name__ in ("Linear", "Affine") and (b, a) in edges}
    return [(a, loops[b]) if b in loops and a != loops[b] else (a, b) for a, b in edges]


def _written_order(meta: dict) -> list[str] | None:
    """The population order a graph eventsim wrote carries."""
    if ORDER_KEY not in meta:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(meta[ORDER_KEY])]


def _T(meta: dict) -> int | None:
    if "eventsim_T" not in meta:
        return None
    T = graph_number(meta, "eventsim_T")
    if not (T.is_integer() and T > 0):
        raise NetworkError(f"from_nir: graph metadata field 'eventsim_T' is {T}; expected a "
                           "positive whole number of steps")
    return int(T)


def _sensor(meta: dict) -> tuple[int, int, int] | None:
    if "eventsim_sensor_size" not in meta:
        return None
    size = graph_number(meta, "eventsim_sensor_size", scalar=False)
    if not (size.size == 3 and all(near_whole(v) and v > 0 for v in size)):
        raise NetworkError(f"from_nir: graph metadata field 'eventsim_sensor_size' is "
                           f"{meta['eventsim_sensor_size']!r}; expected (W, H, P), "
                           "positive whole numbers")
    return tuple(int(v) for v in size)


def _labels(meta: dict) -> list[str] | None:
    if "eventsim_labels" not in meta:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v)
            for v in np.ravel(meta["eventsim_labels"])]
