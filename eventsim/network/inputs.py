"""Checking what ``simulate`` is given, for both modes: the network, dtype, binning, inputs."""

from __future__ import annotations

import os

import numpy as np

from eventsim.errors import InputError, whole
from eventsim.events.binning import dense_to_sparse
from eventsim.events.stream import EventStream
from eventsim.network.graph import Graph
from eventsim.network.network import Network

DTYPES = ("float32", "float64")


def check_network(net) -> Network | Graph:
    if not isinstance(net, (Network, Graph)):
        raise InputError(f"simulate: 'net' must be an eventsim Network or Graph, got "
                         f"{type(net).__name__}")
    return net


def check_dtype(dtype) -> np.dtype:
    if isinstance(dtype, (str, type, np.dtype)):
        try:
            if np.dtype(dtype).name in DTYPES:
                return np.dtype(dtype)
        except TypeError:
            pass
    raise InputError(f"simulate: field 'dtype' must be 'float32' or 'float64', got {dtype!r}")


def check_steps(value, field: str, minimum: int = 1) -> int | None:
    """A whole number of steps or us (``dt_us``, ``T``) >= ``minimum``, or None."""
    return None if value is None else whole(value, "simulate", field, minimum)


def check_stream(net: Network, stream: EventStream) -> None:
    if stream.n_channels != net.n_inputs:
        raise InputError(
            f"{stream.source}: sensor_size {stream.sensor_size} gives {stream.n_channels} input "
            f"channels; the network's input_shape {net.input_shape} has {net.n_inputs}"
        )


def check_not_path(inputs) -> None:
    if isinstance(inputs, (str, bytes, os.PathLike)):
        raise InputError(f"simulate: 'inputs' is a path ({inputs!r}); read it first with "
                         "eventsim.read_events (or iter_events to stream it)")


def dense_input(net: Network, spikes: np.ndarray,
                T: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """A 0/1 array ``(T, n_inputs)`` or ``(T, *input_shape)``, checked, as ``(step_ptr,
    channel_idx, T)`` (:func:`~eventsim.events.binning.dense_to_sparse`: its values are
    checked as they are counted)."""
    spikes = np.asarray(spikes)
    if spikes.ndim < 2 or int(np.prod(spikes.shape[1:])) != net.n_inputs or (
            spikes.ndim > 2 and spikes.shape[1:] != net.input_shape):
        raise InputError(
            f"inputs: array of shape {spikes.shape}; expected (T, {net.n_inputs}) or "
            f"(T, *{net.input_shape}) for the network's input_shape {net.input_shape}"
        )
    spikes = spikes.reshape(spikes.shape[0], net.n_inputs)  # (T = 0 has no -1 to infer)
    if spikes.dtype.kind not in "biuf":
        raise InputError(f"inputs: array of dtype {spikes.dtype}; expected 0/1 input spikes")
    if T is not None and T != spikes.shape[0]:
        raise InputError(f"inputs: array has {spikes.shape[0]} steps but T={T} was given")
    step_ptr, idx, bad = dense_to_sparse(spikes)
    if bad >= 0:
        step, channel = divmod(int(bad), spikes.shape[1])
        raise InputError(f"inputs: value {spikes[step, channel]} at (step {step}, channel "
                         f"{channel}); expected 0/1 input spikes")
    return step_ptr, idx, spikes.shape[0]


def analog_input(net: Network, image, T: int | None) -> tuple[np.ndarray, int]:
    """A static analog input, shape ``input_shape`` or ``(n_inputs,)``, finite, as float64
    ``(n_inputs,)``; with the number of steps to hold it for."""
    if T is None:
        raise InputError("simulate: an analog input needs 'T' (argument or net.T): a static "
                         "image does not say how many steps to hold it for")
    try:
        image = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("inputs: an analog input must be a numeric array") from None
    if image.shape not in (net.input_shape, (net.n_inputs,)):
        raise InputError(f"inputs: analog input of shape {image.shape}; expected "
                         f"{net.input_shape} or ({net.n_inputs},)")
    bad = np.flatnonzero(~np.isfinite(image.ravel()))
    if len(bad):
        raise InputError(f"inputs: analog input has {len(bad)} non-finite values (first at "
                         f"flat index {bad[0]}); expected finite numbers")
    return image.ravel(), T


def check_binned(step_ptr, channel_idx, n_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Input of ``Simulator.run_binned``, checked and as contiguous int64 arrays: a valid
    :func:`~eventsim.events.binning.bin_sparse` result for ``n_inputs`` channels."""
    step_ptr, channel_idx = np.asarray(step_ptr), np.asarray(channel_idx)
    if step_ptr.ndim != 1 or len(step_ptr) < 1 or step_ptr.dtype.kind not in "iu" \
            or channel_idx.ndim != 1 or channel_idx.dtype.kind not in "iu":
        raise InputError("run_binned: 'step_ptr' and 'channel_idx' must be 1-D integer arrays "
                         "(as from eventsim.events.binning.bin_sparse)")
    if step_ptr[0] != 0 or step_ptr[-1] != len(channel_idx) or np.any(np.diff(step_ptr) < 0):
        raise InputError("run_binned: 'step_ptr' must rise from 0 to len(channel_idx)")
    if len(channel_idx) and (channel_idx.min() < 0 or channel_idx.max() >= n_inputs):
        raise InputError(f"run_binned: 'channel_idx' holds channel "
                         f"{channel_idx.min() if channel_idx.min() < 0 else channel_idx.max()}; "
                         f"the network has {n_inputs} inputs")
    return (np.ascontiguousarray(step_ptr, np.int64), np.ascontiguousarray(channel_idx, np.int64))
