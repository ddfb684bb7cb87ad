"""Metrics: counts with NeuroBench names, latency to decision, energy estimates."""

from eventsim.metrics.counts import (
    LayerMetrics,
    ProjectionMetrics,
    layer_metrics,
    per_step,
    projection_metrics,
    structure,
)
from eventsim.metrics.energy import LayerEnergy, Profile, layer_energy, load_profile, profile_names
from eventsim.metrics.latency import accuracy_vs_steps, decision_latency, decisions

__all__ = ["LayerEnergy", "LayerMetrics", "Profile", "ProjectionMetrics", "accuracy_vs_steps",
           "decision_latency", "decisions", "layer_energy", "layer_metrics", "load_profile",
           "per_step", "profile_names", "projection_metrics", "structure"]
