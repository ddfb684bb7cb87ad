"""Placing a network on a chip target, exactly: either a mapping (cores used, memory against
each core's limit) or every violation, each naming the population, the limit, the value and
what would fix it.

Every check compares whole numbers with the target's own limits (:mod:`.target`), so a limit
met with one to spare passes and one exceeded by one fails. A limit the target's file records
as unknown is listed as not checked. The rules, per population ``p`` (a chain's layer):

**Every target.** Weights are whole numbers (an integer network, :func:`eventsim.network.
quantize.quantize`) in ``-2**(b-1) .. 2**(b-1) - 1`` for ``weight_bits = b``; thresholds
within the signed ``state_bits`` range; the decay (and a current's) as the target computes it
(``"none"``: 1; ``"shift"``: ``1 - 2**-k`` for ``1 <= k < 2**decay_shift_bits``;
``"fraction12"``: ``D / 4096``); the reset among the target's (a zero reset to ``v_reset != 0``
is not a reset to zero); currents, refractory periods, convolutions and recurrent
projections only where supported; delays up to ``delay_steps_max`` steps; no NeuNorm (analog
auxiliary neurons, which no target runs).

**dynapcnn** (Speck; sinabs' mapper). Each population takes one core. Its one weighted op
is a convolution of ``c`` input channels, ``f`` output channels and a ``kh x kw`` kernel (a
Dense on a ``(C, H, W)`` source: ``c = C``, kernel ``H x W``; on a vector: ``c = n``, 1 x 1; a
pooling layer with neurons: an identity convolution of its channels), charged as

    kernel = c * 2**(ceil(log2(kh * kw)) + ceil(log2(f)))
    neuron = f * 2**(ceil(log2(h_out)) + ceil(log2(w_out)))
    bias   = f with a bias, else 0

and placed on a distinct core whose three memories hold it (a bipartite matching, as sinabs'
``get_valid_mapping``); a core sends to at most ``max_destinations`` populations; kernels
square, up to ``max_kernel_size``; strides, padding, channels and feature maps within the
target's.

**neuron_cores** (Loihi 2). A population of ``n`` neurons takes ``ceil(n /
neurons_per_core)`` cores of its own; all populations' cores together at most ``cores``.

**xylo** (Xylo Audio 2; rockpool's mapper). The last population is the output (at most
``output_neurons``, not recurrent, fed by hidden populations only); every other population
is hidden (together at most ``hidden_neurons``); the input (at most ``input_channels``)
feeds hidden populations only; a hidden neuron sends to at most ``max_fan_out`` hidden
neurons (nonzero weights).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from eventsim.deploy.target import Target
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, as_graph, population_label
from eventsim.network.layers import NeuNorm
from eventsim.network.network import Network


@dataclass
class Violation:
    """One limit exceeded: who (``where``), which limit, the value found, what the target
    allows, and what would fix it."""

    where: str
    limit: str
    value: str
    allowed: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.limit}: {self.value}; {self.allowed}. Fix: {self.fix}"


@dataclass
class CoreUse:
    """What one population takes: its cores, and each resource as ``[used, limit]``."""

    population: str
    cores: list[int]
    used: dict = field(default_factory=dict)


@dataclass
class Mapping:
    """The result of :func:`deploy`: the placement (when it fits), the violations, and the
    limits not checked for want of a source (``[limit, why]``)."""

    target: str
    cores_used: int
    placement: list[CoreUse]
    violations: list[Violation]
    unchecked: list[list[str]]

    @property
    def fits(self) -> bool:
        return not self.violations

    def to_json(self) -> dict:
        return {"target": self.target, "fits": self.fits, "cores_used": self.cores_used,
                "placement": [asdict(c) for c in self.placement],
                "violations": [asdict(v) for v in self.violations],
                "unchecked": self.unchecked}

    def table(self) -> str:
        """What ``eventsim deploy`` prints."""
        lines = []
        if self.fits:
            lines.append(f"fits {self.target}: {self.cores_used} core"
                         f"{'s' if self.cores_used != 1 else ''}")
            for c in self.placement:
                span = f"{c.cores[0]}" if len(c.cores) == 1 else f"{c.cores[0]}-{c.cores[-1]}"
                use = ", ".join(f"{k} {u}/{lim}" for k, (u, lim) in c.used.items())
                lines.append(f"  core {span:<8} {c.population:<28} {use}")
        else:
            lines.append(f"does not fit {self.target}: {len(self.violations)} violation"
                         f"{'s' if len(self.violations) != 1 else ''}")
            lines += [f"  {v}" for v in self.violations]
        for limit, why in self.unchecked:
            lines.append(f"  not checked: {limit} (unknown: {why})")
        return "\n".join(lines)


def deploy(net: Network | Graph, target: Target) -> Mapping:
    """Map ``net`` onto ``target`` (the module docstring's rules)."""
    g = as_graph(net)
    check = _Checker(net, g, target)
    check.common()
    placement = {"dynapcnn": check.dynapcnn, "neuron_cores": check.neuron_cores,
                 "xylo": check.xylo}[target.mapper]()
    if check.violations:  # no placement of a network that does not fit
        return Mapping(target.name, 0, [], check.violations, check.unchecked)
    used = len({c for p in placement for c in p.cores})
    return Mapping(target.name, used, placement, [], check.unchecked)


def _pow2(x: int) -> int:
    return 2 ** math.ceil(math.log2(x)) if x > 1 else 1


class _Checker:
    def __init__(self, net, g: Graph, target: Target):
        self.net, self.g, self.t = net, g, target
        self.violations: list[Violation] = []
        self.unchecked: list[list[str]] = []

    def label(self, p: int) -> str:
        return population_label(self.net, self.g, p)

    def bad(self, p, limit, value, allowed, fix):
        where = self.label(p) if isinstance(p, int) else p
        self.violations.append(Violation(where, limit, value, allowed, fix))

    def known(self, key: str, needed: bool = True):
        """The target's value for ``key``; None (and a note, if ``needed``) when unknown."""
        value = self.t.get(key)
        why = self.t.unknown(key)
        if value is None and needed and why and [key, why] not in self.unchecked:
            self.unchecked.append([key, why])
        return value

    def weighted(self, k: int) -> list:
        return [op for op in self.g.projections[k].ops if isinstance(op, (ops.Dense, ops.Conv2d))]

    # --- every target ------------------------------------------------------------------------
    def common(self) -> None:
        t, g = self.t, self.g
        bits, state = self.known("weight_bits"), self.known("state_bits")
        for p, pop in enumerate(g.populations):
            weights = [op for k in g.into(p) for op in self.weighted(k)]
            if bits is not None and weights:
                low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
                if not pop.integer:
                    self.bad(p, "weight_bits", "float weights", f"{t.name} holds {bits}-bit "
                             "integers", f"quantize it: eventsim quantize NET --bits {bits} "
                             "(or train it quantization-aware: eventsim train SPEC --qat-bits "
                             f"{bits})")
                else:
                    w_min = min(float(op.weight.min()) for op in weights)
                    w_max = max(float(op.weight.max()) for op in weights)
                    if w_min < low or w_max > high:
                        self.bad(p, "weight_bits", f"weights {w_min:g}..{w_max:g}",
                                 f"{bits}-bit weights hold {low}..{high}",
                                 f"quantize to {bits} bits or fewer")
            if pop.is_readout:
                self.unchecked.append([f"{self.label(p)}: membrane readout (v_th = inf)",
                                       f"{t.name}'s file says nothing of reading potentials"])
            elif state is not None:
                v_th = float(np.max(pop.v_th))
                if v_th > 2 ** (state - 1) - 1:
                    self.bad(p, "state_bits", f"threshold {v_th:g}", f"{state}-bit state holds "
                             f"up to {2 ** (state - 1) - 1}", "quantize to fewer bits (the "
                             "threshold scales with the weights)")
            self._decay(p, "decay", pop.decay)
            if pop.syn_decay > 0:
                if self.known("current") is False:
                    self.bad(p, "current", f"syn_decay {pop.syn_decay:g}", f"{t.name}'s "
                             "neurons have no synaptic current", "retrain with syn_decay = 0")
                else:
                    self._decay(p, "syn_decay", pop.syn_decay)
            if pop.refractory_steps and self.known("refractory") is False:
                self.bad(p, "refractory", f"refractory_steps {pop.refractory_steps}",
                         f"{t.name}'s neurons have no refractory period",
                         "retrain with refractory_steps = 0")
            resets = self.known("reset")
            kind = "zero" if pop.reset == "zero" else "subtract"
            if resets is not None and not pop.is_readout:
                if kind not in resets:
                    self.bad(p, "reset", f"reset {kind!r}", f"{t.name} resets "
                             + " or ".join(_RESETS[r] for r in resets),
                             f"retrain with reset = {resets[0]!r}")
                elif kind == "zero" and pop.v_reset != 0:
                    self.bad(p, "reset", f"reset to v_reset {pop.v_reset:g}", f"{t.name} "
                             "resets to 0", "retrain with v_reset = 0")
        for k, proj in enumerate(g.projections):
            p = g.index(proj.target)
            if any(isinstance(op, NeuNorm) for op in proj.ops):
                self.bad(p, "neuron_models", "NeuNorm (analog auxiliary neurons)", f"{t.name} "
                         "runs spiking neurons and integer weights only", "train without NeuNorm")
            if any(isinstance(op, ops.Conv2d) for op in proj.ops) and self.known("conv") is False:
                self.bad(p, "conv", "a convolution", f"{t.name} has no convolution hardware",
                         "use Dense layers")
            if proj.source != INPUT and g.closes_cycle(k):
                rec = self.known("recurrent")
                if rec is False:
                    self.bad(p, "recurrent", f"recurrent projection from '{proj.source}'",
                             f"{t.name} runs feed-forward networks", "drop the recurrence")
            steps = int(np.max(proj.delay))
            if steps > 0:
                most = self.known("delay_steps_max")
                if most is not None and steps > most:
                    self.bad(p, "delay_steps_max", f"a delay of {steps} steps from "
                             f"'{proj.source}'", f"{t.name} delays up to {most} steps",
                             f"delays of {most} steps or fewer")

    def _decay(self, p: int, name: str, value: float) -> None:
        kind = self.known("decay")
        if kind == "none" and value != 1.0:
            self.bad(p, name, f"{name} {value:g}", f"{self.t.name}'s neurons integrate and fire "
                     "without leak (decay 1)", f"retrain with {name} = 1")
        elif kind == "shift":
            bits = self.known("decay_shift_bits") or 4
            allowed = [1 - 2.0 ** -k for k in range(1, 2 ** bits)]
            if value not in allowed:
                near = min(allowed, key=lambda a: abs(a - value))
                k = allowed.index(near) + 1
                self.bad(p, name, f"{name} {value:g}", f"{self.t.name} decays by bit shifts, "
                         f"1 - 2**-k for k = 1..{2 ** bits - 1}", f"retrain with {name} = "
                         f"{near:g} (k = {k})")
        elif kind == "fraction12" and value * 4096 != round(value * 4096):
            self.bad(p, name, f"{name} {value:g}", f"{self.t.name}'s decays are D / 4096",
                     "quantize it (decays become D / 4096)")

    # --- mappers -----------------------------------------------------------------------------
    def neuron_cores(self) -> list[CoreUse]:
        per_core, cores = self.known("neurons_per_core"), self.known("cores")
        self.known("synapse_memory_bits_per_core")
        self.known("max_fan_in")
        self.known("max_fan_out")
        if per_core is None:
            return []
        placement, next_core = [], 0
        for p, pop in enumerate(self.g.populations):
            n = math.ceil(pop.size / per_core)
            placement.append(CoreUse(self.label(p), list(range(next_core, next_core + n)),
                                     {"neurons": [pop.size, n * per_core]}))
            next_core += n
        if cores is not None and next_core > cores:
            self.bad("network", "cores", f"{next_core} cores ("
                     + ", ".join(f"{c.population}: {len(c.cores)}" for c in placement) + ")",
                     f"{self.t.name} has {cores} cores of {per_core} neurons",
                     "fewer neurons")
        return placement

    def xylo(self) -> list[CoreUse]:
        g, t = self.g, self.t
        out = len(g.populations) - 1
        n_in, n_out = g.n_inputs, g.populations[out].size
        hidden = sum(pop.size for pop in g.populations[:out])
        limits = {"input_channels": n_in, "hidden_neurons": hidden, "output_neurons": n_out}
        fixes = {"input_channels": "fewer input channels (bin the sensor coarser, or an "
                                   "encoder off the chip)",
                 "hidden_neurons": "fewer hidden neurons", "output_neurons": "fewer classes"}
        used = {}
        for key, value in limits.items():
            most = self.known(key)
            used[key.split("_")[0]] = [value, most]
            if most is not None and value > most:
                self.bad("network", key, f"{value}", f"{t.name} has {most}", fixes[key])
        if out == 0:
            self.bad(self.label(out), "hidden_neurons", "no hidden population", f"{t.name} "
                     "feeds its outputs from hidden neurons", "add a hidden layer")
        for k, proj in enumerate(g.projections):
            if g.index(proj.target) == out and (proj.source == INPUT
                                                or g.index(proj.source) == out):
                self.bad(out, "output", f"fed by {'the input' if proj.source == INPUT else 'itself'}",
                         f"{t.name}'s outputs are fed by hidden neurons only",
                         "route it through a hidden population")
        most = self.known("max_fan_out")
        fan_out = self._hidden_fan_out(out)
        used["fan-out"] = [fan_out, most]
        if most is not None and fan_out > most:
            self.bad("network", "max_fan_out", f"a hidden neuron sends to {fan_out} hidden "
                     "neurons", f"{t.name} allows {most}", "sparser hidden-to-hidden weights")
        return [CoreUse("network", [0], used)]

    def _hidden_fan_out(self, out: int) -> int:
        """The most hidden neurons one hidden neuron sends to (nonzero weights)."""
        from eventsim.network.synapses import projection_synapses

        counts = {}
        for k, proj in enumerate(self.g.projections):
            if proj.source == INPUT or self.g.index(proj.target) == out:
                continue
            src = projection_synapses(self.g, k)[0]
            c = counts.setdefault(proj.source, np.zeros(self.g.populations[
                self.g.index(proj.source)].size, np.int64))
            c += np.bincount(src, minlength=len(c))
        return int(max((c.max() for c in counts.values()), default=0))

    def dynapcnn(self) -> list[CoreUse]:
        g, t = self.g, self.t
        kernel_mem, neuron_mem = self.known("kernel_memory_per_core"), \
            self.known("neuron_memory_per_core")
        bias_mem = self.known("bias_memory_per_core")
        cores = self.known("cores")
        needs = []
        for p, pop in enumerate(g.populations):
            need = self._conv_core(p)
            if need is not None:
                needs.append((p, need))
        most = self.known("max_destinations")
        for p in range(len(g.populations)):
            dest = {proj.target for proj in g.projections if proj.source == g.populations[p].name}
            if most is not None and len(dest) > most:
                self.bad(p, "max_destinations", f"sends to {len(dest)} populations",
                         f"a {t.name} core sends to at most {most}", "fewer branches")
        if cores is not None and len(g.populations) > cores:
            self.bad("network", "cores", f"{len(g.populations)} populations", f"{t.name} has "
                     f"{cores} cores, one population each", "fewer layers")
        if kernel_mem is None or neuron_mem is None or len(needs) < len(g.populations):
            return []
        limits = [(kernel_mem[i], neuron_mem[i], bias_mem[i] if bias_mem else math.inf)
                  for i in range(len(kernel_mem))]
        fits = {p: [i for i, (k, n, b) in enumerate(limits) if need["kernel"] <= k
                    and need["neuron"] <= n and need["bias"] <= b] for p, need in needs}
        for p, need in needs:
            if not fits[p]:
                self.bad(p, "core memory", "kernel {kernel}, neuron {neuron}, bias {bias} "
                         "entries".format(**need), f"the largest {t.name} cores hold kernel "
                         f"{max(kernel_mem)}, neuron {max(neuron_mem)}"
                         + (f", bias {max(bias_mem)}" if bias_mem else ""),
                         "fewer channels (kernel memory grows with in x out channels, rounded "
                         "up to powers of two) or a smaller feature map")
        if self.violations:
            return []
        assignment = _match({p: fits[p] for p, _ in needs})
        if assignment is None:
            self.bad("network", "core memory", "no assignment of populations to distinct cores "
                     "holds them all", f"{t.name}'s cores differ in memory",
                     "smaller layers")
            return []
        return [CoreUse(self.label(p), [assignment[p]], {
            "kernel": [need["kernel"], limits[assignment[p]][0]],
            "neuron": [need["neuron"], limits[assignment[p]][1]],
            "bias": [need["bias"], limits[assignment[p]][2]]}) for p, need in needs]

    def _conv_core(self, p: int) -> dict | None:
        """A population's convolution as a Speck core charges it, its geometry checked."""
        g, t = self.g, self.t
        pop = g.populations[p]
        into = g.into(p)
        weighted = [(k, op) for k in into for op in g.projections[k].ops
                    if not isinstance(op, ops.Flatten)]
        if len(into) > 1 and len({id(op) for _, op in weighted}) > 1:
            self.bad(p, "conv", f"fed by {len(into)} projections", f"a {t.name} core holds one "
                     "convolution", "one projection into each population")
            return None
        if len(weighted) != 1:
            self.bad(p, "conv", f"{len(weighted)} ops in one projection", f"a {t.name} core "
                     "runs one convolution (then sum pooling)", "one op per layer")
            return None
        k, op = weighted[0]
        src = g.source_shape(k)
        out = pop.shape if len(pop.shape) == 3 else (pop.size, 1, 1)
        bias = 0
        if isinstance(op, ops.Conv2d):
            c, kh, kw, stride, pad = src[0], *op.weight.shape[2:], op.stride, op.padding
            bias = out[0] if op.bias is not None else 0
        elif isinstance(op, ops.Dense):
            c, kh, kw = (src[0], src[1], src[2]) if len(src) == 3 else (src[0], 1, 1)
            stride, pad = 1, 0
            bias = out[0] if op.bias is not None else 0
        else:  # a pooling layer with neurons: an identity convolution of its channels
            c, kh, kw, stride, pad = src[0], op.kernel_size, op.kernel_size, op.stride, 0
        f, h_out, w_out = out
        in_size = src[1:] if len(src) == 3 else (1, 1)
        checks = [
            ("max_kernel_size", max(kh, kw), f"kernel {kh}x{kw}", _BIG_KERNEL),
            ("max_channels", max(c, f), f"{max(c, f)} channels", "fewer channels"),
            ("padding_max", pad, f"padding {pad}", "less padding"),
            ("max_input_size", max(in_size), f"input {in_size[0]}x{in_size[1]}",
             "a smaller input"),
            ("max_output_size", max(h_out, w_out), f"feature map {h_out}x{w_out}",
             "a larger stride or pooling"),
        ]
        for key, value, text, fix in checks:
            most = self.known(key)
            if most is not None and value > most:
                self.bad(p, key, text, f"{t.name} allows {most}", fix)
        if kh != kw:
            self.bad(p, "max_kernel_size", f"kernel {kh}x{kw}", f"{t.name}'s kernels are "
                     "square", "a square kernel")
        strides = self.known("strides")
        if strides is not None and stride not in strides:
            self.bad(p, "strides", f"stride {stride}", f"{t.name} strides by "
                     + ", ".join(map(str, strides)), "one of those strides")
        return {"kernel": c * _pow2(kh * kw) * _pow2(f),
                "neuron": f * _pow2(h_out) * _pow2(w_out), "bias": bias}


_RESETS = {"zero": "to zero", "subtract": "by subtracting the threshold"}
_BIG_KERNEL = "a smaller kernel (a Dense on a feature map is a kernel as large as the map: pool first)"


def _match(options: dict[int, list[int]]) -> dict[int, int] | None:
    """A placement of each key on a distinct option (augmenting paths), or None."""
    owner: dict[int, int] = {}

    def place(p: int, seen: set) -> bool:
        for core in options[p]:
            if core in seen:
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = p
                return True
        return False

    for p in options:
        if not place(p, set()):
            return None
    return {p: core for core, p in owner.items()}
