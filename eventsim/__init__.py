"""eventsim: event-driven simulation of spiking networks on event-camera data.

The public API. The engine and the DVS emulator (numba) are imported on first use of what
needs them (:func:`simulate`, :class:`Result`, :func:`run_dataset`, :func:`emulate_dvs`...),
so ``import eventsim`` stays light.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING

from eventsim import errors
from eventsim.errors import EventError, EventsimError, FormatError, InputError, NetworkError
from eventsim.events.binning import bin_events
from eventsim.events.hdf5 import EventWriter, write_events
from eventsim.events.readers import iter_events, read_events
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.events.synthetic import saccade_events
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection, as_graph
from eventsim.network.hdf5 import load_network, save_network
from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d
from eventsim.network.network import Network
from eventsim.network.nir import from_nir, to_nir
from eventsim.network.random import random_mlp

if TYPE_CHECKING:
    from eventsim.engine.result import Result
    from eventsim.engine.simulate import Simulator, simulate
    from eventsim.events.emulator import emulate_dvs, saccade_video
    from eventsim.metrics.report import write_report
    from eventsim.realtime import replay
    from eventsim.runs import RunSummary, load_run, run_dataset

try:
    __version__ = _metadata.version("eventsim")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_LAZY = {"simulate": "eventsim.engine.simulate", "Simulator": "eventsim.engine.simulate",
         "Result": "eventsim.engine.result", "emulate_dvs": "eventsim.events.emulator",
         "saccade_video": "eventsim.events.emulator", "run_dataset": "eventsim.runs",
         "RunSummary": "eventsim.runs", "load_run": "eventsim.runs",
         "write_report": "eventsim.metrics.report", "replay": "eventsim.realtime"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eventsim' has no attribute {name!r}")


__all__ = [
    "EVENT_DTYPE", "AvgPool2d", "Conv2d", "Dense", "EventError", "EventStream", "EventWriter",
    "EventsimError", "Flatten", "FormatError", "Graph", "InputError", "Network", "NetworkError",
    "NeuNorm", "Population", "Projection", "Result", "RunSummary", "Simulator", "SumPool2d",
    "__version__", "as_graph", "bin_events", "emulate_dvs", "errors", "from_nir",
    "iter_events", "load_network", "load_run", "ops", "random_mlp", "read_events", "replay",
    "run_dataset", "saccade_events", "saccade_video", "save_network", "simulate", "to_nir",
    "write_events", "write_report",
]
