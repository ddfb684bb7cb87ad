"""Cross-check the runtime against Brian2 on the same samples: counts, mismatches, first
divergence. What ``eventsim validate`` runs and prints.

Discrete mode compares spike trains exactly, float64: a *mismatching spike* is a
``(step, neuron)`` that one simulator has and the other has not. At the first one (earliest
sample, then step, then layer, then neuron) both membrane potentials are reported: the
runtime's from its dense numpy twin (:func:`~eventsim.network.reference.simulate_dense`, equal
to the engine in float64) and Brian2's from a probe re-run of that sample.

A leaky-integrator readout (``v_th = inf``) is compared by its membrane maximum and mean over
each sample: they agree when they differ by at most ``READOUT_RTOL * max(1, |value|)``. Both
sides compute in float64 and differ only by rounding: Brian2 decays by ``exp(-dt * rate)``
with ``rate = -ln(decay) / dt`` (a few ulps from ``decay``) and sums in another order; each
step's relative error of about 1e-16 is itself decayed, so even 10**6 steps stay far below
1e-9.

Continuous mode pairs each neuron's spikes in order: a mismatch is a spike without partner or
a pair further apart than ``tolerance_us`` (one Brian2 step); the largest difference is
reported. A readout there is exact on eventsim's side (:mod:`eventsim.engine.continuous`)
and sampled every Brian2 step on Brian2's: a maximum between two samples, or the samples'
mean against the integral, is off by at most about the largest change of ``v`` between two
samples (which includes every jump an arrival causes, and so covers an arrival that Brian2
puts on the step after a spike time between its steps), so a sample's tolerance is
``READOUT_RTOL`` plus that change.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from eventsim.bridges.brian2 import run_brian2
from eventsim.engine.simulate import Simulator
from eventsim.errors import InputError, NetworkError
from eventsim.events.binning import DEFAULT_DT_US, bin_sparse
from eventsim.limits import check_memory
from eventsim.network.graph import Graph, as_graph, population_label
from eventsim.network.network import Network
from eventsim.network.reference import simulate_dense

#: Samples per Brian2 run() (one build per chunk; cpp_standalone builds once for all).
CHUNK = 25
#: Relative tolerance of a readout's membrane maximum and mean (module docstring).
READOUT_RTOL = 1e-9


@dataclass
class Divergence:
    """The first mismatching spike."""

    sample: int
    path: str
    layer: int                # a chain's layer index; a graph's population index
    layer_name: str           # "layer 2 (Dense)", or "population 'hidden'"
    neuron: int
    step: int | None          # discrete mode
    t_us: float | None        # continuous mode
    spiked_in: str            # "eventsim" or "brian2" (or "both" for a late pair)
    v_eventsim: float | None = None
    v_brian2: float | None = None


@dataclass
class SampleReport:
    path: str
    spikes_eventsim: list[int]
    spikes_brian2: list[int]
    mismatches: list[int]
    max_dt_us: float | None = None  # continuous mode
    readout_error: float | None = None  # readouts: largest |difference| / max(1, |value|)
    readout_tolerance: float = READOUT_RTOL  # the readout_error allowed (module docstring)


@dataclass
class Report:
    mode: str
    target: str
    dt_us: int
    tolerance_us: float | None
    samples: list[SampleReport] = field(default_factory=list)
    first: Divergence | None = None
    eventsim_seconds: float = 0.0
    brian2_build_seconds: float = 0.0
    brian2_run_seconds: float = 0.0

    @property
    def n_mismatches(self) -> int:
        return int(sum(sum(s.mismatches) for s in self.samples))

    @property
    def max_dt_us(self) -> float | None:
        values = [s.max_dt_us for s in self.samples if s.max_dt_us is not None]
        return max(values) if values else None

    @property
    def readout_error(self) -> float | None:
        """The largest relative difference of a readout's membrane maximum or mean (None
        without readouts)."""
        values = [s.readout_error for s in self.samples if s.readout_error is not None]
        return max(values) if values else None

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0 and all((s.readout_error or 0.0) <= s.readout_tolerance
                                               for s in self.samples)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(n_mismatches=self.n_mismatches, max_dt_us=self.max_dt_us,
                 readout_error=self.readout_error, ok=self.ok)
        return d


def random_samples(net: Network | Graph, n: int, T: int | None = None, rate: float = 0.1,
                   seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """``n`` samples of seeded random input spikes, each ``(T, n_inputs)`` uint8 with a spike
    on each channel and step with chance ``rate`` (``T``: given, else the network's), and a
    name for each (``random[seed=0]:3``): input for a network that reads no camera (a cochlea,
    a Braille sensor), to validate on."""
    T = T if T is not None else net.T
    if T is None:
        raise InputError("validate: random input needs T (--T, or a network that carries one)")
    if not (isinstance(rate, (int, float)) and 0.0 <= rate <= 1.0):
        raise InputError(f"validate: field 'rate' must be in [0, 1], got {rate!r}")
    if not (isinstance(n, int) and n >= 1):
        raise InputError(f"validate: the number of random samples must be >= 1, got {n!r}")
    check_memory(n * T * net.n_inputs, f"validate: {n} random samples of {T} steps x "
                 f"{net.n_inputs} inputs")
    rng = np.random.default_rng(seed)
    samples = [(rng.random((T, net.n_inputs)) < rate).astype(np.uint8) for _ in range(n)]
    return samples, [f"random[seed={seed}]:{k}" for k in range(n)]


def validate(net: Network | Graph, samples: list, paths: list[str], mode: str = "discrete",
             target: str = "numpy", dt_us: int | None = None, T: int | None = None,
             dt_brian_us: float | None = None, progress=None,
             reference: Network | Graph | None = None) -> Report:
    """Run ``samples`` (EventStreams, or 0/1 arrays ``(T, n_inputs)``) in eventsim (float64)
    and in Brian2 and compare.

    ``progress(n)`` is called as samples complete on each side (e.g. a tqdm ``update``).
    ``reference``: the network Brian2 runs, when it is not ``net`` (an original against an
    edited copy); it must have the same populations.
    """
    reference = net if reference is None else reference
    if [p.shape for p in as_graph(reference).populations] != \
            [p.shape for p in as_graph(net).populations]:
        raise NetworkError("validate: the reference network's populations differ in shape "
                           "from the network's")
    progress = progress or (lambda n: None)
    dt_us = dt_us or net.dt_us or DEFAULT_DT_US
    T = T if T is not None else net.T
    tolerance = None
    if mode == "continuous":
        dt_brian_us = dt_brian_us or 1.0
        tolerance = dt_brian_us
    report = Report(mode, target, dt_us, tolerance)
    start = time.perf_counter()
    sim = Simulator(net, mode=mode, dtype="float64", dt_us=dt_us, T=T)
    ours, readouts = [], []
    for s in samples:
        result = sim.run(s)
        ours.append(result.spikes)
        readouts.append((result.membrane_max, result.membrane_mean))
        progress(1)
    report.eventsim_seconds = time.perf_counter() - start
    chunk = len(samples) if target == "cpp_standalone" else CHUNK
    theirs, their_readouts, changes = [], [], []
    for k in range(0, len(samples), chunk):
        run = run_brian2(reference, samples[k:k + chunk], mode, dt_us, T, target, dt_brian_us)
        theirs += run.spikes
        their_readouts += list(zip(run.membrane_max, run.membrane_mean)) \
            or [([], [])] * len(run.spikes)
        changes += run.readout_change or [0.0] * len(run.spikes)
        report.brian2_build_seconds += run.build_seconds
        report.brian2_run_seconds += run.run_seconds
        progress(len(run.spikes))
    firsts = []
    for k, (a, b) in enumerate(zip(ours, theirs)):
        compare = _compare_discrete if mode == "discrete" else _compare_continuous
        sample, first = compare(a, b, tolerance)
        sample.path = paths[k]
        sample.readout_error = _readout_error(readouts[k], their_readouts[k])
        sample.readout_tolerance = READOUT_RTOL + changes[k]
        report.samples.append(sample)
        if first is not None and not firsts:
            firsts.append((k, first))
    if firsts:
        report.first = _divergence(net, reference, samples, paths, firsts[0], mode, dt_us, T,
                                   target)
    return report


def _readout_error(ours: tuple, theirs: tuple) -> float | None:
    """The largest ``|ours - theirs| / max(1, |ours|)`` over the readouts' maxima and means
    (None without readouts; inf where only one side has one)."""
    worst = None
    for a_list, b_list in zip(ours, theirs):
        for p, a in enumerate(a_list):
            if a is None:
                continue
            b = b_list[p] if p < len(b_list) else None
            if b is None and not np.isfinite(a).any():  # an empty sample: no steps, no values
                continue
            err = np.inf if b is None or np.shape(b) != np.shape(a) else float(
                np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)), initial=0.0))
            worst = err if worst is None else max(worst, err)
    return worst


def _compare_discrete(a: list[np.ndarray], b: list[np.ndarray], _tol):
    """Per population: counts and the symmetric difference of (step, neuron) sets."""
    mismatches, first = [], None
    for pop, (x, y) in enumerate(zip(a, b)):
        keys_a = {(int(s), int(n)) for s, n in x}
        keys_b = {(int(s), int(n)) for s, n in y}
        diff = keys_a ^ keys_b
        mismatches.append(len(diff))
        if diff:
            step, neuron = min(diff)
            cand = (step, pop, neuron, "eventsim" if (step, neuron) in keys_a else "brian2")
            first = cand if first is None or cand < first else first
    report = SampleReport("", [len(x) for x in a], [len(y) for y in b], mismatches)
    return report, first


def _compare_continuous(a: list[np.ndarray], b: list[np.ndarray], tol: float):
    """Each neuron's spikes paired in order; unpaired spikes and pairs apart by more than
    ``tol`` are mismatches."""
    mismatches, first, max_dt = [], None, 0.0
    for pop, (x, y) in enumerate(zip(a, b)):
        bad = 0
        for neuron in np.union1d(x["neuron"], y["neuron"]):
            ta, tb = x["t_us"][x["neuron"] == neuron], y["t_us"][y["neuron"] == neuron]
            n = min(len(ta), len(tb))
            dt = np.abs(ta[:n] - tb[:n])
            if n:
                max_dt = max(max_dt, float(dt.max()))
            late = np.flatnonzero(dt > tol)
            bad += len(late) + abs(len(ta) - len(tb))
            if len(late):
                t, who = float(min(ta[late[0]], tb[late[0]])), "both"
            elif len(ta) != len(tb):
                longer, who = (ta, "eventsim") if len(ta) > len(tb) else (tb, "brian2")
                t = float(longer[n])
            else:
                continue
            cand = (t, pop, int(neuron), who)
            first = cand if first is None or cand < first else first
        mismatches.append(bad)
    report = SampleReport("", [len(x) for x in a], [len(y) for y in b], mismatches, max_dt)
    return report, first


def _divergence(net, reference, samples, paths, found, mode, dt_us, T, target) -> Divergence:
    k, (when, pop, neuron, who) = found
    g = as_graph(net)
    d = Divergence(k, paths[k], g.layer_index[pop] if g.layer_index else pop,
                   population_label(net, g, pop), neuron,
                   when if mode == "discrete" else None,
                   float(when) if mode == "continuous" else None, who)
    if mode == "discrete":  # both potentials at that step, before the threshold test
        s = samples[k]
        if isinstance(s, np.ndarray):
            x = s.reshape(len(s), -1)
        else:
            step_ptr, idx, T_k = bin_sparse(s.channels(), s.events["t"], net.n_inputs, dt_us, T)
            check_memory(T_k * net.n_inputs, f"validate: the input of {paths[k]} as {T_k} dense "
                         "steps (for the potentials at the first mismatch)")
            x = np.zeros((T_k, net.n_inputs), np.uint8)
            x[np.repeat(np.arange(T_k), np.diff(step_ptr)), idx] = 1
        trace = simulate_dense(net, x, probe=(pop, neuron))[-1]
        probe = run_brian2(reference, [s], "discrete", dt_us, T, target, probe=(pop, neuron))
        d.v_eventsim = float(trace[when])
        d.v_brian2 = float(probe.potential[when])
    return d


def report_lines(report: Report, net: Network | Graph) -> list[str]:
    """The per-sample, per-layer table and the verdict, as printed by ``eventsim validate``."""
    g = as_graph(net)
    names = [population_label(net, g, p) for p in range(len(g.populations))]
    wide = max(18, *(len(n) + 2 for n in names))
    lines = [f"{'sample':<28}{'layer':<{wide}}{'eventsim':>10}{'brian2':>10}{'mismatch':>10}"
             + (f"{'max dt us':>11}" if report.mode == "continuous" else "")]
    for s in report.samples:
        for pop, name in enumerate(names):
            extra = f"{s.max_dt_us:>11.3g}" if report.mode == "continuous" and pop == 0 else ""
            label = _short(s.path) if pop == 0 else ""
            lines.append(f"{label:<28}{name:<{wide}}{s.spikes_eventsim[pop]:>10}"
                         f"{s.spikes_brian2[pop]:>10}{s.mismatches[pop]:>10}{extra}")
    n = len(report.samples)
    lines.append(f"samples: {n}  mismatching spikes: {report.n_mismatches}  target: "
                 f"{report.target}  eventsim {report.eventsim_seconds:.2f} s, brian2 build "
                 f"{report.brian2_build_seconds:.2f} s + run {report.brian2_run_seconds:.2f} s")
    if report.readout_error is not None:
        why = "float64 rounding" if report.mode == "discrete" else \
            "plus the largest change between two of Brian2's samples"
        tol = max(s.readout_tolerance for s in report.samples)
        lines.append(f"readouts (membrane maximum and mean): largest relative difference "
                     f"{report.readout_error:.3g} (tolerance {tol:.3g}, {why})")
    if report.mode == "continuous":
        lines.append(f"largest spike-time difference: {report.max_dt_us or 0.0:.3g} us "
                     f"(tolerance {report.tolerance_us:g} us, one Brian2 step)")
    f = report.first
    if f is not None:
        where = f"step {f.step}" if f.step is not None else f"t = {f.t_us:.3f} us"
        text = (f"first mismatch: sample {f.sample} ({f.path}), {f.layer_name}, neuron "
                f"{f.neuron}, {where}: spike in {f.spiked_in} only" if f.spiked_in != "both"
                else f"first mismatch: sample {f.sample} ({f.path}), {f.layer_name}, neuron "
                f"{f.neuron}, {where}: spike times differ by more than the tolerance")
        lines.append(text)
        if f.v_eventsim is not None:
            lines.append(f"  membrane potential there: eventsim {f.v_eventsim!r}, brian2 "
                         f"{f.v_brian2!r} (threshold "
                         f"{float(_threshold(g, f))!r})")
    lines.append("OK: the simulators agree" if report.ok else "FAILED: the simulators disagree")
    return lines


def _threshold(g: Graph, f: Divergence) -> float:
    """The threshold of the neuron a divergence names."""
    p = g.layer_index.index(f.layer) if g.layer_index else f.layer
    return g.populations[p].neuron_thresholds()[f.neuron]


def _short(path: str, width: int = 27) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3):]
