"""Writes snntorch_rsnn.nir with snnTorch itself (export_to_nir): a recurrent SNN,
Linear(5, 8) - RLeaky(8, all-to-all recurrent Linear with bias) - Linear(8, 3) - Leaky(3); and
snnTorch's own spikes for a seeded input (snntorch_rsnn_io.npz) under two RLeaky resets:
``reset_mechanism="zero", reset_delay=False`` (what snnTorch's own import_from_nir builds from
such a graph) and ``reset_delay=True`` (snnTorch's default delay). The graph is the same for
both (it records no reset). Needs torch and snntorch (not eventsim dependencies):

    python tests/data/make_snntorch_rsnn.py     # from the repository root

Per-neuron beta and threshold, ``ignore_dims=[0]``: see make_snntorch.py.
"""
from pathlib import Path

import nir
import numpy as np
import snntorch
import torch
from snntorch.export_nir import export_to_nir

HERE = Path(__file__).parent


def build(reset_delay: bool) -> torch.nn.Sequential:
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 8),
        snntorch.RLeaky(beta=torch.full((8,), 0.9), threshold=torch.ones(8), linear_features=8,
                        init_hidden=True, reset_mechanism="zero", reset_delay=reset_delay),
        torch.nn.Linear(8, 3),
        snntorch.Leaky(beta=torch.full((3,), 0.8), threshold=torch.ones(3), init_hidden=True,
                       reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[1].recurrent.weight.mul_(1.5)
        net[2].weight.mul_(6.0)
    return net


def run(net: torch.nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Spikes of the RLeaky and the Leaky layer, (T, n), one step per row of x."""
    for m in net:
        if isinstance(m, (snntorch.RLeaky, snntorch.Leaky)):
            m.reset_hidden()
    out = [[], []]
    with torch.no_grad():
        for row in torch.from_numpy(x):
            h = net[1](net[0](row[None]))
            out[0].append(h[0].numpy().copy())
            out[1].append(net[3](net[2](h))[0].numpy().copy())
    return [np.array(o) for o in out]


rng = np.random.default_rng(3)
x = (rng.random((60, 5)) < 0.4).astype(np.float32)
io = {"x": x}
for name, delay in (("nodelay", False), ("delay", True)):
    for k, s in enumerate(run(build(delay), x)):
        io[f"{name}_spikes{k}"] = s
graph = export_to_nir(build(False), torch.zeros(1, 5), ignore_dims=[0])
nir.write(str(HERE / "snntorch_rsnn.nir"), graph)
np.savez_compressed(HERE / "snntorch_rsnn_io.npz", **io)
print(snntorch.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()}, graph.edges)
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})
