"""A network as a graph: named populations of LIF neurons joined by projections.

A :class:`Graph` has one input (named ``"input"``, of shape ``input_shape``), populations
(:class:`Population`, each the STBP LIF of :mod:`eventsim.network.layers`), and projections
(:class:`Projection`: a source, a target and a chain of ops from :mod:`eventsim.network.ops`).
A population's input current is the sum over the projections into it::

    I_p[t] = sum_{k: target(k) = p}  M_k o_{source(k)}[t - e_k]  +  c_k

with ``M_k, c_k`` the composed matrix and bias of projection ``k``'s ops, ``o_input`` the
input spikes, ``o_q[s] = 0`` for ``s < 0``, and ``e_k`` its delay in steps:

* **Order.** Populations run in the order they are listed, the input first. A projection
  whose target comes *after* its source (or whose source is the input) is *feed-forward*: a
  spike of step ``t`` arrives at step ``t + delay``. A projection whose target comes at or
  before its source (a population onto itself, or back to an earlier one) *closes a cycle*:
  it delivers one step later, at ``t + delay + 1`` (a spike of step ``t - 1`` arrives at step
  ``t``, as snnTorch's RLeaky, Norse's recurrent cells and the usual RSNN do). So which edge
  closes a cycle is read off the list, and a cycle always has at least one step of delay.
* **Delay** (``delay``, whole steps, discrete mode): one per projection, one per source
  neuron (an axonal delay, shape ``(n_source,)``, as NIR's ``Delay`` node), or one per
  synapse (shape ``(n_target, n_source)`` of the composed matrix, as Brian2's
  ``Synapses.delay``). In continuous mode ``delay_us`` plays that part, in microseconds.
* **Bias.** ``c_k`` is a constant drive added every step from step 0, whatever the delay.
* **Output.** The last population is the output (it may feed projections too); every other
  population must feed some projection, and every population must be reachable from the
  input.

A chain :class:`~eventsim.network.network.Network` is the graph :func:`as_graph` makes of it:
one population per layer with neurons (named ``layer{i}``), each fed by the one before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventsim.errors import NetworkError
from eventsim.network import ops as op_types
from eventsim.network.layers import NeuNorm, Neurons, check_whole, has_neurons
from eventsim.network.network import Network, check_labels, check_metadata, layer_name

INPUT = "input"


@dataclass(eq=False, init=False)
class Population(Neurons):
    """A named population of STBP LIF neurons.

    Attributes
    ----------
    name : str
        Unique, not ``"input"``.
    shape : tuple of int
        ``(n,)`` or ``(C, H, W)``; neurons are numbered in C order.
    decay, v_th, reset, tau_us, integer, v_reset, v_leak, syn_decay, refractory_steps, readout
        As in :class:`~eventsim.network.layers.Neurons` (``v_th`` may be one per channel in an
        integer population).
    syn_decay_2 : float
        Decay per step of a second synaptic current ``i2``, in [0, 1) (0: none), fed by the
        projections with ``port=1`` (the first current ``i``, decaying by ``syn_decay``, takes
        ``port=0``): ``i2[t] = syn_decay_2 * i2[t-1] + I2[t]`` and ``u[t] = decay * u' + c +
        i[t] + i2[t]``, as Brian2's CUBA example (``ge``, ``gi``) and NEST's ``iaf_psc_exp``
        (``tau_syn_ex``, ``tau_syn_in``) have an excitatory and an inhibitory current. Needs
        ``syn_decay > 0``, both differing from ``decay`` (the closed-form crossing of
        :func:`eventsim.engine.crossing.three_crossing`), a float population that spikes;
        discrete mode, no bias on a ``port=1`` projection.
    adapt_decay, adapt_jump : float
        An adaptive threshold (ALIF; Bellec et al. 2018's LSNN, Norse's ``LSNNCell``): the
        threshold is ``v_th + b[t]`` with ``b[t] = adapt_decay * (b[t-1] + adapt_jump *
        o[t-1])``, ``b[-1] = 0`` (a spike raises it by ``adapt_jump``, decayed once before it
        first counts), and a subtract reset lowers ``u`` by ``v_th + b[t]``. ``adapt_jump >=
        0`` (0: no adaptation), ``adapt_decay`` in (0, 1) with it. A float, leaky (``decay <
        1``) population that spikes, with one current at most whose decay differs from
        ``decay``; discrete mode.
    v_init : None, float or ndarray
        The membrane potential at the start (``None``: ``v_leak``): in discrete mode ``u[-1]``,
        the potential before step 0's update (as Brian2's ``G.v = ...`` before its first
        step, and NEST's ``V_m``); in continuous mode the potential at time 0. One number or
        one per neuron, shape ``(size,)``; every sample starts from it. Float populations.
    """

    name: str
    shape: tuple[int, ...]
    syn_decay_2: float = 0.0
    v_init: Any = None
    adapt_decay: float = 0.0
    adapt_jump: float = 0.0

    def __init__(self, name: str, shape, decay=0.2, v_th=0.5, reset="zero", tau_us=None,
                 integer=False, v_reset=0.0, v_leak=0.0, syn_decay=0.0,
                 refractory_steps=0, syn_decay_2=0.0, v_init=None, adapt_decay=0.0,
                 adapt_jump=0.0, readout="max"):
        Neurons.__init__(self, decay=decay, v_th=v_th, reset=reset, tau_us=tau_us,
                         integer=integer, v_reset=v_reset, v_leak=v_leak,
                         syn_decay=syn_decay, refractory_steps=refractory_steps,
                         readout=readout)
        self.name, self.shape = name, shape
        self.syn_decay_2, self.v_init = syn_decay_2, v_init
        self.adapt_decay, self.adapt_jump = adapt_decay, adapt_jump

    @property
    def adaptive(self) -> bool:
        """Whether the threshold adapts (``adapt_jump > 0``)."""
        return self.adapt_jump > 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def neuron_thresholds(self) -> np.ndarray:
        """``v_th`` of every neuron (C order), shape (size,), float64."""
        return np.repeat(self.channel_thresholds(self.shape[0]), self.size // self.shape[0])

    def start(self) -> np.ndarray:
        """Every neuron's potential at the start (``v_init``, else ``v_leak``), shape (size,),
        float64."""
        return np.broadcast_to(np.asarray(self.v_leak if self.v_init is None else self.v_init,
                                          np.float64), (self.size,)).copy()

    def _check_adaptation(self, where: str) -> None:
        for f in ("adapt_decay", "adapt_jump"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v):
                raise NetworkError(f"{where}: field '{f}' must be a finite number, got {v!r}")
            setattr(self, f, float(v))
        if self.adapt_jump < 0:
            raise NetworkError(f"{where}: field 'adapt_jump' must be >= 0 (0: no adaptation), "
                               f"got {self.adapt_jump!r}")
        if not self.adaptive:
            return
        if not 0.0 < self.adapt_decay < 1.0:
            raise NetworkError(f"{where}: field 'adapt_decay' must be in (0, 1) with "
                               f"adapt_jump > 0, got {self.adapt_decay!r}")
        why = ("an integer population has a fixed threshold (for now)" if self.integer
               else "a leaky integrator readout never fires" if self.is_readout
               else "the threshold adapts on a leaky membrane only (for now): give decay < 1"
               if self.decay == 1.0
               else "a population with two currents has a fixed threshold (for now)"
               if self.syn_decay_2 else
               f"its current decays as its membrane (syn_decay = decay = {self.decay!r}): the "
               "closed-form crossing needs them to differ" if self.syn_decay == self.decay
               else None)
        if why:
            raise NetworkError(f"{where}: field 'adapt_jump' is {self.adapt_jump!r}, but {why}")

    def _check_extra(self, where: str) -> None:
        """The fields a graph's population has beyond a chain layer's neurons."""
        q = self.syn_decay_2
        if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)) \
                or not 0.0 <= q < 1.0:
            raise NetworkError(f"{where}: field 'syn_decay_2' must be a number in [0, 1) (0: "
                               f"no second current), got {q!r}")
        self.syn_decay_2 = float(q)
        if q > 0:
            why = ("a second current needs a first: give syn_decay > 0" if self.syn_decay == 0
                   else "an integer population has one current (for now)" if self.integer
                   else "a leaky integrator readout has one current (for now)"
                   if self.is_readout else None)
            if why:
                raise NetworkError(f"{where}: field 'syn_decay_2' is {q!r}, but {why}")
            for f in ("syn_decay", "syn_decay_2"):
                if getattr(self, f) == self.decay:
                    raise NetworkError(
                        f"{where}: field '{f}' equals 'decay' ({self.decay!r}): with two "
                        "currents each current's decay must differ from the membrane's (the "
                        "closed-form crossing, eventsim.engine.crossing.three_crossing)")
        self._check_adaptation(where)
        if self.v_init is None:
            return
        try:
            v = np.asarray(self.v_init, np.float64)
        except (TypeError, ValueError):
            raise NetworkError(f"{where}: field 'v_init' must be a number or an array of "
                               f"numbers, got {self.v_init!r}") from None
        if isinstance(self.v_init, bool) or v.shape not in ((), (self.size,)):
            raise NetworkError(f"{where}: field 'v_init' must be one number or one per neuron, "
                               f"shape ({self.size},); got shape {v.shape}")
        bad = np.flatnonzero(~np.isfinite(v.ravel()))
        if len(bad):
            raise NetworkError(f"{where}: field 'v_init' must be finite, got "
                               f"{float(v.ravel()[bad[0]])!r}" + (f" at neuron {bad[0]}" if v.ndim else ""))
        if self.integer:
            raise NetworkError(f"{where}: field 'v_init' is given, but an integer population "
                               "starts at 0 (for now)")
        self.v_init = float(v) if v.ndim == 0 else v


@dataclass(eq=False)
class Projection:
    """A projection from ``source`` (a population's name, or ``"input"``) to ``target``.

    Attributes
    ----------
    source, target : str
    ops : list of ops
        :mod:`eventsim.network.ops` applied in order (a single op is a list of one); a
        :class:`~eventsim.network.layers.NeuNorm` may come first when the source is a
        population. Their composed output must have the target's shape.
    delay : int or ndarray of int
        Steps, >= 0 (discrete mode): one, or shape ``(n_source,)``, or ``(n_target,
        n_source)``. See the module docstring for the step a spike arrives at.
    delay_us : float or ndarray
        Microseconds, >= 0 (continuous mode), shaped like ``delay``.
    port : int
        Which current of the target the spikes feed: 0 (``i``, or the membrane with delta
        synapses) or 1 (``i2``, a population with ``syn_decay_2 > 0``).
    """

    source: str
    target: str
    ops: list = field(default_factory=list)
    delay: Any = 0
    delay_us: Any = 0.0
    port: int = 0


def population_label(net: Network | Graph, graph: Graph, p: int) -> str:
    """How messages name population ``p`` of ``graph`` (``as_graph(net)``): the chain's layer
    (``layer 2 (Conv2d)``), or the population's name (``population 'hidden'``)."""
    if isinstance(net, Network):
        i = graph.layer_index[p]
        return layer_name(i, net.layers[i])
    return f"population '{graph.populations[p].name}'"


def projection_name(k: int, proj: Projection) -> str:
    """How errors name a projection: ``projection 2 (hidden -> hidden)``."""
    return f"projection {k} ({proj.source} -> {proj.target})"


@dataclass(eq=False)
class Graph:
    """A spiking network as a graph (see the module docstring for its semantics).

    Parameters
    ----------
    input_shape : tuple of int
        ``(n_inputs,)`` or ``(P, H, W)``.
    populations : list of Population
        In the order they run within a step; the last is the output.
    projections : list of Projection
    dt_us, T, sensor_size, labels, provenance
        As in :class:`~eventsim.network.network.Network`.

    Examples
    --------
    A recurrent hidden population (2312-256r-10):

    >>> from eventsim.network import ops                                  # doctest: +SKIP
    >>> g = Graph((2, 34, 34),
    ...           [Population("hidden", (256,)), Population("out", (10,))],
    ...           [Projection("input", "hidden", [ops.Flatten(), ops.Dense(w_in)]),
    ...            Projection("hidden", "hidden", [ops.Dense(w_rec)]),   # one step later
    ...            Projection("hidden", "out", [ops.Dense(w_out)])])
    """

    input_shape: tuple[int, ...]
    populations: list
    projections: list
    dt_us: int | None = None
    T: int | None = None
    sensor_size: tuple[int, int, int] | None = None
    labels: list[str] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    #: For a graph made of a chain: the layer index of each population; else None.
    layer_index: list[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_metadata(self)
        self._check_populations()
        self._check_projections()
        self._check_connectivity()
        check_labels(self, f"the output population '{self.output.name}'")

    # -- structure ------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def output(self) -> Population:
        return self.populations[-1]

    @property
    def n_outputs(self) -> int:
        return self.output.size

    def index(self, name: str) -> int:
        """Position of population ``name`` (-1 for the input)."""
        return -1 if name == INPUT else self._index[name]

    def source_shape(self, k: int) -> tuple[int, ...]:
        src = self.projections[k].source
        return tuple(self.input_shape) if src == INPUT else tuple(self.populations[
            self._index[src]].shape)

    def closes_cycle(self, k: int) -> bool:
        """Whether projection ``k`` runs backwards (target at or before its source)."""
        proj = self.projections[k]
        return self.index(proj.target) <= self.index(proj.source)

    def step_delays(self, k: int) -> np.ndarray:
        """Steps after which a spike along projection ``k`` arrives (its ``delay``, plus one
        when it closes a cycle): int64, shape (), (n_source,) or (n_target, n_source)."""
        return np.asarray(self.projections[k].delay, np.int64) + int(self.closes_cycle(k))

    def into(self, p: int) -> list[int]:
        """Indices of the projections into population ``p``, in list order."""
        name = self.populations[p].name
        return [k for k, proj in enumerate(self.projections) if proj.target == name]

    # -- checks ---------------------------------------------------------------------------
    def _check_populations(self) -> None:
        if not isinstance(self.populations, (list, tuple)) or not self.populations:
            raise NetworkError("graph: field 'populations' must be a non-empty list of "
                               f"Population, got {self.populations!r}")
        self.populations = list(self.populations)
        self._index = {}
        for i, pop in enumerate(self.populations):
            if not isinstance(pop, Population):
                raise NetworkError(f"graph: populations[{i}] must be a Population, got "
                                   f"{type(pop).__name__}")
            if not isinstance(pop.name, str) or not pop.name or pop.name == INPUT:
                raise NetworkError(f"graph: populations[{i}] has the name {pop.name!r}; "
                                   f"expected a non-empty string other than '{INPUT}'")
            if pop.name in self._index:
                raise NetworkError(f"graph: two populations are named '{pop.name}' "
                                   f"(populations[{self._index[pop.name]}] and [{i}])")
            self._index[pop.name] = i
            where = f"population '{pop.name}'"
            try:
                shape = tuple(pop.shape)
            except TypeError:
                shape = ()
            if len(shape) not in (1, 3) or not all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                    for v in shape):
                raise NetworkError(f"{where}: field 'shape' must be (n,) or (C, H, W) of "
                                   f"positive integers, got {pop.shape!r}")
            pop.shape = tuple(int(v) for v in shape)
            pop.check_neurons(where)
            pop._check_channels(where, pop.shape[0])
            pop._check_extra(where)

    def _check_projections(self) -> None:
        if not isinstance(self.projections, (list, tuple)):
            raise NetworkError("graph: field 'projections' must be a list of Projection")
        self.projections = list(self.projections)
        for k, proj in enumerate(self.projections):
            if not isinstance(proj, Projection):
                raise NetworkError(f"graph: projections[{k}] must be a Projection, got "
                                   f"{type(proj).__name__}")
            where = projection_name(k, proj)
            for end in ("source", "target"):
                name = getattr(proj, end)
                if not (name in self._index or (end == "source" and name == INPUT)):
                    known = ", ".join([INPUT] * (end == "source") + list(self._index))
                    raise NetworkError(f"{where}: field '{end}' names {name!r}, which is no "
                                       f"population of the graph ({known})")
            if not isinstance(proj.ops, (list, tuple)):
                proj.ops = [proj.ops]
            proj.ops = list(proj.ops)
            shape = self.source_shape(k)
            target = self.populations[self._index[proj.target]]
            weighted = False
            for j, op in enumerate(proj.ops):
                name = f"{where}, op {j} ({type(op).__name__})"
                if isinstance(op, NeuNorm):
                    if j or proj.source == INPUT:
                        raise NetworkError(f"{name}: NeuNorm normalizes the spikes of a "
                                           "population; it must be the first op of a "
                                           "projection from one")
                elif not isinstance(op, op_types.OP_TYPES) or isinstance(op, Neurons):
                    raise NetworkError(f"{name}: not an op of eventsim.network.ops (a layer "
                                       "with neurons belongs in a chain Network)")
                shape = op.checked_shape(shape, name)
                weighted |= not isinstance(op, (op_types.Flatten, NeuNorm))
                if target.integer:
                    for f in ("weight", "bias"):
                        arr = getattr(op, f, None)
                        if arr is not None:
                            check_whole(arr, name, f)
                    if isinstance(op, op_types.AvgPool2d):
                        raise NetworkError(f"{name}: its weight 1/{op.kernel_size ** 2} is not "
                                           "a whole number: an integer network pools with "
                                           "SumPool2d")
            if not weighted:
                raise NetworkError(f"{where}: field 'ops' needs a Dense, Conv2d or pooling op "
                                   f"(got {[type(op).__name__ for op in proj.ops]})")
            if shape != target.shape:
                raise NetworkError(
                    f"{where}: its ops give shape {shape}; population '{target.name}' has "
                    f"shape {target.shape}" + (" (add a Flatten)" if
                                               math.prod(shape) == target.size else ""))
            n_src, n_tgt = math.prod(self.source_shape(k)), target.size
            proj.delay = _delays(proj.delay, where, "delay", n_src, n_tgt, whole=True)
            proj.delay_us = _delays(proj.delay_us, where, "delay_us", n_src, n_tgt,
                                    whole=False)
            if isinstance(proj.ops[0], NeuNorm) and np.any(proj.delay):
                raise NetworkError(f"{where}: a projection starting with NeuNorm takes no "
                                   "delay")
            if not isinstance(proj.port, (int, np.integer)) or isinstance(proj.port, bool) \
                    or proj.port not in (0, 1):
                raise NetworkError(f"{where}: field 'port' must be 0 or 1 (the target's first "
                                   f"or second current), got {proj.port!r}")
            if proj.port == 1:
                if target.syn_decay_2 == 0:
                    raise NetworkError(f"{where}: field 'port' is 1, but population "
                                       f"'{target.name}' has no second current (give it "
                                       "syn_decay_2 > 0)")
                if any(getattr(op, "bias", None) is not None and np.any(op.bias)
                       for op in proj.ops):
                    raise NetworkError(f"{where}: a projection into the second current "
                                       "(port 1) takes no bias: put the constant drive on a "
                                       "port 0 projection or in v_leak")
            proj.port = int(proj.port)

    def _check_connectivity(self) -> None:
        for k, proj in enumerate(self.projections):
            if isinstance(proj.ops[0], NeuNorm) and len(self.into(self._index[proj.target])) > 1:
                raise NetworkError(f"{projection_name(k, proj)}: a projection starting with "
                                   f"NeuNorm must be the only one into '{proj.target}'")
        reached, frontier = set(), [INPUT]
        while frontier:
            name = frontier.pop()
            for proj in self.projections:
                if proj.source == name and proj.target not in reached:
                    reached.add(proj.target)
                    frontier.append(proj.target)
        lost = [p.name for p in self.populations if p.name not in reached]
        if lost:
            raise NetworkError(f"graph: population{'s' * (len(lost) > 1)} "
                               f"{', '.join(repr(n) for n in lost)} cannot be reached from "
                               "the input (no path of projections leads there)")
        sources = {proj.source for proj in self.projections}
        extra = [p.name for p in self.populations[:-1] if p.name not in sources]
        if extra:  # the output may feed projections too (onto itself, back to others)
            raise NetworkError(
                f"graph: {', '.join(repr(n) for n in extra)} feed{'s' * (len(extra) == 1)} no "
                f"projection: a graph has one output, its last population "
                f"('{self.output.name}'); list the output last, or connect the others")


def _delays(value, where: str, field_name: str, n_src: int, n_tgt: int, whole: bool):
    """A delay as a number or an array of shape (n_source,) or (n_target, n_source),
    checked: finite, >= 0 and (``whole``) whole numbers."""
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"{where}: field '{field_name}' must be a number or an array of "
                           f"numbers, got {value!r}") from None
    if isinstance(value, bool) or arr.shape not in ((), (n_src,), (n_tgt, n_src)):
        raise NetworkError(f"{where}: field '{field_name}' must be a number, or have shape "
                           f"({n_src},) (per source neuron) or ({n_tgt}, {n_src}) (per "
                           f"synapse); got {value!r}" if arr.ndim == 0 else
                           f"{where}: field '{field_name}' has shape {arr.shape}; expected "
                           f"({n_src},) (per source neuron) or ({n_tgt}, {n_src}) (per synapse)")
    bad = np.flatnonzero(~np.isfinite(arr.ravel()) | (arr.ravel() < 0)
                         | ((arr.ravel() != np.round(arr.ravel())) if whole else False))
    if len(bad):
        v = arr.ravel()[bad[0]]
        at = "" if arr.ndim == 0 else f" at flat index {bad[0]}"
        kind = "whole steps >= 0" if whole else "finite microseconds >= 0"
        raise NetworkError(f"{where}: field '{field_name}' must be {kind}, got {float(v)!r}{at}")
    if arr.ndim == 0:
        return int(arr) if whole else float(arr)
    return arr.astype(np.int64) if whole else arr


def as_graph(net: Network | Graph) -> Graph:
    """``net`` as a :class:`Graph` (a chain becomes one population per layer with neurons,
    each fed by the one before; the arrays are shared, not copied)."""
    if isinstance(net, Graph):
        return net
    pops, projs, pending, source, index = [], [], [], INPUT, []
    for i, layer in enumerate(net.layers):
        if not has_neurons(layer):
            pending.append(layer)
            continue
        name = f"layer{i}"
        pops.append(Population(name, net.shapes[i], layer.decay, layer.v_th, layer.reset,
                               layer.tau_us, layer.integer, layer.v_reset, layer.v_leak,
                               layer.syn_decay, layer.refractory_steps,
                               readout=layer.readout))
        projs.append(Projection(source, name, [*pending, layer.op()],
                                delay_us=layer.delay_us))
        pending, source = [], name
        index.append(i)
    return Graph(net.input_shape, pops, projs, net.dt_us, net.T, net.sensor_size,
                 net.labels, net.provenance, layer_index=index)
