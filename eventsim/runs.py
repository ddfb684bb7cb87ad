"""Running one network on many recordings: on the threads of this machine, or on a Dask
cluster (:mod:`eventsim.parallel`).

Each file is read (whole, or streamed in chunks) and run on one prepared
:class:`~eventsim.engine.simulate.Simulator`. A file that cannot be read or run (a damaged
recording, events off the sensor) comes back as a :class:`Failed` with its message, and the
others are kept; a bug (any other exception) is raised. Results are in the order of the
files and equal to a serial loop's, whatever the threads or workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventsim.engine.result import Result
from eventsim.engine.simulate import Simulator
from eventsim.engine.threads import check_threads, map_threads
from eventsim.errors import EventsimError, InputError, quoted
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
    memory, :func:`~eventsim.events.readers.iter_events`); the window is then the
    simulator's ``T``, else one first pass finds the recording's last timestamp.
    ``sensor_size`` is passed to the reader.
    """
    from eventsim.events.binning import n_steps
    from eventsim.events.readers import iter_events, read_events

    if not chunk_events:
        return sim.run(read_events(path, sensor_size))
    T = sim.T
    if T is None:  # cover the recording: one bounded-memory pass for its last timestamp
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
