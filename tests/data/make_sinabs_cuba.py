"""Writes sinabs_cuba.nir with Sinabs itself (sinabs.to_nir, Sinabs 3.1.3, nir 1.0.4, nirtorch
2.0.2): Linear(5, 8, no bias) - LIF(tau_mem=5, tau_syn=2: a current-based LIF, SingleSpike,
MembraneSubtract, norm_input=True, the defaults otherwise) - Linear(8, 3, no bias) -
ExpLeak(tau_mem=8, its default norm_input=False); and Sinabs' own states for a seeded input
(sinabs_cuba_io.npz). Needs torch and sinabs (not eventsim dependencies; in a separate venv,
as Sinabs pins nir<=1.0.4):

    python tests/data/make_sinabs_cuba.py     # from the repository root

Sinabs' step (tau counts steps; the state starts at 0, sinabs/layers/stateful_layer.py line
90; sinabs/layers/functional/lif.py, per neuron, x = the layer's input at step t):

    LIF:     i = a_syn * (i + x)          a_syn = exp(-1 / tau_syn)   (lines 19-20)
             v = a_mem * v + (1 - a_mem) * i   a_mem = exp(-1 / tau_mem) (lines 24-30)
             s = (v - 1 >= 0)             SingleSpike, activation/spike_generation.py line 122
             v = v - s * 1                MembraneSubtract, activation/reset_mechanism.py line 45
    ExpLeak: v = a * v + x                a = exp(-1 / 8): no current, no spike (its output is
             v, lines 37-39), and no (1 - a) (ExpLeak's norm_input defaults to False)

The current takes the input first, decayed once (x adds a_syn * x to i), and v uses the new i
in the same step; the recorded v0 is after the reset.

What the file says: Sinabs 3.1.3's to_nir maps sl.LIF to nir.LIF(tau=tau_mem, r=1, v_leak=0,
v_threshold) whatever tau_syn is (sinabs/nir.py lines 164-171): tau_syn, norm_input, spike_fn
and reset_fn are not written, and neither are v_reset (nir reads it as 0) nor any metadata (no
dt). ExpLeak becomes nir.LI(tau, r=1, v_leak=0) (lines 172-177), norm_input not written. Every
neuron field is a 0-d array (the layers' scalars); the Input node keeps to_nir's leading axis
([1, 5]), as in sinabs_mlp.nir, so nir 1.0.8 reads it with ``nir.read(path,
type_check=False)`` only. Sinabs cannot export LIFRecurrent (NotImplementedError, nir.py line
230), so the network is feed-forward; and sinabs.from_nir cannot read this file back (nir.py
line 96 calls .unsqueeze on the numpy scalar v_leak).

So the fixture carries two runs of the same weights and input:

* the network as built (keys without prefix): x (60, 5) 0/1 input (seed 7, 29% ones); spikes0,
  i0, v0 (60, 8): hidden spikes, synaptic current i_syn and membrane v_mem (after the reset)
  after each step, as Sinabs records them (record_states=True); v1 (60, 3): the ExpLeak
  membrane (its output) after each step; v1_norm_input: the same readout with
  ExpLeak(norm_input=True), v = a * v + (1 - a) * x, which is (1 - exp(-1/8)) * v1.
* the network the file describes (nosyn_ keys): the LIF built with tau_syn=None (i = x, lines
  21-22: the input straight into v with gain 1 - a_mem), all else equal: nosyn_spikes0,
  nosyn_v0, nosyn_v1, nosyn_v1_norm_input. Sinabs' convention for the file (tau in steps, zoh
  gain 1 - exp(-1/tau), subtract reset) gives nosyn_spikes0 and nosyn_v1_norm_input, not
  spikes0 (tau_syn is lost) nor nosyn_v1 (ExpLeak's default gain is 1, not 1 - a).

tau_mem, tau_syn and tau_readout (0-d, in steps) are stored too: tau_syn is in no file.
The script checks a plain numpy recurrence, with the weights, tau and threshold read back from
the file (and tau_syn from here), against both runs: spikes equal and no membrane within 1e-4
of the threshold, states to float32 rounding.
"""
from pathlib import Path

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch

HERE = Path(__file__).parent
T, TAU_MEM, TAU_SYN, TAU_OUT = 60, 5.0, 2.0, 8.0
one = sinabs.activation.SingleSpike  # eventsim spikes are binary: no MultiSpike


def build(tau_syn, norm_out: bool) -> torch.nn.Sequential:
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 8, bias=False),
        sl.LIF(tau_mem=TAU_MEM, tau_syn=tau_syn, spike_fn=one,
               reset_fn=sinabs.activation.MembraneSubtract(), record_states=True),
        torch.nn.Linear(8, 3, bias=False),
        sl.ExpLeak(tau_mem=TAU_OUT, norm_input=norm_out))
    with torch.no_grad():  # every hidden neuron fires, none every step
        net[0].weight.copy_(torch.randn(8, 5) * 0.4 + 0.8)
        net[2].weight.mul_(1.5)
    return net


def run(net: torch.nn.Sequential, x: np.ndarray) -> dict:
    for m in net:
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()
    with torch.no_grad():
        s = net[1](net[0](torch.from_numpy(x)[None]))         # (1, T, 8)
        v1 = net[3](net[2](s))                                # ExpLeak's output is v_mem
    rec = net[1].recordings
    out = {"spikes0": s[0], "v0": rec["v_mem"][0], "v1": v1[0]}
    if "i_syn" in rec:
        out["i0"] = rec["i_syn"][0]
    return {k: v.numpy().astype(np.float32) for k, v in out.items()}


def by_hand(g: nir.NIRGraph, x: np.ndarray, tau_syn, norm_out: bool) -> dict:
    """Sinabs' step in float64 from the file's nodes "0"-"3" (tau_syn None: no current)."""
    w0, w1 = (np.asarray(g.nodes[k].weight, np.float64) for k in ("0", "2"))
    lif, li = g.nodes["1"], g.nodes["3"]
    assert not np.asarray(g.nodes["0"].bias).any() and not np.asarray(g.nodes["2"].bias).any()
    assert float(lif.r) == 1 and float(lif.v_leak) == 0 and float(li.r) == 1
    a_mem, th = np.exp(-1 / float(lif.tau)), float(lif.v_threshold)
    a_syn = None if tau_syn is None else np.exp(-1 / tau_syn)
    a_out = np.exp(-1 / float(li.tau))
    i, v, v1 = np.zeros(8), np.zeros(8), np.zeros(3)
    out = {k: [] for k in ("spikes0", "i0", "v0", "v1", "margin")}
    for row in x.astype(np.float64):
        h = w0 @ row
        i = h if a_syn is None else a_syn * (i + h)
        v = a_mem * v + (1 - a_mem) * i
        s = (v - th >= 0).astype(np.float64)
        out["margin"].append(np.abs(v - th))
        v = v - s * th
        v1 = a_out * v1 + ((1 - a_out) if norm_out else 1.0) * (w1 @ s)
        for k, val in (("spikes0", s), ("i0", i), ("v0", v), ("v1", v1)):
            out[k].append(val)
    return {k: np.array(val) for k, val in out.items()}


rng = np.random.default_rng(7)
x = (rng.random((T, 5)) < 0.3).astype(np.float32)
io = {"x": x, "tau_mem": np.float32(TAU_MEM), "tau_syn": np.float32(TAU_SYN),
      "tau_readout": np.float32(TAU_OUT)}
for prefix, tau_syn in (("", TAU_SYN), ("nosyn_", None)):
    for norm_out in (False, True):
        got = run(build(tau_syn, norm_out), x)
        if norm_out:
            io[prefix + "v1_norm_input"] = got["v1"]
        else:
            io.update({prefix + k: v for k, v in got.items()})

net = build(TAU_SYN, False)
graph = sinabs.to_nir(net, torch.zeros(1, 1, 5))
nir.write(str(HERE / "sinabs_cuba.nir"), graph)
np.savez_compressed(HERE / "sinabs_cuba_io.npz", **io)

g = nir.read(str(HERE / "sinabs_cuba.nir"))
assert type(g.nodes["1"]).__name__ == "LIF" and type(g.nodes["3"]).__name__ == "LI"
for prefix, tau_syn in (("", TAU_SYN), ("nosyn_", None)):
    for norm_out, v1_key in ((False, "v1"), (True, "v1_norm_input")):
        hand = by_hand(g, x, tau_syn, norm_out)
        assert np.array_equal(hand["spikes0"], io[prefix + "spikes0"]), prefix
        assert hand["margin"].min() > 1e-4, hand["margin"].min()   # no near-ties
        np.testing.assert_allclose(hand["v0"], io[prefix + "v0"], rtol=0, atol=2e-6)
        np.testing.assert_allclose(hand["v1"], io[prefix + v1_key], rtol=0, atol=2e-6)
        if tau_syn is not None:
            np.testing.assert_allclose(hand["i0"], io["i0"], rtol=0, atol=2e-6)
np.testing.assert_allclose(io["v1_norm_input"], (1 - np.exp(-1 / TAU_OUT)) * io["v1"],
                           rtol=0, atol=2e-6)
print(sinabs.__version__, torch.__version__, nir.__version__,
      {k: type(v).__name__ for k, v in graph.nodes.items()})
print({k: int(v.sum()) for k, v in io.items() if "spikes" in k},
      "spikes per neuron", io["spikes0"].sum(0).astype(int).tolist(),
      "steps where the two runs' spikes differ", int((io["spikes0"] != io["nosyn_spikes0"])
                                                     .any(1).sum()))
