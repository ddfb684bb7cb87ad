"""What a simulation returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eventsim.errors import InputError
from eventsim.limits import check_memory

# Columns of the per-population counters the kernels fill: ``stats[l, SOPS]`` ...
SOPS, SPIKES, UPDATES, SELF, MACS = range(5)
N_STATS = 5


@dataclass(eq=False)
class Result:
    """Spikes and counters of one simulated sample.

    Populations are those of the graph (:mod:`eventsim.network.graph`), in order; for a chain
    they are the layers with neurons (every layer but Flatten and NeuNorm), and
    ``layer_index[i]`` gives population ``i``'s index in ``net.layers``.

    Attributes
    ----------
    spikes : list of ndarray
        Population ``i``'s spikes (empty for populations not recorded, see ``record`` of
        :class:`~eventsim.engine.simulate.Simulator`). Discrete mode: int64 array, shape (n_spikes, 2), columns
        ``(step, neuron)`` with 0-based steps (bins of the binning rule), sorted by step then
        neuron. Continuous mode: structured array with fields ``t_us`` (float64, microseconds)
        and ``neuron`` (int64), sorted by time then neuron.
    sops : ndarray, shape (n_pop,), int64
        Synaptic operations into each population: every spike arriving at it (input spikes
        for population 0) adds the synapses it traverses (nonzero weights only, conv borders
        and pooling windows exact).
    macs : ndarray, shape (n_pop,), int64
        Multiply-accumulates of analog inputs into each population (nonzero weight times
        nonzero value): a static image fed as current (``analog=True``; ``W x`` is computed
        once per sample and held), and the auxiliary share ``-alpha * x`` of a
        :class:`~eventsim.network.layers.NeuNorm` below (every step it is nonzero). Not SOPs.
    spike_counts : list of ndarray
        Spikes per neuron, shape (n_neurons of population i,), int64.
    neuron_updates : ndarray, shape (n_pop,), int64
        Threshold evaluations: one per neuron per step in which it was touched (input
        arrived or its own scheduled crossing fell due).
    self_events : ndarray, shape (n_pop,), int64
        Scheduled crossings (bias, or a subtract reset that leaves ``u`` high) that fell due
        (input may arrive in the same step; the neuron is updated once).
    input_spikes : int
        Input spikes delivered to population 0 (binned, binary in discrete mode).
    events_processed : int
        Input spikes + spikes of every population + self-events.
    peak_queue : int
        Largest number of live entries on the priority queue.
    T : int
        Steps simulated (discrete mode) or 0 (continuous).
    duration_us : float
        Length of the simulated window in microseconds (``T * dt_us``).
    mode : str
    layer_index : list of int
        Chains only (empty for a graph).
    populations : list of str
        The populations' names (``layer{i}`` for a chain's layer ``i``).
    projection_sops : ndarray, shape (n_projections,), int64
        SOPs along each projection of the graph (in its list order); they sum to ``sops``
        per target. Continuous mode: the SOPs of each population's one projection.
    recurrent : ndarray, shape (n_projections,), bool
        Which projections close a cycle (their SOPs are the recurrent ones).
    membrane_max, membrane_mean : list of (ndarray or None)
        Per population: for a leaky integrator (``v_th = inf``, an ``LI`` readout) the
        maximum and the mean over the ``T`` steps of each neuron's potential (after its
        input, as the recurrence of :mod:`eventsim.network.layers` gives it), float64, shape
        (n_neurons,), computed exactly from the event times (:mod:`eventsim.engine.readout`;
        discrete mode; ``-inf`` and 0 for ``T = 0``); None for a spiking population.
    readout : {"max", "mean"}
        How :attr:`predicted` reads an output that is a leaky integrator: by its membrane's
        maximum or its mean (the output population's ``readout``).
    active_steps : ndarray or None
        Discrete mode with ``record="all"``: the steps in which anything was counted,
        ascending, shape (k,), int64. None otherwise.
    step_counters : ndarray or None
        The counters of those steps, shape (k, n_pop, 5), columns ``SOPS, SPIKES, UPDATES,
        SELF, MACS`` of this module: per-step records cost per step with activity, not per
        step of ``T``. :attr:`per_step` (and :attr:`sops_per_step` and its siblings) spread
        them over every step; they sum to the totals above (the MACs of an analog image,
        computed once, are not in any step).
    """

    spikes: list[np.ndarray]
    sops: np.ndarray
    spike_counts: list[np.ndarray]
    macs: np.ndarray
    neuron_updates: np.ndarray
    self_events: np.ndarray
    input_spikes: int
    events_processed: int
    peak_queue: int
    T: int
    duration_us: float
    mode: str
    layer_index: list[int] = field(default_factory=list)
    populations: list[str] = field(default_factory=list)
    projection_sops: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    recurrent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    active_steps: np.ndarray | None = None
    step_counters: np.ndarray | None = None
    membrane_max: list = field(default_factory=list)
    membrane_mean: list = field(default_factory=list)
    readout: str = "max"

    def __post_init__(self):
        for name in ("membrane_max", "membrane_mean"):
            if not getattr(self, name):
                setattr(self, name, [None] * len(self.spike_counts))

    @property
    def has_per_step(self) -> bool:
        """Whether per-step counters were kept (discrete mode, ``record="all"``)."""
        return self.active_steps is not None

    @property
    def per_step(self) -> np.ndarray | None:
        """The counters of every step, shape (T, n_pop, 5) (zeros where nothing happened);
        None without per-step counters. Its memory grows with ``T``: checked against the
        budget (:func:`eventsim.limits.check_memory`)."""
        return None if self.active_steps is None else self._spread(self.step_counters)

    def _spread(self, counters: np.ndarray) -> np.ndarray:
        """``counters`` of the active steps (first axis) spread over all ``T`` steps, zeros
        elsewhere; its memory checked against the budget."""
        check_memory(self.T * int(np.prod(counters.shape[1:])) * 8, lambda: (
            f"Result.per_step: counters of T={self.T} steps (active_steps and step_counters "
            f"hold the {len(self.active_steps)} steps with activity)"))
        out = np.zeros((self.T, *counters.shape[1:]), np.int64)
        out[self.active_steps] = counters
        return out

    def _column(self, column: int) -> np.ndarray:
        if self.active_steps is None:
            raise InputError("no per-step counters: they are kept in discrete mode with "
                             "record='all'")
        return self._spread(self.step_counters[:, :, column])

    @property
    def sops_per_step(self) -> np.ndarray:
        """SOPs into each population in each step, shape (T, n_pop)."""
        return self._column(SOPS)

    @property
    def spikes_per_step(self) -> np.ndarray:
        """Spikes of each population in each step, shape (T, n_pop)."""
        return self._column(SPIKES)

    @property
    def updates_per_step(self) -> np.ndarray:
        """Neuron updates (threshold evaluations) of each population in each step, (T, n_pop)."""
        return self._column(UPDATES)

    @property
    def macs_per_step(self) -> np.ndarray:
        """MACs of analog inputs into each population in each step, shape (T, n_pop)."""
        return self._column(MACS)

    @property
    def n_spikes(self) -> np.ndarray:
        """Spikes per population, shape (n_pop,), int64 (recorded or not)."""
        return np.array([int(c.sum()) for c in self.spike_counts], np.int64)

    @property
    def output_counts(self) -> np.ndarray:
        """Spikes per output neuron, shape (n_outputs,)."""
        return self.spike_counts[-1]

    @property
    def predicted(self) -> int:
        """Class with the most output spikes; ties go to the earliest first spike, then the
        lower index. -1 when the output layer did not spike at all. An output that is a
        leaky integrator (an ``LI`` readout) predicts the neuron of the highest membrane
        maximum (Norse's decoding), or of the highest mean with ``readout == "mean"``
        (snnTorch's and Spyx's usual one); ties to the lower index."""
        if self.membrane_max and self.membrane_max[-1] is not None:
            top = self.membrane_mean[-1] if self.readout == "mean" else self.membrane_max[-1]
            if self.readout == "mean" and not np.isfinite(self.membrane_max[-1]).any():
                return -1  # T = 0: no step to decide from
            return int(np.argmax(top)) if len(top) and np.isfinite(top).any() else -1  # T=0
        counts = self.spike_counts[-1]
        if counts.sum() == 0:
            return -1
        best = np.flatnonzero(counts == counts.max())
        if len(best) == 1:
            return int(best[0])
        out = self.spikes[-1]
        time_col = out["t_us"] if out.dtype.names else out[:, 0]
        neuron_col = out["neuron"] if out.dtype.names else out[:, 1]
        first = np.full(len(counts), np.inf)
        # spikes are sorted by time: the first occurrence of each neuron is its first spike
        neurons, idx = np.unique(neuron_col, return_index=True)
        first[neurons] = time_col[idx]
        return int(best[np.argmin(first[best])])


def make_result(spikes: list[np.ndarray], counts: list[np.ndarray], stats: np.ndarray,
                input_spikes: int, events: int, peak_queue: int, T: int, duration_us: float,
                mode: str, plan, step_rows: np.ndarray | None,
                edge_sops: np.ndarray) -> Result:
    """Wrap the kernels' outputs (``stats``: shape (n_pop, 5), columns as above; ``step_rows``:
    rows ``(step, population, *counters)`` in step order, as :func:`~eventsim.engine.
    discrete.run_steps` appends them, or None; ``edge_sops``: SOPs per edge of ``plan``, a
    :class:`~eventsim.engine.plan.Plan`)."""
    active = counters = None
    if step_rows is not None:  # rows come in step order: a new step where the step changes
        new = np.ones(len(step_rows), np.bool_)
        np.not_equal(step_rows[1:, 0], step_rows[:-1, 0], out=new[1:])
        active = step_rows[new, 0]
        counters = np.zeros((len(active), len(stats), N_STATS), np.int64)
        counters[np.cumsum(new) - 1, step_rows[:, 1]] = step_rows[:, 2:]
    return Result(spikes=spikes, sops=stats[:, SOPS].copy(), spike_counts=counts,
                  macs=stats[:, MACS].copy(),
                  neuron_updates=stats[:, UPDATES].copy(), self_events=stats[:, SELF].copy(),
                  input_spikes=int(input_spikes), events_processed=int(events),
                  peak_queue=int(peak_queue), T=T, duration_us=float(duration_us), mode=mode,
                  layer_index=list(plan.layer_index or []),
                  populations=[p.name for p in plan.graph.populations],
                  projection_sops=plan.projection_sops(edge_sops),
                  recurrent=np.array([plan.graph.closes_cycle(k) for k in
                                      range(len(plan.graph.projections))], np.bool_),
                  active_steps=active, step_counters=counters)
