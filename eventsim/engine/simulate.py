"""``simulate``: run a network on input spikes or events, event by event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from eventsim.engine import discrete
from eventsim.engine.plan import C_IN, H_IN, N, OFF, W_IN, Plan, build_plan, decay_tables
from eventsim.engine.queue import new_heap
from eventsim.engine.result import Result
from eventsim.errors import InputError
from eventsim.events.binning import bin_sparse, dense_to_sparse
from eventsim.events.stream import EventStream
from eventsim.network.network import Network

DEFAULT_DT_US = 1000
DTYPES = ("float32", "float64")
RECORDS = ("all", "output")


class DiscreteRun:
    """State of one discrete-mode simulation, fed step ranges of input spikes in order.

    Python orchestration around :func:`discrete.run_steps`: builds the state arrays once, grows
    the spike buffer between kernel calls when it fills, and wraps the counters in a Result.
    """

    def __init__(self, plan: Plan, T: int, dt_us: int, rec_from: int = 0):
        self.plan, self.T, self.dt_us, self.rec_from = plan, T, dt_us, rec_from
        dtype = plan.ft.dtype
        n = plan.n_neurons
        self.P, self.G = decay_tables(plan.ft, T)
        self.net_arrays = (plan.lt, plan.ft, plan.csr_ptr, plan.csr_idx, plan.csr_w,
                           plan.dense_w, plan.conv_w, plan.bias)
        # u, cur (input of the step), t_last, version, pending, mark, all_mark (step in which
        # every neuron of a population was touched), uniform (its t_last all equal)
        self.state = (np.zeros(n, dtype), np.zeros(n, dtype), np.full(n, -1, np.int64),
                      np.zeros(n, np.int64), np.zeros(n, np.bool_), np.full(n, -1, np.int64),
                      np.full(plan.n_pop, -1, np.int64), np.ones(plan.n_pop, np.bool_))
        self.heap = new_heap(2 * n + 16)
        n_in = int(plan.lt[0, C_IN] * plan.lt[0, H_IN] * plan.lt[0, W_IN])
        self.scratch = (np.zeros(n, np.int64), np.zeros(max(n, n_in), np.int64))  # touched, spk
        # room for a few percent of neurons firing every step; grown (x4) when it fills
        self.out_step = np.zeros(min(n * T, max(16 * n, 1 << 16)) + n, np.int64)
        self.out_gid = np.zeros_like(self.out_step)
        self.out_n = np.zeros(1, np.int64)
        self.counts = np.zeros(n, np.int64)
        self.stats = np.zeros((plan.n_pop, 4), np.int64)
        self.gstats = np.zeros(3, np.int64)
        self.step = 0
        discrete.schedule_bias(self.net_arrays, self.P, self.G, T, self.state[3], self.state[4],
                               self.heap, self.gstats)

    def run(self, step_ptr: np.ndarray, channel_idx: np.ndarray, s_begin: int, s_end: int):
        """Run up to step ``s_end`` (exclusive) with the input spikes of steps ``s_begin ..
        s_end - 1`` (``step_ptr`` as from :func:`bin_sparse`, step 0 of it being ``s_begin``).
        Steps between the current one and ``s_begin`` run without input."""
        if s_begin < self.step:
            raise InputError(f"inputs for step {s_begin} arrived after step {self.step} was run")
        if s_begin > self.step:
            self._feed(np.zeros(s_begin - self.step + 1, np.int64), channel_idx[:0],
                       self.step, s_begin)
        self._feed(step_ptr, channel_idx, s_begin, s_end)

    def _feed(self, step_ptr, channel_idx, base: int, s_end: int) -> None:
        s_end = min(s_end, self.T)
        while self.step < s_end:
            s = discrete.run_steps(
                self.net_arrays, self.P, self.G, step_ptr[self.step - base:], channel_idx,
                self.step, s_end, self.T, self.state, self.heap, self.scratch,
                self.out_step, self.out_gid, self.out_n, self.counts, self.rec_from,
                self.stats, self.gstats)
            self.step = s
            if s < s_end:  # spike buffer full: grow it and go on
                self.out_step = np.resize(self.out_step, 4 * len(self.out_step))
                self.out_gid = np.resize(self.out_gid, 4 * len(self.out_gid))

    def result(self) -> Result:
        self.run(np.zeros(1, np.int64), np.zeros(0, np.int64), self.T, self.T)
        p = self.plan
        offsets = p.lt[:, OFF]
        pop_of = np.repeat(np.arange(p.n_pop), p.lt[:, N])
        rows, ptr = discrete.split_spikes(self.out_step, self.out_gid, int(self.out_n[0]),
                                          pop_of, offsets, p.n_pop)
        spikes = [rows[ptr[i]:ptr[i + 1]] for i in range(p.n_pop)]
        counts = [self.counts[offsets[i]:offsets[i] + p.lt[i, N]] for i in range(p.n_pop)]
        st = self.stats
        return Result(
            spikes=spikes, sops=st[:, discrete.SOPS].copy(), spike_counts=counts,
            neuron_updates=st[:, discrete.UPDATES].copy(), self_events=st[:, discrete.SELF].copy(),
            input_spikes=int(self.gstats[discrete.EVENTS] - st[:, discrete.SPIKES].sum()
                             - st[:, discrete.SELF].sum()),
            events_processed=int(self.gstats[discrete.EVENTS]),
            peak_queue=int(self.gstats[discrete.PEAK_QUEUE]), T=self.T,
            duration_us=float(self.T * self.dt_us), mode="discrete",
            layer_index=list(p.layer_index))


def _check_dtype(dtype) -> np.dtype:
    if str(np.dtype(dtype)) not in DTYPES:
        raise InputError(f"simulate: field 'dtype' must be float32 or float64, got {dtype!r}")
    return np.dtype(dtype)


def _check_stream(net: Network, stream: EventStream) -> None:
    if stream.n_channels != net.n_inputs:
        raise InputError(
            f"{stream.source}: sensor_size {stream.sensor_size} gives {stream.n_channels} input "
            f"channels; the network's input_shape {net.input_shape} has {net.n_inputs}"
        )


def _dense_input(net: Network, spikes: np.ndarray, T: int | None) -> tuple[np.ndarray, int]:
    spikes = np.asarray(spikes)
    if spikes.ndim < 2 or int(np.prod(spikes.shape[1:])) != net.n_inputs or (
            spikes.ndim > 2 and spikes.shape[1:] != net.input_shape):
        raise InputError(
            f"inputs: array of shape {spikes.shape}; expected (T, {net.n_inputs}) or "
            f"(T, *{net.input_shape}) for the network's input_shape {net.input_shape}"
        )
    spikes = spikes.reshape(spikes.shape[0], -1)
    if spikes.dtype != np.bool_ and not np.all((spikes == 0) | (spikes == 1)):
        bad = np.argwhere((spikes != 0) & (spikes != 1))[0]
        raise InputError(
            f"inputs: value {spikes[tuple(bad)]} at (step {bad[0]}, channel {bad[1]}); "
            "expected 0/1 input spikes"
        )
    if T is not None and T != spikes.shape[0]:
        raise InputError(f"inputs: array has {spikes.shape[0]} steps but T={T} was given")
    return spikes, spikes.shape[0]


class Simulator:
    """A network prepared for the engine once (weights flattened, fan-out built), then run on
    any number of samples: what :func:`simulate` does for one.

    Parameters are those of :func:`simulate`, and

    record : {"all", "output"}
        Whose spikes to keep in ``Result.spikes`` (discrete mode). Counters and per-neuron
        spike counts are always complete; ``"output"`` keeps memory bounded on long streams.

    Examples
    --------
    >>> sim = Simulator(net, dtype="float64")            # doctest: +SKIP
    >>> results = [sim.run(read_events(f)) for f in files]  # doctest: +SKIP
    """

    def __init__(self, net: Network, mode: str = "discrete", dtype: str = "float32",
                 dt_us: int | None = None, T: int | None = None, record: str = "all"):
        if mode not in ("discrete", "continuous"):
            raise InputError(
                f"simulate: field 'mode' must be 'discrete' or 'continuous', got {mode!r}")
        self.net, self.mode, self.dtype = net, mode, _check_dtype(dtype)
        self.dt_us = dt_us if dt_us is not None else (net.dt_us or DEFAULT_DT_US)
        if isinstance(self.dt_us, bool) or not isinstance(self.dt_us, (int, np.integer)) \
                or self.dt_us <= 0:
            raise InputError(f"simulate: field 'dt_us' must be a positive integer, got {dt_us!r}")
        self.T = T if T is not None else net.T
        if record not in RECORDS:
            raise InputError(f"simulate: field 'record' must be one of {RECORDS}, got {record!r}")
        self.plan = build_plan(net, self.dtype)
        self.rec_from = 0 if record == "all" else self.plan.n_pop - 1

    def run(self, inputs: np.ndarray | EventStream | Iterable[EventStream],
            T: int | None = None) -> Result:
        """Simulate one sample (see :func:`simulate` for ``inputs``); ``T`` overrides the
        simulator's for this sample."""
        net, T = self.net, (T if T is not None else self.T)
        if self.mode == "continuous":
            from eventsim.engine.continuous import simulate_continuous

            return simulate_continuous(net, self.plan, inputs, self.dt_us, T)
        if isinstance(inputs, EventStream):
            _check_stream(net, inputs)
            step_ptr, idx, T = bin_sparse(inputs.channels(), inputs.events["t"], net.n_inputs,
                                          self.dt_us, T)
            return self.run_binned(step_ptr, idx)
        if isinstance(inputs, np.ndarray):
            spikes, T = _dense_input(net, inputs, T)
            return self.run_binned(*dense_to_sparse(spikes))
        if isinstance(inputs, Iterable):
            if T is None:
                raise InputError("simulate: streaming chunks needs 'T' (argument or net.T): the "
                                 "window cannot cover a recording whose end is not yet known")
            return _simulate_chunks(net, self.plan, iter(inputs), self.dt_us, T, self.rec_from)
        raise InputError(f"simulate: 'inputs' must be an array, an EventStream or an iterator "
                         f"of EventStream chunks, got {type(inputs).__name__}")

    def run_binned(self, step_ptr: np.ndarray, channel_idx: np.ndarray) -> Result:
        """Discrete mode on input already binned by :func:`~eventsim.events.binning.bin_sparse`
        (``T = len(step_ptr) - 1``)."""
        T = len(step_ptr) - 1
        run = DiscreteRun(self.plan, T, self.dt_us, self.rec_from)
        run.run(step_ptr, channel_idx, 0, T)
        return run.result()


def simulate(
    net: Network,
    inputs: np.ndarray | EventStream | Iterable[EventStream],
    mode: str = "discrete",
    dtype: str = "float32",
    dt_us: int | None = None,
    T: int | None = None,
) -> Result:
    """Simulate ``net`` event by event.

    Parameters
    ----------
    net : Network
    inputs : ndarray, EventStream, or iterable of EventStream
        A 0/1 array of input spikes, shape ``(T, n_inputs)`` or ``(T, *input_shape)``; or an
        event stream, binned (binary) by the one rule of :mod:`eventsim.events.binning`; or an
        iterator of consecutive chunks of one recording (state carries across chunks; the
        result equals the whole stream at once; ``T`` must then be given or set on ``net``;
        discrete mode only).
    mode : {"discrete", "continuous"}
        ``"discrete"``: the STBP recurrence exactly (see :mod:`eventsim.network.layers`).
        ``"continuous"``: real-valued time from the events' timestamps
        (:mod:`eventsim.engine.continuous`).
    dtype : {"float32", "float64"}
        Membrane potentials and weights. float64 gives the spikes of a plain numpy
        implementation of the recurrence.
    dt_us : int, optional
        Bin width (discrete) or the step ``decay`` refers to (continuous), in microseconds.
        Default: ``net.dt_us``, else 1000.
    T : int, optional
        Steps to simulate. Default: ``net.T``, else covering the recording.

    Returns
    -------
    Result

    To run many samples, build a :class:`Simulator` once and call its ``run``.
    """
    return Simulator(net, mode, dtype, dt_us, T).run(inputs)


def _simulate_chunks(net: Network, plan: Plan, chunks: Iterator[EventStream],
                     dt_us: int, T: int,
                     rec_from: int = 0) -> Result:
    """Stream chunks: each chunk's last (possibly incomplete) step waits for the next chunk.

    Only the steps a chunk covers are binned (``t_start_us`` moves along), so memory is bounded
    by the chunk, not by the recording.
    """
    run = DiscreteRun(plan, T, dt_us, rec_from)
    held = np.zeros(0, np.int64), np.zeros(0, np.int64)  # (channels, t_us) of the open step

    def advance(ch: np.ndarray, t: np.ndarray, s_end: int) -> None:
        begin, s_end = run.step, min(s_end, T)
        if s_end > begin:
            step_ptr, idx, _ = bin_sparse(ch, t, net.n_inputs, dt_us, s_end - begin,
                                          t_start_us=begin * dt_us)
            run.run(step_ptr, idx, begin, s_end)

    for chunk in chunks:
        if not isinstance(chunk, EventStream):
            raise InputError(f"simulate: chunks must be EventStream, got {type(chunk).__name__}")
        _check_stream(net, chunk)
        if len(chunk) == 0:
            continue
        late = np.flatnonzero(chunk.events["t"] < run.step * dt_us)
        if len(late):  # its step has run: binning would drop it silently
            i, t_i = int(late[0]), int(chunk.events["t"][late[0]])
            raise InputError(
                f"{chunk.source}: record {i} has t={t_i} us (step {t_i // dt_us}), but earlier "
                f"chunks already ran up to step {run.step}; chunks must follow each other in time")
        ch = np.concatenate([held[0], chunk.channels()])
        t = np.concatenate([held[1], chunk.events["t"]])
        open_step = int(t[-1]) // dt_us
        closed = t < open_step * dt_us
        advance(ch[closed], t[closed], open_step)
        held = ch[~closed], t[~closed]
    advance(held[0], held[1], T)
    return run.result()
