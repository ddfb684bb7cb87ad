"""Writes sinabs_mlp.nir with Sinabs itself (sinabs.to_nir), and Sinabs' own spikes for a
seeded input (sinabs_mlp_io.npz). Needs torch and sinabs (not eventsim dependencies):

    python tests/data/make_sinabs.py     # from the repository root
"""
from pathlib import Path

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch

HERE = Path(__file__).parent
torch.manual_seed(0)
one = sinabs.activation.SingleSpike  # eventsim spikes are binary: no MultiSpike
net = torch.nn.Sequential(torch.nn.Linear(5, 8), sl.IAF(spike_fn=one), torch.nn.Linear(8, 3),
                          sl.LIF(tau_mem=20.0, spike_fn=one))
with torch.no_grad():
    net[0].weight.mul_(3.0)
    net[2].weight.mul_(40.0)
rng = np.random.default_rng(0)
x = (rng.random((40, 5)) < 0.4).astype(np.float32)
with torch.no_grad():
    h1 = net[1](net[0](torch.from_numpy(x)[None]))       # (1, T, 8)
    h2 = net[3](net[2](h1))
graph = sinabs.to_nir(net, torch.zeros(1, 1, 5))
nir.write(str(HERE / "sinabs_mlp.nir"), graph)
np.savez_compressed(HERE / "sinabs_mlp_io.npz", x=x, spikes0=h1[0].numpy(), spikes1=h2[0].numpy())
print(sinabs.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()})
print("spikes", h1.sum().item(), h2.sum().item())
