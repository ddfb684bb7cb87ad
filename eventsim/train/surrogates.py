"""Spike functions for STBP: the Heaviside step forward, a surrogate derivative backward.

A LIF neuron fires when ``v = u - v_th >= 0``. The step has no useful derivative, so STBP
(Wu et al. 2018, "Spatio-temporal backpropagation for training high-performance spiking
neural networks", eq. 13 and Fig. 2) replaces ``dH/dv`` by one of four curves of unit area,
each with a width parameter ``a``::

    rectangular   h(v) = (1/a) * 1[|v| < a/2]
    polynomial    h(v) = (sqrt(a)/2 - a/4 * |v|) * 1[|v| < 2/sqrt(a)]
    sigmoid       h(v) = (1/a) * exp(-v/a) / (1 + exp(-v/a))**2
    gaussian      h(v) = 1/sqrt(2*pi*a) * exp(-v**2 / (2*a))

The authors' code uses the rectangular curve with ``a = 1`` (``|u - v_th| < 0.5``, height 1):
it is the default here.

:class:`Smoothed` is a different kind of spike function: its forward pass is itself smooth,
``sigmoid(v / tau)``, and its ``grad`` is the exact derivative of that forward pass. A network
built on it is an ordinary differentiable function, so the backward pass can be checked
against finite differences. It is for tests, not for training.

Every function here maps an array of any shape to an array of the same shape and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from eventsim.errors import EventsimError

SURROGATES = ("rectangular", "polynomial", "sigmoid", "gaussian")
DEFAULT_WIDTH = 1.0


class SpikeFn(Protocol):
    """What the LIF layers need of a spike function: ``o = forward(v)``, ``do/dv ~ grad(v)``."""

    def forward(self, v: np.ndarray) -> np.ndarray: ...

    def grad(self, v: np.ndarray) -> np.ndarray: ...


def rectangular(v: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Rectangular surrogate ``(1/a) * 1[|v| < a/2]``.

    Parameters
    ----------
    v : ndarray, any shape
        Distance to threshold, ``u - v_th``.
    a : float
        Width of the window (and inverse of its height).

    Returns
    -------
    ndarray, same shape and dtype as ``v``
    """
    v = np.asarray(v)
    out = (np.abs(v) < a / 2).astype(v.dtype)
    if a != 1:
        out *= 1.0 / a
    return out


def polynomial(v: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Triangular surrogate ``(sqrt(a)/2 - a/4 * |v|) * 1[|v| < 2/sqrt(a)]``.

    Peak ``sqrt(a)/2`` at ``v = 0``, zero at ``|v| = 2/sqrt(a)``. Shapes as :func:`rectangular`.
    """
    v = np.asarray(v)
    r = math.sqrt(a)
    return np.maximum(r / 2 - a / 4 * np.abs(v), 0.0).astype(v.dtype, copy=False)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` without overflow. Same shape and dtype as ``x``."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _sigmoid_slope(x: np.ndarray) -> np.ndarray:
    """``sigmoid'(x) = e^{-x} / (1 + e^{-x})**2``, written with ``e^{-|x|}`` (it is even)."""
    e = np.exp(-np.abs(x))
    return e / (1.0 + e) ** 2


def sigmoid_derivative(v: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Sigmoid-derivative surrogate ``(1/a) * exp(-v/a) / (1 + exp(-v/a))**2``.

    Peak ``1/(4a)`` at ``v = 0``. Shapes as :func:`rectangular`.
    """
    v = np.asarray(v)
    return (_sigmoid_slope(v / a) / a).astype(v.dtype, copy=False)


def gaussian(v: np.ndarray, a: float = 1.0) -> np.ndarray:
    """Gaussian surrogate ``1/sqrt(2*pi*a) * exp(-v**2 / (2a))``: ``a`` is the variance.

    Shapes as :func:`rectangular`.
    """
    v = np.asarray(v)
    return (np.exp(-(v * v) / (2 * a)) / math.sqrt(2 * math.pi * a)).astype(v.dtype, copy=False)


_CURVES = {
    "rectangular": rectangular,
    "polynomial": polynomial,
    "sigmoid": sigmoid_derivative,
    "gaussian": gaussian,
}


def heaviside(v: np.ndarray) -> np.ndarray:
    """The spike: ``1.0`` where ``v >= 0``, else ``0.0``, in the dtype of ``v``.

    ``u - v_th >= 0`` holds exactly when ``u >= v_th`` in IEEE arithmetic (a difference of two
    finite floats rounds to zero only when they are equal), so this is the runtime's test.
    """
    v = np.asarray(v)
    return (v >= 0).astype(v.dtype)


@dataclass(frozen=True)
class SpikeFunction:
    """Heaviside forward, surrogate-derivative backward.

    Attributes
    ----------
    name : {"rectangular", "polynomial", "sigmoid", "gaussian"}
    a : float
        Width parameter of the surrogate (see the module docstring), > 0.
    """

    name: str = "rectangular"
    a: float = DEFAULT_WIDTH

    def __post_init__(self) -> None:
        if self.name not in _CURVES:
            raise EventsimError(
                f"surrogate: unknown name {self.name!r}; expected one of {', '.join(SURROGATES)}"
            )
        a = self.a
        if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)) \
                or not math.isfinite(a) or a <= 0:
            raise EventsimError(f"surrogate: field 'a' must be a finite number > 0, got {a!r}")
        object.__setattr__(self, "a", float(a))

    def forward(self, v: np.ndarray) -> np.ndarray:
        """Spikes ``1[v >= 0]``; ``v`` any shape, result same shape and dtype."""
        return heaviside(v)

    def grad(self, v: np.ndarray) -> np.ndarray:
        """Surrogate ``h(v)`` standing in for ``dH/dv``; same shape and dtype as ``v``."""
        return _CURVES[self.name](v, self.a)


def surrogate(name: str = "rectangular", a: float | None = None) -> SpikeFunction:
    """The spike function with surrogate ``name`` and width ``a`` (default 1).

    Raises
    ------
    EventsimError
        For an unknown name (the message lists the known ones) or a width that is not > 0.
    """
    if not isinstance(name, str):
        raise EventsimError(
            f"surrogate: name must be one of {', '.join(SURROGATES)}, got {name!r}"
        )
    return SpikeFunction(name.lower(), DEFAULT_WIDTH if a is None else a)


@dataclass(frozen=True)
class Smoothed:
    """A smooth stand-in for the spike, for finite-difference tests of the backward pass.

    ``forward(v) = sigmoid(v / tau)`` and ``grad(v) = sigmoid'(v / tau) / tau``, its exact
    derivative. As ``tau -> 0`` the forward pass tends to the Heaviside step.

    Attributes
    ----------
    tau : float
        Temperature, > 0.
    """

    tau: float = 0.3

    def __post_init__(self) -> None:
        if not (isinstance(self.tau, (int, float, np.floating)) and self.tau > 0):
            raise EventsimError(f"Smoothed: field 'tau' must be a number > 0, got {self.tau!r}")

    def forward(self, v: np.ndarray) -> np.ndarray:
        """``sigmoid(v / tau)``; same shape and dtype as ``v``."""
        v = np.asarray(v)
        return sigmoid(v / self.tau).astype(v.dtype, copy=False)

    def grad(self, v: np.ndarray) -> np.ndarray:
        """``d forward / dv``; same shape and dtype as ``v``."""
        v = np.asarray(v)
        return (_sigmoid_slope(v / self.tau) / self.tau).astype(v.dtype, copy=False)
