"""The one integer check, :func:`eventsim.errors.whole`."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsim.errors import InputError, NetworkError, whole


@given(st.integers(-10, 10), st.integers(-10, 10), st.integers(-12, 12))
def test_whole_accepts_exactly_the_range(low, span, value):
    high = low + abs(span)
    if low <= value <= high:
        assert whole(np.int16(value), "w", "f", low, high) == value
        assert type(whole(np.int16(value), "w", "f", low, high)) is int
    else:
        with pytest.raises(InputError, match=rf"^w: field 'f' must be an integer in "
                                             rf"{low}\.\.{high}, got {value}$"):
            whole(value, "w", "f", low, high)


@pytest.mark.parametrize("value", [True, 2.0, "3", None, np.float32(1)])
def test_whole_refuses_what_is_not_an_integer(value):
    with pytest.raises(NetworkError, match=r"^net: field 'T' must be a positive integer, got "):
        whole(value, "net", "T", error=NetworkError)


def test_whole_names_the_bound():
    with pytest.raises(InputError, match="must be a non-negative integer, got -1"):
        whole(-1, "w", "f", 0)
    with pytest.raises(InputError, match="must be an integer >= 5, got 4"):
        whole(4, "w", "f", 5)
    assert whole(-(2**70), "w", "f", None) == -(2**70)
    with pytest.raises(InputError, match="must be an integer, got 0.5"):
        whole(0.5, "w", "f", None)
