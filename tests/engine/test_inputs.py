"""What simulate() refuses, with an InputError naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim import Dense, Network, Simulator, simulate
from eventsim.errors import InputError

NET = Network([Dense(np.ones((2, 3)))], (3,))
X = np.zeros((4, 3), np.uint8)


@pytest.mark.parametrize("kwargs, match", [
    ({"dtype": "foo"}, "'dtype'"),
    ({"dtype": None}, "'dtype'"),
    ({"dtype": "int32"}, "'dtype'"),
    ({"mode": "analog"}, "'mode'"),
    ({"dt_us": 0}, "'dt_us'"),
    ({"dt_us": 2.5}, "'dt_us'"),
    ({"T": -1}, "'T'"),
    ({"T": 2.5}, "'T'"),
    ({"T": "5"}, "'T'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate(NET, X, **kwargs)


def test_bad_inputs():
    with pytest.raises(InputError, match="must be an eventsim Network"):
        simulate("net.h5", X)
    with pytest.raises(InputError, match="is a path"):
        simulate(NET, "sample.bin")
    with pytest.raises(InputError, match=r"expected \(T, 3\)"):
        simulate(NET, np.zeros((4, 5)))
    with pytest.raises(InputError, match="expected 0/1"):
        simulate(NET, np.full((4, 3), 2))
    with pytest.raises(InputError, match="chunks must be EventStream, got list"):
        simulate(NET, [[0, 1]], T=3)


def test_run_binned_checks_its_arrays():
    sim = Simulator(NET)
    with pytest.raises(InputError, match="'channel_idx' holds channel 7"):
        sim.run_binned(np.array([0, 2], np.int64), np.array([1, 7], np.int64))
    with pytest.raises(InputError, match="must rise from 0"):
        sim.run_binned(np.array([0, 3], np.int64), np.array([1], np.int64))
    with pytest.raises(InputError, match="1-D integer"):
        sim.run_binned(np.array([0.0, 1.0]), np.array([1]))
    assert sim.run_binned([0, 1], [1]).input_spikes == 1  # lists of ints are fine


def test_an_array_of_zero_steps_runs_an_empty_window():
    """``(0, n_inputs)`` or ``(0, *input_shape)``: T = 0, nothing fires (it used to fail in a
    numpy reshape, which cannot infer a -1 axis of an empty array)."""
    net = Network([Dense(np.ones((2, 4)), decay=0.5, v_th=0.5)], (1, 2, 2))
    for x in (np.zeros((0, 4), np.uint8), np.zeros((0, 1, 2, 2), np.uint8)):
        r = simulate(net, x)
        assert r.T == 0 and r.n_spikes.tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 12), st.integers(1, 20), st.sampled_from(["uint8", "bool", "int64",
                                                                  "float32"]),
       st.floats(0.0, 1.0), st.booleans(), st.data())
def test_dense_input_is_listed_and_checked_as_numpy_sees_it(T, n, dtype, rate, strided, data):
    """The numba passes list the spikes of a 0/1 array as ``np.nonzero`` does, and name the
    first value (C order) that is neither 0 nor 1, in discrete and continuous mode alike:
    one-byte arrays eight values at a time (whole words and the bytes after them), others
    and strided views value by value."""
    from eventsim.events.binning import dense_to_sparse

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = (rng.random((T, n)) < rate).astype(dtype)
    if strided:  # not C-contiguous: the value-by-value pass
        wide = np.zeros((T, 2 * n), dtype)
        wide[:, ::2] = x
        x = wide[:, ::2]
    step_ptr, idx, bad = dense_to_sparse(x)
    steps, chans = np.nonzero(x)
    assert bad == -1 and idx.tolist() == chans.tolist()
    assert step_ptr.tolist() == [0] + np.cumsum(np.bincount(steps, minlength=T)).tolist()
    if T == 0 or dtype == "bool":
        return
    k = data.draw(st.integers(0, T * n - 1))
    flat = x.reshape(-1).copy()  # (a copy of a strided view: written back below)
    flat[k:] = np.where(rng.random(T * n - k) < 0.5, 3, flat[k:])
    flat[k] = 3
    x[...] = flat.reshape(T, n)
    net = Network([Dense(np.ones((2, n)))], (n,))
    for mode in ("discrete", "continuous"):
        with pytest.raises(InputError, match=rf"value 3(\.0)? at \(step {k // n}, channel "
                                             rf"{k % n}\); expected 0/1 input spikes"):
            simulate(net, x, mode=mode)
