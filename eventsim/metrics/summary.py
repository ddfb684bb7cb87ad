"""Everything a report shows, as one JSON-ready dict: what ``eventsim run --json`` writes under
``"metrics"`` and what ``eventsim report`` draws from."""

from __future__ import annotations

import numpy as np

from eventsim.engine.result import Result
from eventsim.events.stream import EventStream
from eventsim.metrics.counts import (
    layer_metrics,
    per_step,
    projection_metrics,
    projection_structure,
    structure,
)
from eventsim.metrics.energy import Profile, layer_energy, load_profile
from eventsim.metrics.latency import accuracy_vs_steps, decision_latency
from eventsim.network.graph import Graph
from eventsim.network.network import Network

#: Profiles of the energy comparison, by default.
DEFAULT_PROFILES = ("cmos45-fp32", "cmos45-int8", "loihi")
#: At most this many spikes of the first sample go into the raster.
RASTER_MAX = 200_000
#: Per-step sections (counters per step, accuracy against steps) are written for samples of
#: at most this many steps: beyond, a report would hold millions of numbers per layer.
PER_STEP_MAX = 100_000


def summarize(net: Network | Graph, results: list[Result], labels: list[int | None],
              first_input: EventStream | np.ndarray | None = None,
              profiles=DEFAULT_PROFILES, input_counts: np.ndarray | None = None) -> dict:
    """Per-layer metrics (totals and per sample), per-step sums, energy per profile, latency
    and accuracy against steps, the first sample's raster and input frame.

    ``profiles``: built-in names or :class:`~eventsim.metrics.energy.Profile` objects. The
    input frame is that of ``first_input`` (events, or 0/1 spikes ``(T, n_inputs)``), or
    ``input_counts``, the events per input channel, shape (n_inputs,), already counted (a
    stream read in chunks is counted as it passes). For a graph, ``"layers"`` are its
    populations and ``"projections"`` has the SOPs per projection (recurrent ones marked).
    """
    counts = structure(net)
    layers = layer_metrics(net, results, _structure=counts)
    n = len(results)
    out: dict = {
        "samples": n,
        "T": [int(r.T) for r in results],
        "dt_us": net.dt_us,
        "layers": [m.to_dict() for m in layers],
        "energy": {},
    }
    if isinstance(net, Graph):
        out["projections"] = [m.to_dict() for m in projection_metrics(
            net, results, _structure=projection_structure(net))]
    for name in profiles:
        profile = name if isinstance(name, Profile) else load_profile(name)
        per_layer = layer_energy(layers, profile)
        out["energy"][profile.name] = {
            "description": profile.description, "sources": profile.sources,
            "snn_pj_per_sample": [e.snn_pj / n for e in per_layer],
            "ann_pj_per_sample": [None if e.ann_pj is None else e.ann_pj / n
                                  for e in per_layer],
        }
    same_T = len(set(out["T"])) == 1 and all(r.has_per_step for r in results)
    if same_T and out["T"][0] > PER_STEP_MAX:
        same_T = False
        out["per_step_omitted"] = (f"T={out['T'][0]} steps per sample: the per-step sections "
                                   f"are written for at most {PER_STEP_MAX} steps")
    if same_T:
        out["per_step"] = {k: v.T.tolist() for k, v in per_step(results).items()}
    readout = bool(results[0].membrane_max) and results[0].membrane_max[-1] is not None
    if readout:  # decided by the membrane's maximum (or mean) over the whole window: no
        how = "mean" if results[0].readout == "mean" else "maximum"  # per-step curve
        out["decisions_omitted"] = ("the output is a leaky integrator, decided by its "
                                    f"membrane's {how} over the window; decision latency "
                                    "and accuracy against steps count output spikes")
    latencies = [None if readout else decision_latency(r) for r in results]
    out["decision_latency_steps"] = latencies
    labelled = [(r, y) for r, y in zip(results, labels) if y is not None]
    if labelled and same_T and not readout:
        acc = accuracy_vs_steps([r for r, _ in labelled], [y for _, y in labelled])
        out["accuracy_vs_steps"] = acc.tolist()
    first = results[0]
    if all(len(s) == int(c.sum()) for s, c in zip(first.spikes, first.spike_counts)):
        out["raster"] = [s[:RASTER_MAX].tolist() for s in first.spikes]
    if input_counts is not None:
        shape = net.input_shape if len(net.input_shape) == 3 else (1, 1, net.n_inputs)
        out["input_frame"] = np.asarray(input_counts).reshape(shape).tolist()
    elif first_input is not None:
        out["input_frame"] = _frame(net, first_input).tolist()
    return out


def input_counts(net: Network | Graph, sample) -> np.ndarray:
    """Input spikes of a sample (events, or 0/1 spikes ``(T, n_inputs)``) per input channel,
    shape (n_inputs,)."""
    if isinstance(sample, EventStream):
        return np.bincount(sample.channels(), minlength=net.n_inputs)[:net.n_inputs]
    return np.asarray(sample).reshape(len(sample), -1).sum(axis=0)


def _frame(net: Network | Graph, sample) -> np.ndarray:
    """Input spikes of a sample summed over time, shape (P, H, W) (or (1, 1, n))."""
    shape = net.input_shape if len(net.input_shape) == 3 else (1, 1, net.n_inputs)
    return input_counts(net, sample).reshape(shape)
