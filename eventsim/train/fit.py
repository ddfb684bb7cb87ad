"""``eventsim train``: from a spec to a trained network file, with checkpoints and provenance."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from eventsim import fileio
from eventsim.errors import OutputError
from eventsim.limits import check_memory
from eventsim.network import ops
from eventsim.network.graph import as_graph
from eventsim.train.data import load_mnist_idx, load_nmnist_folder, random_shift, rate_code
from eventsim.train.spec import Spec
from eventsim.train.trainer import Trainer


def load_data(spec: Spec, progress: bool = True):
    """``(x_train, y_train, x_test, y_test, make_input)`` for the spec's dataset."""
    d = spec.data
    if d.dataset == "nmnist":
        kw = {"dt_us": d.dt_us, "T": d.T, "progress": progress}
        xtr, ytr = load_nmnist_folder(d.path, "Train", limit=d.limit_train, **kw)
        xte, yte = load_nmnist_folder(d.path, "Test", limit=d.limit_test, **kw)
        max_shift = spec.config.max_shift

        def make_input(x, rng, augment):  # (B, T, P, H, W) uint8 frames -> (T, B, P, H, W)
            if augment and max_shift:
                x = random_shift(x, max_shift, rng)
            return np.swapaxes(x, 0, 1)
    else:
        xtr, ytr = load_mnist_idx(d.path, "train")
        xte, yte = load_mnist_idx(d.path, "t10k")
        xtr, ytr = xtr[:d.limit_train], ytr[:d.limit_train]
        xte, yte = xte[:d.limit_test], yte[:d.limit_test]

        if d.encoding == "current":
            def make_input(x, rng, augment):  # (B, 28, 28) uint8 -> the same current each step
                image = (x[:, None] / np.float32(255)).astype(np.float32)
                return np.broadcast_to(image, (d.T, *image.shape))
        else:
            def make_input(x, rng, augment):  # (B, 28, 28) uint8 -> Bernoulli spikes (T, B, 1, 28, 28)
                return rate_code(x, d.T, rng)[:, :, None]
    return xtr, ytr, xte, yte, make_input


#: Arrays of one neuron and step the trainer keeps per layer (potential, spikes, surrogate,
#: their gradients and temporaries): an upper estimate for the memory budget.
_ARRAYS_PER_NEURON = 8


def batch_bytes(spec: Spec) -> int:
    """An upper estimate of the memory one training batch takes: every neuron's state of every
    step (kept for the backward pass) and the conv layers' im2col matrices."""
    net, itemsize = spec.net, np.dtype(spec.config.dtype).itemsize
    per_step = net.n_inputs + net.n_neurons
    total = per_step * _ARRAYS_PER_NEURON
    g = as_graph(net)
    for k, proj in enumerate(g.projections):
        shape = g.source_shape(k)
        for op in proj.ops:
            shape_in, shape = shape, op.output_shape(shape, "")
            if isinstance(op, ops.Conv2d):
                _, h, w = shape
                total += h * w * int(np.prod(op.weight.shape[1:])) * 2
            elif len(proj.ops) > 1:  # composed ops keep every op's input
                total += int(np.prod(shape_in))
    return spec.config.batch_size * spec.data.T * total * itemsize


def check_outputs(spec: Spec, out: Path, resume: Path | None = None) -> Path:
    """Before any training: ``out`` and its checkpoint ``<out>.ckpt.h5`` can be written (the
    folder exists and takes files) and neither is the spec, the checkpoint resumed from (for
    ``out``), the data folder or a file in it. Returns the checkpoint's path.

    Raises
    ------
    FileNotFoundError, OutputError
    """
    out = Path(out)
    checkpoint = Path(str(out) + ".ckpt.h5")
    fileio.check_writable_folder(out.resolve().parent, "trained network", out)
    inputs = [spec.source, spec.data.path]
    fileio.check_output(out, [*inputs, resume], "trained network", "eventsim train")
    fileio.check_output(checkpoint, inputs, "training checkpoint", "eventsim train")
    data = Path(spec.data.path).resolve()
    for path in (out, checkpoint):  # an existing file in the data folder is a recording
        if path.exists() and path.resolve().is_relative_to(data):
            raise OutputError(f"{path}: is a file of the training data ({data}); writing "
                              "there would destroy it: choose another path")
    return checkpoint


def start_from(net, path) -> None:
    """Copy the trained arrays of the network file ``path`` into ``net`` (fine-tuning): the
    same parameters (:func:`~eventsim.train.trainer.trainable`), of the same shapes."""
    from eventsim import load_network
    from eventsim.errors import NetworkError
    from eventsim.train.trainer import copy_trainable, trainable

    copy_trainable(net, dict(trainable(load_network(path))), str(path), "init", NetworkError)


def fit(spec: Spec, out: Path, epochs: int | None = None, resume: Path | None = None,
        progress: bool = True, log=print) -> dict:
    """Train the spec's network, checkpoint every epoch (``<out>.ckpt.h5``), save ``out``:
    the trained network, or with quantization-aware training (``qat_bits``) the integer
    network its forward pass ran (:meth:`~eventsim.train.trainer.Trainer.integer_network`;
    the checkpoint keeps the float weights).

    The outputs are checked before the data is loaded (:func:`check_outputs`). Resuming a
    checkpoint that already holds every epoch trains nothing: the network is evaluated and
    saved. Returns the provenance written into the network file.
    """
    from eventsim import __version__, save_network

    checkpoint = check_outputs(spec, out, resume)
    check_memory(batch_bytes(spec), f"train: a batch of {spec.config.batch_size} samples x "
                 f"T={spec.data.T} steps through the network (every state kept for the "
                 "backward pass)")
    if epochs is not None:
        spec.config.epochs = epochs
    if resume is not None:  # a damaged checkpoint fails before the data is loaded
        from eventsim.train.checkpoint import load_checkpoint

        load_checkpoint(resume)
    if spec.config.init is not None and resume is None:
        start_from(spec.net, spec.config.init)
    xtr, ytr, xte, yte, make_input = load_data(spec, progress)
    trainer = Trainer(spec.net, spec.config, make_input)
    if resume is not None:
        trainer.resume(resume)
        log(f"resumed from {resume} at epoch {trainer.epoch}")
    start = time.perf_counter()
    test_acc = None
    while trainer.epoch < spec.config.epochs:
        stats = trainer.train_epoch(xtr, ytr, progress)
        test_acc = trainer.evaluate(xte, yte)
        stats["test_accuracy"] = test_acc
        log(f"epoch {stats['epoch']}/{spec.config.epochs}: loss {stats['loss']:.4f}, train "
            f"accuracy {stats['train_accuracy']:.2%}, test accuracy {test_acc:.2%}")
        trainer.save_checkpoint(checkpoint)
    if test_acc is None:  # nothing left to train (a finished run resumed): evaluate it
        log(f"the checkpoint holds all {trainer.epoch} epochs (the spec asks for "
            f"{spec.config.epochs}): nothing left to train; evaluating and saving")
        test_acc = trainer.evaluate(xte, yte)
    provenance = {
        "dataset": spec.data.dataset, "data_path": str(spec.data.path),
        "input_encoding": "current" if spec.data.encoding == "current" else "spikes",
        "train_samples": len(xtr), "test_samples": len(xte), "epochs": trainer.epoch,
        "seed": spec.config.seed, "trainer_test_accuracy": test_acc,
        **({"init": spec.config.init} if spec.config.init else {}),
        "history": trainer.history, "spec": spec.source, "eventsim_version": __version__,
        "train_seconds_this_run": round(time.perf_counter() - start, 1),
    }
    trained = spec.net
    if spec.config.qat_bits is not None:  # the integer network, as the forward pass ran it
        trained = trainer.integer_network()
        provenance["quantization"] = trained.provenance["quantization"]
        provenance["quantization"]["training"] = "quantization-aware (STE)"
    trained.provenance = provenance
    save_network(trained, out)
    return provenance
