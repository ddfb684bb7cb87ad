"""Running one network on many recordings: on the threads of this machine, or on a Dask
cluster (:mod:`eventsim.parallel`), and what such a run reports.

Each file is read (whole, or streamed in chunks) and run on one prepared
:class:`~eventsim.engine.simulate.Simulator`. A file that cannot be read or run (a damaged
recording, events off the sensor) comes back as a :class:`Failed` with its message, and the
others are kept; a bug (any other exception) is raised. Results are in the order of the
files and equal to a serial loop's, whatever the threads or workers.

:func:`run_dataset` is what ``eventsim run`` and ``eventsim demo`` do: run the samples,
label them, and sum them up in a :class:`RunSummary` (per sample and per layer, accuracy,
the samples not run, and on request the report's metrics), whose :meth:`RunSummary.to_json`
is the JSON ``eventsim run --json`` writes and ``eventsim report`` draws; :func:`load_run`
reads such a JSON back, checked.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eventsim.engine.result import Result
from eventsim.engine.simulate import Simulator
from eventsim.engine.threads import check_threads, map_threads
from eventsim.errors import EventsimError, InputError, quoted
from eventsim.events.binning import DEFAULT_DT_US
from eventsim.events.stream import EventStream
from eventsim.fileio import input_path
from eventsim.limits import check_window


@dataclass
class Failed:
    """A sample that could not be run: its path as given, and the error's message."""

    path: str
    error: str


def run_file(sim: Simulator, path: str | os.PathLike, sensor_size=None,
             chunk_events: int | None = None) -> Result:
    """Read ``path`` and run it on ``sim``.

    With ``chunk_events`` the file is streamed in chunks of that many events (bounded
    memory, :func:`~eventsim.events.readers.iter_events`); the window is the simulator's
    ``T``, else one first pass finds the recording's last timestamp (and checks the window
    that covers it). ``sensor_size`` is passed to the reader.
    """
    from eventsim.events.binning import n_steps
    from eventsim.events.readers import iter_events, read_events

    if not chunk_events:
        return sim.run(read_events(path, sensor_size))
    T = sim.T
    if T is None:
        t_last = max((c.t_last_us for c in iter_events(path, chunk_events, sensor_size)
                      if len(c)), default=None)
        T = n_steps(t_last, sim.dt_us)
        check_window(T, sim.dt_us, sim.plan.n_neurons,
                     f"{path}: the window that covers its events (to t={t_last} us)")
    return sim.run(iter_events(path, chunk_events, sensor_size), T=T)


def try_file(sim: Simulator, path: str | os.PathLike, sensor_size=None,
             chunk_events: int | None = None) -> Result | Failed:
    """:func:`run_file`, or a :class:`Failed` for a file that cannot be read or run."""
    try:
        return run_file(sim, path, sensor_size, chunk_events)
    except (EventsimError, OSError) as err:
        return Failed(str(path), str(err))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # a bug: raised, with its traceback
        raise
    except BaseException as err:  # noqa: BLE001 - not an Exception (a codec's Rust panic)
        return Failed(str(path), f"{path}: {type(err).__name__}: {quoted(err)}")


def run_files(sim: Simulator, files: Sequence[str | os.PathLike], threads: int | None = None,
              sensor_size=None, chunk_events: int | None = None,
              progress: Callable[[int], None] | None = None, workers: int = 1,
              scheduler: str | None = None, strict: bool = False) -> list[Result | Failed]:
    """Run ``sim`` on every file; results in the order of ``files``.

    Parameters
    ----------
    sim : Simulator
        The prepared network, shared by the threads (never copied).
    files : sequence of path
    threads : int, optional
        Threads of this process (:mod:`eventsim.engine.threads`). Default: every core.
    sensor_size : tuple, optional
        Passed to the reader.
    chunk_events : int, optional
        Stream each file in chunks of this many events (see :func:`run_file`).
    progress : callable, optional
        Called with the number of samples done, as they complete.
    workers, scheduler
        ``workers > 1`` or a ``scheduler`` address: run on a Dask cluster instead
        (:func:`eventsim.parallel.run_files`; the network is sent to each worker once).
    strict : bool
        Raise the first error (in file order) instead of returning a :class:`Failed`.

    Returns
    -------
    list of Result or Failed
    """
    if workers > 1 or scheduler is not None:
        if chunk_events:
            raise InputError("run_files: a Dask cluster runs whole files; chunk_events streams "
                             "on this machine's threads only")
        from eventsim.parallel import run_files as run_on_dask

        results = run_on_dask(sim.net, [Path(f) for f in files], workers, scheduler,
                              sensor_size, progress, mode=sim.mode, dtype=sim.dtype.name,
                              dt_us=sim.dt_us, T=sim.T,
                              record="all" if sim.per_step else "output")
        if strict:
            for r in results:
                if isinstance(r, Failed):
                    raise EventsimError(r.error)
        return results
    threads = check_threads(threads, "run_files")

    def one(path):
        if strict:
            return run_file(sim, path, sensor_size, chunk_events)
        return try_file(sim, path, sensor_size, chunk_events)

    return map_threads(one, files, threads, progress)


def label_of(path: str | os.PathLike, labels: list[str] | None) -> int | None:
    """A sample's label from its folder: a numeric parent folder (``Test/7/00012.bin``), or
    one named as a class of the network (``net.labels``); None otherwise."""
    name = Path(path).parent.name
    if labels and name in labels:
        return labels.index(name)
    return int(name) if name.isdigit() else None


def sensor_size_of(net) -> tuple[int, int, int] | None:
    """The sensor the network's input reads: ``net.sensor_size``, else ``(W, H, P)`` of an
    input shape ``(P, H, W)``, else None (the reader's own)."""
    if net.sensor_size is not None:
        return net.sensor_size
    if len(net.input_shape) == 3:
        p, h, w = net.input_shape
        return (w, h, p)
    return None


@dataclass
class SampleSummary:
    """One sample of a run: where it came from, its label (None if unknown), the decision,
    its steps, and per population its spikes, SOPs and MACs."""

    path: str
    label: int | None
    predicted: int
    T: int
    spikes: list[int]
    sops: list[int]
    macs: list[int]


@dataclass
class RunSummary:
    """What a run of a network on many samples reports (:func:`run_dataset`).

    ``layers`` holds a row per population: ``layer`` (index, or a graph population's name),
    ``kind``, ``neurons``, ``spikes``, ``sops``, ``macs``, ``neuron_updates`` (totals over
    the samples run), ``rate`` and ``rate_unit`` (per neuron and step, or Hz in continuous
    mode). ``metrics`` is :func:`eventsim.metrics.summary.summarize`'s, when asked for.
    """

    network: str
    input: str | None
    mode: str
    dtype: str
    dt_us: int
    T: int | None
    samples: list[SampleSummary]
    accuracy: float | None
    layers: list[dict]
    not_run: list[Failed] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict | None = None

    @property
    def correct(self) -> int:
        """Labelled samples decided right."""
        return sum(s.label == s.predicted for s in self.samples if s.label is not None)

    @property
    def labelled(self) -> int:
        return sum(s.label is not None for s in self.samples)

    def table(self) -> str:
        """The per-layer table ``eventsim run`` prints."""
        rows = self.layers
        macs = any(r["macs"] for r in rows)  # analog inputs (NeuNorm): a column of their own
        mac_head = f"{'MACs':>15}" if macs else ""
        wl = max(5, *(len(str(r["layer"])) for r in rows))  # graph populations have names
        wk = max(10, *(len(r["kind"]) + 2 for r in rows))
        head = f"{'layer':>{wl}}  {'kind':<{wk}}{'neurons':>9}{'spikes':>12}{'SOPs':>15}"
        lines = [f"{head}{mac_head}  rate ({rows[0]['rate_unit']})"]
        for r in rows:
            mac = f"{r['macs']:>15}" if macs else ""
            lines.append(f"{r['layer']:>{wl}}  {r['kind']:<{wk}}{r['neurons']:>9}"
                         f"{r['spikes']:>12}{r['sops']:>15}{mac}  {r['rate']:.4g}")
        mac_total = f"{sum(r['macs'] for r in rows):>15}" if macs else ""
        lines.append(f"{'total':>{wl}}  {'':<{wk}}{sum(r['neurons'] for r in rows):>9}"
                     f"{sum(r['spikes'] for r in rows):>12}{sum(r['sops'] for r in rows):>15}"
                     f"{mac_total}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The JSON-ready dict ``eventsim run --json`` writes (``seconds`` left out: it
        differs between identical runs)."""
        out = {"network": self.network, "input": self.input, "mode": self.mode,
               "dtype": self.dtype, "dt_us": self.dt_us, "T": self.T,
               "samples": [asdict(s) for s in self.samples], "accuracy": self.accuracy,
               "layers": self.layers,
               "not_run": [{"path": f.path, "error": f.error} for f in self.not_run]}
        if self.metrics is not None:
            out["metrics"] = self.metrics
        return out

    @classmethod
    def from_json(cls, data: dict, source: str = "<json>") -> RunSummary:
        """The summary :meth:`to_json` wrote; InputError naming ``source`` and the field when
        one is missing or of the wrong kind."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a JSON object of `eventsim run --json`")
        try:
            samples = [SampleSummary(**s) for s in data["samples"]]
            not_run = [Failed(**f) for f in data.get("not_run", [])]
            return cls(data["network"], data["input"], data["mode"], data["dtype"],
                       data["dt_us"], data["T"], samples, data["accuracy"], data["layers"],
                       not_run, 0.0, data.get("metrics"))
        except KeyError as err:
            raise InputError(f"{source}: field {err} is missing; expected the JSON of "
                             "`eventsim run --json`") from None
        except TypeError as err:
            raise InputError(f"{source}: a sample or a run not run has the wrong fields "
                             f"({quoted(err)})") from None


def layer_rows(net, results: list[Result], mode: str) -> list[dict]:
    """Per population, totals over ``results`` (see :class:`RunSummary`)."""
    from eventsim.metrics.counts import population_kinds

    rows = []
    for i, (li, _, kind, n) in enumerate(population_kinds(net)):
        spikes = int(sum(len(r.spikes[i]) for r in results))
        if mode == "discrete":
            rate, unit = spikes / max(n * sum(r.T for r in results), 1), "/neuron/step"
        else:
            seconds = sum(r.duration_us for r in results) / 1e6 if results else 0
            rate, unit = spikes / max(n * seconds, 1e-12), "Hz"
        if not hasattr(net, "layers"):  # a graph: its populations by name
            li = net.populations[i].name
        rows.append({"layer": li, "kind": kind, "neurons": n, "spikes": spikes,
                     "sops": int(sum(int(r.sops[i]) for r in results)),
                     "macs": int(sum(int(r.macs[i]) for r in results)),
                     "neuron_updates": int(sum(int(r.neuron_updates[i]) for r in results)),
                     "rate": rate, "rate_unit": unit})
    return rows


def input_frame(net, sample: str | os.PathLike | EventStream,
                chunk_events: int | None = None) -> np.ndarray:
    """The events of ``sample`` (a file, read in chunks, or a stream) per input channel,
    shape (n_inputs,): the report's input frame."""
    from eventsim.events.readers import iter_events
    from eventsim.metrics.summary import input_counts

    streams = [sample] if isinstance(sample, EventStream) else iter_events(
        sample, chunk_events or 1_000_000, sensor_size_of(net))
    return sum((input_counts(net, s) for s in streams), np.zeros(net.n_inputs, np.int64))


def run_dataset(net, samples: Sequence, labels: Sequence[int | None] | None = None, *,
                name: str = "<network>", input_name: str | None = None,
                mode: str = "discrete", dtype: str = "float32", dt_us: int | None = None,
                T: int | None = None, threads: int | None = None, workers: int = 1,
                scheduler: str | None = None, chunk_events: int | None = None,
                metrics: bool = False, profiles=None,
                progress: Callable[[int], None] | None = None,
                strict: bool = False) -> RunSummary:
    """Run ``net`` on every sample and sum the run up: what ``eventsim run`` prints and
    writes, for a Python user.

    Parameters
    ----------
    net : Network or Graph
    samples : sequence of path or EventStream
        Event files (read on the threads, or on a Dask cluster with ``workers > 1`` or a
        ``scheduler``), or recordings already in memory (threads only).
    labels : sequence, optional
        Each sample's label (None: unknown). Default: from a file's folder
        (:func:`label_of`); None for a stream.
    name, input_name : str
        How the summary names the network and the input.
    mode, dtype, dt_us, T
        As in :class:`~eventsim.engine.simulate.Simulator`.
    threads, workers, scheduler, chunk_events, progress, strict
        As in :func:`run_files`.
    metrics : bool
        Also compute the report's metrics (discrete mode;
        :func:`~eventsim.metrics.summary.summarize`, with the first sample's input frame).
    profiles : list, optional
        Energy profiles of the metrics (names or Profile objects). Default: its defaults.

    Returns
    -------
    RunSummary
        ``not_run`` lists the samples that could not be run; ``samples`` the others.
    """
    dt_us = dt_us or net.dt_us or DEFAULT_DT_US
    sim = Simulator(net, mode, dtype, dt_us, T)
    size = sensor_size_of(net)
    if labels is None:
        labels = [None if isinstance(s, EventStream) else label_of(s, net.labels)
                  for s in samples]
    if len(labels) != len(samples):
        raise InputError(f"run_dataset: {len(labels)} labels for {len(samples)} samples")
    start = time.perf_counter()
    if any(isinstance(s, EventStream) for s in samples):
        if workers > 1 or scheduler is not None or chunk_events:
            raise InputError("run_dataset: recordings in memory run on this machine's "
                             "threads, whole; give files for a Dask cluster or chunks")
        done = sim.run_many(samples, threads)
    else:
        done = run_files(sim, samples, threads, size, chunk_events, progress, workers,
                         scheduler, strict)
    seconds = time.perf_counter() - start
    ran = [(s, y, r) for s, y, r in zip(samples, labels, done) if not isinstance(r, Failed)]
    results = [r for _, _, r in ran]
    rows = [SampleSummary(s.source if isinstance(s, EventStream) else str(s),
                          None if y is None else int(y), r.predicted, r.T,
                          r.n_spikes.tolist(), r.sops.tolist(), r.macs.tolist())
            for s, y, r in ran]
    summary = RunSummary(
        name, input_name, mode, str(np.dtype(dtype)), dt_us, T if T is not None else net.T,
        rows, None, layer_rows(net, results, mode) if results else [],
        [r for r in done if isinstance(r, Failed)], seconds)
    if summary.labelled:
        summary.accuracy = summary.correct / summary.labelled
    if metrics and results and mode == "discrete":
        from eventsim.metrics.summary import DEFAULT_PROFILES, summarize

        summary.metrics = summarize(net, results, [x.label for x in rows],
                                    profiles=profiles or DEFAULT_PROFILES,
                                    input_counts=input_frame(net, ran[0][0], chunk_events))
    return summary


def load_run(path: str | Path) -> dict:
    """The JSON written by ``eventsim run --json``, checked for its ``metrics`` section."""
    path = input_path(path, "JSON file", "eventsim report")
    try:
        run = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a JSON file ({quoted(err)})") from None
    if not isinstance(run, dict) or not isinstance(run.get("metrics"), dict):
        raise InputError(f"{path}: field 'metrics' is missing; expected the JSON of "
                         "`eventsim run ... --json` (eventsim 0.1 or later)")
    for key in ("layers", "energy", "samples"):
        if key not in run["metrics"]:
            raise InputError(f"{path}: field 'metrics.{key}' is missing")
    RunSummary.from_json(run, str(path))  # every other field a run writes
    return run
