"""``simulate``: run a network on input spikes or events, event by event."""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from eventsim.engine import discrete, readout
from eventsim.engine.delivery import deliver_analog
from eventsim.engine.live import LiveRun
from eventsim.engine.plan import (
    C_IN,
    CAN_SELF,
    H_IN,
    NN_ALPHA,
    NN_HW,
    OFF,
    SRC,
    SYN_DECAY,
    TGT,
    V_TH,
    W_IN,
    N,
    Plan,
    plan_bytes,
)
from eventsim.engine.plan_cache import cached_plan
from eventsim.engine.queue import new_heap
from eventsim.engine.result import MACS, N_STATS, SELF, SPIKES, Result, make_result
from eventsim.engine.threads import check_threads, map_threads
from eventsim.errors import EventsimWarning, InputError, NetworkError
from eventsim.events.binning import DEFAULT_DT_US, bin_active_steps
from eventsim.events.stream import EventStream
from eventsim.limits import INT64_MAX, check_memory, check_window
from eventsim.network.continuous import check_continuous
from eventsim.network.graph import INPUT, Graph, as_graph, population_label, projection_name
from eventsim.network.inputs import (
    analog_input,
    check_binned,
    check_dtype,
    check_network,
    check_not_path,
    check_steps,
    check_stream,
    dense_input,
)
from eventsim.network.network import Network

#: The window of a stream whose end is not known (:meth:`Simulator.stream`): 2**40 steps.
#: Its queue keeps no entry beyond, and the window ends at the last step run when closed.
OPEN_STEPS = 1 << 40
RECORDS = ("all", "output")


class DiscreteRun:
    """State of one discrete-mode simulation, fed step ranges of input spikes in order.

    Python orchestration around :func:`discrete.run_steps`: builds the state arrays once,
    grows the spike and per-step buffers between kernel calls when they fill, and wraps the
    counters in a Result. Memory is bounded by the network, the spikes and the steps with
    activity, never by ``T`` (the kernel jumps over steps in which nothing happens).
    """

    def __init__(self, plan: Plan, T: int, dt_us: int, rec_from: int = 0,
                 per_step: bool = True, room: dict | None = None,
                 spares: list | None = None):
        self.plan, self.T, self.dt_us, self.rec_from = plan, T, dt_us, rec_from
        # ``spares``: finished runs whose arrays a new run takes (reset, not allocated);
        # :meth:`result` puts this run's there
        self.spares = spares
        spare = spares.pop() if spares else None
        # ``room``: the most earlier runs of the caller used ("spikes", "rows"), so a run like
        # them starts with buffers that need not grow; updated by :meth:`result`
        self.room = room if room is not None else {}
        self.tables = plan.tables(T)
        # state of the other models only where a population has them (arrays of 1 else)
        self.currents, self.held, self.readouts = plan.models[:3]
        if spare is not None and spare.plan is plan and bool(len(spare.rec.step_rows)) \
                == per_step:  # a finished run's arrays: reset, not allocated again
            self.state, self.heap, self.scratch, self.rec = (spare.state, spare.heap,
                                                             spare.scratch, spare.rec)
        else:
            self._allocate(T, per_step)
        self._reset()
        self.step = 0
        discrete.schedule_bias(plan.arrays, self.tables, T, self.state, self.heap,
                               self.rec.gstats)

    def _allocate(self, T: int, per_step: bool) -> None:
        """The state, queue, scratch and record arrays (values set by :meth:`_reset`)."""
        plan = self.plan
        dtype = plan.ft.dtype
        n, n_pop, et = plan.n_neurons, plan.n_pop, plan.et
        two, adapt = plan.models[3:]
        some = {True: n, False: 1}
        self.state = discrete.State(
            u=np.empty(n, dtype), adapt=np.empty(some[adapt], dtype),
            threshold=np.empty(n, dtype), i_syn=np.empty(some[self.currents], dtype),
            i_syn2=np.empty(some[two], dtype), cur2=np.empty(some[two], dtype),
            ref_until=np.empty(some[self.held], np.int64),
            ro_sum=np.empty(some[self.readouts]), ro_max=np.empty(some[self.readouts]),
            cur=np.empty(n, dtype), t_last=np.empty(n, np.int64),
            version=np.empty(n, np.int64), pending=np.empty(n, np.bool_),
            mark=np.empty(n, np.int64), hit=np.empty(n, np.uint8),
            all_mark=np.empty(n_pop, np.int64),
            uniform=np.empty(n_pop, np.bool_), nn_x=np.empty(max(plan.n_aux, 1), dtype),
            nn_live=np.empty(len(et), np.bool_),
            ring_idx=np.empty(max(plan.ring_spikes, 1), np.int64),
            ring_n=np.empty(max(plan.ring_slots, 1), np.int64),
            ring_step=np.empty(max(plan.ring_slots, 1), np.int64),
            cal=np.empty(plan.max_delay + 1, np.int64), cal_total=np.empty(1, np.int64))
        self.heap = new_heap(2 * n + 16)
        n_in = et[:, C_IN] * et[:, H_IN] * et[:, W_IN]
        has_nn = et[:, NN_ALPHA] >= 0
        fan_tgt, fan_wix = plan.fan_buffers()
        self.scratch = discrete.Scratch(
            touched=np.empty(n, np.int64), spk=np.empty(int(plan.lt[:, N].max()), np.int64),
            tally=np.empty(int(et[has_nn, NN_HW].max(initial=1)), dtype),
            analog=np.empty(int(n_in[has_nn].max(initial=1)), dtype),
            fan_tgt=fan_tgt, fan_wix=fan_wix)
        # room for a few percent of neurons firing every step; grown (x4) when it fills
        spikes = min(n * T, max(16 * n, 1 << 16, self.room.get("spikes", 0) * 5 // 4)) + n
        # rows (step, population, counters) of the steps with activity; none when off
        rows = min(T * n_pop, max(1 << 12, self.room.get("rows", 0) * 5 // 4)) + n_pop \
            if per_step else 0
        # the spike record and the rows are written before they are read: never cleared
        self.rec = discrete.Record(
            out_step=np.empty(spikes, np.int64), out_gid=np.empty(spikes, np.int64),
            out_n=np.empty(1, np.int64), counts=np.empty(n, np.int64),
            stats=np.empty((n_pop, N_STATS), np.int64), edge_sops=np.empty(len(et), np.int64),
            gstats=np.empty(3, np.int64), step_rows=np.empty((rows, 2 + N_STATS), np.int64),
            n_rows=np.empty(1, np.int64))

    def _reset(self) -> None:
        """Every array to its value at step 0: potentials at rest, thresholds as given,
        nothing queued, held, delivered or counted."""
        state = self.state
        np.copyto(state.u, self.plan.start)
        np.copyto(state.threshold, self.plan.arrays.v_th)
        for name, value in _START.items():
            getattr(state, name).fill(value)
        self.heap.hstate.fill(0)
        for array in self.scratch:
            array.fill(0)
        for name in ("out_n", "counts", "stats", "edge_sops", "gstats", "n_rows"):
            getattr(self.rec, name).fill(0)

    def run(self, step_ptr: np.ndarray, channel_idx: np.ndarray, s_begin: int, s_end: int):
        """Run up to step ``s_end`` (exclusive) with the input spikes of steps ``s_begin ..
        s_end - 1`` (``step_ptr`` as from :func:`~eventsim.events.binning.bin_sparse`, step 0
        of it being ``s_begin``).
        Steps between the current one and ``s_begin`` run without input."""
        if s_begin < self.step:
            raise InputError(f"inputs for step {s_begin} arrived after step {self.step} was run")
        active = np.flatnonzero(step_ptr[1:] != step_ptr[:-1])  # the steps with input
        self.feed(active + s_begin, np.append(step_ptr[active], step_ptr[-1]), channel_idx,
                   s_end)

    def run_events(self, channels: np.ndarray, t_us: np.ndarray, s_end: int) -> None:
        """Run up to step ``s_end`` (exclusive) with input events ``(channel, t_us)`` of steps
        ``>= self.step``, binned by the one rule (:mod:`eventsim.events.binning`) into the
        steps that hold events only: memory per event, not per step."""
        from eventsim.events.binning_kernel import bin_active

        s_end = min(s_end, self.T)
        steps = np.asarray(t_us, np.int64) // self.dt_us
        keep = (steps >= self.step) & (steps < s_end)
        channels = np.asarray(channels, np.int64)
        if not keep.all():
            channels, steps = channels[keep], steps[keep]
        if len(steps) > 1 and np.any(steps[1:] < steps[:-1]):
            order = np.argsort(steps, kind="stable")
            channels, steps = channels[order], steps[order]
        self.feed(*bin_active(steps, channels, self.n_inputs), s_end)

    @property
    def n_inputs(self) -> int:
        """The network's input channels."""
        return self.plan.n_inputs

    def idle(self, s_end: int) -> None:
        """Run the steps up to ``s_end`` (exclusive) without input (one jump to each queued
        crossing: no cost per step)."""
        self.feed(_NONE, _NO_PTR, _NONE, s_end)

    def feed(self, in_steps, in_ptr, in_idx, s_end: int) -> None:
        """Run to ``s_end`` with the input of the steps ``in_steps`` (ascending, none before
        the current step; see :func:`discrete.run_steps`), growing the output buffers when
        the kernel asks."""
        s_end = min(s_end, self.T)
        inp = discrete.Input(in_steps, in_ptr, in_idx)
        while self.step < s_end:
            s = discrete.run_steps(self.plan.arrays, self.tables, inp, self.step, s_end, self.T,
                                   self.rec_from, self.state, self.heap, self.scratch, self.rec)
            self.step = s
            if s < s_end:  # a buffer is full: grow it and go on
                rec = self.rec
                n, n_pop = self.plan.n_neurons, self.plan.n_pop
                if int(rec.out_n[0]) + n > len(rec.out_step):
                    check_memory(5 * 16 * len(rec.out_step),  # both, the old and the new
                                 f"simulate: the spike record ({int(rec.out_n[0])} spikes by "
                                 f"step {s} of T={self.T}; record='output' keeps only the "
                                 "output layer's)")
                    rec = rec._replace(out_step=_grown(rec.out_step),
                                       out_gid=_grown(rec.out_gid))
                if len(rec.step_rows) and int(rec.n_rows[0]) + n_pop > len(rec.step_rows):
                    check_memory(5 * rec.step_rows.nbytes,
                                 f"simulate: the per-step counters ({int(rec.n_rows[0])} rows "
                                 f"by step {s} of T={self.T}; record='output' keeps none)")
                    rec = rec._replace(step_rows=_grown(rec.step_rows))
                self.rec = rec

    def result(self) -> Result:
        self.idle(self.T)
        p, rec = self.plan, self.rec
        if self.readouts:
            readout.flush(p.arrays, self.tables, self.state, self.T)
        for key, used in (("spikes", rec.out_n[0]), ("rows", rec.n_rows[0])):
            self.room[key] = max(self.room.get(key, 0), int(used))
        offsets = p.lt[:, OFF]
        pop_of = np.repeat(np.arange(p.n_pop), p.lt[:, N])
        rows, ptr = discrete.split_spikes(rec.out_step, rec.out_gid, int(rec.out_n[0]),
                                          pop_of, offsets, p.n_pop)
        spikes = [rows[ptr[i]:ptr[i + 1]] for i in range(p.n_pop)]
        counts = [rec.counts[offsets[i]:offsets[i] + p.lt[i, N]].copy()
                  for i in range(p.n_pop)]
        stats = rec.stats
        events = int(rec.gstats[discrete.EVENTS])
        input_spikes = events - stats[:, SPIKES].sum() - stats[:, SELF].sum()
        step_rows = rec.step_rows[:int(rec.n_rows[0])] if len(rec.step_rows) else None
        result = make_result(spikes, counts, stats, input_spikes, events,
                             rec.gstats[discrete.PEAK_QUEUE], self.T, self.T * self.dt_us,
                             "discrete", p, step_rows, rec.edge_sops)
        for l in range(p.n_pop):  # leaky integrators: their membrane's maximum and mean
            if p.ft[l, V_TH] == np.inf:
                sl = slice(offsets[l], offsets[l] + p.lt[l, N])
                result.membrane_max[l] = self.state.ro_max[sl].copy()
                result.membrane_mean[l] = self.state.ro_sum[sl] / max(self.T, 1)
        result.readout = p.graph.output.readout
        if self.spares is not None and not self.spares:  # the result holds none of its arrays
            self.spares.append(self)
        return result


#: The value at step 0 of every state array but ``u`` and ``threshold``.
_START = {"adapt": 0, "i_syn": 0, "i_syn2": 0, "cur2": 0, "ref_until": -1, "ro_sum": 0,
          "ro_max": -np.inf, "cur": 0, "t_last": -1, "version": 0, "pending": False,
          "mark": -1, "hit": 0, "all_mark": -1, "uniform": True, "nn_x": 0, "nn_live": False,
          "ring_idx": 0, "ring_n": 0, "ring_step": -1, "cal": 0, "cal_total": 0}

#: No input: no steps with input, and their (empty) pointers.
_NONE = np.zeros(0, np.int64)
_NO_PTR = np.zeros(1, np.int64)
_NONE.setflags(write=False)
_NO_PTR.setflags(write=False)


def _grown(buffer: np.ndarray) -> np.ndarray:
    """``buffer`` four times as long (first axis), its contents kept."""
    out = np.zeros((4 * len(buffer), *buffer.shape[1:]), buffer.dtype)
    out[:len(buffer)] = buffer
    return out


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

    def __init__(self, net: Network | Graph, mode: str = "discrete", dtype: str = "float32",
                 dt_us: int | None = None, T: int | None = None, record: str = "all"):
        if mode not in ("discrete", "continuous"):
            raise InputError(
                f"simulate: field 'mode' must be 'discrete' or 'continuous', got {mode!r}")
        self.net, self.mode, self.dtype = check_network(net), mode, check_dtype(dtype)
        self.dt_us = check_steps(dt_us, "dt_us") or net.dt_us or DEFAULT_DT_US
        self.T = check_steps(T, "T", minimum=0)
        self.T = self.T if self.T is not None else net.T
        if record not in RECORDS:
            raise InputError(f"simulate: field 'record' must be one of {RECORDS}, got {record!r}")
        graph = as_graph(net)
        if mode == "continuous":
            check_continuous(net, graph)
        if any(pop.integer for pop in graph.populations):
            # whole numbers held exactly (to 2**53): the result is that of every dtype
            self.dtype = np.dtype(np.float64)
        if self.T is not None:
            check_window(self.T, self.dt_us, net.n_neurons)
        check_memory(plan_bytes(graph), lambda: (
            f"simulate: the network's {net.n_neurons} neurons ("
            + ", ".join(f"{population_label(net, graph, i)}: {pop.size}"
                        for i, pop in enumerate(graph.populations)) + ")"))
        self.plan = cached_plan(net, graph, self.dtype, mode == "continuous")
        self.rec_from = 0 if record == "all" else self.plan.n_pop - 1
        self.per_step = record == "all"
        self._room: dict = {}  # the most buffer room any run used so far (DiscreteRun)
        self._spares = threading.local()  # per thread: a finished run's arrays (DiscreteRun)

    def run(self, inputs: np.ndarray | EventStream | Iterable[EventStream],
            T: int | None = None, analog: bool = False) -> Result:
        """Simulate one sample (see :func:`simulate` for ``inputs`` and ``analog``); ``T``
        overrides the simulator's for this sample."""
        net = self.net
        T = check_steps(T, "T", minimum=0)
        T = T if T is not None else self.T
        check_not_path(inputs)
        if analog:
            return self._run_analog(inputs, T)
        if self.mode == "continuous":
            from eventsim.engine.continuous import simulate_continuous

            if T is not None:
                check_window(T, self.dt_us, self.plan.n_neurons)
            return simulate_continuous(net, self.plan, inputs, self.dt_us, T)
        if isinstance(inputs, EventStream):
            check_stream(net, inputs)
            bins = bin_active_steps(inputs, self.dt_us, T)
            n = len(inputs)
            if T is None and n:  # the window covers the recording
                check_window(bins.T, self.dt_us, self.plan.n_neurons, f"{inputs.source}: the "
                             f"window that covers its events (to t={bins.t_max_us} us)")
            T = bins.T
            if n and bins.t_min_us // self.dt_us >= T:
                warnings.warn(f"{inputs.source}: none of its {n} events falls in the window "
                              f"of T={T} steps of dt_us={self.dt_us} (0 to {T * self.dt_us} us); "
                              f"the first is at t={bins.t_min_us} us", EventsimWarning,
                              stacklevel=2)
            run = self._new_run(self.plan, T)
            run.feed(bins.steps, bins.ptr, bins.channels, T)
            return run.result()
        if isinstance(inputs, np.ndarray):
            return self._run_binned(*dense_input(net, inputs, T))
        if isinstance(inputs, Iterable):
            live = self.stream(T)
            for chunk in inputs:
                live.feed(chunk)
            return live.close()
        raise InputError(f"simulate: 'inputs' must be an array, an EventStream or an iterator "
                         f"of EventStream chunks, got {type(inputs).__name__}")

    def run_many(self, inputs: Iterable, threads: int | None = None, T: int | None = None,
                 analog: bool = False,
                 progress: Callable[[int], None] | None = None) -> list[Result]:
        """Simulate many samples on a pool of threads sharing this prepared network
        (:mod:`eventsim.engine.threads`).

        Parameters
        ----------
        inputs : iterable
            Samples, each what :meth:`run` takes (an array, an EventStream, or with
            ``analog`` an image); consumed as threads free up.
        threads : int, optional
            Threads to run on. Default: every core of this machine. 1 runs in the
            caller's thread.
        T, analog
            As in :meth:`run`, for every sample.
        progress : callable, optional
            Called with 1 as each result is collected, in the caller's thread.

        Returns
        -------
        list of Result
            In the order of ``inputs``, equal to ``[self.run(x) for x in inputs]``. The
            first error, in input order, is raised once the running samples finish.
        """
        threads = check_threads(threads)
        return map_threads(lambda x: self.run(x, T, analog), inputs, threads, progress)

    def stream(self, T: int | None = None) -> LiveRun:
        """A run fed chunk by chunk while the events arrive (:mod:`eventsim.engine.live`):
        ``feed(chunk)``, ``decision()`` so far, ``close()`` for the Result. ``T`` (else the
        simulator's) bounds the window; without one it ends at the last event. Discrete
        mode."""
        if self.mode != "discrete":
            raise InputError("stream: chunks run in discrete mode only; got mode "
                             f"{self.mode!r}")
        T = check_steps(T, "T", minimum=0)
        T = T if T is not None else self.T
        open_T = min(OPEN_STEPS, INT64_MAX // self.dt_us - 1,
                     INT64_MAX // max(self.plan.n_neurons, 1) - 2)
        return LiveRun(self._new_run(self.plan, T if T is not None else open_T), self.net, T)

    def _run_analog(self, image, T: int | None) -> Result:
        """A static image as a constant current through every projection from the input:
        ``W x`` is computed once (counted as MACs) and added to the targets' bias for every
        step (whatever the projection's delay)."""
        image, T = analog_input(self.net, image, T)
        plan = self.plan
        g = plan.graph
        for k, proj in enumerate(g.projections):  # a constant current is a bias: port 0 only
            if proj.source == INPUT and proj.port:
                raise NetworkError(f"{projection_name(k, proj)}: an analog input is a constant "
                                   "current, a bias, which the second current (port 1) does "
                                   "not take: feed the image through a port 0 projection")
        current = np.zeros(plan.n_neurons, plan.ft.dtype)
        macs = np.zeros((plan.n_pop, N_STATS), np.int64)
        lt = plan.lt.copy()
        for e in np.flatnonzero(plan.et[:, SRC] == 0):
            l = int(plan.et[e, TGT])
            deliver_analog(plan.arrays, e, l, int(lt[l, OFF]), image.astype(plan.ft.dtype),
                           self.net.n_inputs, current, macs, *plan.fan_buffers())
        bias, syn_bias = plan.bias.copy(), plan.syn_bias.copy()
        for l in range(plan.n_pop):  # the driven neurons may now cross on their own
            sl = slice(lt[l, OFF], lt[l, OFF] + lt[l, N])
            if plan.ft[l, SYN_DECAY] > 0:  # current-based: the current takes it
                syn_bias[sl] += current[sl]
            else:
                bias[sl] += current[sl]
            lt[l, CAN_SELF] |= bool((bias[sl] > 0).any()) and plan.ft[l, V_TH] < np.inf
        driven = dataclasses.replace(plan, arrays=plan.arrays._replace(lt=lt, bias=bias,
                                                                       syn_bias=syn_bias))
        if self.mode == "continuous":
            from eventsim.engine.continuous import simulate_continuous

            result = simulate_continuous(self.net, driven,
                                         np.zeros((T, self.net.n_inputs), np.uint8),
                                         self.dt_us, T)
        else:
            run = self._new_run(driven, T)
            run.idle(T)
            result = run.result()
        result.macs += macs[:, MACS]
        return result

    def run_binned(self, step_ptr: np.ndarray, channel_idx: np.ndarray) -> Result:
        """Discrete mode on input already binned by :func:`~eventsim.events.binning.bin_sparse`
        (``T = len(step_ptr) - 1``)."""
        step_ptr, channel_idx = check_binned(step_ptr, channel_idx, self.net.n_inputs)
        return self._run_binned(step_ptr, channel_idx, len(step_ptr) - 1)

    def _run_binned(self, step_ptr: np.ndarray, channel_idx: np.ndarray, T: int) -> Result:
        """:meth:`run_binned` of arrays known to be valid."""
        run = self._new_run(self.plan, T)
        run.run(step_ptr, channel_idx, 0, T)
        return run.result()

    def _new_run(self, plan: Plan, T: int) -> DiscreteRun:
        """A DiscreteRun of ``T`` steps, after the checks of the window."""
        check_window(T, self.dt_us, plan.n_neurons)
        spares = self._spares.__dict__.setdefault("runs", [])  # this thread's
        return DiscreteRun(plan, T, self.dt_us, self.rec_from, self.per_step, self._room,
                           spares)


def simulate(
    net: Network | Graph,
    inputs: np.ndarray | EventStream | Iterable[EventStream],
    mode: str = "discrete",
    dtype: str = "float32",
    dt_us: int | None = None,
    T: int | None = None,
    analog: bool = False,
) -> Result:
    """Simulate ``net`` event by event.

    Parameters
    ----------
    net : Network or Graph
        A chain of layers, or a graph of populations (:mod:`eventsim.network.graph`).
    inputs : ndarray, EventStream, or iterable of EventStream
        A 0/1 array of input spikes, shape ``(T, n_inputs)`` or ``(T, *input_shape)``; or an
        event stream, binned (binary) by the one rule of :mod:`eventsim.events.binning`; or an
        iterator of consecutive chunks of one recording (state carries across chunks, the
        result equals the whole stream at once, and without ``T`` the window ends at the
        last event's step; discrete mode only; :meth:`Simulator.stream` feeds them one by
        one).
    mode : {"discrete", "continuous"}
        ``"discrete"``: the STBP recurrence exactly (see :mod:`eventsim.network.layers`).
        ``"continuous"``: real-valued time from the events' timestamps
        (:mod:`eventsim.engine.continuous`).
    dtype : {"float32", "float64"}
        Membrane potentials and weights. float64 gives the spikes of a plain numpy
        implementation of the recurrence. Networks with integer (quantized) layers compute
        exactly in whole numbers whatever the dtype.
    dt_us : int, optional
        Bin width (discrete) or the step ``decay`` refers to (continuous), in microseconds.
        Default: ``net.dt_us``, else 1000.
    T : int, optional
        Steps to simulate. Default: ``net.T``, else covering the recording.
    analog : bool
        ``inputs`` is a static analog image, shape ``net.input_shape`` or ``(n_inputs,)``,
        fed as a constant current into the first layer at each of the ``T`` steps (the
        "direct" encoding of static images). ``W x`` is computed once and counted in
        ``Result.macs``, not as SOPs; the first layer then runs on its closed-form crossings.

    Returns
    -------
    Result

    To run many samples, build a :class:`Simulator` once and call its ``run``.
    """
    return Simulator(net, mode, dtype, dt_us, T).run(inputs, analog=analog)
