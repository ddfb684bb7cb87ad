"""Continuous time: what it can run, the input as timed events, and how spikes are recorded.

Continuous mode (:func:`eventsim.simulate` with ``mode="continuous"``) and the Brian2 bridge
(:func:`eventsim.bridges.brian2.run_brian2`) both take their input and their limits from here.
"""

from __future__ import annotations

import numpy as np

from eventsim.errors import InputError, NetworkError
from eventsim.events.binning import n_steps
from eventsim.events.stream import EventStream
from eventsim.network.graph import INPUT, Graph, population_label, projection_name
from eventsim.network.inputs import check_stream, dense_input
from eventsim.network.layers import NeuNorm
from eventsim.network.network import Network, layer_name

#: One recorded spike in continuous time: its time (us, float) and the neuron's index in its
#: population (the records of ``Result.spikes``, the engine's and the bridge's).
SPIKE_DTYPE = np.dtype([("t_us", "<f8"), ("neuron", "<i8")])


def check_continuous(net: Network | Graph, graph: Graph) -> None:
    """NetworkError for what continuous mode cannot run: NeuNorm, integer populations, a
    cycle without delay; ``graph`` is ``as_graph(net)``."""
    if isinstance(net, Network):
        for i, layer in enumerate(net.layers):
            if isinstance(layer, NeuNorm):
                raise NetworkError(f"{layer_name(i, layer)}: NeuNorm runs in discrete mode "
                                   "only (its auxiliary neurons step with dt_us)")
    for p, pop in enumerate(graph.populations):
        if pop.integer:
            raise NetworkError(f"{population_label(net, graph, p)}: integer layers run in "
                               "discrete mode only")
    for k, proj in enumerate(graph.projections):
        if any(isinstance(op, NeuNorm) for op in proj.ops):
            raise NetworkError(f"{projection_name(k, proj)}: NeuNorm runs in discrete mode "
                               "only (its auxiliary neurons step with dt_us)")
    loop = zero_delay_cycle(graph)
    if loop:
        raise NetworkError(f"populations {' -> '.join(repr(n) for n in loop)} form a cycle "
                           "whose projections all have delay_us 0: in continuous time its "
                           "spikes would return in the same instant; give one of them "
                           "delay_us > 0")


def zero_delay_cycle(graph: Graph) -> list[str]:
    """The populations of a cycle of projections with ``delay_us == 0`` (for some synapse;
    first and last the same), or [] if there is none."""
    succ: dict[int, list[int]] = {}
    for proj in graph.projections:
        if proj.source != INPUT and np.min(proj.delay_us) == 0:
            succ.setdefault(graph.index(proj.source), []).append(graph.index(proj.target))
    state: dict[int, int] = {}  # 1 on the path, 2 done
    for start in range(len(graph.populations)):
        stack, path = [(start, iter(succ.get(start, [])))], [start]
        if state.get(start):
            continue
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                return [graph.populations[i].name for i in cycle]
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, []))))
                path.append(nxt)
    return []


def input_events(net: Network | Graph, inputs, dt_us: int, T: int | None):
    """Times (us, float64), channels (int64) and the window end of the input."""
    if isinstance(inputs, EventStream):
        check_stream(net, inputs)
        t = inputs.events["t"].astype(np.float64)
        ch = inputs.channels()
        if T is None:
            T = n_steps(int(inputs.events["t"].max()) if len(inputs) else None, dt_us)
    elif isinstance(inputs, np.ndarray):
        step_ptr, ch, T = dense_input(net, inputs, T)
        steps = np.repeat(np.arange(T), np.diff(step_ptr))
        t = steps.astype(np.float64) * dt_us
    else:
        raise InputError("simulate: continuous mode takes an EventStream or a 0/1 array; "
                         "streaming chunks is supported in discrete mode only")
    order = np.argsort(t, kind="stable")
    return t[order], ch[order].astype(np.int64), float(T * dt_us)
