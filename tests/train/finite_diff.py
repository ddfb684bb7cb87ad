"""Central finite differences, for the checks of the STBP backward passes (chains and graphs)
on smoothed networks."""

from __future__ import annotations

import numpy as np

from eventsim.train.surrogates import Smoothed

SMOOTH = Smoothed(tau=0.3)
EPS = 1e-6
RTOL = 1e-5


def finite_difference(arr, f):
    """Central differences of the scalar ``f()`` with respect to every entry of ``arr``."""
    fd = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        saved = arr[idx]
        arr[idx] = saved + EPS
        plus = f()
        arr[idx] = saved - EPS
        minus = f()
        arr[idx] = saved
        fd[idx] = (plus - minus) / (2 * EPS)
    return fd
