"""Current-based LIF and leaky-integrator nodes from NIR files snnTorch and Norse wrote
(tests/data/make_snntorch_cuba.py, make_norse_cuba.py), run as those frameworks ran them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

import eventsim
from eventsim.errors import EventsimWarning, NetworkError
from eventsim.network.graph import Graph, as_graph
from eventsim.network.reference import simulate_dense

DATA = Path(__file__).parents[1] / "data"
#: snnTorch and Norse step in float32; eventsim's twin in float64. Membranes of magnitude
#: about 1 over 60 steps, each step rounding to float32 (eps 1.2e-7) and passing the error on
#: decayed: a few float32 ulps, well within 1e-6.
FLOAT32_RUN = 1e-6


def _read(name: str, **reading):
    with warnings.catch_warnings():  # files of other tools carry no checksum
        warnings.simplefilter("ignore", EventsimWarning)
        return eventsim.from_nir(DATA / name, **reading)


def test_snntorch_rsynaptic_with_a_readout_runs_as_snntorch():
    """Linear - RSynaptic (recurrent, zero reset) - Linear - Leaky readout, read as snnTorch
    writes (forward Euler at dt = 1e-4 s): CubaLIF's alpha and beta back exactly, the hidden
    spikes snnTorch's own (its reset_delay=False meaning, what its importer builds), the
    readout's membrane within float32 rounding."""
    io = np.load(DATA / "snntorch_cuba_io.npz")
    g = _read("snntorch_cuba.nir", dt_us=100, discretisation="euler")
    assert isinstance(g, Graph)
    hidden, out = g.populations
    assert out.v_th == 1.0 and out.syn_decay == 0.0  # snnTorch writes its readout as a LIF
    assert np.float32(hidden.syn_decay) == np.float32(0.7)
    assert np.float32(hidden.decay) == np.float32(0.9) and hidden.v_th == 1.0
    assert [(p.source, p.target) for p in g.projections] == [
        ("input", "1.lif"), ("1.lif", "1.lif"), ("1.lif", "3")]
    x = io["x"].astype(np.uint8)
    r = eventsim.simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(io["nodelayfix_spikes0"]))
    assert len(r.spikes[0]) > 100 and len(r.spikes[1]) == 0
    _, _, pots = simulate_dense(g, x, potentials=True)
    np.testing.assert_allclose(pots[1], io["nodelayfix_mem1"], atol=FLOAT32_RUN)
    fired = io["nodelayfix_spikes0"] > 0  # snnTorch's mem after its reset; ours before
    np.testing.assert_allclose(np.where(fired, 0, pots[0]), io["nodelayfix_mem0"],
                               atol=FLOAT32_RUN)
    # snnTorch's default reset_delay=True zeroes the whole step after a spike: not this
    assert not np.array_equal(r.spikes[0], np.argwhere(io["delay_spikes0"]))


def test_norse_lif_cell_with_an_li_readout_runs_as_norse():
    """Linear - recurrent LIF (CuBa, v_leak 0.1) - Linear - LIBoxCell, read as Norse 1.1.0
    writes (Euler at 1 ms, tau carrying dt * tau, a spike adding w_in to the current): the
    hidden spikes Norse's own, the LI readout's membrane (maximum and mean from the event
    times) within float32 rounding. Norse does not write v_reset: the file's 0 runs as
    Norse's v_reset = 0, and with v_reset = -0.2 set back as Norse's v_reset = -0.2."""
    io = np.load(DATA / "norse_cuba_io.npz")
    g = _read("norse_cuba.nir", dt_us=1000, discretisation="norse", tau_scale=1000)
    hidden, out = g.populations
    assert out.v_th == math.inf and out.syn_decay == 0.0
    np.testing.assert_allclose([hidden.decay, hidden.syn_decay, hidden.v_leak, out.decay],
                               [0.9, 0.8, 0.1, 0.95], rtol=1e-7)
    x = io["x"].astype(np.uint8)
    r = eventsim.simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(io["vreset0_spikes0"]))
    assert len(r.spikes[0]) > 100 and len(r.spikes[1]) == 0
    np.testing.assert_allclose(r.membrane_max[1], io["vreset0_v1"].max(0), atol=FLOAT32_RUN)
    np.testing.assert_allclose(r.membrane_mean[1], io["vreset0_v1"].mean(0), atol=FLOAT32_RUN)
    assert r.predicted == int(np.argmax(io["vreset0_v1"].max(0)))
    hidden.v_reset = -0.2
    r = eventsim.simulate(g, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(io["spikes0"]))
    np.testing.assert_allclose(r.membrane_max[1], io["v1"].max(0), atol=FLOAT32_RUN)


@pytest.mark.parametrize("reading, match", [
    ({"dt_us": 100}, (r"node '1.lif' is CubaLIF: eventsim steps a current-based neuron as "
                     r"snnTorch and Norse do .*not 'exact'")),
    ({"dt_us": 100, "discretisation": "zoh"}, r"not 'zoh'"),
    ({"dt_us": 1000, "discretisation": "euler"}, (r"node '1.lif': field 'tau_syn' is .* not "
                                                 r"longer than the step")),
])
def test_a_cuba_node_read_another_way_is_refused_by_name(reading, match):
    with pytest.raises(NetworkError, match=match):
        _read("snntorch_cuba.nir", **reading)


def test_per_neuron_time_constants_are_refused_by_name():
    g = nir.read(str(DATA / "snntorch_cuba.nir"))
    g.nodes["1.lif"].tau_syn = np.linspace(2e-4, 4e-4, 8)
    with pytest.raises(NetworkError, match=r"node '1.lif': field 'tau_syn' differs between "
                                           r"neurons; eventsim has one value per layer"):
        eventsim.from_nir(g, dt_us=100, discretisation="euler")


def test_export_writes_cubalif_li_and_i_nodes():
    """Euler's values (snnTorch's convention: tau = dt / (1 - decay), w_in = tau_syn / dt,
    r = tau_mem / dt) and eventsim's exact decays in the metadata."""
    from eventsim.network.graph import INPUT, Population, Projection
    from eventsim.network.ops import Dense

    g = Graph((2,), [Population("h", (3,), decay=0.9, syn_decay=0.5, v_th=0.8, v_leak=0.1),
                     Population("li", (2,), decay=0.8, v_th=math.inf),
                     Population("cli", (2,), decay=0.7, syn_decay=0.6, v_th=math.inf),
                     Population("i", (2,), decay=1.0, v_th=math.inf)],
              [Projection(INPUT, "h", [Dense(np.ones((3, 2)))]),
               Projection("h", "li", [Dense(np.ones((2, 3)))]),
               Projection("li", "cli", [Dense(np.ones((2, 2)))]),
               Projection("cli", "i", [Dense(np.ones((2, 2)))])], dt_us=1000)
    nodes = eventsim.to_nir(g).nodes
    h = nodes["h"]
    assert isinstance(h, nir.CubaLIF) and isinstance(nodes["li"], nir.LI)
    assert isinstance(nodes["cli"], nir.CubaLI) and isinstance(nodes["i"], nir.I)
    np.testing.assert_allclose([h.tau_syn[0], h.tau_mem[0], h.w_in[0], h.r[0]],
                               [2e-3, 1e-2, 2.0, 10.0])
    assert h.metadata["eventsim_syn_decay"] == 0.5 and h.metadata["eventsim_decay"] == 0.9
    back = as_graph(eventsim.from_nir(eventsim.to_nir(g)))
    assert [(p.decay, p.syn_decay, p.v_th, p.v_leak) for p in back.populations] == \
        [(p.decay, p.syn_decay, p.v_th, p.v_leak) for p in g.populations]
    # read as snnTorch would (Euler at the same step): the same decays
    foreign = eventsim.to_nir(g)
    for node in foreign.nodes.values():
        getattr(node, "metadata", {}).clear()
    again = as_graph(eventsim.from_nir(foreign, dt_us=1000, discretisation="euler"))
    np.testing.assert_allclose([p.syn_decay for p in again.populations[:1]], [0.5])
    np.testing.assert_allclose([again.populations[0].decay], [0.9])


def test_sinabs_drops_the_current_it_ran():
    """Sinabs 3.1.3 (tests/data/make_sinabs_cuba.py): Linear - LIF(tau_mem 5, tau_syn 2,
    SingleSpike, MembraneSubtract) - Linear - ExpLeak(tau 8) exports a plain ``LIF`` (no
    ``tau_syn``, no ``norm_input``) and an ``LI``. Read as Sinabs writes (zoh, a step of
    1 s), the file runs as what it says: Sinabs' run of the same weights without the current,
    spike for spike, and its readout with ``norm_input=True`` (NIR's LI gain ``1 - a``;
    Sinabs' default ExpLeak adds the input whole, a constant factor on every readout neuron,
    the same decision). The current Sinabs ran is not in the file: its spikes differ."""
    io = np.load(DATA / "sinabs_cuba_io.npz")
    net = _read("sinabs_cuba.nir", dt_us=1_000_000, discretisation="zoh", reset="subtract")
    assert [getattr(layer, "syn_decay", 0.0) for layer in net.layers] == [0.0] * len(net.layers)
    x = io["x"].astype(np.uint8)
    r = eventsim.simulate(net, x, dtype="float64")
    np.testing.assert_array_equal(r.spikes[0], np.argwhere(io["nosyn_spikes0"]))
    assert not np.array_equal(r.spikes[0], np.argwhere(io["spikes0"]))
    np.testing.assert_allclose(r.membrane_max[-1], io["nosyn_v1_norm_input"].max(0),
                               atol=FLOAT32_RUN)
    np.testing.assert_allclose(r.membrane_mean[-1], io["nosyn_v1_norm_input"].mean(0),
                               atol=FLOAT32_RUN)
    assert r.predicted == int(np.argmax(io["nosyn_v1"].max(0)))


def test_spyx_recurrent_cuba_with_an_li_readout_runs_as_spyx():
    """Spyx 1.0.0 (tests/data/make_spyx_cuba.py): Linear - RCuBaLIF (alpha 0.8, beta 0.9,
    autapses) - Linear - LI (beta 0.85; Spyx's exporter drops it, so the script adds the node
    Spyx writes for the same membrane). Read as Spyx steps (``"spyx"``: decays ``1 - dt /
    tau``, gain 1, subtract reset, the recurrent subgraph's input into the current): the
    hidden spikes are Spyx's one step earlier (Spyx emits a spike the step after its
    membrane crossed: the readout's input is delayed a step here), the readout's membrane
    Spyx's within float32 rounding."""
    io = np.load(DATA / "spyx_cuba_io.npz")
    g = _read("spyx_cuba.nir", dt_us=1_000_000, discretisation="spyx")
    hidden, out = g.populations
    np.testing.assert_allclose([hidden.syn_decay, hidden.decay, out.decay],
                               [io["alpha"], io["beta"], io["beta_out"]], rtol=1e-6)
    assert hidden.reset == "subtract" and out.is_readout
    assert [(p.source, p.target, int(np.max(p.delay)), g.closes_cycle(k))
            for k, p in enumerate(g.projections)] == [
        ("input", hidden.name, 0, False), (hidden.name, hidden.name, 0, True),
        (hidden.name, out.name, 1, False)]
    x = io["x"].astype(np.uint8)
    r = eventsim.simulate(g, x, dtype="float64")
    spyx = np.argwhere(io["spikes0"])
    ours = r.spikes[0][r.spikes[0][:, 0] < len(x) - 1]  # Spyx never emits the last step's
    np.testing.assert_array_equal(ours + [1, 0], spyx)
    assert len(spyx) > 80
    np.testing.assert_allclose(r.membrane_max[1], io["v1"].max(0), atol=FLOAT32_RUN)
    np.testing.assert_allclose(r.membrane_mean[1], io["v1"].mean(0), atol=FLOAT32_RUN)
    # read literally (NIR's Euler, the input through W_rec), it is another network
    literal = _read("spyx_cuba.nir", dt_us=1_000_000, discretisation="euler", reset="subtract")
    assert not np.array_equal(eventsim.simulate(literal, x, dtype="float64").spikes[0],
                              r.spikes[0])
