"""Random layer stacks for property tests, with their output shapes computed by plain numpy.

Structure is drawn by hypothesis, values by a numpy RNG seeded from a drawn integer. The
expected shape of every layer comes from actually applying its projection to a random input
with numpy (padding, sliding windows, strides, a matrix product), independently of the
shape arithmetic in :mod:`eventsim.network.layers`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from eventsim.network.layers import AvgPool2d, Conv2d, Dense, Flatten, NeuNorm, SumPool2d


def conv_numpy(x: np.ndarray, weight: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Cross-correlation of ``x`` (C, H, W) with ``weight`` (c_out, C, kh, kw)."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, weight.shape[2:], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("chwij,ocij->ohw", win, weight)


def pool_numpy(x: np.ndarray, k: int, stride: int, average: bool) -> np.ndarray:
    """Average or sum pooling of ``x`` (C, H, W), no padding."""
    win = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return win.mean(axis=(-2, -1)) if average else win.sum(axis=(-2, -1))


def _lif(draw, rng) -> dict:
    kw = {
        "decay": draw(st.sampled_from([1.0, 0.5, 0.2, float(rng.uniform(0.01, 1.0))])),
        "v_th": float(rng.uniform(0.1, 2.0)),
        "reset": draw(st.sampled_from(["zero", "subtract"])),
        "tau_us": draw(st.sampled_from([None, float(rng.uniform(1.0, 1e5))])),
        "delay_us": draw(st.sampled_from([0.0, float(rng.uniform(0.0, 1e4))])),
    }
    if kw["reset"] == "zero" and draw(st.booleans()):  # a reset to v_reset, below v_th
        kw["v_reset"] = float(rng.uniform(-1.0, 0.8)) * kw["v_th"]
    if kw["decay"] < 1.0 and draw(st.booleans()):  # a leak towards v_leak
        kw["v_leak"] = float(rng.uniform(-1.0, 1.5)) * kw["v_th"]
    return kw


@st.composite
def layer_stacks(draw, max_layers: int = 4):
    """Draw ``(layers, input_shape, expected_shapes)`` for a valid network."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        shape: tuple[int, ...] = (draw(st.integers(1, 12)),)
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    input_shape = shape
    x = rng.random(shape)
    layers, shapes = [], []
    n = draw(st.integers(1, max_layers))
    while len(layers) < n or isinstance(layers[-1], (Flatten, NeuNorm)):
        bias = draw(st.booleans())
        kinds = ["Dense"] + (["Conv2d", "AvgPool2d", "SumPool2d", "Flatten"] if x.ndim == 3 else [])
        if x.ndim == 3 and layers and not isinstance(layers[-1], (Flatten, NeuNorm)):
            kinds.append("NeuNorm")
        kind = draw(st.sampled_from(kinds))
        if len(layers) >= n:  # finish a stack ending in Flatten with neurons
            kind = "Dense"
        if kind == "Dense":
            n_out = draw(st.integers(1, 6))
            w = rng.normal(size=(n_out, x.size))
            layer = Dense(w, bias=rng.normal(size=n_out) if bias else None, **_lif(draw, rng))
            x = w @ x.reshape(-1)
        elif kind == "Conv2d":
            padding = draw(st.integers(0, 2))
            h, w_ = x.shape[1] + 2 * padding, x.shape[2] + 2 * padding
            kh, kw = draw(st.integers(1, min(4, h))), draw(st.integers(1, min(4, w_)))
            stride = draw(st.integers(1, 3))
            c_out = draw(st.integers(1, 3))
            w = rng.normal(size=(c_out, x.shape[0], kh, kw))
            layer = Conv2d(
                w,
                stride=stride,
                padding=padding,
                bias=rng.normal(size=c_out) if bias else None,
                **_lif(draw, rng),
            )
            x = conv_numpy(x, w, stride, padding)
        elif kind in ("AvgPool2d", "SumPool2d"):
            k = draw(st.integers(1, min(3, x.shape[1], x.shape[2])))
            stride = draw(st.sampled_from([None, 1, 2, 3]))
            cls = AvgPool2d if kind == "AvgPool2d" else SumPool2d
            layer = cls(k, stride=stride, **_lif(draw, rng))
            x = pool_numpy(x, k, k if stride is None else stride, kind == "AvgPool2d")
        elif kind == "NeuNorm":
            layer = NeuNorm(rng.normal(size=x.shape),
                            decay=draw(st.sampled_from([1.0, float(rng.uniform(0.01, 1.0))])),
                            scale=float(rng.uniform(0.1, 3.0)))
        else:
            layer = Flatten()
            x = x.reshape(-1)
        layers.append(layer)
        shapes.append(x.shape)
    return layers, input_shape, shapes
