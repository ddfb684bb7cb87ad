"""``eventsim run --realtime`` and ``eventsim.realtime.replay``: a recording replayed at its
pace (or faster), a live source that stalls, latencies and decisions."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.cli import main
from eventsim.errors import InputError
from eventsim.events.stream import EventStream
from eventsim.realtime import replay

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


@pytest.fixture(scope="module")
def recording(nmnist_test):
    return min((nmnist_test / "3").glob("*.bin"))


class FakeClock:
    """Time moves only when the replay waits: the engine takes no time."""

    def __init__(self):
        self.now, self.waits = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("speed", [1.0, 20.0])
def test_a_recording_is_paced_by_its_timestamps(recording, speed):
    """Chunks are released at their ends (recording time / speed); an event's latency is
    then exactly the wait for the first chunk end that closes its step."""
    net = eventsim.load_network(NET)
    sim = eventsim.Simulator(net)
    stream = eventsim.read_events(recording, net.sensor_size)
    clock = FakeClock()
    chunk = net.dt_us  # chunks of one step
    run = replay(sim, stream, chunk, speed, clock=clock, sleep=clock.sleep)
    t = stream.events["t"]
    first = int(t[0])
    ends = np.arange((first // chunk + 1) * chunk, int(t[-1]) + chunk + 1, chunk)
    assert [d[0] for d in run.decisions] == ends.tolist()
    assert np.isclose(sum(clock.waits), (ends[-1] - first) / 1e6 / speed)
    inside = t < net.T * net.dt_us
    expected = ((t // chunk + 1) * chunk - t) / 1e6 / speed  # to its step's end
    np.testing.assert_allclose(run.latency_s[inside], expected[inside], atol=1e-9)
    assert np.isnan(run.latency_s[~inside]).all()
    assert run.events == len(t) and run.keeps_up  # the engine took no time at all
    whole = sim.run(stream)
    assert run.result.predicted == whole.predicted == run.decisions[-1][1]
    for a, b in zip(run.result.spikes, whole.spikes):
        np.testing.assert_array_equal(a, b)


def test_faster_than_real_time_and_a_live_source_that_stalls(recording):
    net = eventsim.load_network(NET)
    sim = eventsim.Simulator(net)
    stream = eventsim.read_events(recording, net.sensor_size)
    fast = replay(sim, stream, 10_000, speed=math.inf)
    assert fast.keeps_up and len(fast.decisions) == -(-(int(stream.events["t"][-1]) + 1)
                                                      // 10_000)
    assert np.isfinite(fast.latency_s[stream.events["t"] < net.T * net.dt_us]).all()

    stalled = []

    size = len(stream) // 6  # six chunks; a 0.3 s stall after the third
    assert size > 50

    def camera():
        for k, lo in enumerate(range(0, len(stream), size)):
            if k == 3:
                time.sleep(0.3)
                stalled.append(time.perf_counter())
            yield EventStream(stream.events[lo:lo + size], stream.sensor_size, "camera")

    live = replay(sim, camera(), speed=1.0)
    assert len(live.decisions) == -(-len(stream) // size)
    # latency counts from a chunk's arrival: chunks after the stall do not carry it, but the
    # step still open when it began waits for the next event, through the stall
    cut = 3 * size
    after = live.latency_s[cut:]
    assert np.isfinite(after).any() and np.nanmax(after) < 0.25
    t = stream.events["t"]
    held = t[:cut] // net.dt_us == t[cut - 1] // net.dt_us
    assert held.any() and (live.latency_s[:cut][held] >= 0.3).all()
    assert (live.latency_s[:cut][~held] < 0.25).all()
    np.testing.assert_array_equal(live.result.spike_counts[-1], fast.result.spike_counts[-1])
    assert live.result.predicted == fast.result.predicted
    with pytest.raises(InputError, match="chunks must be EventStream"):
        replay(sim, iter([np.zeros(3)]))
    with pytest.raises(InputError, match="'chunk_us' must be a positive integer"):
        replay(sim, stream, chunk_us=0)


def test_cli_realtime_prints_decisions_latency_and_whether_it_keeps_up(recording, capsys,
                                                                      tmp_path):
    assert main(["run", str(NET), str(recording), "--realtime", "--speed", "inf"]) == 0
    out = capsys.readouterr().out
    assert "decision: " in out and "decision at the end: " in out and "(label 3)" in out
    assert "latency from an event to the first decision that includes it: median " in out
    assert "keeps up" in out
    assert main(["run", str(NET), str(recording.parent), "--realtime"]) == 1
    assert "--realtime replays one recording" in capsys.readouterr().err
    assert main(["run", str(NET), str(recording), "--realtime", "--json",
                 str(tmp_path / "x.json")]) == 1
    assert "not with --json" in capsys.readouterr().err
    assert main(["run", str(NET), str(recording), "--realtime", "--speed", "0"]) == 1
    assert "expected a number > 0 or inf" in capsys.readouterr().err
