"""The Brian2 twin of a network: the same network, the same input, run by Brian2.

:func:`run_brian2` builds the Brian2 network from numbers only (equations are this module's
constants; weights, thresholds, decays and biases are set as arrays, never written into code
strings) and returns the spikes per sample and layer in the layout of
:class:`~eventsim.engine.result.Result`. Brian2 is imported here only.

Each LIF population (a chain's layer with neurons, or a graph's population) is a
``NeuronGroup`` with exact linear integration of ``dv/dt = -v / tau`` (``tau = -dt /
ln(decay)``; ``decay = 1`` integrates; an integer layer instead steps
``v = sign(v) * floor(abs(v) * D / 4096)``), threshold ``v >= v_th``, reset ``v = v_reset``
(0 unless given) or ``v -= v_th``, a bias (and the leak drive ``(1 - decay) * v_leak``, ``v``
starting at ``v_leak``) as a per-step increment; each projection a ``Synapses`` with
``on_pre="v_post += w"`` over the nonzero entries of its composed matrix (conv and pooling
spelled out by :func:`~eventsim.network.synapses.synapse_lists`, independently of the
engine's own, and multiplied out for ops without neurons between them,
:func:`~eventsim.network.synapses.projection_synapses`); the input a ``SpikeGeneratorGroup``.

**Discrete mode.** Brian2's default schedule (state updates, then thresholds, then synaptic
propagation, then resets) would give every layer one step of delay and decay an input before
its first threshold test. Here, with ``dt = dt_us`` and population ``p = 0, 1, ...`` in the
graph's order (a chain's layers with neurons)::

    groups       every population: v <- v * exp(-dt / tau)   (order 0), then v += b  (order 1)
    thresholds   input generator (order 0); for each population p in turn: the synapses of
                 every projection into it, v_post += w (order 5p + 1), a potential probe if
                 asked (5p + 3), its thresholder (5p + 4), its spike monitor (5p + 5)
    resets       every population: v = v_reset or v -= v_th

A current-based population (``syn_decay > 0``) also has a current ``isyn``, decayed with ``v``
(``exp(-dt / tau_syn)``, ``syn_decay = exp(-dt / tau_syn)``), its bias ``b_syn`` (the
projections') added in order 1, the synapses ``isyn_post += w``, and ``v += isyn`` in order
5p + 2, so ``i[t] = syn_decay i[t-1] + I[t]`` then ``u[t] = decay u + c + i[t]``
(:mod:`eventsim.network.layers`). A second current (``syn_decay_2 > 0``) is ``isyn2``, decayed
likewise, fed by the synapses of the projections of port 1 (``isyn2_post += w``) and added
with ``isyn`` (``v += isyn + isyn2``). ``v`` starts at the population's ``v_init`` (else
``v_leak``), a constant ``v0`` per neuron. An adaptive threshold's ``b`` is ``badapt``,
decayed with ``v`` (``exp(-dt / tau_adapt)``), the threshold ``v >= v_th + badapt`` and the
reset ``badapt += jump`` after ``v``'s (``v -= v_th + badapt`` for a subtract reset), so
``b[t] = adapt_decay (b[t-1] + jump o[t-1])``.

A refractory period of ``r`` steps is Brian2's ``refractory=(r + 1) * dt`` (``not_refractory``
turns true again ``r + 1`` steps after the spike) with ``(unless refractory)`` on ``dv/dt``
and the increments of ``v`` (bias, ``isyn``, a delta synapse's weight) multiplied by
``int(not_refractory)``: the membrane held at its reset value, the current running on.

which is the STBP recurrence: a spike of step t reaches a population later in the order in
step t. A projection is one ``Synapses`` over the nonzero entries of its composed matrix (ops
without neurons between them multiplied out, as the engine composes them), its ``b`` the
composed bias; its ``delay`` (steps, per projection, source neuron or synapse) becomes
``Synapses.delay``. A projection that closes a cycle (its target at or before its source)
reads its source's spikes in its own slot, before the source's thresholder has run in that
step: it sees the step before, the one step of delay the graph rule gives such an edge
(:mod:`eventsim.network.graph`), without an added ``delay``.
Samples run as consecutive segments of ``T`` steps of one ``run()`` (a ``run()`` costs a fixed
~0.1 s); ``v`` is set to ``v0`` (and the currents to 0) at the start of every segment. Where spikes can arrive later than
their step (delays, cycles) or a refractory period outlasts the sample, each segment is
followed by as many steps as the longest delay or refractory period, in which no neuron may fire (a ``TimedArray`` gate in the threshold), so nothing a sample sent
reaches the next.

**Continuous mode.** Brian2 steps with a small ``dt`` (``dt_brian_us``) through the
equations of :mod:`eventsim.engine.continuous_model`: the drive ``b / dt_us + v_leak / tau``
is part of the equation, a current enters it as ``(isyn + isyn2) * per_step`` (``per_step =
1 / dt_us``) with ``disyn/dt = -isyn / tau_syn + b_syn / dt_us``, each rate ``-ln(decay) /
dt_us``; the adaptation's jump counts at once (``badapt += jump`` in the reset); a refractory
period is ``refractory = r * dt_us`` with ``(unless refractory)``; ``v`` starts at ``v0``.
Inputs arrive on the step their timestamp falls in, and synapses carry ``delay_us`` (one
Brian2 step less on a projection that closes a cycle, whose slot reads the step before); one
``run()`` per sample (the network is stored once and restored), numpy and cython targets.
Spike times then agree with the event-driven ones within about one Brian2 step; a readout's
``v`` is recorded every Brian2 step.

NeuNorm layers have no Brian2 twin here (they raise).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from eventsim.errors import EventsimError, InputError, NetworkError
from eventsim.events.binning import DEFAULT_DT_US, bin_sparse
from eventsim.events.stream import EventStream
from eventsim.network.continuous import SPIKE_DTYPE, check_continuous, input_events
from eventsim.network.graph import INPUT, Graph, as_graph, population_label, projection_name
from eventsim.network.inputs import check_stream, dense_input
from eventsim.network.layers import NeuNorm
from eventsim.network.network import Network, layer_name
from eventsim.network.synapses import projection_synapses

TARGETS = ("numpy", "cython", "cpp_standalone")
MODES = ("discrete", "continuous")
_MODEL = """dv/dt = -v * rate : 1
rate : hertz (constant)
v_th : 1 (constant)
b : 1 (constant)
"""
_MODEL_DRIVEN = """dv/dt = -v * rate + drive : 1
rate : hertz (constant)
v_th : 1 (constant)
drive : hertz (constant)
"""
# continuous mode's current: di/dt = -i / tau_syn + syn_bias / dt_us, into v as i / dt_us
_MODEL_DRIVEN_CURRENT = """disyn/dt = -isyn * rate_syn + drive_syn : 1
rate_syn : hertz (constant)
drive_syn : hertz (constant)
per_step : hertz (constant)
"""
# current-based: the current decays too, takes the synapses' weights and its bias, and is
# added to v in the population's slot (see the module docstring)
_MODEL_CUBA = """dv/dt = -v * rate : 1
disyn/dt = -isyn * rate_syn : 1
rate : hertz (constant)
rate_syn : hertz (constant)
v_th : 1 (constant)
b : 1 (constant)
b_syn : 1 (constant)
"""
_MODEL_SECOND_CURRENT = """disyn2/dt = -isyn2 * rate_syn2 : 1
rate_syn2 : hertz (constant)
"""
_MODEL_ADAPT = """dbadapt/dt = -badapt * rate_adapt : 1
rate_adapt : hertz (constant)
jump : 1 (constant)
"""
_MODEL_INTEGER = """v : 1
dnum : 1 (constant)
v_th : 1 (constant)
b : 1 (constant)
"""
_MODEL_INTEGER_CURRENT = """isyn : 1
dsyn : 1 (constant)
b_syn : 1 (constant)
"""
# an integer layer's decay: D / 4096, truncated towards zero (exact in float64); its
# current's Du / 4096 likewise
_INTEGER_DECAY = "v = sign(v) * floor(abs(v) * dnum / 4096)"
_INTEGER_CURRENT_DECAY = "isyn = sign(isyn) * floor(abs(isyn) * dsyn / 4096)"
_RESETS = {"zero": "v = v_reset", "subtract": "v -= v_th"}


@dataclass
class Brian2Run:
    """What Brian2 computed.

    Attributes
    ----------
    spikes : list of list of ndarray
        ``spikes[sample][population]``: discrete mode ``(n, 2)`` int64 ``(step, neuron)``
        sorted by step then neuron; continuous mode structured ``(t_us, neuron)`` sorted by
        time then neuron (as :class:`~eventsim.engine.result.Result.spikes`).
    potential : ndarray or None
        With ``probe``: ``v`` of the probed neuron at every step after its input and before
        its threshold test (discrete mode), shape (T,).
    membrane_max, membrane_mean : list of list of (ndarray or None)
        ``[sample][population]``: a leaky integrator's (``v_th = inf``) maximum and mean of
        ``v`` over the sample's steps, recorded every step by a ``StateMonitor`` in its slot
        before the threshold (in continuous mode every Brian2 step of the window, after the
        arrivals); None for a spiking population.
    readout_change : list of float
        Continuous mode: per sample, the largest change of a readout's ``v`` between two
        consecutive Brian2 samples (0.0 without readouts): how far a maximum between samples,
        or the mean of samples against the integral, can be off.
    build_seconds, run_seconds : float
        Wall time to build the Brian2 objects (and compile, for cpp_standalone) and to run.
    target : str
    dt_us : float
        Brian2's step in microseconds.
    steps : list of int
        Discrete mode: each sample's number of steps.
    """

    spikes: list[list[np.ndarray]]
    potential: np.ndarray | None = None
    membrane_max: list[list[np.ndarray | None]] = field(default_factory=list)
    membrane_mean: list[list[np.ndarray | None]] = field(default_factory=list)
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    target: str = "numpy"
    dt_us: float = 0.0
    steps: list[int] = field(default_factory=list)
    readout_change: list[float] = field(default_factory=list)


def _brian2():
    try:
        import brian2
    except ImportError:  # pragma: no cover - brian2 is a dependency
        raise EventsimError("the Brian2 bridge needs brian2: pip install brian2") from None
    return brian2


def check_bridgeable(net: Network | Graph) -> None:
    """Raise :class:`NetworkError` naming the first layer or projection Brian2 cannot twin."""
    if isinstance(net, Network):
        named = [(layer_name(i, layer), [layer]) for i, layer in enumerate(net.layers)]
    else:
        named = [(projection_name(k, proj), proj.ops) for k, proj in enumerate(net.projections)]
    for where, op_list in named:
        if any(isinstance(op, NeuNorm) for op in op_list):
            raise NetworkError(f"{where}: NeuNorm has no Brian2 twin in "
                               "eventsim.bridges.brian2")


def run_brian2(net: Network | Graph, inputs: list, mode: str = "discrete", dt_us: int | None = None,
               T: int | None = None, target: str = "numpy", dt_brian_us: float | None = None,
               probe: tuple[int, int] | None = None) -> Brian2Run:
    """Run ``net`` in Brian2 on every sample of ``inputs``.

    Parameters
    ----------
    net : Network or Graph
    inputs : list of EventStream or ndarray
        Samples as :func:`~eventsim.simulate` takes them (event streams, or 0/1 arrays of shape
        ``(T, n_inputs)``), binned by the same rule in discrete mode.
    mode : {"discrete", "continuous"}
    dt_us : int, optional
        Bin width (default ``net.dt_us``, else 1000).
    T : int, optional
        Steps per sample (default ``net.T``, else each recording's own length).
    target : {"numpy", "cython", "cpp_standalone"}
        Brian2's code generation target (cpp_standalone: discrete mode only).
    dt_brian_us : float, optional
        Continuous mode: Brian2's step (default ``dt_us / 100``, at least 1 us).
    probe : (population, neuron), optional
        Discrete mode, one sample: record that neuron's potential at every step.
    """
    if mode not in MODES:
        raise InputError(f"brian2: field 'mode' must be one of {MODES}, got {mode!r}")
    if target not in TARGETS:
        raise InputError(f"brian2: field 'target' must be one of {TARGETS}, got {target!r}")
    check_bridgeable(net)
    dt_us = dt_us or net.dt_us or DEFAULT_DT_US
    T = T if T is not None else net.T
    if mode == "continuous":
        if target == "cpp_standalone":
            raise InputError("brian2: continuous mode runs one sample per run() and needs the "
                             "numpy or cython target, not cpp_standalone")
        return _run_continuous(net, inputs, dt_us, T, target,
                               dt_brian_us or max(dt_us / 100, 1.0))
    if probe is not None and len(inputs) != 1:
        raise InputError("brian2: 'probe' records one sample; give one input")
    return _run_discrete(net, inputs, dt_us, T, target, probe)


def _binned(net: Network, sample, dt_us: int, T: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, channels) of one sample's input spikes, and its number of steps."""
    if isinstance(sample, EventStream):
        check_stream(net, sample)
        step_ptr, idx, T = bin_sparse(sample.channels(), sample.events["t"], net.n_inputs,
                                      dt_us, T)
        return np.repeat(np.arange(T), np.diff(step_ptr)), idx, T
    if isinstance(sample, np.ndarray):
        step_ptr, channels, T = dense_input(net, sample, T)
        return np.repeat(np.arange(T), np.diff(step_ptr)), channels, T
    raise InputError(f"brian2: a sample must be an EventStream or a 0/1 array, got "
                     f"{type(sample).__name__}")


@contextlib.contextmanager
def _target(b2, target: str):
    """Select the code generation target; restore Brian2's global state afterwards."""
    old_target, old_log = b2.prefs.codegen.target, b2.prefs.logging.file_log
    b2.prefs.logging.file_log = False
    b2.BrianLogger.log_level_error()
    with tempfile.TemporaryDirectory(prefix="eventsim-brian2-") as build_dir:
        try:
            if target == "cpp_standalone":
                b2.set_device("cpp_standalone", directory=build_dir, build_on_run=True,
                              with_output=False)
            else:
                b2.prefs.codegen.target = target
            yield
        finally:
            if target == "cpp_standalone":
                b2.device.reinit()
                b2.set_device("runtime")
            b2.prefs.codegen.target = old_target
            b2.prefs.logging.file_log = old_log


def _populations(b2, net, g: Graph, source: list, dt: float, driven: bool, dt_us: int,
                 gate=None):
    """NeuronGroups of every population of ``g`` (``as_graph(net)``) and Synapses of every
    projection, the input's fed by ``source`` (spike generators). ``gate``: a TimedArray
    that must be 1 for a neuron to fire. Returns (objects, groups)."""
    objects, groups = [], []
    bias = [np.zeros(pop.size) for pop in g.populations]
    composed = []
    for k, proj in enumerate(g.projections):
        pre, post, weight, c = projection_synapses(g, k)
        bias[g.index(proj.target)] += c
        composed.append((pre, post, weight))
    syn_bias = [np.zeros(pop.size) for pop in g.populations]
    for p, pop in enumerate(g.populations):
        if pop.syn_decay > 0:  # current-based: the projections' biases feed the current
            syn_bias[p], bias[p] = bias[p], np.zeros(pop.size)
        if not driven:  # the leak towards v_leak: a constant drive (its rate below when driven)
            bias[p] += pop.leak_drive()
    threshold = "v >= v_th" if gate is None else "v >= v_th and gate(t) > 0.5"
    for p, pop in enumerate(g.populations):
        name = population_label(net, g, p)
        cuba = pop.syn_decay > 0
        two = pop.syn_decay_2 > 0
        model = _MODEL_INTEGER if pop.integer else _MODEL_CUBA if cuba and not driven else \
            _MODEL_DRIVEN if driven else _MODEL
        if driven and cuba:  # the currents feed v continuously, i per dt_us
            model = model.replace("+ drive : 1", "+ drive + ({}) * per_step : 1".format(
                "isyn + isyn2" if two else "isyn")) + _MODEL_DRIVEN_CURRENT
        if pop.integer and cuba:
            model += _MODEL_INTEGER_CURRENT
        if two:
            model += _MODEL_SECOND_CURRENT
        model += "v0 : 1 (constant)\n"  # the start (and restart) of v
        if pop.adaptive:
            model += _MODEL_ADAPT
        reset = _RESETS[pop.reset]
        own_threshold = threshold
        if pop.adaptive:  # the threshold adapts: v_th + b, raised after each spike
            own_threshold = threshold.replace("v >= v_th", "v >= v_th + badapt")
            reset = ("v -= v_th + badapt" if pop.reset == "subtract" else reset) + \
                "\nbadapt += jump"
        held = pop.refractory_steps > 0  # Brian2 holds v (unless refractory) after a spike
        if held:  # on v's equation, the model's first line (a float population's)
            first, rest = model.split("\n", 1)
            assert first.startswith("dv/dt"), first
            model = f"{first} (unless refractory)\n{rest}"
        # discrete: not_refractory turns true r + 1 steps after the spike; continuous: the
        # hold of r * dt_us us
        refractory = ((pop.refractory_steps * dt_us * b2.us + dt * b2.second) if driven else
                      (pop.refractory_steps + 1) * dt * b2.second) if held else False
        free = " * int(not_refractory)" if held else ""  # what a held membrane ignores
        group = b2.NeuronGroup(pop.size, model, threshold=own_threshold, reset=reset,
                               refractory=refractory,
                               method="exact", dt=dt * b2.second, name=f"eventsim_pop{p}",
                               namespace={"v_reset": float(pop.v_reset),
                                          "v_leak": float(pop.v_leak)}
                               | ({} if gate is None else {"gate": gate}))
        if pop.integer:
            group.dnum = float(pop.decay_num)
            objects.append(group.run_regularly(_INTEGER_DECAY, when="groups", order=0,
                                               name=f"eventsim_decay{p}"))
            if cuba:
                group.dsyn = float(pop.syn_decay_num)
                objects.append(group.run_regularly(_INTEGER_CURRENT_DECAY, when="groups",
                                                   order=0, name=f"eventsim_syn_decay{p}"))
        elif driven:
            tau_us = pop.tau_for(dt_us, name)
            group.rate = (0.0 if not np.isfinite(tau_us) else 1e6 / tau_us) * b2.Hz
        else:
            group.rate = -np.log(pop.decay) / float(dt) * b2.Hz
        step_s = dt_us * 1e-6 if driven else float(dt)  # the step the decays are per
        if cuba:
            if not pop.integer:
                group.rate_syn = -np.log(pop.syn_decay) / step_s * b2.Hz
            if two:
                group.rate_syn2 = -np.log(pop.syn_decay_2) / step_s * b2.Hz
            if driven:  # the current's bias per second, and i per dt_us into v
                group.drive_syn = syn_bias[p] / step_s * b2.Hz
                group.per_step = 1.0 / step_s * b2.Hz
            else:
                group.b_syn = syn_bias[p]
                if syn_bias[p].any():
                    objects.append(group.run_regularly("isyn += b_syn", when="groups",
                                                       order=1, name=f"eventsim_syn_bias{p}"))
                current = "(isyn + isyn2)" if two else "isyn"
                objects.append(group.run_regularly(f"v += {current}" + free, when="thresholds",
                                                   order=5 * p + 2,
                                                   name=f"eventsim_current{p}"))
        group.v_th = pop.neuron_thresholds()
        group.v0 = pop.start()  # v_init, else v_leak (at rest)
        if pop.adaptive:
            group.rate_adapt = -np.log(pop.adapt_decay) / step_s * b2.Hz
            group.jump = pop.adapt_jump
        group.v = "v0"
        if driven:  # the bias per us, and the leak's v_leak / tau
            toward = pop.v_leak * 1e6 / tau_us if pop.v_leak else 0.0
            group.drive = (bias[p] * (1e6 / dt_us) + toward) * b2.Hz
        else:
            group.b = bias[p]
            if bias[p].any():
                objects.append(group.run_regularly("v += b" + free, when="groups", order=1,
                                                   name=f"eventsim_bias{p}"))
        group.thresholder["spike"].when = "thresholds"
        group.thresholder["spike"].order = 5 * p + 4
        groups.append(group)
    for k, (proj, (pre, post, weight)) in enumerate(zip(g.projections, composed)):
        if not len(pre):  # no weights: no Synapses
            continue
        p = g.index(proj.target)
        srcs = source if proj.source == INPUT else [groups[g.index(proj.source)]]
        delay = proj.delay_us if driven else proj.delay
        per_synapse = np.asarray(delay)[(post, pre) if np.ndim(delay) == 2 else pre] \
            if np.ndim(delay) else delay
        if driven and g.closes_cycle(k):  # its slot comes before its source's threshold:
            per_synapse = np.asarray(per_synapse) - dt * 1e6  # one Brian2 step late already
            if np.any(per_synapse < -1e-9):
                raise NetworkError(f"brian2: {projection_name(k, proj)} closes a cycle with "
                                   f"delay_us {np.min(delay)}, less than Brian2's step of "
                                   f"{dt * 1e6:g} us; give it at least one step")
            per_synapse = np.maximum(per_synapse, 0.0)
        for j, src in enumerate(srcs):
            target = g.populations[p]
            into = "isyn2_post += w" if proj.port else \
                "isyn_post += w" if target.syn_decay > 0 else "v_post += w" + (
                " * int(not_refractory_post)" if target.refractory_steps else "")
            syn = b2.Synapses(src, groups[p], "w : 1 (constant)", on_pre=into,
                              dt=dt * b2.second, name=f"eventsim_syn{k}_{j}")
            syn.connect(i=pre, j=post)
            syn.w = weight
            syn.pre.when = "thresholds"
            syn.pre.order = 5 * p + 1
            if np.any(per_synapse):
                syn.delay = per_synapse * (b2.us if driven else dt * b2.second)
            objects.append(syn)
    return objects + groups, groups


def _run_discrete(net, inputs, dt_us, T, target, probe) -> Brian2Run:
    b2 = _brian2()
    g = as_graph(net)
    binned = [_binned(net, s, dt_us, T) for s in inputs]
    lengths = [b[2] for b in binned]
    longest = max(lengths, default=0)
    if longest == 0 or not inputs:
        return Brian2Run([[_empty_discrete() for _ in g.populations] for _ in inputs],
                         target=target, dt_us=dt_us, steps=lengths)
    dt = dt_us * 1e-6
    late = max((int(np.max(g.step_delays(k))) for k in range(len(g.projections))), default=0)
    # a refractory period must be over when the next segment starts: Brian2 writes v of a
    # refractory neuron only where not_refractory, as the state updater last set it (the
    # step before), so the restart needs r + 1 steps after a sample's last spike
    refractory = max(pop.refractory_steps for pop in g.populations)
    late = max(late, refractory + 1 if refractory else 0)
    seg = longest + late  # a spike sent in a sample's last step arrives within the segment
    steps = np.concatenate([b[0] + k * seg for k, b in enumerate(binned)])
    channels = np.concatenate([b[1] for b in binned])
    start = time.perf_counter()
    with _target(b2, target):
        gate = None
        if late:  # no spikes outside a sample's own steps
            open_steps = np.zeros(seg * len(inputs))
            for k, T_k in enumerate(lengths):
                open_steps[k * seg:k * seg + T_k] = 1.0
            gate = b2.TimedArray(open_steps, dt=dt * b2.second, name="eventsim_gate")
        gen = b2.SpikeGeneratorGroup(net.n_inputs, channels.astype(np.int64),
                                     steps.astype(np.float64) * dt * b2.second,
                                     dt=dt * b2.second, when="thresholds", order=0,
                                     name="eventsim_input")
        objects, groups = _populations(b2, net, g, [gen], dt, False, dt_us, gate)
        monitors = [b2.SpikeMonitor(g, name=f"eventsim_spikes{p}") for p, g in enumerate(groups)]
        for p, m in enumerate(monitors):
            m.when, m.order = "thresholds", 5 * p + 5
        if len(inputs) > 1:
            for p, grp in enumerate(groups):
                restart = "v = v0" + ("\nisyn = 0" if "isyn" in grp.variables else "") + (
                    "\nisyn2 = 0" if "isyn2" in grp.variables else "") + (
                    "\nbadapt = 0" if "badapt" in grp.variables else "")
                objects.append(grp.run_regularly(restart, dt=seg * dt * b2.second,
                                               when="start",
                                               name=f"eventsim_segment{p}"))
        readouts = {p: b2.StateMonitor(grp, "v", record=True, when="thresholds",
                                       order=5 * p + 3, name=f"eventsim_readout{p}")
                    for p, (grp, pop) in enumerate(zip(groups, g.populations))
                    if pop.is_readout}
        objects += list(readouts.values())
        state = None
        if probe is not None:
            pop, neuron = probe
            state = b2.StateMonitor(groups[pop], "v", record=[int(neuron)], when="thresholds",
                                    order=5 * pop + 3, name="eventsim_probe")
            objects.append(state)
        network = b2.Network(gen, *objects, *monitors)
        built = time.perf_counter()
        network.run(seg * len(inputs) * dt * b2.second)
        ran = time.perf_counter()
        spikes = [_split_discrete(m, dt, seg, lengths) for m in monitors]
        potential = np.asarray(state.v[0], np.float64)[:lengths[0]] if state else None
        v = {p: np.asarray(m.v, np.float64) for p, m in readouts.items()}
    per_sample = [[spikes[p][k] for p in range(len(groups))] for k in range(len(inputs))]
    tops, means = [], []
    for k, T_k in enumerate(lengths):  # each sample's own steps of its segment
        window = {p: trace[:, k * seg:k * seg + T_k] for p, trace in v.items()}
        tops.append([window[p].max(1) if p in window and T_k else None
                     for p in range(len(groups))])
        means.append([window[p].mean(1) if p in window and T_k else None
                      for p in range(len(groups))])
    return Brian2Run(per_sample, potential, tops, means, build_seconds=built - start,
                     run_seconds=ran - built, target=target, dt_us=dt_us, steps=lengths)


def _empty_discrete() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def _split_discrete(monitor, dt: float, seg: int, lengths: list[int]) -> list[np.ndarray]:
    """A population's spikes per sample as (step, neuron), steps beyond a sample's T dropped."""
    step = np.rint(np.asarray(monitor.t_[:]) / dt).astype(np.int64)
    neuron = np.asarray(monitor.i[:], np.int64)
    out = []
    for k, T_k in enumerate(lengths):
        sel = (step >= k * seg) & (step < k * seg + T_k)
        rows = np.stack([step[sel] - k * seg, neuron[sel]], axis=1)
        out.append(rows[np.lexsort((rows[:, 1], rows[:, 0]))])
    return out


def _run_continuous(net, inputs, dt_us, T, target, dt_brian_us) -> Brian2Run:
    b2 = _brian2()
    g = as_graph(net)
    check_continuous(net, g)
    dt = dt_brian_us * 1e-6
    samples = []
    for s in inputs:
        if not isinstance(s, (EventStream, np.ndarray)):
            raise InputError(f"brian2: a sample must be an EventStream or a 0/1 array, got "
                             f"{type(s).__name__}")
        t_us, channels, t_end = input_events(net, s, dt_us, T)
        step = np.floor(t_us / dt_brian_us).astype(np.int64)
        keep = t_us < t_end
        samples.append((step[keep], channels[keep], t_end))
    # a channel twice in one Brian2 step: a spike generator per repetition (ranks)
    ranks = [_ranks(step, ch) for step, ch, _ in samples]
    n_gen = max([int(r.max()) + 1 for r in ranks if len(r)], default=1)
    start = time.perf_counter()
    spikes = []
    with _target(b2, target):
        gens = [b2.SpikeGeneratorGroup(net.n_inputs, [], [] * b2.second, dt=dt * b2.second,
                                       when="thresholds", order=0, name=f"eventsim_input{k}")
                for k in range(n_gen)]
        objects, groups = _populations(b2, net, g, gens, dt, True, dt_us)
        monitors = [b2.SpikeMonitor(g, name=f"eventsim_spikes{p}") for p, g in enumerate(groups)]
        for p, m in enumerate(monitors):
            m.when, m.order = "thresholds", 5 * p + 5
        readouts = {p: b2.StateMonitor(grp, "v", record=True, when="thresholds",
                                       order=5 * p + 3, name=f"eventsim_readout{p}")
                    for p, (grp, pop) in enumerate(zip(groups, g.populations))
                    if pop.is_readout}
        network = b2.Network(*gens, *objects, *monitors, *readouts.values())
        network.store()
        built = time.perf_counter()
        tops, means, changes = [], [], []
        for (step, ch, t_end), rank in zip(samples, ranks):
            network.restore()
            for k, gen in enumerate(gens):
                sel = rank == k
                gen.set_spikes(ch[sel], step[sel].astype(np.float64) * dt * b2.second)
            network.run(t_end * 1e-6 * b2.second)
            spikes.append([_continuous_spikes(m, t_end) for m in monitors])
            v = {p: np.asarray(m.v, np.float64) for p, m in readouts.items()}
            tops.append([v[p].max(1) if p in v and v[p].size else None for p in range(len(groups))])
            means.append([v[p].mean(1) if p in v and v[p].size else None
                          for p in range(len(groups))])
            changes.append(max((float(np.abs(np.diff(x, axis=1)).max(initial=0.0))
                                for x in v.values()), default=0.0))
        ran = time.perf_counter()
    return Brian2Run(spikes, None, tops if readouts else [], means if readouts else [],
                     build_seconds=built - start, run_seconds=ran - built, target=target,
                     dt_us=dt_brian_us, steps=[0] * len(inputs), readout_change=changes)


def _ranks(step: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """0 for the first event of a (step, channel) pair, 1 for the second, ..."""
    if len(step) == 0:
        return np.zeros(0, np.int64)
    key = step * (int(channel.max()) + 1) + channel
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = np.r_[0, np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, len(key)]))
    rank = np.empty(len(key), np.int64)
    rank[order] = np.arange(len(key)) - run_start
    return rank


def _continuous_spikes(monitor, t_end_us: float) -> np.ndarray:
    t_us = np.asarray(monitor.t_[:], np.float64) * 1e6
    neuron = np.asarray(monitor.i[:], np.int64)
    keep = t_us < t_end_us
    rec = np.zeros(int(keep.sum()), SPIKE_DTYPE)
    rec["t_us"], rec["neuron"] = t_us[keep], neuron[keep]
    return rec[np.lexsort((rec["neuron"], rec["t_us"]))]
