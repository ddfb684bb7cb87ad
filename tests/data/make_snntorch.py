"""Writes snntorch_mlp.nir with snnTorch itself (export_to_nir), and snnTorch's own spikes
for a seeded input under three reset rules (snntorch_mlp_io.npz). Needs torch and snntorch
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
