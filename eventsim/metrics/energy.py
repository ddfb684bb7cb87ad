"""Energy estimates from counted operations, under named per-operation energy profiles.

Per layer::

    SNN = effective_acs * e_ac + effective_macs * e_mac
          + (membrane_updates + current_updates + threshold_updates) * e_update
    ANN = ann_macs * e_mac                       (the same layers, one dense pass per sample)

plus, with ``memory=True``, one SRAM read per operation (a weight fetch) at the energy of the
smallest SRAM in the profile's table that holds the layer's weights (the largest when none
does; the result says which). The built-in profiles (``profiles.toml`` in this package, every
number with its source) are listed by :func:`profile_names`; :func:`load_profile` also reads a
user TOML file with the same keys. These are estimates from operation counts, not
measurements of a chip.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from eventsim.errors import InputError, quoted
from eventsim.metrics.counts import LayerMetrics

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = ("e_ac_pj", "e_mac_pj", "e_update_pj", "sram_pj")
REQUIRED = ("e_ac_pj", "e_update_pj")


@dataclass(frozen=True)
class Profile:
    """Energy per operation in picojoules (see the module docstring)."""

    name: str
    e_ac_pj: float
    e_update_pj: float
    e_mac_pj: float | None = None
    sram_pj: dict[int, float] | None = None
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)


def _builtin() -> dict:
    text = resources.files("eventsim.metrics").joinpath("profiles.toml").read_text()
    return tomllib.loads(text)


def profile_names() -> list[str]:
    """Names of the built-in profiles."""
    return list(_builtin())


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a user profile from a TOML file (the keys of
    ``profiles.toml`` at the top level, or one table of them). Bad keys or values raise
    :class:`~eventsim.errors.InputError` naming the file and the key."""
    builtin = _builtin()
    if isinstance(name_or_path, str) and name_or_path in builtin:
        return _parse(builtin[name_or_path], name_or_path, f"built-in profile {name_or_path!r}")
    path = Path(name_or_path)
    if not path.is_file():
        raise InputError(f"{path}: not a built-in energy profile ({', '.join(builtin)}) nor a "
                         "TOML file")
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a valid TOML file ({quoted(err)})") from None
    tables = [k for k, v in doc.items() if isinstance(v, dict) and k not in KEYS]
    if len(tables) == 1 and not set(doc) & set(KEYS):
        return _parse(doc[tables[0]], tables[0], f"{path} [{tables[0]}]")
    return _parse(doc, path.stem, str(path))


def _parse(table: dict, name: str, where: str) -> Profile:
    known = set(KEYS) | {"description"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
    values, sources = {}, {}
    for key in KEYS:
        if key not in table:
            if key in REQUIRED:
                raise InputError(f"{where}: missing key '{key}'")
            continue
        entry = table[key]
        if isinstance(entry, dict) and "value" in entry:
            sources[key] = str(entry.get("source", ""))
            entry = entry["value"]
        values[key] = _sram(entry, where) if key == "sram_pj" else _energy(entry, key, where)
    return Profile(name=name, description=str(table.get("description", "")), sources=sources,
                   **values)


def _energy(value, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: key '{key}' must be a number of picojoules >= 0, "
                         f"got {value!r}")
    return float(value)


def _sram(value, where: str) -> dict[int, float]:
    if not isinstance(value, dict) or not value:
        raise InputError(f"{where}: key 'sram_pj' must be a table {{bytes = pJ, ...}}")
    out = {}
    for size, pj in value.items():
        if not str(size).isdigit() or int(size) < 1:
            raise InputError(f"{where}: key 'sram_pj' has size {size!r}; expected bytes > 0")
        out[int(size)] = _energy(pj, f"sram_pj.{size}", where)
    return dict(sorted(out.items()))


@dataclass
class LayerEnergy:
    """Energy of one layer in picojoules (per sample when the metrics cover one sample, else
    summed like them)."""

    layer: int
    name: str
    snn_pj: float
    ann_pj: float | None
    acs_pj: float
    macs_pj: float
    updates_pj: float
    memory_pj: float = 0.0
    sram_bytes: int | None = None


def layer_energy(metrics: list[LayerMetrics], profile: Profile | str, memory: bool = False,
                 weight_bytes: int = 4) -> list[LayerEnergy]:
    """Energy per layer under ``profile`` (see the module docstring).

    ``weight_bytes`` sizes the SRAM holding a layer's nonzero weights for the memory term.
    """
    profile = load_profile(profile) if isinstance(profile, str) else profile
    if memory and not profile.sram_pj:
        raise InputError(f"energy profile {profile.name!r} has no 'sram_pj' table for the "
                         "memory term")
    out = []
    for m in metrics:
        acs = m.effective_acs * profile.e_ac_pj
        macs = m.effective_macs * (profile.e_mac_pj or 0.0)
        updates = (m.membrane_updates + m.current_updates + m.threshold_updates) \
            * profile.e_update_pj
        ann = None if profile.e_mac_pj is None else m.ann_macs * profile.e_mac_pj
        mem, size = 0.0, None
        if memory:
            nbytes = round(m.connections * (1 - m.connection_sparsity)) * weight_bytes
            fits = [s for s in profile.sram_pj if s >= nbytes]
            size = fits[0] if fits else max(profile.sram_pj)
            mem = (m.effective_acs + m.effective_macs) * profile.sram_pj[size]
            if ann is not None:
                ann += m.ann_macs * profile.sram_pj[size]
        out.append(LayerEnergy(m.layer, m.name, acs + macs + updates + mem, ann, acs, macs,
                               updates, mem, size))
    return out
