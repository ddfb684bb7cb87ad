"""Writes snntorch_mlp.nir with snnTorch itself (export_to_nir), and snnTorch's own spikes
for a seeded input under three reset rules (snntorch_mlp_io.npz); and snntorch_cnn.nir, a
small conv - pool - dense network, with its spikes (snntorch_cnn_io.npz). Needs torch and snntorch
(not eventsim dependencies):

    python tests/data/make_snntorch.py     # from the repository root

beta and threshold are per-neuron tensors and the batch axis is ignored: with a scalar beta
snnTorch 1.0 writes LIF nodes of input type [] and its exporter's own type inference fails
with nir 1.0.8 (snntorch issues #334, #410). The graph does not record the reset rule, so
the file is the same for all three; the spikes are recorded for each.
"""
from pathlib import Path

import nir
import numpy as np
import snntorch
import torch
from snntorch.export_nir import export_to_nir

HERE = Path(__file__).parent
SIZES = (5, 8, 3)
BETAS = (0.9, 0.8)


def build(reset: str, reset_delay: bool) -> torch.nn.Sequential:
    torch.manual_seed(0)
    layers = []
    for n_in, n_out, beta in zip(SIZES[:-1], SIZES[1:], BETAS):
        layers += [torch.nn.Linear(n_in, n_out),
                   snntorch.Leaky(beta=torch.full((n_out,), beta), threshold=torch.ones(n_out),
                                  init_hidden=True, reset_mechanism=reset,
                                  reset_delay=reset_delay)]
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    return net


def run(net: torch.nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Spikes of each Leaky layer, (T, n), one step per row of x."""
    for m in net:
        if isinstance(m, snntorch.Leaky):
            m.reset_hidden()
    out = [[], []]
    with torch.no_grad():
        for row in torch.from_numpy(x):
            h = row[None]
            for k in range(2):
                h = net[2 * k + 1](net[2 * k](h))
                out[k].append(h[0].numpy().copy())
    return [np.array(o) for o in out]


rng = np.random.default_rng(0)
x = (rng.random((50, SIZES[0])) < 0.5).astype(np.float32)
runs = {"zero": build("zero", True), "subtract": build("subtract", False),
        "subtract_delayed": build("subtract", True)}
io = {"x": x}
for name, net in runs.items():
    for k, s in enumerate(run(net, x)):
        io[f"{name}_spikes{k}"] = s
graph = export_to_nir(runs["zero"], torch.zeros(1, SIZES[0]), ignore_dims=[0])
nir.write(str(HERE / "snntorch_mlp.nir"), graph)
np.savez_compressed(HERE / "snntorch_mlp_io.npz", **io)
print(snntorch.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()})
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})


def leaky(shape: tuple[int, ...], beta: float) -> snntorch.Leaky:
    return snntorch.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                          init_hidden=True, reset_mechanism="zero")


# A CNN with zero reset: Conv2d(pad 1) - Leaky - AvgPool2d - Leaky - Flatten - Linear - Leaky
torch.manual_seed(1)
cnn = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), leaky((4, 8, 8), 0.9),
                          torch.nn.AvgPool2d(2), leaky((4, 4, 4), 0.7), torch.nn.Flatten(),
                          torch.nn.Linear(64, 5), leaky((5,), 0.8))
with torch.no_grad():
    cnn[0].weight.mul_(3.0)
    cnn[5].weight.mul_(4.0)
frames = (rng.random((40, 2, 8, 8)) < 0.3).astype(np.float32)
cnn_io = {"x": frames}
with torch.no_grad():
    for m in cnn:
        if isinstance(m, snntorch.Leaky):
            m.reset_hidden()
    out = [[], [], []]
    for frame in torch.from_numpy(frames):
        h, k = frame[None], 0
        for m in cnn:
            h = m(h)
            if isinstance(m, snntorch.Leaky):
                out[k].append(h[0].numpy().reshape(-1).copy())
                k += 1
cnn_io.update({f"spikes{k}": np.array(o) for k, o in enumerate(out)})
graph = export_to_nir(cnn, torch.zeros(1, 2, 8, 8), ignore_dims=[0])
nir.write(str(HERE / "snntorch_cnn.nir"), graph)
np.savez_compressed(HERE / "snntorch_cnn_io.npz", **cnn_io)
print({k: type(v).__name__ for k, v in graph.nodes.items()})
print({k: int(v.sum()) for k, v in cnn_io.items() if "spikes" in k})
