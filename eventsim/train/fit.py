"""``eventsim train``: from a spec to a trained network file, with checkpoints and provenance."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

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


def fit(spec: Spec, out: Path, epochs: int | None = None, resume: Path | None = None,
        progress: bool = True, log=print) -> dict:
    """Train the spec's network, checkpoint every epoch (``<out>.ckpt.h5``), save ``out``.

    Returns the provenance written into the network file.
    """
    from eventsim import __version__, save_network

    if epochs is not None:
        spec.config.epochs = epochs
    xtr, ytr, xte, yte, make_input = load_data(spec, progress)
    trainer = Trainer(spec.net, spec.config, make_input)
    if resume is not None:
        trainer.resume(resume)
        log(f"resumed from {resume} at epoch {trainer.epoch}")
    checkpoint = Path(str(out) + ".ckpt.h5")
    start = time.perf_counter()
    test_acc = None
    while trainer.epoch < spec.config.epochs:
        stats = trainer.train_epoch(xtr, ytr, progress)
        test_acc = trainer.evaluate(xte, yte)
        stats["test_accuracy"] = test_acc
        log(f"epoch {stats['epoch']}/{spec.config.epochs}: loss {stats['loss']:.4f}, train "
            f"accuracy {stats['train_accuracy']:.2%}, test accuracy {test_acc:.2%}")
        trainer.save_checkpoint(checkpoint)
    spec.net.provenance = {
        "dataset": spec.data.dataset, "data_path": str(spec.data.path),
        "input_encoding": "current" if spec.data.encoding == "current" else "spikes",
        "train_samples": len(xtr), "test_samples": len(xte), "epochs": trainer.epoch,
        "seed": spec.config.seed, "trainer_test_accuracy": test_acc,
        "history": trainer.history, "spec": spec.source, "eventsim_version": __version__,
        "train_seconds_this_run": round(time.perf_counter() - start, 1),
    }
    save_network(spec.net, out)
    return spec.net.provenance
