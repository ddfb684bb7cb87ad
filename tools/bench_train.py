"""One training epoch of the N-MNIST MLP: eventsim's STBP trainer vs PyTorch autograd BPTT.

2312-800-10, decay 0.2, v_th 0.5, zero reset, rectangular surrogate (a = 1), MSE between the
output rate and the one-hot label, Adam 1e-3, float32, batch 32, the 1000 N-MNIST training
recordings at 10 ms bins (T = 30), the same initial weights and batch size, one thread for
both. PyTorch is needed for this tool only (``pip install torch``).

    python tools/bench_train.py [--epochs 2]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
import time

import numpy as np

import eventsim
from _machine import command_line, data_dir, machine_line
from eventsim.train.data import batches, load_nmnist_folder
from eventsim.train.trainer import TrainConfig, Trainer

T, DT_US, BATCH = 30, 10_000, 32


def torch_epoch(torch, W1, W2, x, y, order, opt_state):
    """One epoch of the same network in PyTorch autograd (the STBP authors' formulation)."""
    w1, w2, opt = opt_state

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u >= 0.5).float()

        @staticmethod
        def backward(ctx, grad):
            (u,) = ctx.saved_tensors
            return grad * ((u - 0.5).abs() < 0.5).float()

    losses = []
    for idx in order:
        xb = torch.from_numpy(np.swapaxes(x[idx], 0, 1).reshape(T, len(idx), -1).astype(np.float32))
        target = torch.nn.functional.one_hot(torch.from_numpy(y[idx]), 10).float()
        u1 = o1 = torch.zeros(len(idx), 800)
        u2 = o2 = torch.zeros(len(idx), 10)
        rate = torch.zeros(len(idx), 10)
        for t in range(T):
            u1 = u1 * 0.2 * (1 - o1) + xb[t] @ w1.T
            o1 = Spike.apply(u1)
            u2 = u2 * 0.2 * (1 - o2) + o1 @ w2.T
            o2 = Spike.apply(u2)
            rate = rate + o2
        loss = torch.nn.functional.mse_loss(rate / T, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed (median reported)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(command_line())
    print(machine_line() + f", torch {torch.__version__} (1 thread)")
    x, y = load_nmnist_folder(data_dir() / "nmnist", "Train", dt_us=DT_US, T=T, progress=False)
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[0.02, 0.035], seed=0)
    W1, W2 = (net.layers[i].weight.astype(np.float32) for i in (0, 1))
    w1 = torch.tensor(W1, requires_grad=True)
    w2 = torch.tensor(W2, requires_grad=True)
    opt = torch.optim.Adam([w1, w2], lr=1e-3)

    config = TrainConfig(epochs=args.epochs, batch_size=BATCH, seed=0)
    trainer = Trainer(net, config, lambda xb, rng, augment: np.swapaxes(xb, 0, 1))
    ours, theirs = [], []
    for epoch in range(args.epochs):
        order = batches(len(x), BATCH, np.random.default_rng(epoch))
        t0 = time.perf_counter()
        torch_losses = torch_epoch(torch, W1, W2, x, y, order, (w1, w2, opt))
        theirs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stats = trainer.train_epoch(x, y, progress=False)
        ours.append(time.perf_counter() - t0)
        print(f"epoch {epoch + 1}: eventsim {ours[-1]:.2f} s (loss {stats['loss']:.4f}), "
              f"torch {theirs[-1]:.2f} s (loss {np.mean(torch_losses):.4f})", flush=True)
    t_ours, t_theirs = float(np.median(ours)), float(np.median(theirs))
    print(f"median epoch: eventsim {t_ours:.2f} s, torch autograd {t_theirs:.2f} s, "
          f"ratio {t_ours / t_theirs:.2f}x (<= 1 means eventsim is at least as fast)")


if __name__ == "__main__":
    main()
