"""Decisions while the events arrive: a recording replayed at its own pace, or a live source.

:func:`replay` feeds a :class:`~eventsim.engine.live.LiveRun` and measures what a user with a
camera sees:

- a recording (an EventStream) is cut into chunks of ``chunk_us`` of its own time, each
  released when the clock reaches its end (``speed`` times faster than real time; with
  ``speed=inf`` as fast as the engine goes, each chunk released when it is fed): the chunk's
  events, and the time passed (``until_us``), close the steps before it;
- a live source (an iterator of EventStream chunks) is fed as it yields; an event counts as
  released when its chunk arrives, and its step closes when a later event arrives.

After every chunk the decision so far is read. An event's **latency** is the time from its
release to the first decision that includes it (its step closed): at least the wait for its
step to end (up to ``dt_us``, plus the chunk it waits in), plus the engine's time. The engine
**keeps up** when its busy time (feeding and deciding) is less than the recording's
duration at the replay's speed: its sustained rate, events per second of busy time, is then
above the recording's event rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from eventsim.engine.result import Result
from eventsim.errors import InputError, whole
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.runs import sensor_size_of


@dataclass
class Replay:
    """What :func:`replay` measured.

    Attributes
    ----------
    decisions : list of (int, int)
        After each chunk: (the recording time its chunk ends at, us; the decision so far).
    latency_s : ndarray, shape (n_events,)
        Per event, release to decision, seconds (events after the window's end: NaN).
    events : int
    recording_s : float
        The recording's duration (first to last event), seconds of its own time.
    busy_s : float
        Wall time spent feeding and deciding.
    wall_s : float
        Wall time of the whole replay.
    speed : float
    result : Result
        The whole run (equal to ``Simulator.run`` of the recording).
    """

    decisions: list[tuple[int, int]]
    latency_s: np.ndarray
    events: int
    recording_s: float
    busy_s: float
    wall_s: float
    speed: float
    result: Result

    @property
    def recording_rate(self) -> float:
        """Events per second of the recording's own time."""
        return self.events / self.recording_s if self.recording_s > 0 else math.inf

    @property
    def sustained_rate(self) -> float:
        """Events per second of the engine's busy time."""
        return self.events / self.busy_s if self.busy_s > 0 else math.inf

    @property
    def keeps_up(self) -> bool:
        """Whether the engine goes faster than the events come: at the replay's speed, or
        at real time for a replay without waiting (``speed=inf``)."""
        pace = self.speed if math.isfinite(self.speed) else 1.0
        return self.sustained_rate >= self.recording_rate * pace

    def latency_percentile(self, q: float) -> float:
        """The ``q``-th percentile of the events' latency, seconds (NaN without events)."""
        known = self.latency_s[np.isfinite(self.latency_s)]
        return float(np.percentile(known, q)) if len(known) else math.nan


def replay(sim, source: EventStream | Iterable[EventStream], chunk_us: int = 10_000,
           speed: float = 1.0, T: int | None = None,
           on_decision: Callable[[int, int], None] | None = None,
           clock: Callable[[], float] = time.perf_counter,
           sleep: Callable[[float], None] = time.sleep) -> Replay:
    """Run ``sim`` (a discrete :class:`~eventsim.engine.simulate.Simulator`) on ``source``
    as its events arrive (module docstring).

    Parameters
    ----------
    sim : Simulator
    source : EventStream or iterable of EventStream
        A recording, replayed at its pace; or a live source's chunks, fed as they come.
    chunk_us : int
        A recording's chunk length, microseconds of its time.
    speed : float
        Replay this many times faster than real time (``math.inf``: no waiting).
    T : int, optional
        The window, in steps; default the simulator's, else to the last event.
    on_decision : callable, optional
        Called with (recording time, decision) after every chunk.
    clock, sleep
        The wall clock and the wait (tests pass their own).
    """
    chunk_us = whole(chunk_us, "replay", "chunk_us")
    if not speed > 0:
        raise InputError(f"replay: field 'speed' must be positive, got {speed!r}")
    _warm_up(sim)
    live = sim.stream(T)
    dt_us = sim.dt_us
    decisions: list[tuple[int, int]] = []
    times, released = [], []  # per chunk: its events' times (us) and release times (s)
    decided = []  # (steps closed, wall time of the decision)
    busy = 0.0
    start = clock()
    for t_end, chunk, release in _paced(source, chunk_us, speed, clock, sleep, start):
        t0 = clock()
        live.feed(chunk, until_us=t_end)
        decision = live.decision()
        t1 = clock()
        busy += t1 - t0
        decisions.append((t_end if t_end is not None else chunk.t_last_us, decision))
        times.append(chunk.events["t"])
        released.append(release)
        decided.append((live.step, t1))
        if on_decision is not None:
            on_decision(decisions[-1][0], decision)
    t0 = clock()
    result = live.close()
    t1 = clock()
    busy += t1 - t0
    decided.append((live.step, t1))
    t = np.concatenate(times) if times else np.zeros(0, np.int64)
    rel = np.concatenate(released) if released else np.zeros(0)
    latency = np.full(len(t), math.nan)
    steps = t // dt_us
    done = np.zeros(len(t), bool)
    for closed, at in decided:  # the first decision whose closed steps include the event's
        now = ~done & (steps < closed)
        latency[now] = at - rel[now]
        done |= now
    span = (int(t.max()) - int(t.min())) / 1e6 if len(t) else 0.0
    return Replay(decisions, latency, len(t), span, busy, clock() - start, speed, result)


def _warm_up(sim) -> None:
    """A run of two idle steps, so that the numba kernels are loaded before the clock
    starts (the first call in a process loads them from the cache)."""
    live = sim.stream(2)
    live.feed(EventStream(np.zeros(0, EVENT_DTYPE), sensor_size_of(sim.net) or (sim.net.n_inputs, 1, 1)),
              until_us=2 * sim.dt_us)
    live.decision()
    live.close()


def _paced(source, chunk_us: int, speed: float, clock, sleep, start: float):
    """``(t_end, chunk, release times)``: a recording's chunks as its clock reaches their
    ends (``t_end`` the chunk's end, us), or a live source's as they come (``t_end`` None,
    released on arrival)."""
    if isinstance(source, EventStream):
        events = source.events
        if len(events) > 1 and np.any(events["t"][1:] < events["t"][:-1]):
            events = events[np.argsort(events["t"], kind="stable")]
        t = events["t"]
        if not len(t):
            return
        first = int(t[0])
        # ends on multiples of chunk_us: with chunks of whole steps, step and chunk ends meet
        ends = np.arange((first // chunk_us + 1) * chunk_us, int(t[-1]) + chunk_us + 1, chunk_us)
        cuts = np.searchsorted(t, ends, side="left")
        lo = 0
        for end, hi in zip(ends, cuts):
            wait = start + (int(end) - first) / 1e6 / speed - clock()
            if wait > 0:
                sleep(wait)
            chunk = EventStream(events[lo:hi], source.sensor_size, source.source)
            release = (start + (t[lo:hi] - first) / 1e6 / speed if math.isfinite(speed)
                       else np.full(hi - lo, clock()))  # no pacing: released when fed
            yield int(end), chunk, release
            lo = hi
        return
    for chunk in source:
        if not isinstance(chunk, EventStream):
            raise InputError(f"replay: chunks must be EventStream, got {type(chunk).__name__}")
        yield None, chunk, np.full(len(chunk), clock())
