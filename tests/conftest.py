"""Shared fixtures: where the real recordings are.

The data folder is ``$EVENTSIM_DATA`` or ``../shared/data`` beside the checkout. Without it,
tests that need real recordings skip with the reason; under ``CI=true`` a missing data folder
fails them instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    env = os.environ.get("EVENTSIM_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = find_data_dir()
    if d is None:
        msg = "real recordings not found: set EVENTSIM_DATA or put them in ../shared/data"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return d
