"""NIR nodes one at a time: a neuron node's decay, threshold, reset and input gain; a
projection node's eventsim op; and the checks of their fields. Graph structure (which nodes
form which projection, in which order populations run) is :mod:`eventsim.network.nir_graph`'s,
reading and writing files :mod:`eventsim.network.nir`'s, whose docstring says how each
discretisation reads a node.
"""

from __future__ import annotations

import json
import math

import numpy as np

from eventsim.errors import NetworkError
from eventsim.network import ops

#: The NIR nodes eventsim runs, by class name.
NEURON_NODES = ("LIF", "IF", "CubaLIF", "LI", "CubaLI", "I")
#: Neuron nodes that never fire (a leaky integrator or integrator: ``v_th = inf``).
READOUT_NODES = ("LI", "CubaLI", "I")
WEIGHTED_NODES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d")
OP_NODES = (*WEIGHTED_NODES, "Flatten", "Delay")


def neuron_params(name: str, node, kind: str, dt_s: float | None, discretisation: str,
                  reset_asked: str | None, tau_scale: float) -> tuple[dict, float]:
    """The ``decay``, ``syn_decay``, ``v_th``, ``reset``, ``v_reset`` and ``v_leak`` of a
    neuron node (potentials read as they are: the input gain goes into the weights; ``tau
    du/dt = v_leak - u`` stepped by any reading leaks by the drive ``(1 - decay) * v_leak``;
    an ``LI``, ``CubaLI`` or ``I`` node never fires: ``v_th = inf``), and its input gain
    (folded into the weights of every projection into it, see :func:`scale_ops`)."""
    meta = node.metadata or {}
    if "eventsim_decay" in meta:
        check_eventsim_node(name, meta, dt_s, discretisation, reset_asked, tau_scale)
    v_reset = getattr(node, "v_reset", None)
    v_reset = 0.0 if v_reset is None else uniform(v_reset, name, "v_reset")
    if "eventsim_reset" in meta:
        reset = meta["eventsim_reset"]
    else:  # NIR's reset to v_reset, unless the caller knows the writer subtracted
        reset = reset_asked or "zero"
    if reset == "subtract" and v_reset != 0.0:
        raise NetworkError(f"from_nir: node {name!r}: resets to v_reset = {v_reset}, but the "
                           "reading asks for a subtract reset, which has none; read it with "
                           "reset='zero'")
    v_th = math.inf if kind in READOUT_NODES else uniform(node.v_threshold, name,
                                                          "v_threshold")
    v_leak = 0.0 if kind in ("IF", "I") else uniform(node.v_leak, name, "v_leak")
    if kind in ("IF", "I"):
        decay, syn_decay, gain = 1.0, 0.0, positive_r(node, name)
    elif kind in ("CubaLIF", "CubaLI"):
        decay, syn_decay, gain = _cuba(name, node, meta, dt_s, discretisation, tau_scale)
    else:
        syn_decay = 0.0
        decay, gain = _leaky(name, node, meta, dt_s, discretisation, tau_scale)
    refractory = 0
    if "eventsim_refractory_steps" in meta:  # NIR has none: a graph eventsim wrote says it
        refractory = graph_number(meta, "eventsim_refractory_steps", where=f"node {name!r}")
        if not (refractory.is_integer() and refractory >= 0):
            raise NetworkError(f"from_nir: node {name!r}: metadata field "
                               f"'eventsim_refractory_steps' is {refractory}; expected whole "
                               "steps >= 0")
    readout = meta.get("eventsim_readout", "max")  # NIR has none: eventsim's own key
    if kind in READOUT_NODES and readout not in ("max", "mean"):
        raise NetworkError(f"from_nir: node {name!r}: metadata field 'eventsim_readout' is "
                           f"{readout!r}; expected 'max' or 'mean'")
    return {"decay": decay, "v_th": v_th, "reset": reset, "v_reset": v_reset,
            "v_leak": v_leak, "syn_decay": syn_decay,
            "refractory_steps": int(refractory),
            "readout": readout if kind in READOUT_NODES else "max"}, gain


def _tau(name: str, node, field: str, dt_s: float | None, tau_scale: float) -> float:
    tau = uniform(getattr(node, field), name, field) * tau_scale
    if not tau > 0:
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {tau}; expected a "
                           "positive time constant in seconds")
    if dt_s is None:
        raise NetworkError(f"from_nir: node {name!r} is continuous-time; give dt_us (the "
                           "step to discretise it with)")
    return tau


def _leaky(name: str, node, meta: dict, dt_s, discretisation: str, tau_scale: float):
    """``decay`` and input gain of an ``LIF`` or ``LI`` node under the reading."""
    tau = _tau(name, node, "tau", dt_s, tau_scale)
    r = positive_r(node, name)
    if "eventsim_decay" in meta:
        decay = graph_number(meta, "eventsim_decay", where=f"node {name!r}")
        gain = r / tau
    elif discretisation == "zoh":
        decay = math.exp(-dt_s / tau)
        gain = r * (1.0 - decay)
    elif discretisation == "spyx":  # Spyx's LI: V = beta V + x, beta = 1 - dt / tau
        if type(node).__name__ != "LI":
            raise NetworkError(f"from_nir: node {name!r} is {type(node).__name__}: the 'spyx' "
                               "reading knows Spyx 1.0.0's CubaLIF and LI nodes only")
        decay, gain = 1.0 - dt_s / tau, 1.0
        if not 0.0 < decay < 1.0:
            raise NetworkError(f"from_nir: node {name!r}: tau {tau} s gives beta = 1 - dt / "
                               f"tau = {decay}; expected one in (0, 1)")
        return decay, gain
    elif discretisation in ("euler", "norse"):
        decay, gain = 1.0 - dt_s / tau, r * dt_s / tau
        if not 0.0 < decay <= 1.0:
            raise NetworkError(f"from_nir: node {name!r}: tau {tau} s is shorter than the "
                               f"step {dt_s} s; forward Euler gives decay {decay} (a file "
                               "Norse 1.1.0 wrote carries dt * tau: pass tau_scale = 1/dt)")
    else:
        decay, gain = math.exp(-dt_s / tau), r / tau
    return decay, float32_unit(gain, node.tau, node.r)


def _cuba(name: str, node, meta: dict, dt_s, discretisation: str, tau_scale: float):
    """``decay``, ``syn_decay`` and input gain of a ``CubaLIF`` or ``CubaLI`` node: forward
    Euler of ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I`` with the
    current updated first (snnTorch's ``Synaptic``, Norse's ``LIFCell``): ``syn_decay = 1 -
    dt / tau_syn``, ``decay = 1 - dt / tau_mem``, a spike adding ``w_in dt / tau_syn`` to
    ``I`` (``"euler"``; Norse 1.1.0 adds ``w_in``: ``"norse"``) and ``I`` moving ``v`` by ``r
    dt / tau_mem`` a step. A node eventsim wrote carries its decays (and Euler's values)."""
    tau_syn = _tau(name, node, "tau_syn", dt_s, tau_scale)
    tau_mem = _tau(name, node, "tau_mem", dt_s, tau_scale)
    if discretisation == "spyx" and "eventsim_decay" not in meta:
        # Spyx 1.0.0's RCuBaLIF: I = alpha I + x, V = beta V + I, alpha = 1 - dt / tau_syn,
        # beta = 1 - dt / tau_mem; it writes r = beta and w_in = 1, which it ignores on reading
        syn_decay, decay = 1.0 - dt_s / tau_syn, 1.0 - dt_s / tau_mem
        for field, value in (("tau_syn", syn_decay), ("tau_mem", decay)):
            if not 0.0 < value < 1.0:
                raise NetworkError(f"from_nir: node {name!r}: field '{field}' gives 1 - dt / "
                                   f"tau = {value}; expected a decay in (0, 1)")
        return decay, syn_decay, 1.0
    r = positive_r(node, name)
    w_in = uniform(node.w_in, name, "w_in")
    if not w_in > 0:
        raise NetworkError(f"from_nir: node {name!r}: field 'w_in' is {w_in}; expected a "
                           "positive input gain (eventsim folds it into the weights)")
    gain = (w_in if discretisation == "norse" else w_in * dt_s / tau_syn) * r * dt_s / tau_mem
    if "eventsim_decay" in meta:
        where = f"node {name!r}"
        decay = graph_number(meta, "eventsim_decay", where=where)
        syn_decay = graph_number(meta, "eventsim_syn_decay", where=where) \
            if "eventsim_syn_decay" in meta else 0.0
        return decay, syn_decay, 1.0 if abs(gain - 1.0) <= 1e-12 else gain
    if discretisation not in ("euler", "norse"):
        raise NetworkError(f"from_nir: node {name!r} is {type(node).__name__}: eventsim steps "
                           "a current-based neuron as snnTorch and Norse do (forward Euler, the "
                           "current first); read it with discretisation='euler' (snnTorch) or "
                           "'norse' (Norse 1.1.0), not "f"{discretisation!r}")
    syn_decay, decay = 1.0 - dt_s / tau_syn, 1.0 - dt_s / tau_mem
    for field, value, tau in (("tau_syn", syn_decay, tau_syn), ("tau_mem", decay, tau_mem)):
        if not 0.0 <= value < 1.0 or (field == "tau_mem" and value == 0.0):
            raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {tau} s, not "
                               f"longer than the step {dt_s} s; forward Euler gives a decay of "
                               f"{value} (a file Norse 1.1.0 wrote carries dt * tau: pass "
                               "tau_scale = 1/dt)")
    return decay, syn_decay, float32_unit(gain, node.tau_syn, node.tau_mem, node.r, node.w_in)


def nir_op(name: str, node, keep_bias: bool = True):
    """The eventsim op of a weighted or Flatten node (a Delay is read by the graph reader);
    ``keep_bias=False`` drops an Affine's or Conv2d's bias (counted on another path)."""
    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        b = np.asarray(node.bias, np.float64) if kind == "Affine" and keep_bias else None
        return ops.Dense(np.asarray(node.weight, np.float64), b)
    if kind == "Conv2d":
        stride, padding = square(node.stride, name, "stride"), square(node.padding, name,
                                                                      "padding")
        if square(node.dilation, name, "dilation") != 1 or int(node.groups) != 1:
            raise NetworkError(f"from_nir: node {name!r}: dilation or groups other than 1")
        b = np.asarray(node.bias, np.float64)
        return ops.Conv2d(np.asarray(node.weight, np.float64), stride, padding,
                          b if keep_bias and b.any() else None)
    if kind == "Flatten":
        return ops.Flatten()
    k = square(node.kernel_size, name, "kernel_size")
    if square(node.padding, name, "padding") != 0:
        raise NetworkError(f"from_nir: node {name!r}: pooling with padding")
    cls = ops.SumPool2d if kind == "SumPool2d" else ops.AvgPool2d
    return cls(k, square(node.stride, name, "stride"))


def scale_ops(op_list: list, gain: float, neuron: str) -> list:
    """``op_list`` with its output multiplied by ``gain`` (a neuron node's ``r / tau`` and the
    like): the last Dense or Conv2d's weight and bias scaled (pooling and Flatten after it are
    linear and carry no bias). Pooling weights are fixed: a gain with no such op is an error."""
    if gain == 1:
        return op_list
    for j in range(len(op_list) - 1, -1, -1):
        op = op_list[j]
        if isinstance(op, (ops.Dense, ops.Conv2d)):
            scaled = ops.Dense(op.weight * gain, None if op.bias is None else op.bias * gain) \
                if isinstance(op, ops.Dense) else ops.Conv2d(
                    op.weight * gain, op.stride, op.padding,
                    None if op.bias is None else op.bias * gain)
            return [*op_list[:j], scaled, *op_list[j + 1:]]
    raise NetworkError(f"from_nir: node {neuron!r}: an input gain r/tau of {gain} after "
                       "pooling; eventsim pooling weights are fixed")


def near_whole(x: float) -> bool:
    """``x`` is a whole number up to rounding (``1e-4 * 1e6`` is 100.00000000000001)."""
    return math.isfinite(x) and abs(x - round(x)) <= 1e-9 * max(1.0, abs(x))


def without_batch(shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """``shape`` without the leading axes of 1 beyond ``ndim`` dimensions (a batch or time axis
    some writers add, Sinabs among them)."""
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return shape


def shape_of(value, ndim: int) -> tuple[int, ...] | None:
    """A NIR type's shape, :func:`without_batch`; None where the writer left it empty."""
    if value is None:
        return None
    shape = tuple(int(v) for v in np.ravel(value))
    return without_batch(shape, ndim) if shape else None


def provenance_of(meta: dict) -> dict:
    """The provenance an eventsim graph carries (``{}`` for other graphs)."""
    text = meta.get("eventsim_provenance")
    if text is None:
        return {}
    try:
        value = json.loads(text.decode() if isinstance(text, bytes) else str(text))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise NetworkError("from_nir: graph metadata field 'eventsim_provenance' is not a JSON "
                           "object")
    return value


def check_flatten(name: str, node, batch_axes: int) -> None:
    """eventsim flattens a whole sample: NIR's ``start_dim=0, end_dim=-1``, or ``start_dim`` the
    number of batch axes the graph's Input has (Sinabs writes torch's ``start_dim=1``)."""
    start, end = int(node.start_dim), int(node.end_dim)
    in_type = next(iter(node.input_type.values()), None)
    whole = start in (0, batch_axes) and (end == -1 or (in_type is not None
                                                        and end == np.size(in_type) - 1))
    if not whole:
        raise NetworkError(f"from_nir: node {name!r}: Flatten from dim {start} to {end}; "
                           "eventsim flattens the whole sample (start_dim=0, end_dim=-1)")


def check_neuron_shape(name: str, node, shape: tuple[int, ...]) -> None:
    """Every parameter of a neuron node broadcasts to the layer's output shape."""
    for field in ("tau", "tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_threshold",
                  "v_reset"):
        value = getattr(node, field, None)
        if value is None:
            continue
        arr_shape = without_batch(np.shape(value), len(shape))
        try:
            fits = np.broadcast_shapes(arr_shape, shape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            raise NetworkError(f"from_nir: node {name!r}: field '{field}' has shape "
                               f"{list(arr_shape)}; the projection before it gives "
                               f"{list(shape)} neurons")


def graph_number(meta: dict, field: str, scalar: bool = True, where: str = "graph"):
    """The number (or, ``scalar=False``, the 1-D array of numbers) a metadata field holds."""
    try:
        value = np.asarray(meta[field], np.float64)
        return float(value) if scalar else np.ravel(value)
    except (TypeError, ValueError):
        raise NetworkError(f"from_nir: {where} metadata field {field!r} is {meta[field]!r}; "
                           f"expected {'a number' if scalar else 'numbers'}") from None


def uniform(value, name: str, field: str) -> float:
    try:
        arr = np.ravel(np.asarray(value, np.float64))
    except (TypeError, ValueError):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is not numeric") from None
    if arr.size == 0:
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is empty; expected a "
                           "number")
    if not np.isfinite(arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {arr[0]}; expected a "
                           "finite number")
    if np.any(arr != arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' differs between neurons; "
                           "eventsim has one value per layer")
    return float(arr[0])


def positive_r(node, name: str) -> float:
    """A neuron node's input resistance ``r``: a positive number (0 would silence every input,
    a negative one negate every weight: neither is a network anyone trained)."""
    r = uniform(node.r, name, "r")
    if not r > 0:
        raise NetworkError(f"from_nir: node {name!r}: field 'r' is {r}; expected a positive "
                           "input resistance (eventsim folds r into the weights: "
                           f"{'0 would silence every input' if r == 0 else 'a negative r would negate every weight'})")
    return r


def check_eventsim_node(name: str, meta: dict, dt_s: float | None, discretisation: str,
                         reset_asked: str | None, tau_scale: float) -> None:
    """A node eventsim wrote carries its exact decay, reset and step: reading options that
    would change them are errors, not silently overridden."""
    written = graph_number(meta, "dt_s", where=f"node {name!r}") if "dt_s" in meta \
        else (dt_s or 0.0)
    if dt_s is not None and not math.isclose(dt_s, written, rel_tol=1e-9):
        raise NetworkError(f"from_nir: node {name!r} carries the exact decay eventsim wrote for "
                           f"a step of {written * 1e6:g} us; dt_us {dt_s * 1e6:g} would change "
                           "its time base (convert it with that step)")
    for field, value, default in (("discretisation", discretisation, "exact"),
                                  ("tau_scale", tau_scale, 1.0)):
        if value != default:
            raise NetworkError(f"from_nir: node {name!r} carries the exact decay eventsim "
                               f"wrote; {field} does not apply to it")
    if reset_asked is not None and reset_asked != meta.get("eventsim_reset"):
        raise NetworkError(f"from_nir: node {name!r} carries eventsim's reset "
                           f"{meta.get('eventsim_reset')!r}; reset={reset_asked!r} contradicts it")


def float32_unit(gain: float, *stored) -> float:
    """1.0 for a gain within float32 rounding of 1 when the file stores its parameters in
    float32: snnTorch writes ``tau = dt / (1 - beta)`` and ``r = tau / dt`` in float32, whose
    ``r * dt / tau`` is 1 only to float32 precision (the file cannot say more)."""
    float32 = all(np.asarray(v).dtype == np.float32 for v in stored)
    if float32 and gain != 1.0 and abs(gain - 1.0) <= 4 * np.finfo(np.float32).eps:
        return 1.0
    return gain


def square(value, name: str, field: str) -> int:
    """One whole number for both dimensions (``3`` or ``[3, 3]``)."""
    arr = np.ravel(np.asarray(value))
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; expected "
                           "whole numbers")
    if np.any(arr != arr[0]):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; eventsim "
                           "needs the same value in both dimensions")
    if not near_whole(float(arr[0])):
        raise NetworkError(f"from_nir: node {name!r}: field '{field}' is {value!r}; expected "
                           "whole numbers")
    return int(arr[0])
