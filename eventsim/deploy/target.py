"""A neuromorphic chip as eventsim checks networks against it: a TOML file of limits and costs.

Every key is ``{ value = ..., source = "..." }``: the number and where it comes from (a vendor's
document or toolchain code, a paper; a secondary source says so). ``value = "unknown"``
records where one looked and found nothing: :func:`eventsim.deploy.mapping.deploy` then
reports the limit as not checked, never as met. The shipped targets are in
``eventsim/deploy/targets`` (``loihi2``, ``speck``, ``xylo``); a user's own is any file with
the same keys (``eventsim deploy NET --target FILE.toml``).

Keys (all but ``name``, ``description`` and ``mapper`` optional):

``mapper``
    How populations are placed: ``"dynapcnn"`` (one layer per core, charged by sinabs'
    kernel and neuron memory formulas), ``"neuron_cores"`` (a population split over cores of
    ``neurons_per_core``), ``"xylo"`` (16 inputs, one pool of hidden neurons, outputs).
``cores``, ``neurons_per_core``, ``kernel_memory_per_core``, ``neuron_memory_per_core``,
``bias_memory_per_core`` (lists: one per core), ``synapse_memory_bits_per_core``
``max_destinations`` (cores a core sends to), ``max_fan_in``, ``max_fan_out`` (synapses a
neuron sends), ``input_channels``, ``hidden_neurons``, ``output_neurons``
``weight_bits``, ``state_bits`` (signed; the potential and the threshold)
``decay``: ``"none"`` (integrate-and-fire: decay 1), ``"shift"`` (``1 - 2**-k``, ``k`` of
``decay_shift_bits`` bits, ``k >= 1``), ``"fraction12"`` (``D / 4096``)
``current``, ``refractory``, ``conv``, ``recurrent`` (booleans: supported or not)
``reset`` (list of ``"subtract"``, ``"zero"``)
``max_kernel_size``, ``strides``, ``padding_max``, ``max_channels``, ``max_input_size``,
``max_output_size`` (a conv core's geometry), ``delay_steps_max``
``[energy_pj]``: ``synop``, ``neuron_update``, ``spike_on_core``, ``spike_off_core``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from eventsim.errors import InputError, quoted

TARGETS = Path(__file__).parent / "targets"
MAPPERS = ("dynapcnn", "neuron_cores", "xylo")
UNKNOWN = "unknown"

#: Each key and the kind of value it holds.
KEYS = {
    "cores": int, "neurons_per_core": int, "kernel_memory_per_core": list,
    "neuron_memory_per_core": list, "bias_memory_per_core": list,
    "synapse_memory_bits_per_core": int, "max_destinations": int, "max_fan_in": int,
    "max_fan_out": int, "input_channels": int, "hidden_neurons": int, "output_neurons": int,
    "weight_bits": int, "state_bits": int, "decay": str, "decay_shift_bits": int,
    "current": bool, "refractory": bool, "conv": bool, "recurrent": bool, "reset": list,
    "max_kernel_size": int, "strides": list, "padding_max": int, "max_channels": int,
    "max_input_size": int, "max_output_size": int, "delay_steps_max": int,
}
ENERGY_KEYS = ("synop", "neuron_update", "spike_on_core", "spike_off_core")
DECAYS = ("none", "shift", "fraction12")


@dataclass(frozen=True)
class Target:
    """A chip's limits and costs (module docstring). ``limits[key]`` is the value, or None
    when the source says it is unknown; ``sources[key]`` says where it comes from (energy
    keys as ``"energy_pj.synop"``)."""

    name: str
    description: str
    mapper: str
    limits: dict = field(default_factory=dict)
    energy_pj: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    def get(self, key: str):
        """The limit's value; None when absent or unknown."""
        return self.limits.get(key)

    def unknown(self, key: str) -> str | None:
        """Why ``key`` is not checked (its source), or None when it is known or absent."""
        return self.sources.get(key) if key in self.sources and self.limits.get(key) is None \
            else None


def shipped_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS.glob("*.toml"))


def load_target(name_or_path: str | Path) -> Target:
    """A shipped target by name (``loihi2``, ``speck``, ``xylo``) or a TOML file of the same
    keys; a bad key or value raises :class:`~eventsim.errors.InputError` naming the file and
    the key."""
    path = TARGETS / f"{name_or_path}.toml" if str(name_or_path) in shipped_targets() \
        else Path(name_or_path)
    if not path.is_file():
        raise InputError(f"{name_or_path}: not a shipped target ({', '.join(shipped_targets())}) "
                         "nor a TOML file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a valid TOML file ({quoted(err)})") from None
    where = str(path)
    for key in ("name", "description", "mapper"):
        if not isinstance(doc.get(key), str):
            raise InputError(f"{where}: key '{key}' must be a string")
    if doc["mapper"] not in MAPPERS:
        raise InputError(f"{where}: key 'mapper' must be one of {MAPPERS}, got {doc['mapper']!r}")
    known = set(KEYS) | {"name", "description", "mapper", "energy_pj"}
    unknown_keys = sorted(set(doc) - known)
    if unknown_keys:
        raise InputError(f"{where}: unknown key '{unknown_keys[0]}' (known: "
                         f"{', '.join(sorted(known))})")
    limits, sources = {}, {}
    for key, kind in KEYS.items():
        if key in doc:
            limits[key], sources[key] = _entry(doc[key], kind, f"{where}: key '{key}'")
    if limits.get("decay") is not None and limits["decay"] not in DECAYS:
        raise InputError(f"{where}: key 'decay' must be one of {DECAYS}, got {limits['decay']!r}")
    energy = {}
    table = doc.get("energy_pj", {})
    if not isinstance(table, dict) or set(table) - set(ENERGY_KEYS):
        raise InputError(f"{where}: [energy_pj] takes the keys {', '.join(ENERGY_KEYS)}")
    for key, entry in table.items():
        value, sources[f"energy_pj.{key}"] = _entry(entry, float, f"{where}: key 'energy_pj.{key}'")
        energy[key] = value
    return Target(doc["name"], doc["description"], doc["mapper"], limits, energy, sources)


def _entry(entry, kind, where: str):
    """``(value or None when unknown, source)`` of one ``{ value, source }`` entry."""
    if not isinstance(entry, dict) or set(entry) != {"value", "source"} \
            or not isinstance(entry["source"], str) or not entry["source"].strip():
        raise InputError(f"{where} must be {{ value = ..., source = \"...\" }} (every number "
                         "with its source)")
    value = entry["value"]
    if value == UNKNOWN:
        return None, entry["source"]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if kind is int:
        ok = ok and value >= 0
    if kind is list:
        ok = ok and len(value) > 0
    if not ok:
        raise InputError(f"{where}: value must be {kind.__name__} (or \"unknown\"), got "
                         f"{value!r}")
    return value, entry["source"]
