"""Per-layer activity and operation counts from simulation results, with NeuroBench's names.

Everything is read from :class:`~eventsim.engine.result.Result` counters (never recomputed
from dense activations); only the network's structure (connections, zero weights) comes from
the :class:`~eventsim.network.network.Network`. How each figure is counted:

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
``activation_sparsity``  (*Activation Sparsity*)
    ``1 - spikes / (neurons * T)``: the share of (neuron, step) pairs without a spike.
``connection_sparsity``  (*Connection Sparsity*)
    Share of the layer's connections whose weight is zero (0 for pooling).
``silent_fraction``, ``firing_rate``
    Neurons that never spiked; spikes per neuron per step (and ``firing_rate_hz``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from eventsim.engine.result import Result
from eventsim.network.network import Network, layer_name, require_chain
from eventsim.network.synapses import connection_counts


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


def structure(net: Network) -> list[tuple[int, int]]:
    """``(connections, nonzero)`` of every population's layer (see the module docstring)."""
    return [connection_counts(net, i) for i in net.lif_layers]


def layer_metrics(net: Network, results: Result | list[Result], dt_us: float | None = None,
                  _structure: list[tuple[int, int]] | None = None) -> list[LayerMetrics]:
    """Per-layer metrics of one result, or summed over several (a dataset).

    Discrete-mode results (``T`` steps each). ``dt_us`` (default ``net.dt_us``) only converts
    rates to Hz.
    """
    require_chain(net, "layer_metrics")
    results = [results] if isinstance(results, Result) else list(results)
    if not results:
        raise ValueError("layer_metrics: no results")
    if any(r.mode != "discrete" for r in results):
        raise ValueError("layer_metrics: per-step metrics need discrete-mode results")
    counts = _structure or structure(net)
    steps = sum(r.T for r in results)
    out = []
    for pop, li in enumerate(net.lif_layers):
        layer = net.layers[li]
        n = int(np.prod(net.shapes[li]))
        connections, nonzero = counts[pop]
        out.append(LayerMetrics(
            layer=li, name=layer_name(li, layer), kind=type(layer).__name__, neurons=n,
            samples=len(results), steps=steps,
            spikes=sum(int(r.spike_counts[pop].sum()) for r in results),
            effective_acs=sum(int(r.sops[pop]) for r in results),
            effective_macs=sum(int(r.macs[pop]) for r in results),
            membrane_updates=sum(int(r.neuron_updates[pop]) for r in results),
            dense_ops=connections * steps, ann_macs=connections * len(results),
            connections=connections,
            connection_sparsity=1.0 - nonzero / connections if connections else 0.0,
            silent_neurons=sum(int((r.spike_counts[pop] == 0).sum()) for r in results),
            dt_us=dt_us or net.dt_us))
    return out


def per_step(results: Result | list[Result]) -> dict[str, np.ndarray]:
    """SOPs, spikes, membrane updates and MACs per step and layer, summed over results of
    equal ``T`` (each recorded with ``record="all"``): arrays of shape (T, n_pop)."""
    results = [results] if isinstance(results, Result) else list(results)
    if len({r.T for r in results}) != 1:
        raise ValueError("per_step: results of different lengths T")
    return {
        "effective_acs": sum(r.sops_per_step for r in results),
        "spikes": sum(r.spikes_per_step for r in results),
        "membrane_updates": sum(r.updates_per_step for r in results),
        "effective_macs": sum(r.macs_per_step for r in results),
    }
