"""Writes norse_cuba.nir with Norse itself (norse.torch.to_nir, Norse 1.1.0): a recurrent
current-based SNN, Linear(5, 8) - recurrent LIF population (8, all-to-all recurrent weights, no
self-connections, no bias) - Linear(8, 3) - LIBoxCell(3) readout, dt = 1 ms; and Norse's own
states for a seeded input (norse_cuba_io.npz). Needs torch and norse (not eventsim dependencies):

    python tests/data/make_norse_cuba.py     # from the repository root

The recurrent population runs as Norse's LIFRecurrentCell (input weights the identity after the
Linear, Norse's default ``autapses=False``), started from the state that LIFCell starts from
(v = v_leak, i = 0, z = 0): LIFRecurrentCell's own initial state calls torch.full with v_leak,
which fails for a per-neuron v_leak tensor. Norse 1.1.0's to_nir cannot export LIFRecurrentCell
(it maps it to None) nor LICell (None, which nir.write then fails on), so the graph is to_nir's
export of the same network built from a LIFCell (a CubaLIF node "1") and a LIBoxCell (an LI node
"3"), plus a node "rec" that Norse's own exporter function writes for the recurrent weights (a
bias-free Linear: an Affine with zero bias) and the two edges "1" -> "rec" -> "1" that close the
cycle, added by hand: to_nir traces module calls and cannot see a recurrence. The script checks
that LIFCell plus that Linear, fed the previous step's spikes, gives LIFRecurrentCell's states.

Norse 1.1.0's to_nir writes tau = dt / tau_inv (dt * tau, norse issue #411) and drops v_reset
(nir fills 0) and writes w_in = 1, r = 1. So the run keeps two variants: ``v_reset = -0.2`` (keys
without prefix) and ``v_reset = 0`` (``vreset0_`` keys), which is what the file says.

Keys: x (60, 5); spikes0, i0, v0 (60, 8): recurrent layer's spikes, synaptic current and membrane
(after reset) after each step, ``i`` as Norse stores it (already decayed for the next step);
v1 (60, 3): readout membrane after each step (LIBoxCell has no current). Every neuron parameter
is a per-neuron tensor: nir.write cannot store 0-d tensors. to_nir keeps the batch dimension in
the Input node's type ([1, 5], as in norse_mlp.nir): read the file with
``nir.read(path, type_check=False)``.
"""
from pathlib import Path

import nir
import norse
import norse.torch as nt
import numpy as np
import torch
from norse.torch.functional.lif import LIFState
from norse.torch.utils.export_nir import _extract_norse_module

HERE = Path(__file__).parent
DT_S = 1e-3


def params(v_reset: float) -> nt.LIFParameters:
    return nt.LIFParameters(tau_syn_inv=torch.full((8,), 200.0),
                            tau_mem_inv=torch.full((8,), 100.0),
                            v_leak=torch.full((8,), 0.1), v_th=torch.ones(8),
                            v_reset=torch.full((8,), v_reset))


def build(v_reset: float) -> dict:
    torch.manual_seed(5)
    lin0, lin1 = torch.nn.Linear(5, 8), torch.nn.Linear(8, 3)
    rcell = nt.LIFRecurrentCell(8, 8, p=params(v_reset), dt=DT_S, input_weights=torch.eye(8))
    readout = nt.LIBoxCell(nt.LIBoxParameters(tau_mem_inv=torch.full((3,), 50.0),
                                              v_leak=torch.full((3,), 0.05)), dt=DT_S)
    with torch.no_grad():  # every neuron spikes, none every step
        lin0.weight.copy_(torch.randn(8, 5) * 0.15 + 0.35)
        lin0.bias.uniform_(-0.05, 0.05)
        rcell.recurrent_weights.mul_(0.6)
        lin1.weight.mul_(3.0)
    rec = torch.nn.Linear(8, 8, bias=False)
    with torch.no_grad():
        rec.weight.copy_(rcell.recurrent_weights)
    return {"lin0": lin0, "rcell": rcell, "lin1": lin1, "readout": readout, "rec": rec,
            "cell": nt.LIFCell(params(v_reset), dt=DT_S)}


def run(m: dict, x: np.ndarray) -> dict:
    """Norse's states, (T, n), one step per row of x, LIFRecurrentCell and LIFCell + rec."""
    p = m["rcell"].p
    s = LIFState(z=torch.zeros(1, 8), v=p.v_leak.clone()[None], i=torch.zeros(1, 8))
    s_ff, z_ff, s1 = None, torch.zeros(1, 8), None
    out = {k: [] for k in ("spikes0", "i0", "v0", "v1")}
    with torch.no_grad():
        for row in torch.from_numpy(x):
            h = m["lin0"](row[None])
            z, s = m["rcell"](h, s)
            z_ff, s_ff = m["cell"](h + m["rec"](z_ff), s_ff)  # previous step's spikes
            assert torch.equal(z, z_ff) and torch.allclose(s.v, s_ff.v, atol=1e-6) \
                and torch.allclose(s.i, s_ff.i, atol=1e-6)
            v1, s1 = m["readout"](m["lin1"](z), s1)
            for k, v in (("spikes0", z), ("i0", s.i), ("v0", s.v), ("v1", v1)):
                out[k].append(v[0].numpy().copy())
    return {k: np.array(v, dtype=np.float32) for k, v in out.items()}


rng = np.random.default_rng(0)
x = (rng.random((60, 5)) < 0.4).astype(np.float32)
io = {"x": x}
for prefix, v_reset in (("", -0.2), ("vreset0_", 0.0)):
    for k, v in run(build(v_reset), x).items():
        io[prefix + k] = v
m = build(-0.2)
ff = nt.SequentialState(m["lin0"], m["cell"], m["lin1"], m["readout"])
graph = nt.to_nir(ff, torch.zeros(1, 5), dt=DT_S)
graph.nodes["rec"] = _extract_norse_module(m["rec"], dt=DT_S)
graph.edges += [("1", "rec"), ("rec", "1")]
nir.write(str(HERE / "norse_cuba.nir"), graph)
np.savez_compressed(HERE / "norse_cuba_io.npz", **io)
print(norse.__version__, {k: type(v).__name__ for k, v in graph.nodes.items()}, graph.edges)
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k})
