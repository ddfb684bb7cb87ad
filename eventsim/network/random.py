"""Seeded random networks, for examples and benchmarks."""

from __future__ import annotations

import numpy as np

from eventsim.network.layers import Dense
from eventsim.network.network import Network


def random_mlp(
    sizes: list[int],
    input_shape: tuple[int, ...] | None = None,
    weight_std: list[float] | float = 0.1,
    seed: int = 0,
    dtype=np.float32,
    **lif,
) -> Network:
    """A fully connected network with normal random weights.

    Parameters
    ----------
    sizes : list of int
        ``[n_inputs, n_hidden..., n_outputs]``.
    input_shape : tuple, optional
        Defaults to ``(sizes[0],)``; ``(P, H, W)`` for event frames.
    weight_std : float or list of float
        Standard deviation of each layer's weights (one per layer, or one for all).
    seed : int
    dtype
        The weights are drawn in float64 and rounded to ``dtype`` (float32 by default, so the
        same network runs identically in float32 and float64).
    **lif
        ``decay``, ``v_th``, ``reset`` for every layer.
    """
    rng = np.random.default_rng(seed)
    stds = weight_std if isinstance(weight_std, (list, tuple)) else [weight_std] * (len(sizes) - 1)
    layers = [
        Dense(rng.normal(0.0, std, (n_out, n_in)).astype(dtype), **lif)
        for n_in, n_out, std in zip(sizes[:-1], sizes[1:], stds)
    ]
    return Network(layers, input_shape or (sizes[0],),
                   provenance={"dataset": "none (random weights)", "seed": seed})
