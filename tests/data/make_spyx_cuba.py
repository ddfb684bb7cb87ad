"""Writes spyx_cuba.nir with Spyx itself (spyx.nir.to_nir, Spyx 1.0.0 on JAX 0.10.2, Flax NNX
0.12.8, nir 1.0.8): a recurrent current-based SNN, Linear(5, 8, no bias) - RCuBaLIF(8, all-to-all
recurrent weights, autapses included, alpha 0.8, beta 0.9, threshold 1) - Linear(8, 3, no bias) -
LI(3, beta 0.85) readout, dt = 1 (Spyx's default: time constants in steps); and Spyx's own
states for a seeded input (spyx_cuba_io.npz). Needs spyx, jax, flax (not eventsim dependencies),
in a virtual environment of its own (CPU is enough):

    python -m venv /tmp/spyxenv && /tmp/spyxenv/bin/pip install spyx jax jaxlib nir numpy h5py
    /tmp/spyxenv/bin/python tests/data/make_spyx_cuba.py     # from the repository root

One step of RCuBaLIF (spyx/nn.py, RCuBaLIF.__call__, lines 584-598), state (V, I), float32:

    s = heaviside(V - threshold)     # from the PREVIOUS step's V; heaviside is x > 0 (axn.py:25-27)
    V = V - s * threshold            # subtractive reset, by the threshold, before the decay
    I = alpha * I + x + s @ W_rec    # this step's input and this step's output spikes
    V = beta * V + I                 # the new current, not the old one
    return s, (V, I)

so the spikes a step returns are those of the membrane the previous step left (a spike shows
one step after the step whose membrane crossed; the first step never spikes), they reach the
current (through W_rec) and the next layer in the step they are returned, and the reset is
decayed with the membrane (beta * (V - threshold)). alpha, beta are used directly, clipped to
[0, 1] (lines 587-588); the state starts at zero (initial_state, lines 600-601). LI (nn.py,
lines 130-137): V = beta * V + x, returning V. spyx.nn.run / Sequential (lines 736-745, 814-818)
scan these in layer order within each step.

spyx.nir.to_nir (spyx/nir.py, lines 474-672) writes no dt anywhere; ``dt`` (default 1) only
divides the time constants. RCuBaLIF becomes a nested NIRGraph "layer_1"
(_spyx_recurrent_to_nirgraph, lines 391-448) of a CubaLIF "layer_1.lif" with tau_syn =
dt / (1 - alpha), tau_mem = dt / (1 - beta), r = beta (not tau_mem / dt), w_in = 1 (nir's
default), v_leak = 0, v_threshold = threshold, v_reset = 0 (nir's default; Spyx resets by
subtraction), alpha and beta unclipped; a Linear "layer_1.w_rec" with weight W_rec.T (out, in);
and edges input -> w_rec, w_rec -> lif, lif -> w_rec, lif -> output: as written, the layer's
input passes through W_rec, which Spyx does not do (its importer, from_nir, lines 230-239 and
333-343, rebuilds RCuBaLIF from tau_syn, tau_mem, v_threshold and the w_rec weight only, and
feeds the input to the current unweighted). nnx.Linear without bias becomes a nir.Linear
(weight = kernel.T, lines 515-521). The Input node is the ``input_shape`` given, here
{"input": [5]}, no batch dimension (as in Spyx's own tests).

to_nir has no case for spyx.nn.LI: it prints "[Warning] Layer <class 'spyx.nn.LI'> not
recognized/supported for NIR export." and leaves the layer out (lines 661-665), wiring
layer_2 -> output. So the LI node "layer_3" here is the nir.LI that the same to_nir writes for
a PSU_LIF of the same beta (lines 610-629: tau = dt / (1 - beta) of the clipped beta, r = 1,
v_leak = 0; PSU_LIF.__call__'s V = beta * V + x, nn.py lines 315-316, is LI's recurrence,
checked below), without the nir.Threshold to_nir puts after it, and the edges layer_2 ->
layer_3 -> output, added by hand. Spyx's own from_nir refuses this file (an LI not followed by
a Threshold, nir.py lines 291-297); it reads the same graph without "layer_3" (checked below).

Read back: alpha = 1 - dt / tau_syn, beta = 1 - dt / tau_mem, LI beta = 1 - dt / tau (Spyx's
from_nir, lines 306, 330-343), dt = 1; r, w_in, v_leak, v_reset ignored. In the
"update, then spike" form, with h_t = layer_0.weight @ x_t and z_t = (V_t > threshold):
I_t = alpha I_(t-1) + h_t + w_rec.weight @ z_(t-1), V_t = beta (V_(t-1) - threshold z_(t-1)) +
I_t, and the layer's output at step t is z_(t-1) (what the next layer and the readout get).
(The feed-forward spyx.nn.CuBaLIF, nn.py lines 440-457, is the same step without s @ W_rec.)

Keys: x (60, 5), 0/1; spikes0 (60, 8): RCuBaLIF's returned spikes at each step (spikes0[t] =
v0[t-1] > 1, spikes0[0] = 0); v0, i0 (60, 8): its V (before the reset it gets at the next step)
and I after each step; v1 (60, 3): the LI readout's membrane after each step (the Sequential's
output); w0 (5, 8), w_rec (8, 8), w1 (8, 3): Spyx's kernels, (in, out); alpha, beta, beta_out,
threshold: float32 scalars. float32 throughout (Spyx's default). The script checks that the
recurrence above, written by hand in float64 from the file's parameters, gives Spyx's spikes
exactly and its states to float32 rounding.
"""
import contextlib
import io as _io
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import nir
import numpy as np
import spyx
import spyx.nn as snn
from flax import nnx

HERE = Path(__file__).parent
T, N_IN, N_HID, N_OUT = 60, 5, 8, 3
ALPHA, BETA, BETA_OUT, THRESHOLD = 0.8, 0.9, 0.85, 1.0
DT = 1  # to_nir's default


def build() -> snn.Sequential:
    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Linear(N_IN, N_HID, use_bias=False, rngs=rngs),
        snn.RCuBaLIF((N_HID,), alpha=ALPHA, beta=BETA, threshold=THRESHOLD, rngs=rngs),
        nnx.Linear(N_HID, N_OUT, use_bias=False, rngs=rngs),
        snn.LI((N_OUT,), beta=BETA_OUT, rngs=rngs))
    rng = np.random.default_rng(11)  # every neuron spikes, none every step; W_rec matters
    model.layers[0].kernel[...] = jnp.asarray(rng.normal(0.04, 0.01, (N_IN, N_HID)), jnp.float32)
    model.layers[1].recurrent_w[...] = jnp.asarray(rng.normal(0.0, 0.03, (N_HID, N_HID)),
                                                   jnp.float32)
    model.layers[2].kernel[...] = jnp.asarray(rng.normal(0.0, 0.5, (N_HID, N_OUT)), jnp.float32)
    return model


def run(model: snn.Sequential, x: np.ndarray) -> dict:
    """Spyx's states, (T, n), one step per row of x: Sequential.__call__'s loop, layer by layer,
    in jax.lax.scan as spyx.nn.run does, keeping each layer's output and state."""
    def step(state, x_t):
        h = model.layers[0](x_t)
        s, vi = model.layers[1](h, state[1])
        v1, v1_state = model.layers[3](model.layers[2](s), state[3])
        v, i = jnp.split(vi, 2, -1)
        return [None, vi, None, v1_state], (s, v, i, v1)

    _, (s, v, i, v1) = jax.lax.scan(step, model.initial_state(1), jnp.asarray(x)[:, None])
    out = {k: np.asarray(a)[:, 0] for k, a in
           (("spikes0", s), ("v0", v), ("i0", i), ("v1", v1))}
    ref, _ = snn.run(model, jnp.asarray(x)[:, None])  # Spyx's own runner: the same readout
    assert np.array_equal(np.asarray(ref)[:, 0], out["v1"])
    return out


def li_node(beta: float) -> nir.LI:
    """The nir.LI Spyx's to_nir writes for a PSU_LIF (its reset-free membrane) of this beta."""
    psu = snn.PSU_LIF((N_OUT,), beta=beta, threshold=THRESHOLD, rngs=nnx.Rngs(0))
    g = spyx.nir.to_nir(snn.Sequential(psu), {"input": np.array([N_OUT])},
                        {"output": np.array([N_OUT])}, dt=DT)
    assert isinstance(g.nodes["layer_0_threshold"], nir.Threshold)
    return g.nodes["layer_0"]


def by_hand(g: nir.NIRGraph, x: np.ndarray) -> dict:
    """RCuBaLIF and LI written out from the file's parameters, float64, dt = 1."""
    sub, w0, w1 = g.nodes["layer_1"], g.nodes["layer_0"].weight, g.nodes["layer_2"].weight
    lif, w_rec = sub.nodes["layer_1.lif"], sub.nodes["layer_1.w_rec"].weight
    alpha, beta = 1 - DT / lif.tau_syn.astype(float), 1 - DT / lif.tau_mem.astype(float)
    beta_out, th = 1 - DT / g.nodes["layer_3"].tau.astype(float), lif.v_threshold
    v, i, v1 = np.zeros(N_HID), np.zeros(N_HID), np.zeros(N_OUT)
    out = {k: [] for k in ("spikes0", "v0", "i0", "v1")}
    for x_t in x.astype(float):
        s = (v > th).astype(float)  # the previous step's membrane
        v = v - s * th
        i = alpha * i + w0 @ x_t + w_rec @ s
        v = beta * v + i
        v1 = beta_out * v1 + w1 @ s
        for k, a in (("spikes0", s), ("v0", v), ("i0", i), ("v1", v1)):
            out[k].append(a)
    return {k: np.array(a) for k, a in out.items()}


rng = np.random.default_rng(3)
x = (rng.random((T, N_IN)) < 0.3).astype(np.float32)
model = build()
rec = run(model, x)
f32 = np.float32
io = {"x": x, **rec, "w0": np.asarray(model.layers[0].kernel[...]),
      "w_rec": np.asarray(model.layers[1].recurrent_w[...]),
      "w1": np.asarray(model.layers[2].kernel[...]), "alpha": f32(ALPHA), "beta": f32(BETA),
      "beta_out": f32(BETA_OUT), "threshold": f32(THRESHOLD)}

# PSU_LIF's membrane is LI's: the same beta on the readout's input gives v1 bit for bit
psu = snn.PSU_LIF((N_OUT,), beta=BETA_OUT, threshold=THRESHOLD, rngs=nnx.Rngs(0))
_, v_psu = jax.lax.scan(lambda v, s: (psu(model.layers[2](s), v)[1],) * 2, psu.initial_state(1),
                        jnp.asarray(rec["spikes0"])[:, None])
assert np.array_equal(np.asarray(v_psu)[:, 0], rec["v1"])

said = _io.StringIO()
with contextlib.redirect_stdout(said):
    graph = spyx.nir.to_nir(model, {"input": np.array([N_IN])}, {"output": np.array([N_OUT])},
                            dt=DT)
assert "spyx.nn.LI" in said.getvalue() and "not recognized" in said.getvalue()
assert graph.edges[-1] == ("layer_2", "output") and "layer_3" not in graph.nodes
graph.nodes["layer_3"] = li_node(BETA_OUT)
graph.edges = graph.edges[:-1] + [("layer_2", "layer_3"), ("layer_3", "output")]
nir.write(str(HERE / "spyx_cuba.nir"), graph)
np.savez_compressed(HERE / "spyx_cuba_io.npz", **io)

back = nir.read(str(HERE / "spyx_cuba.nir"))
hand = by_hand(back, x)
assert np.array_equal(hand["spikes0"], rec["spikes0"])
err = {k: float(np.abs(hand[k] - rec[k]).max()) for k in ("v0", "i0", "v1")}
assert max(err.values()) < 1e-5, err
margin = float(np.abs(rec["v0"] - THRESHOLD).min())

# Spyx's own importer: refuses the LI, reads the rest as RCuBaLIF with the same states
try:
    spyx.nir.from_nir(back, jnp.asarray(x)[:, None], dt=DT)
    raise AssertionError("from_nir read an LI without a Threshold")
except ValueError as e:
    refusal = str(e)
back.nodes.pop("layer_3")
back.edges = [e for e in back.edges if "layer_3" not in e] + [("layer_2", "output")]
_, (_, states) = spyx.nir.from_nir(back, jnp.asarray(x)[:, None], dt=DT,
                                   return_all_states=True)
v_in, i_in = (np.asarray(a)[:, 0] for a in jnp.split(states[1], 2, -1))
assert np.allclose(v_in, rec["v0"], atol=1e-5) and np.allclose(i_in, rec["i0"], atol=1e-5)

print("spyx", spyx.__version__, "jax", jax.__version__, "flax", flax.__version__,
      "nir", nir.__version__)
print({k: type(v).__name__ for k, v in graph.nodes.items()}, graph.edges)
print("layer_1:", graph.nodes["layer_1"].edges)
print("hidden spikes:", int(rec["spikes0"].sum()), "per neuron:", rec["spikes0"].sum(0),
      "readout |v1| max:", float(np.abs(rec["v1"]).max()))
print("hand vs Spyx, max |diff|:", err, "closest |v0 - threshold|:", margin)
print("from_nir on the file:", refusal)
