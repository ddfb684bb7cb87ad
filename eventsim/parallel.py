"""Dataset-parallel runs on Dask: many samples, one network, on a local or remote cluster.

The network goes to the workers once (``Client.scatter``, broadcast: a pickled
:class:`~eventsim.network.network.Network`, weights included); the samples travel as file
paths (made absolute), so every worker must see the same files at the same paths (one
machine, or a shared file system). Files are split into batches; a task builds its
:class:`~eventsim.engine.simulate.Simulator` once and runs its batch, so the plan is built
once per batch, not per sample. Results come back in the order of the files, identical to a
serial run (the engine is deterministic); a sample that fails (a damaged file) comes back as
its error message, the others are kept. Dask is imported here only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eventsim.engine.result import Result
from eventsim.errors import EventsimError, InputError, whole
from eventsim.network.network import Network
from eventsim.runs import Failed, try_file

#: Batches per worker: enough for load balance and progress, few enough to amortise a task.
BATCHES_PER_WORKER = 4


def _run_batch(net: Network, sim_kwargs: dict, items: list[tuple[int, str]],
               sensor_size) -> list[tuple[int, Result | Failed]]:
    """On a worker: one Simulator, the batch's files in order."""
    from eventsim.engine.simulate import Simulator

    sim = Simulator(net, **sim_kwargs)
    return [(index, try_file(sim, path, sensor_size)) for index, path in items]


def run_files(net: Network, files: list[Path], workers: int = 2, scheduler: str | None = None,
              sensor_size: tuple[int, int, int] | None = None,
              progress: Callable[[int], None] | None = None,
              **sim_kwargs) -> list[Result | Failed]:
    """Run ``net`` on every file on a Dask cluster; results in the order of ``files``.

    Parameters
    ----------
    net : Network
        Sent to every worker once (broadcast).
    files : list of Path
        Event files; every worker must be able to read them at these paths.
    workers : int
        Worker processes of the ``LocalCluster`` started here (one thread each). Ignored
        with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead.
    sensor_size : tuple, optional
        Passed to :func:`~eventsim.events.readers.read_events`.
    progress : callable, optional
        Called with the number of samples of each batch as it completes.
    **sim_kwargs
        ``mode``, ``dtype``, ``dt_us``, ``T``, ``record`` of the Simulator.

    Returns
    -------
    list of Result or Failed
        One per file, in the order of ``files``; a :class:`Failed` (path and message) for a
        file that could not be read or run.

    Raises
    ------
    InputError
        ``workers`` is not a positive integer, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - a dependency
        raise EventsimError("parallel runs need dask.distributed: pip install "
                            "'dask[distributed]'") from None
    if scheduler is None:
        workers = whole(workers, "parallel", "workers")
    progress = progress or (lambda n: None)
    cluster = client = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        try:
            client = Client(scheduler if scheduler is not None else cluster, timeout="10s")
        except (OSError, ValueError) as err:  # ValueError: a malformed address
            where = f"at {scheduler}" if scheduler is not None else "of the local cluster"
            raise InputError(f"parallel: cannot reach the Dask scheduler {where} ({err})") \
                from None
        n_workers = max(len(client.scheduler_info()["workers"]), 1)
        # absolute paths: a worker's working folder is not the caller's
        items = [(i, str(Path(f).absolute())) for i, f in enumerate(files)]
        n_batches = min(len(items), n_workers * BATCHES_PER_WORKER) or 1
        batches = [items[k::n_batches] for k in range(n_batches)]
        shared = client.scatter(net, broadcast=True)
        futures = [client.submit(_run_batch, shared, sim_kwargs, batch, sensor_size,
                                 pure=False) for batch in batches if batch]
        results: list[Result | Failed | None] = [None] * len(items)
        for future in as_completed(futures):
            done = future.result()
            for index, result in done:
                if isinstance(result, Failed):  # named as the caller named it
                    given = str(files[index])
                    result = Failed(given, result.error.replace(items[index][1], given))
                results[index] = result
            progress(len(done))
        return results
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
