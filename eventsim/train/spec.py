"""Training specs: a TOML file that names the data, the binning, the architecture and the
training hyper-parameters. Bad values raise :class:`~eventsim.errors.InputError` naming the key.

Example (``networks/nmnist-mlp.toml``)::

    [data]
    dataset = "nmnist"                  # "nmnist": <path>/{Train,Test}/<label>/*.bin
    path = "../shared/data/nmnist"      # "mnist": <path>/{train,t10k}-*-idx?-ubyte.gz
    dt_us = 10000                       # binning (nmnist) or step width (mnist)
    T = 30
    limit_train = 1000                  # optional
    encoding = "rate"                   # mnist: "rate" (Bernoulli spikes per step) or
                                        # "current" (the image as analog input current)

    [network]
    layers = [{type = "Dense", out = 800}, {type = "Dense", out = 10}]
    decay = 0.2
    v_th = 0.5
    reset = "zero"
    v_reset = 0.0                       # optional: what a "zero" reset sets u to
    v_leak = 0.0                        # optional: what u leaks towards and starts at
    syn_decay = 0.0                     # optional: a synaptic current's decay (CuBa)
    refractory_steps = 0                # optional: steps held after a spike (either: the
                                        # chain trains as its graph)
    bias = false

    [train]                             # any field of TrainConfig
    epochs = 20
    lr = 1e-3

Layer tables: ``{type = "Dense", out = N}``, ``{type = "Conv2d", out = C, kernel = K,
stride = 1, padding = 0}``, ``{type = "AvgPool2d" | "SumPool2d", kernel = K}``,
``{type = "Flatten"}``, ``{type = "NeuNorm", decay = 0.5, scale = 1.0, alpha = 0.0}`` (after a
conv or pooling layer; ``alpha`` is its initial value everywhere). Weights start as
PyTorch's defaults for Linear/Conv2d (uniform in ``+-1/sqrt(fan_in)``), drawn from the
``[train] seed``. A graph gives ``populations`` and ``projections`` instead of ``layers``
(:mod:`eventsim.train.graph_spec`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from eventsim.errors import InputError, NetworkError, quoted
from eventsim.fileio import input_path
from eventsim.network.graph import Graph
from eventsim.network.layers import (
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    NeuNorm,
    SumPool2d,
    has_neurons,
)
from eventsim.network.network import Network, layer_name
from eventsim.train.graph_spec import build_graph
from eventsim.train.trainer import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATASETS = {"nmnist": (2, 34, 34), "mnist": (1, 28, 28)}


@dataclass
class DataSpec:
    dataset: str
    path: Path
    dt_us: int
    T: int
    limit_train: int | None = None
    limit_test: int | None = None
    encoding: str = "rate"


@dataclass
class Spec:
    data: DataSpec
    net: Network | Graph
    config: TrainConfig
    source: str


def _get(table: dict, key: str, kind, where: str, default=...):
    if key not in table:
        if default is ...:
            raise InputError(f"{where}: missing key '{key}'")
        return default
    value = table[key]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise InputError(f"{where}: key '{key}' must be {kind.__name__}, got {value!r}")
    return value


def _positive(table: dict, key: str, where: str, default=...) -> int | None:
    value = _get(table, key, int, where, default)
    if value is not None and value is not ... and value < 1:
        raise InputError(f"{where}: key '{key}' must be a positive integer, got {value!r}")
    return value


def build_network(layers: list, input_shape: tuple[int, ...], lif: dict, bias: bool,
                  rng: np.random.Generator, where: str, dtype=np.float32) -> Network:
    """Layers from their spec tables, weights at PyTorch's default initialisation."""
    built, shape = [], input_shape
    for i, table in enumerate(layers):
        at = f"{where}.layers[{i}]"
        if not isinstance(table, dict):
            raise InputError(f"{at}: expected a table like {{type = \"Dense\", out = 10}}")
        kind = _get(table, "type", str, at)
        if kind == "Dense":
            n_in, n_out = int(np.prod(shape)), _positive(table, "out", at)
            bound = 1 / np.sqrt(n_in)
            w = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
            b = rng.uniform(-bound, bound, n_out).astype(dtype) if bias else None
            layer = Dense(w, bias=b, **lif)
        elif kind == "Conv2d":
            if len(shape) != 3:
                raise InputError(f"{at}: Conv2d needs a (C, H, W) input, got {shape}")
            k, c_out = _positive(table, "kernel", at), _positive(table, "out", at)
            bound = 1 / np.sqrt(shape[0] * k * k)
            w = rng.uniform(-bound, bound, (c_out, shape[0], k, k)).astype(dtype)
            b = rng.uniform(-bound, bound, c_out).astype(dtype) if bias else None
            layer = Conv2d(w, stride=_positive(table, "stride", at, 1),
                           padding=_get(table, "padding", int, at, 0), bias=b, **lif)
        elif kind in ("AvgPool2d", "SumPool2d"):
            pool = AvgPool2d if kind == "AvgPool2d" else SumPool2d
            layer = pool(_positive(table, "kernel", at), **lif)
        elif kind == "Flatten":
            layer = Flatten()
        elif kind == "NeuNorm":
            if not built or not has_neurons(built[-1]) or len(shape) != 3:
                raise InputError(f"{at}: NeuNorm must come right after a conv or pooling "
                                 f"layer (a (C, H, W) output with neurons)")
            layer = NeuNorm(np.full(shape, _get(table, "alpha", float, at, 0.0), dtype),
                            decay=_get(table, "decay", float, at, 0.5),
                            scale=_get(table, "scale", float, at, 1.0))
        else:
            raise InputError(f"{at}: key 'type' must be Dense, Conv2d, AvgPool2d, SumPool2d, "
                             f"Flatten or NeuNorm, got {kind!r}")
        built.append(layer)
        if kind == "Flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "NeuNorm":  # keeps the shape; cannot end a network, so check it alone
            try:
                layer.checked_shape(shape, layer_name(i, layer))
            except NetworkError as err:
                raise InputError(f"{at}: {err}") from None
        else:
            shape = _network(built, input_shape, at).shapes[-1]
    return _network(built, input_shape, where)


def _network(layers: list, input_shape: tuple[int, ...], where: str) -> Network:
    try:
        return Network(layers, input_shape)
    except NetworkError as err:
        raise InputError(f"{where}: {err}") from None


def load_spec(path: str | Path) -> Spec:
    """Read and check a training spec (see the module docstring)."""
    path = input_path(path, "spec file", "eventsim train")
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a valid TOML file ({quoted(err)})") from None
    for section in ("data", "network"):
        if not isinstance(doc.get(section), dict):
            raise InputError(f"{path}: missing section [{section}]")
    d = doc["data"]
    dataset = _get(d, "dataset", str, f"{path} [data]")
    if dataset not in DATASETS:
        raise InputError(f"{path} [data]: key 'dataset' must be one of {sorted(DATASETS)}, "
                         f"got {dataset!r}")
    data_path = Path(_get(d, "path", str, f"{path} [data]"))
    if not data_path.is_absolute():
        data_path = (path.parent / data_path).resolve()
    data = DataSpec(dataset, data_path, _positive(d, "dt_us", f"{path} [data]"),
                    _positive(d, "T", f"{path} [data]"),
                    _positive(d, "limit_train", f"{path} [data]", None),
                    _positive(d, "limit_test", f"{path} [data]", None),
                    _get(d, "encoding", str, f"{path} [data]", "rate"))
    if data.encoding not in ("rate", "current") or (dataset != "mnist" and
                                                     data.encoding != "rate"):
        raise InputError(f"{path} [data]: key 'encoding' must be 'rate' (or 'current' for "
                         f"mnist), got {data.encoding!r}")
    t = doc.get("train", {})
    known = {f.name: f.type for f in fields(TrainConfig) if f.name != "history"}
    unknown = sorted(set(t) - set(known))
    if unknown:
        raise InputError(f"{path} [train]: unknown key '{unknown[0]}' (known: "
                         f"{', '.join(sorted(known))})")
    config = TrainConfig(**t)
    try:
        config.check()
    except InputError as err:
        raise InputError(f"{path} [train]: {err}") from None
    if config.init is not None and not Path(config.init).is_absolute():
        config.init = str((path.parent / config.init).resolve())
    n = doc["network"]
    where = f"{path} [network]"
    lif = {"decay": _get(n, "decay", float, where, 0.2), "v_th": _get(n, "v_th", float, where, 0.5),
           "reset": _get(n, "reset", str, where, "zero"),
           "v_reset": _get(n, "v_reset", float, where, 0.0),
           "v_leak": _get(n, "v_leak", float, where, 0.0),
           "syn_decay": _get(n, "syn_decay", float, where, 0.0),
           "refractory_steps": _get(n, "refractory_steps", int, where, 0)}
    rng = np.random.default_rng(config.seed)
    bias = _get(n, "bias", bool, where, False)
    if "populations" in n or "projections" in n:  # a graph (eventsim.train.graph_spec)
        if "layers" in n:
            raise InputError(f"{where}: give 'layers' (a chain) or 'populations' and "
                             "'projections' (a graph), not both")
        net = build_graph(n, DATASETS[dataset], lif, bias, rng, where, _get, _positive,
                          np.dtype(config.dtype))
    else:
        net = build_network(_get(n, "layers", list, where), DATASETS[dataset], lif, bias, rng,
                            where, np.dtype(config.dtype))
    net.dt_us, net.T = data.dt_us, data.T
    if dataset == "nmnist":
        net.sensor_size = (34, 34, 2)
    net.labels = [str(i) for i in range(10)]
    return Spec(data, net, config, str(path))
