"""Optimisers against hand-written references; state save/load resumes bit-identically."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.train.optim import SGD, Adam, cosine_lr, step_lr

# f(w) = 1/2 sum a * (w - c)^2, gradient a * (w - c)
A = np.array([[1.0, 3.0], [0.5, 10.0]])
C = np.array([[2.0, -1.0], [0.0, 4.0]])


def grad(w: np.ndarray) -> np.ndarray:
    return A * (w - C)


def adam_reference(w, steps, lr, b1, b2, eps, wd):
    """Kingma & Ba, Algorithm 1, element by element in plain Python floats."""
    w = [float(x) for x in w.ravel()]
    m = [0.0] * len(w)
    v = [0.0] * len(w)
    a, c = A.ravel().tolist(), C.ravel().tolist()
    for t in range(1, steps + 1):
        for i in range(len(w)):
            g = a[i] * (w[i] - c[i]) + wd * w[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return np.array(w).reshape(A.shape)


def sgd_reference(w, steps, lr, mom, wd):
    w = [float(x) for x in w.ravel()]
    b = [0.0] * len(w)
    a, c = A.ravel().tolist(), C.ravel().tolist()
    for _ in range(steps):
        for i in range(len(w)):
            g = a[i] * (w[i] - c[i]) + wd * w[i]
            b[i] = mom * b[i] + g
            w[i] -= lr * b[i]
    return np.array(w).reshape(A.shape)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_equals_reference_on_quadratic(wd):
    w = np.zeros((2, 2))
    opt = Adam(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd)
    for steps in range(1, 6):
        opt.step([w], [grad(w)])
        ref = adam_reference(np.zeros((2, 2)), steps, 0.05, 0.8, 0.95, 1e-6, wd)
        np.testing.assert_allclose(w, ref, rtol=1e-13, atol=1e-15)
    assert opt.t == 5


@pytest.mark.parametrize("mom, wd", [(0.9, 0.0), (0.0, 0.0), (0.5, 0.2)])
def test_sgd_equals_reference_on_quadratic(mom, wd):
    w = np.ones((2, 2))
    opt = SGD(lr=0.02, momentum=mom, weight_decay=wd)
    for _ in range(7):
        opt.step([w], [grad(w)])
    np.testing.assert_allclose(w, sgd_reference(np.ones((2, 2)), 7, 0.02, mom, wd), rtol=1e-13)


def test_adam_converges_and_weight_decay_pulls_to_zero():
    w0, w1 = np.zeros((2, 2)), np.zeros((2, 2))
    plain, decayed = Adam(lr=0.05), Adam(lr=0.05, weight_decay=1.0)
    for _ in range(3000):
        plain.step([w0], [grad(w0)])
        decayed.step([w1], [grad(w1)])
    np.testing.assert_allclose(w0, C, atol=1e-3)
    # minimum of 1/2 a (w - c)^2 + 1/2 wd w^2 is a c / (a + wd)
    np.testing.assert_allclose(w1, A * C / (A + 1.0), atol=1e-3)


def test_weight_decay_alone_shrinks_weights():
    w = np.full(3, 2.0)
    SGD(lr=0.1, momentum=0.0, weight_decay=0.5).step([w], [np.zeros(3)])
    np.testing.assert_array_equal(w, np.full(3, 2.0 - 0.1 * 0.5 * 2.0))


def test_params_updated_in_place_and_float32_kept():
    w = np.ones(4, np.float32)
    ref = w
    opt = Adam(lr=0.1)
    opt.step([w], [np.ones(4)])
    assert w is ref and w.dtype == np.float32 and opt.m[0].dtype == np.float32
    np.testing.assert_allclose(w, 0.9, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Adam(lr=0.01, weight_decay=0.01),
        lambda: SGD(lr=0.01, momentum=0.9, weight_decay=0.01),
    ],
)
def test_state_dict_mid_way_resumes_bit_identically(make):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=5)]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in range(8)]

    straight = [p.copy() for p in params]
    opt = make()
    for g in grads:
        opt.step(straight, g)

    first = [p.copy() for p in params]
    opt1 = make()
    for g in grads[:4]:
        opt1.step(first, g)
    state = opt1.state_dict()
    for g in grads[4:5]:  # the saved state is a copy: later steps do not change it
        opt1.step(first, g)
    resumed = [p.copy() for p in params]
    opt0 = make()
    for g in grads[:4]:
        opt0.step(resumed, g)
    opt2 = make()
    opt2.lr = 123.0  # overwritten by the loaded state
    opt2.load_state_dict(state)
    for g in grads[4:]:
        opt2.step(resumed, g)
    for a, b in zip(straight, resumed):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert opt2.state_dict()["step"] == 8


def test_state_dict_holds_plain_values():
    opt = Adam(lr=0.1)
    assert opt.state_dict()["n_params"] == 0
    opt.step([np.zeros(2)], [np.ones(2)])
    d = opt.state_dict()
    assert set(d) == {
        "step",
        "lr",
        "beta1",
        "beta2",
        "eps",
        "weight_decay",
        "n_params",
        "m.0",
        "v.0",
    }
    assert all(isinstance(v, (int, float, np.ndarray)) for v in d.values())


def test_load_state_dict_names_missing_field():
    opt = Adam()
    opt.step([np.zeros(2)], [np.ones(2)])
    d = opt.state_dict()
    del d["v.0"]
    with pytest.raises(InputError, match="'v.0'"):
        Adam().load_state_dict(d)
    with pytest.raises(InputError, match="'momentum'"):
        SGD(lr=0.1).load_state_dict(opt.state_dict())


def test_step_checks_shapes_and_counts():
    opt = Adam()
    with pytest.raises(InputError, match="gradient 0 has shape"):
        opt.step([np.zeros(2)], [np.zeros(3)])
    opt.step([np.zeros(2)], [np.zeros(2)])
    with pytest.raises(InputError, match="moments of 1 parameter"):
        opt.step([np.zeros(2), np.zeros(2)], [np.zeros(2), np.zeros(2)])
    with pytest.raises(InputError, match="'m.0' has shape"):
        opt.step([np.zeros(3)], [np.zeros(3)])
    with pytest.raises(InputError, match="float ndarray"):
        SGD(lr=0.1).step([np.zeros(2, int)], [np.zeros(2)])


def test_hyperparameters_checked():
    with pytest.raises(InputError, match="'lr'"):
        Adam(lr=-1.0)
    with pytest.raises(InputError, match=r"'betas\[1\]'"):
        Adam(betas=(0.9, 1.0))
    with pytest.raises(InputError, match="'momentum'"):
        SGD(lr=0.1, momentum=1.5)
    opt = SGD(lr=0.1)
    opt.lr = 0.5
    assert opt.lr == 0.5
    with pytest.raises(InputError, match="'lr'"):
        opt.lr = float("nan")


def test_step_lr():
    assert [step_lr(e, 0.1, 2, 0.5) for e in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    with pytest.raises(InputError, match="'step_size'"):
        step_lr(0, 0.1, 0, 0.5)
    with pytest.raises(InputError, match="'epoch'"):
        step_lr(-1, 0.1, 1, 0.5)


def test_cosine_lr():
    assert cosine_lr(0, 0.2, 10) == 0.2
    assert cosine_lr(5, 0.2, 10) == pytest.approx(0.1)
    assert cosine_lr(10, 0.2, 10) == pytest.approx(0.0, abs=1e-17)
    values = [cosine_lr(e, 0.2, 10) for e in range(11)]
    assert all(a > b for a, b in itertools.pairwise(values))
    with pytest.raises(InputError, match="'epoch'"):
        cosine_lr(11, 0.2, 10)
