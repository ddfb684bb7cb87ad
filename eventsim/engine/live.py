"""A run fed while its events arrive: chunks of a recording, or a live camera.

:meth:`Simulator.stream <eventsim.engine.simulate.Simulator.stream>` returns a
:class:`LiveRun`. Each :meth:`LiveRun.feed` runs the steps its events close; the step of the
last event stays open (a later event may still fall into it) until a later chunk, or
``until_us`` (time that has passed with no event: a live source knows it), or
:meth:`LiveRun.close` ends it. :meth:`LiveRun.decision` reads the decision so far, from the
output spikes of the closed steps, by the rule of :attr:`Result.predicted
<eventsim.engine.result.Result.predicted>` (most spikes; ties to the earliest first spike,
then the lower index). The result of :meth:`LiveRun.close` equals the whole recording run
at once (``Simulator.run``) whatever the chunks, but for ``peak_queue`` when no ``T`` was
given: the queue then also held crossings past the window's final end.

Discrete mode; an output that is a leaky integrator (a readout) decides at
:meth:`LiveRun.close` only (its maximum over the window is known then). Memory is bounded by
a chunk and the spikes recorded (``record="output"`` keeps the output's only), never by the
recording's length.

Connecting a live source: call ``feed`` from the camera's callback with each packet as an
:class:`~eventsim.events.stream.EventStream` of the network's sensor (times in microseconds
from the start, non-decreasing across packets), or loop over an iterator of them::

    live = sim.stream()
    for packet in camera_packets():                    # EventStream chunks
        live.feed(packet, until_us=packet_end_us)      # optional: time known to have passed
        print(live.decision())
    result = live.close()
"""

from __future__ import annotations

import numpy as np

from eventsim.engine.plan import OFF, N
from eventsim.engine.result import Result
from eventsim.errors import InputError, ResourceError
from eventsim.events.stream import EventStream
from eventsim.limits import check_window
from eventsim.network.inputs import check_stream


class LiveRun:
    """A discrete run fed chunk by chunk (module docstring). Made by ``Simulator.stream``.

    Attributes
    ----------
    step : int
        Steps run so far (every step before it is closed and in the decision).
    """

    def __init__(self, run, net, T_end: int | None):
        self._run, self._net = run, net
        self._T_end = T_end  # the window asked for, else None: it ends at the last event
        self._held = np.zeros(0, np.int64)  # distinct channels of the open step
        self._open = -1  # the open step, -1 if none
        self._t_last = -1  # the last event's time, us
        lt = run.plan.lt  # the output population: the last
        self._out_off, self._n_out = int(lt[-1, OFF]), int(lt[-1, N])
        self._first = np.full(self._n_out, np.iinfo(np.int64).max)  # first spike's step
        self._seen = 0  # spike records scanned for first spikes
        self._closed = False

    @property
    def step(self) -> int:
        return self._run.step

    @property
    def dt_us(self) -> int:
        return self._run.dt_us

    def feed(self, chunk: EventStream, until_us: int | None = None) -> None:
        """Run the steps that ``chunk``'s events close (and those before ``until_us``).

        Parameters
        ----------
        chunk : EventStream
            The next events, none earlier than a step already run.
        until_us : int, optional
            Time known to have passed (a live source's clock): the steps that end by then
            are closed even without a later event.
        """
        self._check_open()
        run, dt_us = self._run, self._run.dt_us
        if not isinstance(chunk, EventStream):
            raise InputError(f"stream: chunks must be EventStream, got {type(chunk).__name__}")
        check_stream(self._net, chunk)
        t = chunk.events["t"]
        if len(t):
            late = np.flatnonzero(t < run.step * dt_us)
            if len(late):  # its step has run: binning would drop it silently
                i, t_i = int(late[0]), int(t[late[0]])
                raise InputError(
                    f"{chunk.source}: record {i} has t={t_i} us (step {t_i // dt_us}), but "
                    f"earlier chunks already ran up to step {run.step}; chunks must follow "
                    "each other in time")
            ch = np.concatenate([self._held, chunk.channels()])
            t = np.concatenate([self._held_t(), t])
            self._t_last = max(self._t_last, int(t.max()))
            self._open = self._t_last // dt_us
            if self._T_end is None and self._open >= run.T:  # past the open window's end
                check_window(self._open + 1, dt_us, run.plan.n_neurons,
                             f"{chunk.source}: the window that covers its events (to "
                             f"t={self._t_last} us)")
                raise ResourceError(
                    f"{chunk.source}: the window that covers its events (to t={self._t_last} "
                    f"us) has {self._open + 1} steps, more than a stream without T holds "
                    f"({run.T}); give T")
            closed = t < self._open * dt_us
            self._run_to(ch[closed], t[closed], self._open)
            self._held = np.unique(ch[~closed])  # binary binning: its distinct channels
        if until_us is not None and until_us // dt_us > max(self._open, self.step):
            self._run_to(self._held, self._held_t(), until_us // dt_us)
            self._held, self._open = np.zeros(0, np.int64), -1

    def _held_t(self) -> np.ndarray:
        """The held channels' time: the open step's start, us."""
        return np.full(len(self._held), max(self._open, 0) * self._run.dt_us, np.int64)

    def _run_to(self, channels: np.ndarray, t_us: np.ndarray, s_end: int) -> None:
        """Run to step ``s_end`` (exclusive) with these events; no further than the window."""
        end = s_end if self._T_end is None else min(s_end, self._T_end)
        if end > self._run.step:
            self._run.run_events(channels, t_us, end)

    def decision(self) -> int:
        """The output neuron with the most spikes in the closed steps (ties: the earliest
        first spike, then the lower index); -1 while none has spiked, and for an output
        that is a leaky integrator (it decides at :meth:`close`)."""
        self._check_open()
        rec, off, n = self._run.rec, self._out_off, self._n_out
        counts = rec.counts[off:off + n]
        if not len(counts) or counts.max() == 0:
            return -1
        n_rec = int(rec.out_n[0])  # first spikes of the records not yet scanned
        gid, step = rec.out_gid[self._seen:n_rec] - off, rec.out_step[self._seen:n_rec]
        mine = (gid >= 0) & (gid < n)
        np.minimum.at(self._first, gid[mine], step[mine])
        self._seen = n_rec
        best = np.flatnonzero(counts == counts.max())
        return int(best[np.argmin(self._first[best])])

    def close(self) -> Result:
        """Run the open step and the window's remaining steps: to ``T`` if given, else to
        the last event's step (or the last step ``until_us`` closed, if later). The whole
        run's Result."""
        self._check_open()
        run = self._run
        end = self._T_end if self._T_end is not None else max(self._open + 1, run.step)
        self._run_to(self._held, self._held_t(), end)
        run.T = end  # the window ends here: the queue's later entries are never reached
        self._closed = True
        return run.result()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("stream: closed; Simulator.stream() starts a new one")
