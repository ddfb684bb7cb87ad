"""The STBP training loop: batches, forward and backward through space and time, the optimiser,
evaluation, checkpoints that resume bit-identically.

Inputs are dense spike tensors built by the same binning rule the runtime uses
(:func:`eventsim.bin_events`), or static images rate-coded per step; the network is an
:class:`eventsim.Network` whose layers' arrays are trained in place, so the result can be saved
with :func:`eventsim.save_network` and run event by event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from eventsim.errors import EventsimError, InputError, NetworkError, whole
from eventsim.network import ops
from eventsim.network.graph import Graph, as_graph
from eventsim.network.layers import Conv2d, Dense, NeuNorm
from eventsim.network.network import Network
from eventsim.train import graph_model, model
from eventsim.train import loss as losses
from eventsim.train.optim import SGD, Adam, cosine_lr, step_lr
from eventsim.train.surrogates import surrogate


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are those of the STBP authors' code where it has one.

    Attributes
    ----------
    epochs, batch_size : int
    lr : float
        Learning rate (Adam 1e-3 as the authors' MNIST code).
    optimizer : {"adam", "sgd"}
    momentum, weight_decay : float
    schedule : {"none", "step", "cosine"}
    step_size, gamma : int, float
        For ``schedule="step"``: multiply the rate by ``gamma`` every ``step_size`` epochs.
    surrogate : {"rectangular", "polynomial", "sigmoid", "gaussian"}
    surrogate_a : float
        Width parameter of the surrogate (rectangular, a = 1: the authors' code).
    loss : {"mse", "ce"}
        MSE between output rate and one-hot label (the paper), or cross-entropy on counts;
        an output that is a leaky integrator (``v_th = inf``) takes cross-entropy on its
        maximum potential over time (``"ce"``: ``"mse"`` is refused).
    max_shift : int
        Random shifts of event frames by up to this many pixels (augmentation; 0: off).
    seed : int
        Seeds batching, augmentation and rate coding.
    dtype : {"float32", "float64"}
        The float weights' dtype, and the computation's (but with ``qat_bits``).
    qat_bits : int or None
        Quantization-aware training (:mod:`eventsim.train.qat`): every forward pass runs the
        network quantized to this many bits (2..16), in float64 (whole numbers, exact), and
        the gradients reach the float weights straight through the rounding. None: off.
    qat_per_channel : bool
        With ``qat_bits``: one scale per output channel instead of per layer.
    init : str or None
        A network file (``.h5``) of the same architecture whose weights the training starts
        from (fine-tuning, e.g. a trained float network to fine-tune quantization-aware); in a
        spec, relative to the spec's folder. None: the spec's seeded initialisation.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    step_size: int = 10
    gamma: float = 0.5
    surrogate: str = "rectangular"
    surrogate_a: float = 1.0
    loss: str = "mse"
    max_shift: int = 0
    seed: int = 0
    dtype: str = "float32"
    qat_bits: int | None = None
    qat_per_channel: bool = False
    init: str | None = None
    history: list = field(default_factory=list, repr=False)

    def check(self) -> None:
        choices = {"optimizer": ("adam", "sgd"), "schedule": ("none", "step", "cosine"),
                   "loss": ("mse", "ce"), "dtype": ("float32", "float64")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise InputError(f"train: field '{key}' must be one of {allowed}, "
                                 f"got {getattr(self, key)!r}")
        for key in ("epochs", "batch_size"):
            whole(getattr(self, key), "train", key)
        if not self.lr > 0:
            raise InputError(f"train: field 'lr' must be > 0, got {self.lr!r}")
        if self.qat_bits is not None:
            from eventsim.network.quantize import BITS

            whole(self.qat_bits, "train", "qat_bits", *BITS)
        if self.init is not None and not isinstance(self.init, str):
            raise InputError(f"train: field 'init' must be a network file's path, got "
                             f"{self.init!r}")
        if not isinstance(self.qat_per_channel, bool):
            raise InputError(f"train: field 'qat_per_channel' must be true or false, got "
                             f"{self.qat_per_channel!r}")


def trainable(net: Network | Graph) -> list[tuple[str, np.ndarray]]:
    """``(name, array)`` of every trained parameter, in a fixed order (``"3.weight"``; on a
    graph ``"2.0.weight"``, projection 2's op 0)."""
    if isinstance(net, Graph):
        return graph_model.trainable(net)
    params = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, (Dense, Conv2d)):
            params.append((f"{i}.weight", layer.weight))
            if layer.bias is not None:
                params.append((f"{i}.bias", layer.bias))
        elif isinstance(layer, NeuNorm):
            params.append((f"{i}.alpha", layer.alpha))
    return params


def copy_trainable(net: Network | Graph, arrays: dict, source: str, field: str,
                   error: type[EventsimError]) -> None:
    """Copy ``arrays`` (name -> array, as :func:`trainable` names them) into ``net``'s own
    trained arrays, once both hold the same parameters of the same shapes; otherwise
    ``error`` naming ``source`` and ``field`` (a checkpoint's weights, a network to start
    from)."""
    params = dict(trainable(net))
    if set(arrays) != set(params):
        raise error(f"{source}: field '{field}' holds {sorted(arrays)}; the network has "
                    f"{sorted(params)}")
    for name, value in arrays.items():
        if value.shape != params[name].shape:
            raise error(f"{source}: parameter '{name}' has shape {value.shape}; the "
                        f"network's is {params[name].shape}")
    for name, value in arrays.items():
        params[name][...] = value


def predict(out_spikes: np.ndarray) -> np.ndarray:
    """The runtime's decision on a batch: most output spikes, ties to the earliest first spike,
    then the lower index; -1 without any output spike. ``out_spikes``: (T, B, C)."""
    counts = out_spikes.sum(0)
    T = out_spikes.shape[0]
    fired = out_spikes.any(0)
    first = np.where(fired, out_spikes.argmax(0), T)
    best = counts == counts.max(1, keepdims=True)
    key = np.where(best, first, T + 1)
    pred = key.argmin(1)
    pred[counts.max(1) == 0] = -1
    return pred


class Trainer:
    """Train ``net`` in place with STBP.

    Parameters
    ----------
    net : Network or Graph
        A graph trains through :mod:`eventsim.train.graph_model` (its ops' arrays in place).
    config : TrainConfig
    make_input : callable
        ``make_input(x_batch, rng, augment) -> (T, B, *input_shape)`` spikes of a batch of
        stored samples (event frames transposed, or rate-coded images); ``augment`` is True in
        training only.
    """

    def __init__(self, net: Network | Graph, config: TrainConfig,
                 make_input: Callable[[np.ndarray, np.random.Generator, bool], np.ndarray]):
        config.check()
        self.model = graph_model if isinstance(net, Graph) else model
        if isinstance(net, Graph):
            graph_model.check_trainable(net)
            arrays = [op for proj in net.projections for op in proj.ops]
        else:
            for i, layer in enumerate(net.layers):
                if getattr(layer, "integer", False):
                    raise InputError(f"train: layer {i} is an integer (quantized) layer; train "
                                     "the float network, then quantize it")
            arrays = net.layers
        self.net, self.config, self.make_input = net, config, make_input
        pops = as_graph(net).populations
        # a chain of other neuron models (currents, refractoriness, a readout) trains as the
        # graph it is (the same arrays): the chain trainer steps the STBP LIF
        beyond = [i for i, p in enumerate(pops) if p.syn_decay > 0 or p.refractory_steps
                  or p.is_readout]
        if beyond and not isinstance(net, Graph):
            if any(isinstance(layer, NeuNorm) for layer in net.layers):
                where = as_graph(net).layer_index[beyond[0]]
                raise NetworkError(f"train: layer {where} is not the STBP LIF (a current, a "
                                   "refractory period or a readout), "
                                   "and the network has NeuNorm, which trains in STBP LIF "
                                   "chains only")
            self.model = graph_model
        if config.qat_bits is not None and self.model is not model:
            raise InputError("train: quantization-aware training ('qat_bits') runs chains of "
                             "STBP LIF layers (a Network) for now; this network trains as a "
                             "graph: train it in float, then `eventsim quantize` it")
        self.readout = bool(pops) and pops[-1].is_readout
        self.mean_readout = self.readout and pops[-1].readout == "mean"
        if self.readout and config.loss != "ce":
            raise InputError(f"train: the output population '{pops[-1].name}' is a leaky "
                             "integrator (v_th = inf), read by its "
                             f"{'mean' if self.mean_readout else 'maximum'} potential: give "
                             f"loss = \"ce\" (cross-entropy on it), not {config.loss!r}")
        self.dtype = np.dtype(config.dtype)
        for layer in arrays:  # train the layers' (ops') own arrays, in the chosen dtype
            if isinstance(layer, (ops.Dense, ops.Conv2d)):
                layer.weight = np.ascontiguousarray(layer.weight, self.dtype)
                if layer.bias is not None:
                    layer.bias = np.ascontiguousarray(layer.bias, self.dtype)
            elif isinstance(layer, NeuNorm):
                layer.alpha = np.ascontiguousarray(layer.alpha, self.dtype)
        # what forward and backward step: the network, or the graph of a chain (its arrays,
        # made after the dtype conversion above); with QAT the integer network of each batch
        self.stepped = as_graph(net) if self.model is graph_model else net
        self.compute_dtype = np.dtype(np.float64) if config.qat_bits is not None else self.dtype
        if config.qat_bits is not None:
            self._integer()  # a layer with no integer form fails here, before any batch
        self.spike_fn = surrogate(config.surrogate, config.surrogate_a)
        opt = Adam if config.optimizer == "adam" else SGD
        kwargs = {"weight_decay": config.weight_decay}
        if config.optimizer == "sgd":
            kwargs["momentum"] = config.momentum
        self.optimizer = opt(lr=config.lr, **kwargs)
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.history: list[dict] = []

    def _integer(self):
        """``(network stepped, scales)``: with QAT the integer network of the current
        weights and its layers' scales, else the network and None."""
        if self.config.qat_bits is None:
            return self.stepped, None
        from eventsim.train.qat import integer_chain

        return integer_chain(self.net, self.config.qat_bits, self.config.qat_per_channel)

    def _forward(self, inputs: np.ndarray):
        """``(network stepped, scales, cache, out)`` of a batch: the float network's forward
        pass, or with QAT the integer network's (its scales widening the surrogates)."""
        stepped, scales = self._integer()
        widen = () if scales is None else (scales,)  # QAT trains chains: self.model is model
        cache, out = self.model.forward(stepped, inputs, self.spike_fn, self.compute_dtype,
                                        *widen)
        return stepped, scales, cache, out

    def integer_network(self) -> Network:
        """With QAT: the integer network of the current weights (what is exported), its
        provenance naming the bits and scales (:func:`eventsim.network.quantize.quantize`)."""
        from eventsim.network.quantize import quantize

        return quantize(self.net, self.config.qat_bits, self.config.qat_per_channel)

    def decide(self, out: np.ndarray) -> np.ndarray:
        """The runtime's decision on a batch's output (T, B, C): :func:`predict` on spikes, the
        highest maximum (or mean) potential (ties to the lower index) on a leaky-integrator
        readout."""
        if self.mean_readout:
            return out.mean(0).argmax(1)
        return out.max(0).argmax(1) if self.readout else predict(out)

    def lr_at(self, epoch: int) -> float:
        c = self.config
        if c.schedule == "step":
            return step_lr(epoch, c.lr, c.step_size, c.gamma)
        if c.schedule == "cosine":
            return cosine_lr(epoch, c.lr, c.epochs)
        return c.lr

    def train_epoch(self, x: np.ndarray, y: np.ndarray, progress: bool = True) -> dict:
        """One pass over ``(x, y)`` in seeded random batches; returns loss and accuracy."""
        from tqdm import tqdm

        from eventsim.train.data import batches

        c = self.config
        self.optimizer.lr = self.lr_at(self.epoch)
        params = [p for _, p in trainable(self.net)]
        loss_fn = losses.cross_entropy_mean_membrane if self.mean_readout else \
            losses.cross_entropy_max_membrane if self.readout else \
            losses.mse_rate if c.loss == "mse" else losses.cross_entropy_counts
        total, correct, seen = 0.0, 0, 0
        order = list(batches(len(x), c.batch_size, self.rng))
        for idx in tqdm(order, disable=not progress, desc=f"epoch {self.epoch + 1}",
                        unit="batch", leave=False):
            inputs = self.make_input(x[idx], self.rng, True).astype(self.compute_dtype,
                                                                    copy=False)
            stepped, scales, cache, out = self._forward(inputs)
            value, grad_out = loss_fn(out, y[idx])
            grads = self.model.backward(stepped, cache, grad_out, self.spike_fn)
            if scales is not None:
                from eventsim.train.qat import float_grads

                grads = float_grads(self.net, grads, scales)
            flat = [g[key] for g in grads if g is not None
                    for key in ("weight", "bias", "alpha") if g.get(key) is not None]
            self.optimizer.step(params, flat)
            total += float(value) * len(idx)
            correct += int((self.decide(out) == y[idx]).sum())
            seen += len(idx)
        self.epoch += 1
        stats = {"epoch": self.epoch, "loss": total / seen, "train_accuracy": correct / seen}
        self.history.append(stats)
        return stats

    def evaluate(self, x: np.ndarray, y: np.ndarray, rng_seed: int = 12345) -> float:
        """Accuracy with the runtime's decision rule (inputs drawn with a fixed seed)."""
        rng = np.random.default_rng(rng_seed)
        correct = 0
        for start in range(0, len(x), self.config.batch_size):
            sl = slice(start, start + self.config.batch_size)
            inputs = self.make_input(x[sl], rng, False).astype(self.compute_dtype, copy=False)
            out = self._forward(inputs)[-1]
            correct += int((self.decide(out) == y[sl]).sum())
        return correct / len(x)

    def save_checkpoint(self, path) -> None:
        """Weights, optimiser state, RNG state and epoch, written atomically."""
        from eventsim.train.checkpoint import save_checkpoint

        config = asdict(self.config)
        config.pop("history")
        save_checkpoint(path, dict(trainable(self.net)), self.optimizer.state_dict(), self.rng,
                        self.epoch, {"config": config, "history": self.history})

    def resume(self, path) -> None:
        """Continue from a checkpoint: the run goes on exactly as if never stopped."""
        from eventsim.errors import FormatError
        from eventsim.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        copy_trainable(self.net, ckpt["weights"], str(path), "weights", FormatError)
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.rng = ckpt["rng"]
        self.epoch = int(ckpt["epoch"])
        self.history = list(ckpt["extra"].get("history", []))
