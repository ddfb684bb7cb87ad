"""Projections (the stateless half of a layer): forward and backward on a stack of samples.

A projection has no memory across steps, so the trainer applies it to all ``N = T * B`` inputs
of a batch at once. Each forward equals ``dense_matrix(net, i) @ x`` of
:mod:`eventsim.network.reference` (the layer written out as a matrix); each backward returns
``M.T @ grad`` for the input and the gradient of the weights.

Convolution is im2col: a strided window view of the zero-padded input, one matmul against the
weights flattened to ``(c_out, c_in*kh*kw)``. Its backward loops over the ``kh*kw`` kernel taps
only: tap ``(ky, kx)`` links output ``(y, x)`` to padded input ``(y*s + ky, x*s + kx)``, so its
share of the input gradient is added to one strided slice (col2im), and its weight gradient is
one matmul. Pooling is the same with a fixed weight per tap and channels kept apart.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def dense_forward(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``I = x @ weight.T`` with each sample flattened in C order.

    Parameters
    ----------
    x : ndarray, shape (N, *in_shape)
    weight : ndarray, shape (n_out, n_in), ``n_in = prod(in_shape)``

    Returns
    -------
    ndarray, shape (N, n_out)
    """
    return x.reshape(x.shape[0], -1) @ weight.T


def dense_backward(
    grad: np.ndarray, x: np.ndarray, weight: np.ndarray, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray]:
    """Backward of :func:`dense_forward`.

    Parameters
    ----------
    grad : ndarray, shape (N, n_out)
        ``dL/dI``.
    x : ndarray, shape (N, *in_shape)
        The forward input.
    weight : ndarray, shape (n_out, n_in)
    input_grad : bool
        Compute ``dL/dx`` (skipped for the first layer, whose input is data).

    Returns
    -------
    grad_x : ndarray, shape (N, *in_shape), or None
    grad_weight : ndarray, shape (n_out, n_in)
    """
    grad_weight = grad.T @ x.reshape(x.shape[0], -1)
    grad_x = (grad @ weight).reshape(x.shape) if input_grad else None
    return grad_x, grad_weight


def _windows(x: np.ndarray, k_h: int, k_w: int, stride: int) -> np.ndarray:
    """View of every ``k_h x k_w`` window at the given stride: (N, C, h_out, w_out, k_h, k_w)."""
    return sliding_window_view(x, (k_h, k_w), axis=(2, 3))[:, :, ::stride, ::stride]


def _tap(ky: int, kx: int, stride: int, h_out: int, w_out: int) -> tuple[slice, slice]:
    """Rows and columns of the (padded) input that kernel tap ``(ky, kx)`` reads."""
    return (slice(ky, ky + stride * (h_out - 1) + 1, stride),
            slice(kx, kx + stride * (w_out - 1) + 1, stride))


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def conv2d_forward(x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0
                   ) -> np.ndarray:
    """2-D cross-correlation with zero padding, as in :class:`eventsim.network.layers.Conv2d`.

    ``I[n, co, y, x] = sum_{ci, ky, kx} weight[co, ci, ky, kx] * xp[n, ci, y*s + ky, x*s + kx]``
    with ``xp`` the input padded by ``padding`` zeros on each side.

    Parameters
    ----------
    x : ndarray, shape (N, c_in, H, W)
    weight : ndarray, shape (c_out, c_in, kh, kw)
    stride, padding : int

    Returns
    -------
    ndarray, shape (N, c_out, h_out, w_out), C-contiguous
        ``h_out = (H + 2*padding - kh) // stride + 1``, likewise ``w_out``.
    """
    c_out, _, k_h, k_w = weight.shape
    cols = _windows(_pad(x, padding), k_h, k_w, stride)  # (N, c_in, h_out, w_out, kh, kw)
    n, _, h_out, w_out = cols.shape[:4]
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, -1)  # the im2col copy
    out = cols @ weight.reshape(c_out, -1).T  # (N*h_out*w_out, c_out)
    return np.ascontiguousarray(out.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2))


def conv2d_backward(
    grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Backward of :func:`conv2d_forward`, one matmul per kernel tap.

    Parameters
    ----------
    grad : ndarray, shape (N, c_out, h_out, w_out)
        ``dL/dI``.
    x : ndarray, shape (N, c_in, H, W)
        The forward input.
    weight : ndarray, shape (c_out, c_in, kh, kw)
    stride, padding : int
    input_grad : bool
        Compute ``dL/dx`` (skipped for the first layer, whose input is data).

    Returns
    -------
    grad_x : ndarray, shape (N, c_in, H, W), or None
    grad_weight : ndarray, shape (c_out, c_in, kh, kw)
    """
    _, _, h_out, w_out = grad.shape
    _, _, k_h, k_w = weight.shape
    xp = _pad(x, padding)
    grad_weight = np.empty_like(weight, dtype=grad.dtype)
    for ky in range(k_h):
        for kx in range(k_w):
            rows, cols = _tap(ky, kx, stride, h_out, w_out)
            # dL/dW[co, ci, ky, kx] = sum_{n,y,x} grad[n, co, y, x] * xp[n, ci, y*s+ky, x*s+kx]
            grad_weight[:, :, ky, kx] = np.tensordot(
                grad, xp[:, :, rows, cols], axes=([0, 2, 3], [0, 2, 3]))
    grad_x = conv2d_input_grad(grad, x.shape[1:], weight, stride, padding) if input_grad \
        else None
    return grad_x, grad_weight


def conv2d_input_grad(grad: np.ndarray, in_shape: tuple[int, ...], weight: np.ndarray,
                      stride: int = 1, padding: int = 0) -> np.ndarray:
    """``dL/dx`` of :func:`conv2d_forward` for an input of shape ``(c_in, H, W)``
    (``in_shape``), from ``grad`` (N, c_out, h_out, w_out): col2im, one matmul per tap."""
    n, _, h_out, w_out = grad.shape
    c_in, h, w = in_shape
    _, _, k_h, k_w = weight.shape
    grad_xp = np.zeros((n, c_in, h + 2 * padding, w + 2 * padding), grad.dtype)
    for ky in range(k_h):
        for kx in range(k_w):
            rows, cols = _tap(ky, kx, stride, h_out, w_out)
            # tap (ky, kx) sends W[:, :, ky, kx].T @ grad to its input slice
            grad_xp[:, :, rows, cols] += np.tensordot(
                weight[:, :, ky, kx], grad, axes=([0], [1])).transpose(1, 0, 2, 3)
    return grad_xp[:, :, padding:padding + h, padding:padding + w]


def pool2d_forward(x: np.ndarray, kernel_size: int, stride: int, pool_weight: float
                   ) -> np.ndarray:
    """Sum of every ``kernel_size**2`` window per channel, times ``pool_weight`` (no padding).

    ``pool_weight`` is ``1/kernel_size**2`` for average pooling, 1 for sum pooling.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride : int
    pool_weight : float

    Returns
    -------
    ndarray, shape (N, C, h_out, w_out)
        ``h_out = (H - kernel_size) // stride + 1``, likewise ``w_out``.
    """
    out = _windows(x, kernel_size, kernel_size, stride).sum(axis=(4, 5))
    if pool_weight != 1.0:
        out *= x.dtype.type(pool_weight)
    return out


def pool2d_backward(grad: np.ndarray, in_shape: tuple[int, ...], kernel_size: int, stride: int,
                    pool_weight: float) -> np.ndarray:
    """Backward of :func:`pool2d_forward` with respect to its input.

    Parameters
    ----------
    grad : ndarray, shape (N, C, h_out, w_out)
    in_shape : tuple
        ``(N, C, H, W)``, the forward input's shape.

    Returns
    -------
    ndarray, shape ``in_shape``
    """
    _, _, h_out, w_out = grad.shape
    g = grad * grad.dtype.type(pool_weight) if pool_weight != 1.0 else grad
    grad_x = np.zeros(in_shape, grad.dtype)
    for ky in range(kernel_size):
        for kx in range(kernel_size):
            rows, cols = _tap(ky, kx, stride, h_out, w_out)
            grad_x[:, :, rows, cols] += g
    return grad_x
