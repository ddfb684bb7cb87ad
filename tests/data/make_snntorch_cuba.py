"""Writes snntorch_cuba.nir with snnTorch itself (export_to_nir, snnTorch 1.0.0): a recurrent
current-based SNN, Linear(5, 8) - RSynaptic(8, all-to-all recurrent Linear with bias) -
Linear(8, 3) - Leaky(3, ``reset_mechanism="none"``) readout; and snnTorch's own states for a
seeded input (snntorch_cuba_io.npz). Needs torch and snntorch (not eventsim dependencies):

    python tests/data/make_snntorch_cuba.py     # from the repository root

The readout is the leaky integrator of snnTorch's regression tutorial (docs/tutorials/
tutorial_regression_1.rst: ``snn.Leaky(..., reset_mechanism="none")``, its membrane read out).
snnTorch 1.0.0 has no non-spiking neuron to export: export_to_nir writes this Leaky as an
``LIF`` (threshold 1, ``v_reset`` 0) and records neither that it never resets nor ``output``.
The weights keep its membrane below 1 (``*_spikes1`` is all zeros), so reading the node as an LIF
or as an LI gives the same membrane; a readout that crossed 1 would reset only in the reader.

RSynaptic variants (the graph records no reset and no delay; it is the same for both):

- ``delay``: ``reset_mechanism="zero"`` with snnTorch's default ``reset_delay=True``, snnTorch's
  own unmodified output. A spike at step t leaves ``mem`` above threshold at t; at t+1 the whole
  update is dropped (mem = 0), the synaptic current is not reset.
- ``nodelayfix``: what ``reset_delay=False`` is meant to do. snnTorch 1.0.0's RSynaptic cannot
  run it: its reset_delay=False branch divides the ``spk`` forward argument (None unless passed)
  and writes a local ``mem``, so it raises TypeError (and with states passed in, does nothing).
  Here RSynaptic runs with reset_delay=True and, after each step, the reset of snnTorch's
  Synaptic/RLeaky reset_delay=False branch is applied to the layer's own state
  (mem -= (spk - reset) * mem), so the spiking step's membrane reads 0. This is what snnTorch's
  import_from_nir means for a CubaLIF (it builds RSynaptic/Synaptic with reset_delay=False).

Keys: x (60, 5); <variant>_spikes0, _syn0, _mem0 (60, 8): RSynaptic spikes, synaptic current and
membrane after each step; <variant>_mem1 (60, 3): readout membrane after each step;
<variant>_spikes1 (60, 3): the readout's (unused) spikes, mem1 > 1. alpha, beta and threshold
as per-neuron tensors of one value (eventsim has one per layer): nir.write cannot store 0-d
tensors; ``ignore_dims=[0]``: see make_snntorch.py.
"""
from pathlib import Path

import nir
import numpy as np
import snntorch
import torch
from snntorch.export_nir import export_to_nir

HERE = Path(__file__).parent
ALPHA = torch.full((8,), 0.7)  # one value per layer, as per-neuron tensors (see below)
BETA = torch.full((8,), 0.9)
BETA_OUT = torch.full((3,), 0.8)


def build() -> torch.nn.Sequential:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 8),
        snntorch.RSynaptic(alpha=ALPHA.clone(), beta=BETA.clone(), threshold=torch.ones(8),
                           linear_features=8, init_hidden=True, reset_mechanism="zero"),
        torch.nn.Linear(8, 3),
        snntorch.Leaky(beta=BETA_OUT.clone(), threshold=torch.ones(3), init_hidden=True,
                       reset_mechanism="none", output=True))
    with torch.no_grad():  # every neuron spikes, none every step; readout membrane stays < 1
        net[0].weight.copy_(torch.randn(8, 5) * 0.1 + 0.06)
        net[0].bias.uniform_(-0.02, 0.02)
        net[1].recurrent.weight.copy_(torch.randn(8, 8) * 0.1)
        net[1].recurrent.bias.uniform_(-0.02, 0.02)
        net[2].weight.copy_(torch.randn(3, 8) * 0.08)
        net[2].bias.uniform_(-0.02, 0.02)
    return net


def run(net: torch.nn.Sequential, x: np.ndarray, fix_nodelay: bool) -> dict:
    """snnTorch's states, (T, n), one step per row of x."""
    out = {k: [] for k in ("spikes0", "syn0", "mem0", "spikes1", "mem1")}
    rsyn, leaky = net[1], net[3]
    with torch.no_grad():
        for row in torch.from_numpy(x):
            s = rsyn(net[0](row[None]))
            if fix_nodelay:  # synaptic.py's reset_delay=False branch, on the layer's own state
                rsyn.mem = rsyn.mem - (rsyn.spk - rsyn.reset) * rsyn.mem
            s1, m1 = leaky(net[2](s))
            for k, v in (("spikes0", s), ("syn0", rsyn.syn), ("mem0", rsyn.mem),
                         ("spikes1", s1), ("mem1", m1)):
                out[k].append(v[0].numpy().copy())
    return {k: np.array(v, dtype=np.float32) for k, v in out.items()}


rng = np.random.default_rng(5)
x = (rng.random((60, 5)) < 0.4).astype(np.float32)
io = {"x": x}
for name, fix in (("delay", False), ("nodelayfix", True)):
    for k, v in run(build(), x, fix).items():
        io[f"{name}_{k}"] = v
graph = export_to_nir(build(), torch.zeros(1, 5), ignore_dims=[0])
nir.write(str(HERE / "snntorch_cuba.nir"), graph)
np.savez_compressed(HERE / "snntorch_cuba_io.npz", **io)
print(snntorch.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()}, graph.edges)
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})
