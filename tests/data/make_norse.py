"""Writes norse_mlp.nir with Norse itself (norse.torch.to_nir, Norse 1.1.0), and Norse's own
spikes for a seeded input with its value (zero) and subtract resets (norse_mlp_io.npz); the
graph does not record the reset, so the file is the same for both. Needs torch and norse (not eventsim
dependencies):

    python tests/data/make_norse.py     # from the repository root

Every neuron parameter is a per-neuron tensor: with Norse's scalar defaults the graph holds
0-d tensors, which nir.write cannot store. Norse 1.1.0 writes tau = dt * tau_mem (dt / tau_mem_inv,
norse issue #411): read it with tau_scale = 1 / dt.
"""
from pathlib import Path

import nir
import norse
import norse.torch as nt
import numpy as np
import torch
from norse.torch.functional.reset import reset_subtract, reset_value

HERE = Path(__file__).parent
SIZES = (5, 8, 3)
TAUS_S = (0.01, 0.005)
DT_S = 1e-3


def lif_box(n: int, tau_s: float, reset) -> nt.LIFBoxCell:
    p = nt.LIFBoxParameters(tau_mem_inv=torch.full((n,), 1 / tau_s), v_leak=torch.zeros(n),
                            v_th=torch.ones(n), v_reset=torch.zeros(n), reset_method=reset)
    return nt.LIFBoxCell(p, dt=DT_S)


def build(reset) -> nt.SequentialState:
    torch.manual_seed(0)
    net = nt.SequentialState(torch.nn.Linear(SIZES[0], SIZES[1]),
                             lif_box(SIZES[1], TAUS_S[0], reset),
                             torch.nn.Linear(SIZES[1], SIZES[2]),
                             lif_box(SIZES[2], TAUS_S[1], reset))
    with torch.no_grad():
        net[0].weight.mul_(10.0)
        net[2].weight.mul_(25.0)
    return net


def run(net: nt.SequentialState, x: np.ndarray) -> list[np.ndarray]:
    """Spikes of each LIFBox layer, (T, n), one Norse step per row of x."""
    out, state = [[], []], [None, None]
    with torch.no_grad():
        for row in torch.from_numpy(x):
            h = row[None]
            for k in range(2):
                h, state[k] = net[2 * k + 1](net[2 * k](h), state[k])
                out[k].append(h[0].numpy().copy())
    return [np.array(o) for o in out]


rng = np.random.default_rng(0)
x = (rng.random((60, SIZES[0])) < 0.5).astype(np.float32)
io = {"x": x}
nets = {"zero": build(reset_value), "subtract": build(reset_subtract)}
for name, net in nets.items():
    for k, s in enumerate(run(net, x)):
        io[f"{name}_spikes{k}"] = s
graph = nt.to_nir(nets["zero"], torch.zeros(1, SIZES[0]), dt=DT_S)
nir.write(str(HERE / "norse_mlp.nir"), graph)
np.savez_compressed(HERE / "norse_mlp_io.npz", **io)
print(norse.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()})
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})
