"""Metrics: counts with NeuroBench names, latency to decision, energy."""

from eventsim.metrics.counts import LayerMetrics, layer_metrics, per_step, structure
from eventsim.metrics.latency import accuracy_vs_steps, decision_latency, decisions

__all__ = ["LayerMetrics", "accuracy_vs_steps", "decision_latency", "decisions", "layer_metrics",
           "per_step", "structure"]
