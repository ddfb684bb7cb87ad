"""Writes sinabs_cnn.nir with Sinabs itself (sinabs.to_nir), and Sinabs' own spikes for seeded
input frames (sinabs_cnn_io.npz): a Speck-shaped CNN whose sum-poolings feed a convolution and
a Flatten-Linear directly, with no neurons between (Conv-IAF-SumPool-Conv-IAF-SumPool-Flatten-
Linear-IAF, no biases, SingleSpike, MembraneSubtract). Needs torch and sinabs (not eventsim
dependencies; Sinabs 3.1.3 pins nir 1.0.4 and nirtorch 2.0.2, which wrote the file):

    python tests/data/make_sinabs_cnn.py     # from the repository root
"""
from pathlib import Path

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch

HERE = Path(__file__).parent
torch.manual_seed(2)
one = sinabs.activation.SingleSpike  # eventsim spikes are binary: no MultiSpike


def iaf() -> sl.IAFSqueeze:
    return sl.IAFSqueeze(batch_size=1, spike_fn=one)


net = torch.nn.Sequential(
    torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
    torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(16, 5, bias=False), iaf())
with torch.no_grad():
    net[0].weight.mul_(2.0)
    net[3].weight.mul_(1.5)
    net[7].weight.mul_(2.0)
rng = np.random.default_rng(2)
frames = (rng.random((40, 2, 8, 8)) < 0.3).astype(np.float32)
io = {"x": frames}
with torch.no_grad():
    h, k = torch.from_numpy(frames), 0   # (T, C, H, W): batch 1 squeezed with time
    for m in net:
        h = m(h)
        if isinstance(m, sl.IAFSqueeze):
            io[f"spikes{k}"] = h.numpy().reshape(len(frames), -1).copy()
            k += 1
graph = sinabs.to_nir(net, torch.zeros(1, 2, 8, 8))
# Sinabs 3.1.3 leaves the input types of Conv2d, SumPool2d and Flatten as None, which
# nir.write cannot store; nir's own type inference fills them in
graph.infer_types()
nir.write(str(HERE / "sinabs_cnn.nir"), graph)
np.savez_compressed(HERE / "sinabs_cnn_io.npz", **io)
print(sinabs.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()})
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})
