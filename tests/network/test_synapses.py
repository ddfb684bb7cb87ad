"""Explicit synapse lists against the dense matrix of the same layer."""

from __future__ import annotations

import netgen
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.network.layers import Dense, Flatten
from eventsim.network.network import Network
from eventsim.network.reference import dense_matrix
from eventsim.network.synapses import connection_counts, synapse_lists


@settings(max_examples=200, deadline=None)
@given(st.one_of(netgen.dense_networks(), netgen.conv_networks()))
def test_synapses_are_the_nonzero_entries_of_the_dense_matrix(case):
    """Conv borders, padding, strides and pooling windows: every (pre, post, weight) of the
    written-out matrix, and nothing else, sorted by (pre, post)."""
    net, _ = case
    for i in net.lif_layers:
        M = dense_matrix(net, i)
        pre, post, weight = synapse_lists(net, i)
        rows, cols = np.nonzero(M)
        order = np.lexsort((rows, cols))
        np.testing.assert_array_equal(pre, cols[order])
        np.testing.assert_array_equal(post, rows[order])
        np.testing.assert_array_equal(weight, M[rows, cols][order])
        assert pre.dtype == post.dtype == np.int64 and weight.dtype == np.float64


def test_flatten_has_no_synapses():
    net = Network([Flatten(), Dense(np.ones((1, 4)))], (1, 2, 2))
    with pytest.raises(TypeError, match=r"layer 0 \(Flatten\) has no synapses"):
        synapse_lists(net, 0)


@settings(max_examples=200, deadline=None)
@given(st.one_of(netgen.dense_networks(), netgen.conv_networks()))
def test_connection_counts(case):
    """Connections: the pairs the structure links (all weights set to 1 in the dense matrix);
    nonzero: the synapse list."""
    net, _ = case
    for i in net.lif_layers:
        layer = net.layers[i]
        saved = getattr(layer, "weight", None)
        if saved is not None:
            layer.weight = np.ones_like(saved)
        structure = np.count_nonzero(dense_matrix(net, i))
        if saved is not None:
            layer.weight = saved
        assert connection_counts(net, i) == (structure, len(synapse_lists(net, i)[0]))
