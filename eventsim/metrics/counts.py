"""Per-layer activity and operation counts from simulation results, with NeuroBench's names.

Everything is read from :class:`~eventsim.engine.result.Result` counters (never recomputed
from dense activations); only the network's structure (connections, zero weights) comes from
the :class:`~eventsim.network.network.Network`. For a
:class:`~eventsim.network.graph.Graph` the "layers" are its populations, and a population's
figures sum the projections into it; :func:`projection_metrics` gives them per projection,
recurrent ones (those that close a cycle) marked. How each figure is counted:

``effective_acs``  (NeuroBench *Effective_ACs*, "synaptic operations")
    Accumulates the spikes caused: every spike arriving at a layer (input spikes for the
    first) adds one per synapse it traverses, nonzero weights only, conv borders exact
    (``Result.sops``).
``effective_macs``  (*Effective_MACs*)
    Multiply-accumulates of analog values: an image fed as current (once per sample) and
    NeuNorm's analog share (every step it is nonzero) (``Result.macs``).
``dense_ops``  (*Dense*)
    What a clock-driven simulator executes: every connection of the layer, every step
    (``connections * T``).
``ann_macs``
    The equivalent ANN: the same layers evaluated once per sample, every connection
    (``connections``).
``membrane_updates``  (*Membrane Updates*)
    Neuron state updates: one per neuron and step in which the engine touched it (input
    arrived, or its own threshold crossing fell due); a clock-driven simulator does
    ``neurons * T``.
``current_updates``
    Synaptic-current updates of a current-based population (``syn_decay > 0``): its
    current is brought forward and takes the input at every touch, so one per membrane
    update there (two with a second current, ``syn_decay_2 > 0``), and 0 in a population
    with delta synapses (NeuroBench counts the neuron operations of each model; a CuBa
    neuron has two state variables).
``threshold_updates``
    Updates of an adaptive threshold (``adapt_jump > 0``): brought forward at every touch,
    one per membrane update there, 0 elsewhere. Both are priced as neuron updates in the
    energy estimate (:mod:`eventsim.metrics.energy`).
``activation_sparsity``  (*Activation Sparsity*)
    ``1 - spikes / (neurons * T)``: the share of (neuron, step) pairs without a spike.
``connection_sparsity``  (*Connection Sparsity*)
    Share of the layer's connections whose weight is zero (0 for pooling). For a projection of
    several ops (pool then conv) a connection is a path from a source neuron through the ops'
    units to a target neuron, the unit SOPs count; a nonzero one has all its weights nonzero.
``silent_fraction``, ``firing_rate``
    Neurons that never spiked; spikes per neuron per step (and ``firing_rate_hz``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from eventsim.engine.result import Result
from eventsim.errors import InputError
from eventsim.network import ops
from eventsim.network.graph import Graph, as_graph
from eventsim.network.layers import NeuNorm
from eventsim.network.network import Network, layer_name
from eventsim.network.synapses import connection_counts, op_connection_counts


@dataclass
class LayerMetrics:
    """Counts of one layer over one sample, or summed over a dataset (``samples`` > 1)."""

    layer: int
    name: str
    kind: str
    neurons: int
    samples: int
    steps: int                # summed over samples
    spikes: int
    effective_acs: int
    effective_macs: int
    membrane_updates: int
    dense_ops: int
    ann_macs: int
    connections: int
    connection_sparsity: float
    silent_neurons: int       # summed over samples
    dt_us: float | None = None
    current_updates: int = 0
    threshold_updates: int = 0

    @property
    def activation_sparsity(self) -> float:
        return 1.0 - self.spikes / max(self.neurons * self.steps, 1)

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per step."""
        return self.spikes / max(self.neurons * self.steps, 1)

    @property
    def firing_rate_hz(self) -> float | None:
        return None if not self.dt_us else self.firing_rate / (self.dt_us * 1e-6)

    @property
    def silent_fraction(self) -> float:
        return self.silent_neurons / max(self.neurons * self.samples, 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(activation_sparsity=self.activation_sparsity, firing_rate=self.firing_rate,
                 firing_rate_hz=self.firing_rate_hz, silent_fraction=self.silent_fraction)
        return d


@dataclass
class ProjectionMetrics:
    """SOPs and structure of one projection of a graph, over one sample or summed."""

    projection: int
    source: str
    target: str
    recurrent: bool           # closes a cycle (delivers a step later)
    samples: int
    effective_acs: int
    connections: int
    connection_sparsity: float

    def to_dict(self) -> dict:
        return asdict(self)


def structure(net: Network | Graph) -> list[tuple[int, int]]:
    """``(connections, nonzero)`` of every population's layer, or of the projections into
    every population of a graph (see the module docstring)."""
    if isinstance(net, Network):
        return [connection_counts(net, i) for i in net.lif_layers]
    per_projection = projection_structure(net)
    return [tuple(int(sum(per_projection[k][j] for k in net.into(p))) for j in range(2))
            for p in range(len(net.populations))]


def projection_structure(graph: Graph) -> list[tuple[int, int]]:
    """``(connections, nonzero)`` of every projection of ``graph``: one op's connections, or
    for several ops the paths through their units (all weights taken as nonzero, and as they
    are)."""
    out = []
    for k, proj in enumerate(graph.projections):
        op_list = [op for op in proj.ops if not isinstance(op, (NeuNorm, ops.Flatten))]
        shape = graph.source_shape(k)
        for op in proj.ops:
            if op is op_list[0]:
                break
            shape = op.output_shape(shape, "")
        if len(op_list) == 1:
            out.append(op_connection_counts(op_list[0], shape))
            continue
        from eventsim.engine.plan import compose  # paths, as the engine composes them

        ones = [ops.Dense(np.ones_like(op.weight)) if isinstance(op, ops.Dense) else
                ops.Conv2d(np.ones_like(op.weight), op.stride, op.padding)
                if isinstance(op, ops.Conv2d) else op for op in proj.ops]
        out.append((int(compose(ones, graph.source_shape(k))[1].sum()),
                    int(compose(proj.ops, graph.source_shape(k))[1].sum())))
    return out


def population_kinds(net: Network | Graph) -> list[tuple[int, str, str, int]]:
    """``(index, name, kind, neurons)`` of every population: its layer's for a chain (index
    in ``net.layers``); for a graph its position, its name, and the weighted ops of the
    projections into it (``Dense+Dense(rec)``: ``(rec)`` for one that closes a cycle)."""
    if isinstance(net, Network):
        return [(li, layer_name(li, net.layers[li]), type(net.layers[li]).__name__,
                 int(np.prod(net.shapes[li]))) for li in net.lif_layers]
    out = []
    for p, pop in enumerate(net.populations):
        kinds = []
        for k in net.into(p):
            weighted = [type(op).__name__ for op in net.projections[k].ops
                        if not isinstance(op, (NeuNorm, ops.Flatten))]
            kinds.append(">".join(weighted) + ("(rec)" if net.closes_cycle(k) else ""))
        out.append((p, pop.name, "+".join(kinds), pop.size))
    return out


def layer_metrics(net: Network | Graph, results: Result | list[Result],
                  dt_us: float | None = None,
                  _structure: list[tuple[int, int]] | None = None) -> list[LayerMetrics]:
    """Per-layer (per-population) metrics of one result, or summed over several (a dataset).

    Discrete-mode results (``T`` steps each). ``dt_us`` (default ``net.dt_us``) only converts
    rates to Hz.
    """
    results = _discrete(results, "layer_metrics")
    counts = _structure or structure(net)
    steps = sum(r.T for r in results)
    # currents per neuron: 0 (delta synapses), 1, or 2 (a second current); an adaptive threshold
    pops = as_graph(net).populations
    cuba = [(pop.syn_decay > 0) + (pop.syn_decay_2 > 0) for pop in pops]
    adaptive = [pop.adaptive for pop in pops]
    out = []
    for pop, (index, name, kind, n) in enumerate(population_kinds(net)):
        connections, nonzero = counts[pop]
        out.append(LayerMetrics(
            layer=index, name=name, kind=kind, neurons=n,
            samples=len(results), steps=steps,
            spikes=sum(int(r.spike_counts[pop].sum()) for r in results),
            effective_acs=sum(int(r.sops[pop]) for r in results),
            effective_macs=sum(int(r.macs[pop]) for r in results),
            membrane_updates=sum(int(r.neuron_updates[pop]) for r in results),
            dense_ops=connections * steps, ann_macs=connections * len(results),
            connections=connections,
            connection_sparsity=1.0 - nonzero / connections if connections else 0.0,
            silent_neurons=sum(int((r.spike_counts[pop] == 0).sum()) for r in results),
            dt_us=dt_us or net.dt_us,
            current_updates=cuba[pop] * sum(int(r.neuron_updates[pop]) for r in results),
            threshold_updates=adaptive[pop] * sum(int(r.neuron_updates[pop]) for r in results)))
    return out


def projection_metrics(graph: Graph, results: Result | list[Result],
                       _structure: list[tuple[int, int]] | None = None
                       ) -> list[ProjectionMetrics]:
    """Per-projection SOPs and structure of a graph's results (one, or summed)."""
    results = _discrete(results, "projection_metrics")
    counts = _structure or projection_structure(graph)
    return [ProjectionMetrics(
        projection=k, source=proj.source, target=proj.target,
        recurrent=graph.closes_cycle(k), samples=len(results),
        effective_acs=sum(int(r.projection_sops[k]) for r in results),
        connections=counts[k][0],
        connection_sparsity=1.0 - counts[k][1] / counts[k][0] if counts[k][0] else 0.0)
        for k, proj in enumerate(graph.projections)]


def _discrete(results, what: str) -> list[Result]:
    results = [results] if isinstance(results, Result) else list(results)
    if not results:
        raise InputError(f"{what}: no results")
    if any(r.mode != "discrete" for r in results):
        raise InputError(f"{what}: per-step metrics need discrete-mode results")
    return results


def per_step(results: Result | list[Result]) -> dict[str, np.ndarray]:
    """SOPs, spikes, membrane updates and MACs per step and layer, summed over results of
    equal ``T`` (each recorded with ``record="all"``): arrays of shape (T, n_pop)."""
    results = [results] if isinstance(results, Result) else list(results)
    if len({r.T for r in results}) != 1:
        raise InputError("per_step: results of different lengths T")
    return {
        "effective_acs": sum(r.sops_per_step for r in results),
        "spikes": sum(r.spikes_per_step for r in results),
        "membrane_updates": sum(r.updates_per_step for r in results),
        "effective_macs": sum(r.macs_per_step for r in results),
    }
