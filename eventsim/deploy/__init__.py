"""Deployment: chip targets (:mod:`.target`) and placing a network on one (:mod:`.mapping`)."""

from eventsim.deploy.mapping import Mapping, Violation, deploy
from eventsim.deploy.target import Target, load_target, shipped_targets

__all__ = ["Mapping", "Target", "Violation", "deploy", "load_target", "shipped_targets"]
