"""eventsim.limits: the memory budget and the engine's int64 window."""

from __future__ import annotations

import pytest

from eventsim import limits
from eventsim.errors import InputError, ResourceError


@pytest.mark.parametrize("text, expected", [("1000", 1000), ("4G", 4 << 30), ("1.5k", 1536),
                                            ("512MiB", 512 << 20), (" 2 T ", 2 << 40)])
def test_budget_variable(monkeypatch, text, expected):
    monkeypatch.setenv(limits.BUDGET_VARIABLE, text)
    assert limits.memory_budget() == (expected, f"the budget EVENTSIM_MAX_MEMORY={text}")


def test_bad_budget_variable(monkeypatch):
    monkeypatch.setenv(limits.BUDGET_VARIABLE, "lots")
    with pytest.raises(InputError, match="EVENTSIM_MAX_MEMORY='lots': expected a number of "
                       "bytes"):
        limits.check_memory(limits.UNCHECKED_BYTES + 1, "x")


def test_check_memory(monkeypatch):
    monkeypatch.setenv(limits.BUDGET_VARIABLE, "100M")
    limits.check_memory(100 << 20, "reading a file")
    with pytest.raises(ResourceError, match=r"^reading a file needs 100\.0 MiB, more than the "
                       r"budget EVENTSIM_MAX_MEMORY=100M \(100\.0 MiB\); set EVENTSIM_MAX"):
        limits.check_memory((100 << 20) + 1, lambda: "reading a file")
    monkeypatch.setenv(limits.BUDGET_VARIABLE, "1M")  # small allocations are not checked
    limits.check_memory(limits.UNCHECKED_BYTES, lambda: pytest.fail("the text was built"))
    monkeypatch.delenv(limits.BUDGET_VARIABLE)
    budget, source = limits.memory_budget()
    assert budget > 0 and source in ("the memory available",
                                     "what the address-space limit (ulimit -v) leaves")


def test_check_window():
    limits.check_window(10**12, 1000, 10**6)
    with pytest.raises(ResourceError, match=r"--T=10000000000000000 steps of --dt-us=1000 us "
                       "span 10000000000000000000 us, beyond the int64 microsecond clock"):
        limits.check_window(10**16, 1000, 10, "eventsim run", ("--T", "--dt-us"))
    with pytest.raises(ResourceError, match="exceed the engine's int64 event keys"):
        limits.check_window(2**40, 1, 2**24)


def test_format_bytes():
    assert [limits.format_bytes(n) for n in (5, 1536, 3 << 30)] == ["5 B", "1.5 KiB",
                                                                   "3.0 GiB"]
