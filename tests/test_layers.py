"""Imports flow one way (``../shared/STYLE.md``): nothing imports a module above it, the bridge
needs nothing of the engine, and ``import eventsim`` loads none of the heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import eventsim

PACKAGE = Path(eventsim.__file__).parent

#: The layer of each part of eventsim, bottom first. A module may import its own part and the
#: parts of lower layers; the parts of one layer do not import each other (but the runners of
#: the top-most library layer, which call each other).
LAYERS = {
    "errors": 0, "limits": 1, "fileio": 1, "h5io": 2, "events": 3, "network": 4,
    "engine": 5, "train": 5, "metrics": 6, "bridges": 6, "deploy": 6,
    "validate": 7, "runs": 7, "parallel": 7, "realtime": 7, "demo": 7, "cli": 8,
}
RUNNERS = {"validate", "runs", "parallel", "realtime", "demo"}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """Every ``eventsim.*`` import of a file (those inside functions too): module, names, line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eventsim"):
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names
                    if a.name.startswith("eventsim.")]
    return out


def _part(module: str, names: list[str]) -> list[str]:
    parts = module.split(".")
    if len(parts) > 1:
        return [parts[1]]
    return names  # from eventsim import fileio, ...: the names may be parts


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    assert own in LAYERS, f"{own}: a new part of eventsim; give it a layer in LAYERS"
    for module, names, line in _imports(path):
        for part in _part(module, names):
            if part not in LAYERS:  # a public name of eventsim (from eventsim import Network)
                assert hasattr(eventsim, part), (path, line, part)
                continue
            low, high = LAYERS[part], LAYERS[own]
            ok = part == own or low < high or (own in RUNNERS and part in RUNNERS)
            assert ok, f"{path.relative_to(PACKAGE)}:{line} imports {module} (layer {low} " \
                       f"from layer {high})"


def test_the_bridge_and_validate_use_only_the_engines_public_api():
    for path in (PACKAGE / "bridges" / "brian2.py", PACKAGE / "validate.py"):
        for module, names, line in _imports(path):
            if module.startswith("eventsim.engine"):
                assert path.name == "validate.py" and set(names) <= set(eventsim.__all__), \
                    f"{path.name}:{line} imports {names} from {module}"


def test_import_eventsim_is_light():
    heavy = ("numba", "brian2", "matplotlib", "nir", "dask", "h5py", "scipy", "tonic")
    code = f"import sys, eventsim; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
