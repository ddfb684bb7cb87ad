"""Losses: values on hand-made cases and gradients against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.train.loss import (
    cross_entropy_counts,
    cross_entropy_max_membrane,
    cross_entropy_mean_membrane,
    mse_rate,
)


def test_mse_rate_value_and_normalisation():
    out = np.zeros((4, 2, 3))
    out[:, 0, 1] = 1           # sample 0: class 1 fires every step, label 1 -> no error
    out[:2, 1, 0] = 1          # sample 1: class 0 at rate 0.5, label 2 -> 0.25 + 1
    loss, grad = mse_rate(out, np.array([1, 2]))
    assert loss == pytest.approx((0.25 + 1.0) / (2 * 3))   # mean over batch and classes
    assert grad.shape == out.shape


def test_cross_entropy_mean_membrane_value():
    """Potentials constant over time: the mean is that constant, the loss the softmax's."""
    u = np.zeros((4, 1, 3))
    u[:, 0, 1] = 2.0
    u[0, 0, 2] = 8.0  # a peak of 8 at one step: mean 2, as class 1's
    loss, grad = cross_entropy_mean_membrane(u, np.array([1]))
    assert loss == pytest.approx(-math.log(math.exp(2) / (1 + 2 * math.exp(2))))
    assert grad.shape == u.shape and np.allclose(grad, grad[0])  # spread evenly over steps
    assert cross_entropy_max_membrane(u, np.array([1]))[0] > loss  # the peak counts there


def test_cross_entropy_counts_value():
    out = np.zeros((5, 2, 4))
    loss, _ = cross_entropy_counts(out, np.array([0, 3]))
    assert loss == pytest.approx(math.log(4))
    out[:, 0, 2] = 1           # counts (0, 0, 5, 0), label 2
    loss, _ = cross_entropy_counts(out, np.array([2, 3]))
    assert loss == pytest.approx((-math.log(math.exp(5) / (3 + math.exp(5))) + math.log(4)) / 2)


@pytest.mark.parametrize("loss_fn", [mse_rate, cross_entropy_counts,
                                     cross_entropy_max_membrane, cross_entropy_mean_membrane])
def test_gradient_matches_finite_differences(loss_fn):
    rng = np.random.default_rng(3)
    out = rng.random((4, 3, 5))
    labels = np.array([4, 0, 2])
    _, grad = loss_fn(out, labels)
    fd = np.zeros_like(out)
    eps = 1e-6
    for idx in np.ndindex(out.shape):
        saved = out[idx]
        out[idx] = saved + eps
        plus = loss_fn(out, labels)[0]
        out[idx] = saved - eps
        minus = loss_fn(out, labels)[0]
        out[idx] = saved
        fd[idx] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("loss_fn", [mse_rate, cross_entropy_counts])
def test_spike_dtypes(loss_fn):
    out = np.ones((3, 2, 2), np.float32)
    assert loss_fn(out, np.array([0, 1]))[1].dtype == np.float32
    assert loss_fn(out.astype(bool), np.array([0, 1]))[1].dtype == np.float64


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 2]), r"in \[0, 2\)"),
    (np.array([0]), "2 integers"),
    (np.array([0.0, 1.0]), "2 integers"),
])
def test_bad_labels(labels, match):
    with pytest.raises(InputError, match=match):
        mse_rate(np.zeros((3, 2, 2)), labels)
