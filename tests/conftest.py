"""Shared fixtures: where the real recordings are.

The data folder is ``$EVENTSIM_DATA`` or ``../shared/data`` beside the checkout. Without it,
tests that need real recordings skip with the reason; under ``CI=true`` a missing data folder
fails them instead. Tests that run folders of N-MNIST recordings (``nmnist_test``) take the
few-KB cuts of ``tests/data/nmnist_mini`` when the data folder is not there.
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


@pytest.fixture(scope="session")
def nmnist_test() -> Path:
    """A folder ``<digit>/<file>.bin`` of real N-MNIST test recordings: the data folder's
    ``nmnist/Test``, else the first 600 records of a few of them (at least 8 recordings of
    digits 1, 4 and 7, 3 of 3 and 2 of 8; ``tests/data/make_cuts.py``)."""
    d = find_data_dir()
    if d is None and os.environ.get("CI", "").lower() == "true":
        pytest.fail("real recordings not found: set EVENTSIM_DATA or put them in ../shared/data")
    return d / "nmnist" / "Test" if d is not None else ROOT / "tests" / "data" / "nmnist_mini" / "Test"
