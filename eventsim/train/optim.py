"""Optimisers and learning-rate schedules, in place on lists of numpy arrays.

Adam (Kingma & Ba 2015), with ``g`` the gradient plus ``weight_decay * w`` (L2 added to the
gradient, as ``torch.optim.Adam``), at step ``t = 1, 2, ...``::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    w -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

SGD with momentum (``torch.optim.SGD`` without dampening or Nesterov)::

    b = momentum * b + g          (b starts at 0, so b = g on the first step)
    w -= lr * b

The state (moments, step count, hyper-parameters) is a flat ``dict`` of arrays and numbers
(:meth:`Adam.state_dict`), which :mod:`eventsim.train.checkpoint` stores as it is, so a
resumed run takes bit-identical steps. Schedules are plain functions of the epoch; set the
optimiser's ``lr`` with their value at the start of each epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from eventsim.errors import InputError, whole

StateDict = dict[str, "np.ndarray | float | int"]


def _number(
    owner: str, field: str, value, low: float, high: float = math.inf, high_open: bool = False
) -> float:
    """``value`` as a float in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    v = float(value) if ok else math.nan
    if not (low <= v <= high) or (high_open and v >= high) or not math.isfinite(v):
        bound = f"[{low}, {high}{')' if high_open else ']'}"
        raise InputError(
            f"{owner}: field '{field}' must be a finite number in {bound}, got {value!r}"
        )
    return v


def _check_pairs(
    owner: str, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], n_state: int | None
) -> None:
    if len(params) != len(grads):
        raise InputError(
            f"{owner}.step: got {len(params)} parameter arrays but {len(grads)} gradients"
        )
    if n_state is not None and n_state != len(params):
        raise InputError(
            f"{owner}.step: the state holds moments of {n_state} parameter arrays, "
            f"got {len(params)}"
        )
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise InputError(
                f"{owner}.step: parameter {i} must be a float ndarray (updated in place), "
                f"got {type(p).__name__} {getattr(p, 'dtype', '')}"
            )
        if np.shape(g) != p.shape:
            raise InputError(
                f"{owner}.step: gradient {i} has shape {np.shape(g)}, parameter {i} has "
                f"shape {p.shape}"
            )


def _check_buffers(
    owner: str, name: str, buffers: list[np.ndarray], params: Sequence[np.ndarray]
) -> None:
    for i, (b, p) in enumerate(zip(buffers, params)):
        if b.shape != p.shape:
            raise InputError(
                f"{owner}.step: state field '{name}.{i}' has shape {b.shape}, parameter {i} "
                f"has shape {p.shape}"
            )


def _load_buffers(owner: str, d: dict, name: str, n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        key = f"{name}.{i}"
        if key not in d:
            raise InputError(f"{owner}.load_state_dict: field '{key}' is missing")
        a = d[key]
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise InputError(
                f"{owner}.load_state_dict: field '{key}' must be a float ndarray, "
                f"got {type(a).__name__}"
            )
        out.append(np.array(a, copy=True))
    return out


def _int_field(owner: str, d: dict, key: str) -> int:
    if key not in d:
        raise InputError(f"{owner}.load_state_dict: field '{key}' is missing")
    v = d[key]
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
        raise InputError(
            f"{owner}.load_state_dict: field '{key}' must be a non-negative integer, got {v!r}"
        )
    return int(v)


def _float_field(owner: str, d: dict, key: str) -> float:
    if key not in d:
        raise InputError(f"{owner}.load_state_dict: field '{key}' is missing")
    v = d[key]
    return v.item() if isinstance(v, np.ndarray) and v.shape == () else v


class _Optimizer:
    """What Adam and SGD share: a checked, settable learning rate."""

    name = "optimizer"

    @property
    def lr(self) -> float:
        """Learning rate used by the next :meth:`step`."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _number(self.name, "lr", value, 0.0)


class Adam(_Optimizer):
    """Adam with L2 weight decay added to the gradient (recurrence in the module docstring).

    Parameters
    ----------
    lr : float
        Learning rate (settable between steps: ``opt.lr = cosine_lr(...)``).
    betas : tuple of float
        ``(beta1, beta2)``, each in ``[0, 1)``.
    eps : float
        Added to ``sqrt(v_hat)``.
    weight_decay : float
        L2 coefficient: ``weight_decay * w`` is added to the gradient.

    Notes
    -----
    The moments are created (zeros, the parameters' dtype) at the first :meth:`step`, so the
    same list of parameters, in the same order, must be passed to every step.
    """

    name = "Adam"

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise InputError(f"Adam: field 'betas' must be a pair (beta1, beta2), got {betas!r}")
        self.lr = lr
        self.beta1 = _number("Adam", "betas[0]", betas[0], 0.0, 1.0, high_open=True)
        self.beta2 = _number("Adam", "betas[1]", betas[1], 0.0, 1.0, high_open=True)
        self.eps = _number("Adam", "eps", eps, 0.0)
        self.weight_decay = _number("Adam", "weight_decay", weight_decay, 0.0)
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update every ``params[i]`` in place from ``grads[i]`` (same shape).

        Parameters
        ----------
        params : list of ndarray, float
            Updated in place.
        grads : list of ndarray
            ``grads[i]`` has the shape of ``params[i]``; not modified.
        """
        _check_pairs("Adam", params, grads, None if self.m is None else len(self.m))
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        _check_buffers("Adam", "m", self.m, params)
        _check_buffers("Adam", "v", self.v, params)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1 = 1.0 - b1**self.t
        c2 = 1.0 - b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            g = np.asarray(g, dtype=p.dtype)
            if self.weight_decay:
                g = g + self.weight_decay * p
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v / c2)
            denom += self.eps
            p -= self.lr * (m / c1) / denom

    def state_dict(self) -> StateDict:
        """The state, copied: ``step``, ``lr``, ``beta1``, ``beta2``, ``eps``,
        ``weight_decay``, ``n_params`` and arrays ``m.<i>``, ``v.<i>`` (shape of parameter i).
        """
        d: StateDict = {
            "step": self.t,
            "lr": self.lr,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "n_params": 0 if self.m is None else len(self.m),
        }
        for name, bufs in (("m", self.m), ("v", self.v)):
            for i, b in enumerate(bufs or ()):
                d[f"{name}.{i}"] = b.copy()
        return d

    def load_state_dict(self, d: StateDict) -> None:
        """Restore a :meth:`state_dict` (hyper-parameters included: ``lr`` is overwritten).

        Raises
        ------
        InputError
            A field is missing or of the wrong kind (the message names it).
        """
        n = _int_field("Adam", d, "n_params")
        t = _int_field("Adam", d, "step")
        lr = _float_field("Adam", d, "lr")
        b1 = _number("Adam", "beta1", _float_field("Adam", d, "beta1"), 0.0, 1.0, True)
        b2 = _number("Adam", "beta2", _float_field("Adam", d, "beta2"), 0.0, 1.0, True)
        eps = _number("Adam", "eps", _float_field("Adam", d, "eps"), 0.0)
        wd = _number("Adam", "weight_decay", _float_field("Adam", d, "weight_decay"), 0.0)
        m = _load_buffers("Adam", d, "m", n)
        v = _load_buffers("Adam", d, "v", n)
        self.lr = lr
        self.beta1, self.beta2, self.eps, self.weight_decay, self.t = b1, b2, eps, wd, t
        self.m, self.v = (m, v) if n else (None, None)


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay (module docstring).

    Parameters
    ----------
    lr : float
        Learning rate (settable between steps).
    momentum : float
        In ``[0, 1)``; 0 is plain SGD (no buffer kept).
    weight_decay : float
        L2 coefficient: ``weight_decay * w`` is added to the gradient.
    """

    name = "SGD"

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.lr = lr
        self.momentum = _number("SGD", "momentum", momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = _number("SGD", "weight_decay", weight_decay, 0.0)
        self.t = 0
        self.buf: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update every ``params[i]`` in place from ``grads[i]`` (same shape).

        Parameters
        ----------
        params : list of ndarray, float
            Updated in place.
        grads : list of ndarray
            ``grads[i]`` has the shape of ``params[i]``; not modified.
        """
        _check_pairs("SGD", params, grads, None if self.buf is None else len(self.buf))
        if self.momentum and self.buf is None:
            self.buf = [np.zeros_like(p) for p in params]
        if self.buf is not None:
            _check_buffers("SGD", "momentum_buffer", self.buf, params)
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            g = np.asarray(g, dtype=p.dtype)
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.buf is not None:
                b = self.buf[i]
                b *= self.momentum
                b += g
                g = b
            p -= self.lr * g

    def state_dict(self) -> StateDict:
        """The state, copied: ``step``, ``lr``, ``momentum``, ``weight_decay``, ``n_params``
        and arrays ``momentum_buffer.<i>`` (shape of parameter i).
        """
        d: StateDict = {
            "step": self.t,
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "n_params": 0 if self.buf is None else len(self.buf),
        }
        for i, b in enumerate(self.buf or ()):
            d[f"momentum_buffer.{i}"] = b.copy()
        return d

    def load_state_dict(self, d: StateDict) -> None:
        """Restore a :meth:`state_dict` (hyper-parameters included: ``lr`` is overwritten).

        Raises
        ------
        InputError
            A field is missing or of the wrong kind (the message names it).
        """
        n = _int_field("SGD", d, "n_params")
        t = _int_field("SGD", d, "step")
        lr = _float_field("SGD", d, "lr")
        mom = _number("SGD", "momentum", _float_field("SGD", d, "momentum"), 0.0, 1.0, True)
        wd = _number("SGD", "weight_decay", _float_field("SGD", d, "weight_decay"), 0.0)
        buf = _load_buffers("SGD", d, "momentum_buffer", n)
        self.lr = lr
        self.momentum, self.weight_decay, self.t = mom, wd, t
        self.buf = buf if n else None


# ----------------------------------------------------------------------------- schedules


def _epoch(owner: str, epoch) -> int:
    return whole(epoch, owner, "epoch", 0)


def step_lr(epoch: int, lr0: float, step_size: int, gamma: float) -> float:
    """Step decay: ``lr0 * gamma ** (epoch // step_size)`` (epochs counted from 0).

    Parameters
    ----------
    epoch : int
        0 for the first epoch.
    lr0 : float
        Learning rate of epoch 0.
    step_size : int
        Epochs between decays (positive).
    gamma : float
        Factor applied at each decay.
    """
    epoch = _epoch("step_lr", epoch)
    step_size = whole(step_size, "step_lr", "step_size")
    lr0 = _number("step_lr", "lr0", lr0, 0.0)
    gamma = _number("step_lr", "gamma", gamma, 0.0)
    return lr0 * gamma ** (epoch // int(step_size))


def cosine_lr(epoch: int, lr0: float, epochs: int) -> float:
    """Cosine annealing to 0: ``lr0 * (1 + cos(pi * epoch / epochs)) / 2``.

    Parameters
    ----------
    epoch : int
        0 (gives ``lr0``) to ``epochs`` (gives 0).
    lr0 : float
    epochs : int
        Length of the schedule (positive).
    """
    epoch = _epoch("cosine_lr", epoch)
    epochs = whole(epochs, "cosine_lr", "epochs")
    if epoch > epochs:
        raise InputError(f"cosine_lr: field 'epoch' is {epoch}, past the schedule's {epochs}")
    lr0 = _number("cosine_lr", "lr0", lr0, 0.0)
    return lr0 * 0.5 * (1.0 + math.cos(math.pi * epoch / int(epochs)))
