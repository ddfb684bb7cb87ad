"""Graphs in training specs: a ``[network]`` table with ``populations`` and ``projections``
instead of ``layers`` (see :mod:`eventsim.train.spec` for the rest of the file).

Example (``networks/nmnist-rsnn.toml``)::

    [network]
    decay = 0.5                          # defaults for every population
    v_th = 0.5
    reset = "zero"
    bias = false                         # defaults for every Dense and Conv2d op
    populations = [{name = "hidden", size = 256}, {name = "out", size = 10}]
    projections = [
        {from = "input", to = "hidden", ops = [{type = "Flatten"}, {type = "Dense"}]},
        {from = "hidden", to = "hidden", ops = [{type = "Dense"}]},     # a step later
        {from = "hidden", to = "out", ops = [{type = "Dense"}], delay = 1},
    ]

A population is ``{name, size = N}`` or ``{name, shape = [C, H, W]}``, with its own
``decay``, ``v_th``, ``reset``, ``v_reset``, ``v_leak``, ``syn_decay`` or
``refractory_steps`` where it differs
(``v_th = inf``, TOML's infinity: a leaky-integrator readout, trained by its maximum
potential, or its mean with ``readout = "mean"``), and ``adapt_decay``, ``adapt_jump`` for an
adaptive threshold. A projection is
``{from, to, ops}`` with
``delay`` (whole steps, default 0) and ``bias`` (default the network's); its op tables are
those of ``layers`` without neurons: ``{type = "Dense", out = N}``, ``{type = "Conv2d", out =
C, kernel = K, stride = 1, padding = 0}``, ``{type = "AvgPool2d" | "SumPool2d", kernel = K}``,
``{type = "Flatten"}``, where the last op's ``out`` defaults to the target's size (Dense) or
channels (Conv2d). Weights start at PyTorch's defaults (uniform in ``+-1/sqrt(fan_in)``),
drawn in list order from the ``[train] seed``. Populations run in the order listed (the graph
rule: a projection to an earlier population, or to itself, arrives a step later).
"""

from __future__ import annotations

import numpy as np

from eventsim.errors import InputError, NetworkError
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection


def build_graph(n: dict, input_shape: tuple[int, ...], lif: dict, bias: bool,
                rng: np.random.Generator, where: str, get, positive,
                dtype=np.float32) -> Graph:
    """The graph of a ``[network]`` table with ``populations`` and ``projections``; ``get``
    and ``positive`` read checked keys (as :mod:`eventsim.train.spec` does)."""
    pops = []
    for i, table in enumerate(get(n, "populations", list, where)):
        at = f"{where}.populations[{i}]"
        if not isinstance(table, dict):
            raise InputError(f"{at}: expected a table like {{name = \"hidden\", size = 256}}")
        if ("size" in table) == ("shape" in table):
            raise InputError(f"{at}: give one of 'size' (neurons) or 'shape' ([C, H, W])")
        shape = (positive(table, "size", at),) if "size" in table else \
            tuple(get(table, "shape", list, at))
        params = {key: get(table, key, type(lif[key]), at, lif[key]) for key in lif}
        for key in ("adapt_decay", "adapt_jump"):  # an adaptive threshold (graphs only)
            params[key] = get(table, key, float, at, 0.0)
        params["readout"] = get(table, "readout", str, at, "max")  # a readout's decoding
        try:
            pops.append(Population(get(table, "name", str, at), shape, **params))
        except NetworkError as err:
            raise InputError(f"{at}: {err}") from None
    sizes = {p.name: p.shape for p in pops} | {"input": tuple(input_shape)}
    projs = []
    for k, table in enumerate(get(n, "projections", list, where)):
        at = f"{where}.projections[{k}]"
        if not isinstance(table, dict):
            raise InputError(f"{at}: expected a table like {{from = \"input\", to = \"hidden\", "
                             "ops = [{type = \"Dense\"}]}")
        src, tgt = get(table, "from", str, at), get(table, "to", str, at)
        for end, name in (("from", src), ("to", tgt)):
            if name not in sizes or (end == "to" and name == "input"):
                raise InputError(f"{at}: key '{end}' names {name!r}, which is no population "
                                 f"(they are {', '.join(p.name for p in pops)})")
        tables = get(table, "ops", list, at)
        with_bias = get(table, "bias", bool, at, bias)
        shape, built = sizes[src], []
        for j, op_table in enumerate(tables):
            last = j == len(tables) - 1
            op = _op(op_table, f"{at}.ops[{j}]", shape, sizes[tgt] if last else None,
                     with_bias, rng, get, positive, dtype)
            built.append(op)
            try:
                shape = op.checked_shape(shape, f"{at}.ops[{j}]")
            except NetworkError as err:
                raise InputError(str(err)) from None
        projs.append(Projection(src, tgt, built, delay=get(table, "delay", int, at, 0)))
    try:
        return Graph(tuple(input_shape), pops, projs)
    except NetworkError as err:
        raise InputError(f"{where}: {err}") from None


def _op(table, at: str, shape: tuple[int, ...], target: tuple[int, ...] | None, bias: bool,
        rng, get, positive, dtype):
    if not isinstance(table, dict):
        raise InputError(f"{at}: expected a table like {{type = \"Dense\"}}")
    kind = get(table, "type", str, at)
    if kind == "Dense":
        n_in = int(np.prod(shape))
        n_out = positive(table, "out", at, None) or (int(np.prod(target)) if target else None)
        if n_out is None:
            raise InputError(f"{at}: missing key 'out' (only the last op takes the target's)")
        bound = 1 / np.sqrt(n_in)
        return ops.Dense(rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype),
                         rng.uniform(-bound, bound, n_out).astype(dtype) if bias else None)
    if kind == "Conv2d":
        if len(shape) != 3:
            raise InputError(f"{at}: Conv2d needs a (C, H, W) input, got {shape}")
        k = positive(table, "kernel", at)
        c_out = positive(table, "out", at, None) or (target[0] if target and len(target) == 3
                                                    else None)
        if c_out is None:
            raise InputError(f"{at}: missing key 'out' (only the last op takes the target's)")
        bound = 1 / np.sqrt(shape[0] * k * k)
        return ops.Conv2d(rng.uniform(-bound, bound, (c_out, shape[0], k, k)).astype(dtype),
                          positive(table, "stride", at, 1), get(table, "padding", int, at, 0),
                          rng.uniform(-bound, bound, c_out).astype(dtype) if bias else None)
    if kind in ("AvgPool2d", "SumPool2d"):
        cls = ops.AvgPool2d if kind == "AvgPool2d" else ops.SumPool2d
        return cls(positive(table, "kernel", at), positive(table, "stride", at, None))
    if kind == "Flatten":
        return ops.Flatten()
    raise InputError(f"{at}: key 'type' must be Dense, Conv2d, AvgPool2d, SumPool2d or Flatten, "
                     f"got {kind!r}")
