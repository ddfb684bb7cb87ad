"""NIR graphs as eventsim graphs: which nodes make which projection, and in which order the
populations run.

Reading (:func:`read_graph`). Every LIF or IF node is a population (named as the node); the
``Input`` node is the input. A *projection* is each path from the input or a population
through projection nodes only (``Affine``, ``Linear``, ``Conv2d``, ``SumPool2d``,
``AvgPool2d``, ``Flatten``, ``Delay``) to a population, its ops in path order. NIR sums what
arrives at a node, and every op is affine, so the paths add up to what the graph computes:
where paths share a node, its bias is carried by one of them only (the first listed of
those sharing the rest of the path to the population). The ``Output`` node must be fed by
one population: the network's output.

Order. eventsim runs populations in a list order and delivers an edge that runs backwards in
it one step later (:mod:`eventsim.network.graph`); a NIR graph has no order, so the reading
fixes one:

* a projection that is in no cycle always runs forwards (a spike arrives in the same step,
  plus its delay);
* strongly connected populations (a cycle) run in the order a breadth-first search from the
  input first reaches them (following the file's edges in their order; ties by name), so in a
  cycle the population nearest the input runs first and the projection back to it closes the
  cycle; the output population runs last among its own;
* a graph eventsim wrote carries its order (``eventsim_order`` in the graph's metadata), and
  that order is used.

This is what nirtorch and snnTorch do with the graphs they write: a recurrent weight reads the
population's spikes of the step before (snnTorch's ``RLeaky``, Norse's recurrent cells).

Delays. A ``Delay`` node's ``delay`` is in seconds and must be whole steps of ``dt``; it
becomes the projection's ``delay`` in steps, and its ``delay_us`` the time a spike takes as
discrete mode reads it (``(delay + 1) * dt`` for a projection that closes a cycle), so
continuous mode runs the graph as discrete mode does. One delay for every neuron may sit anywhere on a path; one per neuron must
sit before the path's first weighted op (a delay per source neuron) or after its last (per
target neuron); paths add their delays (per synapse where both kinds meet). Writing, a
projection's ``delay`` (steps) is what becomes a ``Delay`` node; a nonzero ``delay_us`` other
than the one reading gives back is an error (NIR has one time per delay).

Writing (:func:`write_graph`): every population is a neuron node named as the population,
every projection ``k`` a chain of nodes ``proj{k}.{j}`` from its source to its target, a delay
a ``Delay`` node ``proj{k}.delay`` before them (per-synapse delays of a single ``Dense``: one
path per delay value, ``proj{k}.d{value}``), and the population order in the metadata.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from eventsim.errors import NetworkError
from eventsim.limits import check_memory
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection, projection_name
from eventsim.network.nir_nodes import (
    NEURON_NODES,
    OP_NODES,
    WEIGHTED_NODES,
    check_flatten,
    check_neuron_shape,
    near_whole,
    nir_op,
    scale_ops,
    without_batch,
)

#: More paths than this through projection nodes is a graph eventsim refuses to expand.
MAX_PATHS = 100_000
ORDER_KEY = "eventsim_order"


@dataclass(frozen=True)
class Path:
    """One projection of a NIR graph: ``source`` (the Input node or a neuron node) through the
    projection nodes ``nodes`` to the neuron node ``target``; ``biased[j]``: whether node
    ``nodes[j]`` adds its bias on this path."""

    source: str
    target: str
    nodes: tuple[str, ...]
    biased: tuple[bool, ...]


@dataclass(frozen=True)
class Structure:
    """The parts of a NIR graph eventsim runs: its Input and Output node names, the neuron
    nodes in the order they run (the output last), and the paths."""

    input: str
    output: str
    populations: list[str]
    paths: list[Path]


def flat_graph(graph) -> tuple[dict, list]:
    """The nodes and edges of ``graph`` with every subgraph (a ``NIRGraph`` node, as snnTorch
    writes a recurrent layer) spliced in: its nodes named ``sub.node``, its Input and Output
    bypassed."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for name, node in list(nodes.items()):
        if type(node).__name__ != "NIRGraph":
            continue
        inner_nodes, inner_edges = flat_graph(node)
        ends = {kind: [n for n, v in inner_nodes.items() if type(v).__name__ == kind]
                for kind in ("Input", "Output")}
        if len(ends["Input"]) != 1 or len(ends["Output"]) != 1:
            raise NetworkError(f"from_nir: subgraph {name!r} has {len(ends['Input'])} Input and "
                               f"{len(ends['Output'])} Output nodes; expected one of each")
        del nodes[name]
        nodes.update({f"{name}.{n}": v for n, v in inner_nodes.items()})
        inside = [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges]
        outside = [(f"{name}.{ends['Output'][0]}" if a == name else a,
                    f"{name}.{ends['Input'][0]}" if b == name else b) for a, b in edges]
        edges = outside + inside
        for end in (f"{name}.{ends['Input'][0]}", f"{name}.{ends['Output'][0]}"):
            preds = [a for a, b in edges if b == end]
            succs = [b for a, b in edges if a == end]
            edges = [e for e in edges if end not in e] + [(a, b) for a in preds for b in succs]
            del nodes[end]
    return nodes, edges


def structure(nodes: dict, edges: list, order: list[str] | None = None) -> Structure:
    """The populations, paths and order of a flat NIR graph (module docstring), or a
    NetworkError naming the node that does not fit."""
    kinds = {name: type(node).__name__ for name, node in nodes.items()}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise NetworkError(f"from_nir: edge ({a!r}, {b!r}) names node {end!r}, which "
                                   "the graph does not have")
    if len(set(edges)) != len(edges):
        twice = next(e for e in edges if edges.count(e) > 1)
        raise NetworkError(f"from_nir: edge {twice!r} is listed twice")
    for name, kind in kinds.items():
        if kind not in (*NEURON_NODES, *OP_NODES, "Input", "Output"):
            raise NetworkError(f"from_nir: node {name!r} is {kind}, which eventsim does not run "
                               "exactly (it runs Affine, Linear, Conv2d, SumPool2d, AvgPool2d, "
                               "Flatten, Delay, LIF, IF, CubaLIF, LI, CubaLI and I)")
    ends = {kind: sorted(n for n, k in kinds.items() if k == kind) for kind in ("Input",
                                                                                 "Output")}
    for kind, names in ends.items():
        if len(names) != 1:
            raise NetworkError(f"from_nir: the graph has {len(names)} {kind} nodes; expected "
                               "one")
    inp, out = ends["Input"][0], ends["Output"][0]
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for a, b in edges:
        succ[a].append(b)
    rank = _reach(inp, succ)
    for name in nodes:
        if name not in rank:
            feeds = sorted(set(succ[name]))
            into = f" (it feeds {', '.join(map(repr, feeds))})" if feeds else ""
            raise NetworkError(f"from_nir: node {name!r} cannot be reached from {inp!r}{into}; "
                               "eventsim runs every node of a graph or refuses it (a projection "
                               "from outside would be dropped)")
    preds = [a for a, b in edges if b == out]
    if len(preds) != 1 or kinds[preds[0]] not in NEURON_NODES:
        what = ", ".join(f"{p!r} ({kinds[p]})" for p in preds) or "nothing"
        raise NetworkError(f"from_nir: node {out!r} is fed by {what}; eventsim's output is one "
                           "population (a neuron node) feeding the Output node")
    if succ[out] or any(b == inp for a, b in edges):
        raise NetworkError(f"from_nir: an edge leaves the Output node {out!r} or enters the "
                           f"Input node {inp!r}")
    paths = _paths(inp, out, nodes, kinds, succ)
    pops = [n for n in nodes if kinds[n] in NEURON_NODES]
    if order is None:
        order = _order(pops, paths, rank, preds[0])
        if order[-1] != preds[0]:
            after = order[order.index(preds[0]) + 1:]
            raise NetworkError(f"from_nir: {', '.join(map(repr, after))} run after the output "
                               f"population {preds[0]!r} (it feeds them, and they lead back "
                               "neither to it nor to the Output node); eventsim's output runs "
                               "last")
    elif sorted(order) != sorted(pops) or order[-1] != preds[0]:
        raise NetworkError(f"from_nir: graph metadata field '{ORDER_KEY}' is {order!r}; "
                           f"expected the neuron nodes {sorted(pops)!r}, the output's "
                           f"({preds[0]!r}) last")
    position = {name: i for i, name in enumerate(order)}
    paths = sorted(paths, key=lambda p: position[p.target])  # stable: file order within
    return Structure(inp, out, list(order), paths)


def _reach(start: str, succ: dict) -> dict[str, int]:
    """Breadth-first rank of every node reached from ``start`` (edges in file order)."""
    rank, queue = {start: 0}, deque([start])
    while queue:
        for nxt in succ[queue.popleft()]:
            if nxt not in rank:
                rank[nxt] = len(rank)
                queue.append(nxt)
    return rank


def _paths(inp: str, out: str, nodes: dict, kinds: dict, succ: dict) -> list[Path]:
    """Every path from the input or a population through projection nodes to a population,
    with which of its nodes add their bias (the first path of those sharing the rest)."""
    paths, seen_rest = [], set()
    sources = [inp] + [n for n in nodes if kinds[n] in NEURON_NODES]
    for source in sources:
        stack = [(b, ()) for b in reversed(succ[source]) if b != out]
        while stack:
            name, through = stack.pop()
            if kinds[name] in NEURON_NODES:
                biased = []
                for j in range(len(through)):
                    rest = (through[j:], name)
                    biased.append(rest not in seen_rest)
                    seen_rest.add(rest)
                paths.append(Path(source, name, through, tuple(biased)))
                if len(paths) > MAX_PATHS:
                    raise NetworkError(f"from_nir: more than {MAX_PATHS} paths through "
                                       "projection nodes; eventsim makes each a projection")
                continue
            if name in through:
                loop = through[through.index(name):]
                raise NetworkError(f"from_nir: nodes {', '.join(map(repr, loop))} form a loop "
                                   "without neurons (a NIR cycle needs a neuron node on it)")
            if kinds[name] == "Output":
                raise NetworkError(f"from_nir: node {through[-1]!r} feeds the Output node "
                                   f"{out!r}; eventsim's output is a population")
            if not succ[name]:
                raise NetworkError(f"from_nir: node {name!r} ({kinds[name]}) leads nowhere (no "
                                   "edge leaves it)")
            stack.extend((b, (*through, name)) for b in reversed(succ[name]))
    return paths


def _order(pops: list[str], paths: list[Path], rank: dict, output: str) -> list[str]:
    """Populations in a topological order of their strongly connected components (the
    output's last), each component in breadth-first rank (the output last)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    index = {name: i for i, name in enumerate(pops)}
    links = {(index[p.source], index[p.target]) for p in paths if p.source in index}
    rows, cols = zip(*links) if links else ((), ())
    adj = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(pops), len(pops)))
    _, comp = connected_components(adj, directed=True, connection="strong")
    key = {name: (name == output, rank[name], name) for name in pops}
    members: dict[int, list[str]] = {}
    for name in sorted(pops, key=key.__getitem__):
        members.setdefault(int(comp[index[name]]), []).append(name)
    into = {c: {int(comp[a]) for a, b in links if comp[b] == c and comp[a] != c}
            for c in members}
    order, done = [], set()
    while len(done) < len(members):  # Kahn's algorithm, the component first reached first
        ready = [c for c in members if c not in done and into[c] <= done]
        c = min(ready, key=lambda c: key[members[c][-1]] if output in members[c]
                else min(key[n] for n in members[c]))
        done.add(c)
        order.extend(members[c])
    return order


def read_graph(nodes: dict, st: Structure, input_shape: tuple[int, ...], batch_axes: int,
               params: dict, dt_s: float | None, meta: dict) -> Graph:
    """The eventsim Graph of a flat NIR graph: ``params[name]`` are each neuron node's
    ``(decay, v_th, reset)`` and input gain (:func:`~eventsim.network.nir_nodes.neuron_params`);
    ``meta`` the Graph's ``dt_us``, ``T``, sensor size, labels and provenance."""
    op_lists, op_names = [], []
    for p in st.paths:
        if not any(type(nodes[n]).__name__ in WEIGHTED_NODES for n in p.nodes):
            between = "".join(f" -> {n!r}" for n in p.nodes)
            raise NetworkError(f"from_nir: {p.source!r}{between} -> {p.target!r} reaches a "
                               "population through no Affine, Linear, Conv2d or pooling node; "
                               "eventsim projects through weights")
        op_list, names = [], []
        for name, biased in zip(p.nodes, p.biased):
            kind = type(nodes[name]).__name__
            if kind == "Flatten":
                check_flatten(name, nodes[name], batch_axes)
            if kind != "Delay":
                op_list.append(nir_op(name, nodes[name], keep_bias=biased))
                names.append(name)
        op_lists.append(scale_ops(op_list, params[p.target][1], p.target))
        op_names.append(names)
    shapes = _shapes(st, op_lists, op_names, input_shape)
    pops = []
    for name in st.populations:
        check_neuron_shape(name, nodes[name], shapes[name])
        pops.append(Population(name, shapes[name], **params[name][0]))
    projections = [Projection(p.source if p.source != st.input else INPUT, p.target, op_list,
                              delay=_delay(nodes, p, shapes, dt_s))
                   for p, op_list in zip(st.paths, op_lists)]
    g = Graph(input_shape, pops, projections, **meta)
    if dt_s:  # the time a spike takes, as discrete mode reads it, for continuous mode
        for k, proj in enumerate(g.projections):
            us = (g.step_delays(k) * dt_s * 1e6).astype(np.float64)
            proj.delay_us = float(us) if us.ndim == 0 else us
    return g


def _shapes(st: Structure, op_lists: list, op_names: list,
            input_shape) -> dict[str, tuple[int, ...]]:
    """Each population's shape, from the first path into it whose source's shape is known."""
    shapes = {st.input: tuple(input_shape)}
    changed = True
    while changed:
        changed = False
        for p, op_list, names in zip(st.paths, op_lists, op_names):
            if p.source in shapes and p.target not in shapes:
                shape = shapes[p.source]
                for name, op in zip(names, op_list):
                    shape = op.checked_shape(shape, f"from_nir: node {name!r}")
                shapes[p.target] = tuple(shape)
                changed = True
    return shapes


def _delay(nodes: dict, p: Path, shapes: dict, dt_s: float | None):
    """The delay in steps of a path's Delay nodes: a number, per source neuron (n_source,), or
    per synapse (n_target, n_source)."""
    kinds = [type(nodes[n]).__name__ for n in p.nodes]
    weighted = [j for j, k in enumerate(kinds) if k in WEIGHTED_NODES] or [len(kinds), -1]
    n_src, n_tgt = int(np.prod(shapes[p.source])), int(np.prod(shapes[p.target]))
    total, per_src, per_tgt = 0, np.zeros(n_src, np.int64), np.zeros(n_tgt, np.int64)
    for j, (name, kind) in enumerate(zip(p.nodes, kinds)):
        if kind != "Delay":
            continue
        if dt_s is None:
            raise NetworkError(f"from_nir: node {name!r} delays by seconds; give dt_us (the "
                               "step to count them in)")
        seconds = np.asarray(nodes[name].delay, np.float64)
        steps = seconds / dt_s
        if not all(np.isfinite(v) and v >= 0 and near_whole(v) for v in np.ravel(steps)) \
                or steps.size == 0:
            raise NetworkError(f"from_nir: node {name!r}: field 'delay' is not whole steps of "
                               f"{dt_s * 1e6:g} us >= 0 ({np.ravel(seconds)[:4].tolist()} s)")
        steps = np.round(steps).astype(np.int64)
        flat = np.ravel(steps)
        if np.all(flat == flat[0]):
            total += int(flat[0])
            continue
        size = int(np.prod(without_batch(steps.shape, 1)))
        if j < weighted[0] and size == n_src:
            per_src += flat[-n_src:]
        elif j > weighted[-1] and size == n_tgt:
            per_tgt += flat[-n_tgt:]
        else:
            raise NetworkError(f"from_nir: node {name!r}: a delay that differs between its "
                               f"{size} neurons; eventsim takes them per source neuron ({n_src}, "
                               f"before the first weighted op) or per target neuron ({n_tgt}, "
                               "after the last)")
    if per_tgt.any():
        check_memory(8 * n_tgt * n_src, f"from_nir: the per-synapse delays into {p.target!r}")
        return total + per_tgt[:, None] + per_src[None, :]
    return total + per_src if per_src.any() else total


def as_chain(graph: Graph, st: Structure, nodes: dict) -> list | None:
    """The chain layers of ``graph`` when it is one (each population fed by the one before
    through ``[Flatten...,] op``, no delays), else None."""
    from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, SumPool2d

    if len(graph.projections) != len(graph.populations):
        return None
    layers, before = [], INPUT
    for p, proj, pop in zip(st.paths, graph.projections, graph.populations):
        *flats, op = proj.ops
        if (proj.source != before or proj.target != pop.name or np.any(proj.delay)
                or not all(isinstance(f, ops.Flatten) for f in flats)
                or isinstance(op, ops.Flatten)
                or any(type(nodes[n]).__name__ == "Delay" for n in p.nodes)):
            return None
        implicit = [(nodes[n].metadata or {}).get("eventsim_implicit", False)
                    for n in p.nodes if type(nodes[n]).__name__ == "Flatten"]
        layers += [Flatten() for flag in implicit if not flag]
        lif = {"decay": pop.decay, "v_th": pop.v_th, "reset": pop.reset, "v_reset": pop.v_reset,
               "v_leak": pop.v_leak, "syn_decay": pop.syn_decay,
               "refractory_steps": pop.refractory_steps, "readout": pop.readout}
        if isinstance(op, ops.Dense):
            layers.append(Dense(op.weight, bias=op.bias, **lif))
        elif isinstance(op, ops.Conv2d):
            layers.append(Conv2d(op.weight, stride=op.stride, padding=op.padding, bias=op.bias,
                                 **lif))
        else:
            cls = SumPool2d if isinstance(op, ops.SumPool2d) else AvgPool2d
            layers.append(cls(op.kernel_size, stride=op.stride, **lif))
        before = pop.name
    return layers


def write_graph(nir, graph: Graph, dt_s: float, neuron_node) -> tuple[dict, list]:
    """The NIR nodes and edges of ``graph`` (module docstring); ``neuron_node(pop)`` makes a
    population's node."""
    from eventsim.network.layers import NeuNorm

    names = {p.name for p in graph.populations}
    out = next(n for n in ("output", "output_", "output__") if n not in names | {"input"})
    nodes = {INPUT: nir.Input(input_type={"input": np.array(graph.input_shape)})}
    edges = []
    for pop in graph.populations:
        if pop.integer:
            raise NetworkError(f"to_nir: population '{pop.name}': integer populations "
                               "(truncating decay) have no NIR node")
        nodes[pop.name] = neuron_node(pop)
    for k, proj in enumerate(graph.projections):
        where = projection_name(k, proj)
        shape = graph.source_shape(k)
        chain = []
        delay = np.asarray(proj.delay)
        read_back = graph.step_delays(k) * dt_s * 1e6  # what from_nir makes delay_us
        if np.any(proj.delay_us) and not np.allclose(proj.delay_us, read_back, rtol=1e-12,
                                                      atol=1e-9):
            took = "(delay + 1)" if graph.closes_cycle(k) else "delay"
            raise NetworkError(f"to_nir: {where}: field 'delay_us' is not {took} * dt_us; a NIR "
                               "Delay node holds one time, written from 'delay' (steps): make "
                               "them agree, or delay_us 0")
        if delay.ndim == 2:
            weighted = [op for op in proj.ops if not isinstance(op, ops.Flatten)]
            if len(weighted) != 1 or not isinstance(weighted[0], ops.Dense):
                raise NetworkError(f"to_nir: {where}: per-synapse delays are written as one "
                                   "path per delay value, for a projection of one Dense op")
            op = weighted[0]
            for v in np.unique(delay):
                first = v == delay.min()
                w = np.where(delay == v, op.weight, 0.0)
                dense = ops.Dense(w, op.bias if first else None)
                path = [(f"proj{k}.d{v}.0", op_node(nir, dense, shape, where))]
                if len(shape) > 1:
                    path.insert(0, (f"proj{k}.d{v}.flatten", implicit_flatten(nir, shape)))
                if v:
                    path.append((f"proj{k}.d{v}.delay", nir.Delay(
                        np.full(graph.populations[graph.index(proj.target)].size, v * dt_s))))
                chain.append(path)
        else:
            path = []
            if delay.any():
                path.append((f"proj{k}.delay", nir.Delay(
                    np.broadcast_to(delay * dt_s, (int(np.prod(shape)),)).reshape(shape)
                    .astype(np.float64))))
            for j, op in enumerate(proj.ops):
                if isinstance(op, NeuNorm):
                    raise NetworkError(f"to_nir: {where}, op {j} (NeuNorm): NeuNorm has no NIR "
                                       "node")
                if isinstance(op, ops.Dense) and len(shape) > 1:
                    path.append((f"proj{k}.{j}.flatten", implicit_flatten(nir, shape)))
                path.append((f"proj{k}.{j}", op_node(nir, op, shape, where)))
                shape = op.output_shape(shape, where)
            chain.append(path)
        for path in chain:
            last = proj.source
            for name, node in path:
                if name in nodes:
                    raise NetworkError(f"to_nir: population '{name}' has the name of the NIR "
                                       f"node eventsim writes for {where}; rename it")
                nodes[name] = node
                edges.append((last, name))
                last = name
            edges.append((last, proj.target))
    nodes[out] = nir.Output(output_type={"output": np.array(graph.output.shape)})
    edges.append((graph.output.name, out))
    return nodes, edges


def implicit_flatten(nir, shape: tuple[int, ...]):
    """The Flatten before a Dense of a (C, H, W) input, which eventsim does implicitly."""
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1,
                       metadata={"eventsim_implicit": True})


def op_node(nir, op, shape: tuple[int, ...], where: str):
    """The NIR node of one op applied to an input of ``shape``."""
    if isinstance(op, ops.Dense):
        return nir.Affine(op.weight, np.asarray(op.bias)) if op.bias is not None \
            else nir.Linear(op.weight)
    if isinstance(op, ops.Conv2d):
        bias = op.bias if op.bias is not None else np.zeros(op.weight.shape[0])
        return nir.Conv2d(input_shape=tuple(shape[1:]), weight=op.weight, stride=op.stride,
                          padding=op.padding, dilation=1, groups=1, bias=np.asarray(bias))
    if isinstance(op, ops.Flatten):
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    if isinstance(op, (ops.SumPool2d, ops.AvgPool2d)):
        cls = nir.SumPool2d if isinstance(op, ops.SumPool2d) else nir.AvgPool2d
        k, s = op.kernel_size, op.stride
        return cls(kernel_size=np.array([k, k]), stride=np.array([s, s]),
                   padding=np.array([0, 0]))
    raise NetworkError(f"to_nir: {where}: {type(op).__name__} has no NIR node")
