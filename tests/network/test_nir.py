"""NIR in and out: round trips spike for spike, foreign conventions, and what does not map."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import netgen
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import FormatError, NetworkError, OutputError
from eventsim.network import ops
from eventsim.network.graph import Graph, Population, Projection
from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
from eventsim.network.network import Network


@settings(max_examples=60, deadline=None)
@given(st.one_of(netgen.dense_networks(cuba=True), netgen.conv_networks(cuba=True)))
def test_round_trip_gives_identical_spikes(tmp_path_factory, case):
    """Dense/conv/pool networks, bias, both resets, decay 1 (IF) and < 1 (LIF), currents
    (CubaLIF), via a file."""
    net, x = case
    net.dt_us = 1000
    path = tmp_path_factory.mktemp("nir") / "net.nir"
    eventsim.to_nir(net, path)
    back = eventsim.from_nir(path)
    assert back.dt_us == 1000
    assert [type(lay) for lay in back.layers] == [type(lay) for lay in net.layers]
    a = eventsim.simulate(net, x, dtype="float64")
    b = eventsim.simulate(back, x, dtype="float64")
    for sa, sb in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(sa, sb)


def test_export_writes_tau_reset_and_threshold():
    net = Network([Dense(np.ones((2, 3)), decay=0.5, v_th=0.7, reset="subtract"),
                   Dense(np.ones((1, 2)), decay=1.0, v_th=2.0)], (3,), dt_us=2000)
    g = eventsim.to_nir(net)
    lif, integ = g.nodes["0.lif"], g.nodes["1.lif"]
    assert isinstance(lif, nir.LIF) and isinstance(integ, nir.IF)
    np.testing.assert_allclose(lif.tau, -2e-3 / math.log(0.5))
    np.testing.assert_array_equal(lif.v_threshold, [0.7, 0.7])
    assert lif.metadata["eventsim_reset"] == "subtract" and lif.metadata["dt_s"] == 2e-3
    assert [e for e in g.edges] == [("input", "0.proj"), ("0.proj", "0.lif"),
                                    ("0.lif", "1.proj"), ("1.proj", "1.lif"), ("1.lif", "output")]


def _foreign(tau=5e-3, r=None, v_leak=0.0, v_reset=0.0, metadata=None):
    """A graph as another framework writes it: no eventsim metadata, no dt."""
    w = np.array([[0.6, -0.2], [0.3, 0.9]])
    lif = nir.LIF(tau=np.full(2, tau), r=np.full(2, tau if r is None else r),
                  v_leak=np.full(2, v_leak), v_threshold=np.ones(2),
                  v_reset=np.full(2, v_reset), metadata=metadata or {})
    return nir.NIRGraph(nodes={"in": nir.Input({"input": np.array([2])}),
                               "fc": nir.Affine(w, np.array([0.1, 0.0])), "lif": lif,
                               "out": nir.Output({"output": np.array([2])})},
                        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")])


def test_foreign_graph_uses_the_exact_exponential_and_folds_r_over_tau():
    net = eventsim.from_nir(_foreign(r=10e-3), dt_us=1000)  # r / tau = 2
    layer = net.layers[0]
    assert layer.decay == math.exp(-1e-3 / 5e-3) and layer.reset == "zero"
    np.testing.assert_array_equal(layer.weight, 2 * np.array([[0.6, -0.2], [0.3, 0.9]]))
    np.testing.assert_array_equal(layer.bias, [0.2, 0.0])
    with pytest.raises(NetworkError, match=r"node 'lif' is continuous-time; give dt_us"):
        eventsim.from_nir(_foreign())


@pytest.mark.parametrize("graph, reset, match", [
    (_foreign(v_reset=-0.5), "subtract", (r"node 'lif': resets to v_reset = -0.5, but the "
                                          r"reading asks for a subtract reset, which has none")),
    (_foreign(v_reset=1.0), None, r"field 'v_reset' must be below 'v_th'"),
])
def test_what_does_not_map_names_the_node(graph, reset, match):
    with pytest.raises(NetworkError, match=match):
        eventsim.from_nir(graph, dt_us=1000, reset=reset)


def test_a_reset_to_v_reset_reads_and_runs_as_nir_says():
    """NIR's LIF resets to ``v_reset``: read as it is (the input gain goes into the weights,
    not into ``v_reset`` or ``v_threshold``), written back, and run: a neuron driven over
    threshold by one input restarts from ``v_reset``."""
    net = eventsim.from_nir(_foreign(v_reset=-0.5), dt_us=1000)
    assert net.layers[0].v_reset == -0.5 and net.layers[0].reset == "zero"
    back = eventsim.from_nir(eventsim.to_nir(net))
    assert back.layers[0].v_reset == -0.5
    def spikes(v_reset):
        g = Graph((1,), [Population("p", (1,), decay=0.5, v_th=1.0, v_reset=v_reset)],
                  [Projection("input", "p", [ops.Dense(np.array([[1.25]]))])])
        return eventsim.simulate(g, np.array([[1], [1], [1], [0]], np.uint8),
                                 dtype="float64").spikes[0][:, 0]

    # u: 1.25 (spike, to -0.5), 0.5 * -0.5 + 1.25 = 1.0 (spike), 1.0 (spike), -0.25
    np.testing.assert_array_equal(spikes(-0.5), [0, 1, 2])
    # u: 1.25 (spike, to -1), 0.75, 1.625 (spike), -0.5
    np.testing.assert_array_equal(spikes(-1.0), [0, 2])
    np.testing.assert_array_equal(spikes(0.0), [0, 1, 2])  # 1.25, 1.25, 1.25


def test_a_leak_towards_v_leak_reads_and_runs_as_nir_says():
    """NIR's ``tau dv/dt = v_leak - v`` (LIF): read as ``v_leak``, written back; stepped, the
    leak is the drive ``(1 - decay) * v_leak`` and the neuron starts at rest. Above threshold,
    it fires with no input at all: from the queue, at the steps counted by hand."""
    net = eventsim.from_nir(_foreign(v_leak=0.1), dt_us=1000)
    assert net.layers[0].v_leak == 0.1
    assert eventsim.from_nir(eventsim.to_nir(net)).layers[0].v_leak == 0.1
    g = Graph((1,), [Population("p", (1,), decay=0.5, v_th=1.0, v_leak=1.5)],
              [Projection("input", "p", [ops.Dense(np.array([[1.0]]))])])
    # u: 1.5 at rest; 0.5 * 1.5 + 0.75 = 1.5 (spike, to 0), 0.75, 1.125 (spike), 0.75, ...
    result = eventsim.simulate(g, np.zeros((7, 1), np.uint8), dtype="float64")
    np.testing.assert_array_equal(result.spikes[0][:, 0], [0, 2, 4, 6])
    assert result.neuron_updates[0] == 4 and result.sops[0] == 0  # touched when it fires only


def test_unsupported_nodes_and_shapes():
    g = _foreign()
    g.nodes["lif"] = nir.Threshold(threshold=np.ones(2))
    with pytest.raises(NetworkError, match=r"node 'lif' is Threshold, which eventsim does not "
                                           r"run"):
        eventsim.from_nir(g, dt_us=1000)
    g = _foreign()
    g.edges.append(("fc", "out"))
    with pytest.raises(NetworkError, match=r"node 'out' is fed by 'lif' \(LIF\), 'fc' "
                                           r"\(Affine\); eventsim's output is one population"):
        eventsim.from_nir(g, dt_us=1000)
    nn = Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))), Flatten(),
                  Dense(np.ones((1, 4)))], (1, 2, 2), dt_us=1000)
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): NeuNorm has no NIR node"):
        eventsim.to_nir(nn)
    with pytest.raises(NetworkError, match="the network has no dt_us"):
        eventsim.to_nir(Network([Dense(np.ones((1, 1)))], (1,)))


def test_shipped_cnn_round_trip_on_real_data(tmp_path, data_dir):
    net = eventsim.load_network(Path(__file__).resolve().parents[2] / "networks" /
                                "nmnist-cnn.h5")
    eventsim.to_nir(net, tmp_path / "cnn.nir")
    back = eventsim.from_nir(tmp_path / "cnn.nir")
    assert (back.dt_us, back.T, back.sensor_size, back.labels) == \
        (net.dt_us, net.T, net.sensor_size, net.labels)
    for f in sorted((data_dir / "nmnist" / "Test").glob("*/*.bin"))[:10]:
        s = eventsim.read_events(f, net.sensor_size)
        back_stream = eventsim.EventStream(s.events, s.sensor_size)
        a, b = eventsim.simulate(net, s, dtype="float64"), eventsim.simulate(back, back_stream,
                                                                            dtype="float64",
                                                                            T=net.T)
        for sa, sb in zip(a.spikes, b.spikes):
            np.testing.assert_array_equal(sa, sb)


def test_snntorch_convention_imports_with_euler():
    """A graph in snnTorch's export convention (export_nir.py of snnTorch 1.0: dt = 1e-4 s,
    tau = dt / (1 - beta), r = tau / dt, v_leak = v_reset = 0). Its Leaky neuron with
    reset_mechanism="zero" is mem[t] = beta * mem[t-1] * (1 - spk[t-1]) + W x[t]: eventsim's
    recurrence, so the imported network spikes as snnTorch's equations do."""
    rng = np.random.default_rng(5)
    dt, beta, thr = 1e-4, 0.8, 0.7
    w1 = rng.normal(0.2, 0.5, (6, 5))
    w2 = rng.normal(0.1, 0.6, (3, 6))

    def leaky(n, beta):
        tau = dt / (1 - beta)
        return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n),
                       v_threshold=np.full(n, thr), v_reset=np.zeros(n))

    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([5])}),
                            "0": nir.Linear(w1), "1": leaky(6, beta),
                            "2": nir.Linear(w2), "3": leaky(3, 0.6),
                            "output": nir.Output({"output": np.array([3])})},
                     edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"),
                            ("3", "output")])
    net = eventsim.from_nir(g, dt_us=100, discretisation="euler")
    assert net.layers[0].decay == pytest.approx(0.8, abs=1e-12)
    np.testing.assert_allclose(net.layers[0].weight, w1, rtol=1e-12)
    x = (rng.random((30, 5)) < 0.4).astype(np.uint8)
    # snnTorch's equations, written out
    spikes, inp = [], x.astype(float)
    for w, b in ((w1, beta), (w2, 0.6)):
        mem, spk, out = np.zeros(w.shape[0]), np.zeros(w.shape[0]), []
        for t in range(len(inp)):
            mem = b * mem * (1 - spk) + w @ inp[t]
            spk = (mem > thr).astype(float)
            out.append(spk)
        inp = np.array(out)
        spikes.append(inp)
    result = eventsim.simulate(net, x, dtype="float64")
    for pop, s in enumerate(spikes):
        np.testing.assert_array_equal(result.spikes[pop], np.argwhere(s))
    with pytest.raises(NetworkError, match="'discretisation' must be one of"):
        eventsim.from_nir(g, dt_us=100, discretisation="rk4")
    with pytest.raises(NetworkError, match="'reset' must be 'zero' or 'subtract'"):
        eventsim.from_nir(g, dt_us=100, reset="hard")


def assert_spikes_as_recorded(net, io, key: str) -> None:
    """The spikes of every population, in float32 and float64, equal the framework's own
    (``io[f"{key}{pop}"]``, steps x neurons) for its input ``io["x"]``."""
    pops = sorted(int(k[len(key):]) for k in io.files if k.startswith(key))
    assert pops == list(range(len(net.layers) - sum(isinstance(lay, Flatten)
                                                    for lay in net.layers)))
    for dtype in ("float32", "float64"):
        result = eventsim.simulate(net, io["x"].astype(np.uint8), dtype=dtype)
        for pop in pops:
            np.testing.assert_array_equal(result.spikes[pop], np.argwhere(io[f"{key}{pop}"]),
                                          err_msg=f"{key}, {dtype}, population {pop}")


DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_file_sinabs_wrote_runs_as_sinabs_ran_it():
    """tests/data/sinabs_mlp.nir was written by sinabs.to_nir (Sinabs 3.1.3,
    tests/data/make_sinabs.py): Linear-IAF-Linear-LIF(tau_mem=20 steps), SingleSpike,
    MembraneSubtract, norm_input. Its IF/LIF nodes leave v_reset out (nir reads it as 0) and
    its tau counts steps: reset='subtract', discretisation='zoh', one step = 1 s. eventsim's
    spikes are Sinabs' own, recorded when the file was written, in both dtypes; read with
    NIR's zero reset they are not."""
    io = np.load(DATA / "sinabs_mlp_io.npz")
    as_nir_says = eventsim.from_nir(DATA / "sinabs_mlp.nir", dt_us=1_000_000,
                                    discretisation="zoh")
    zero = eventsim.simulate(as_nir_says, io["x"].astype(np.uint8), dtype="float64")
    assert not np.array_equal(zero.spikes[0], np.argwhere(io["spikes0"]))
    net = eventsim.from_nir(DATA / "sinabs_mlp.nir", dt_us=1_000_000, discretisation="zoh",
                            reset="subtract")
    assert net.input_shape == (5,)
    assert net.layers[0].decay == 1.0 and net.layers[1].decay == pytest.approx(math.exp(-1 / 20))
    assert io["spikes0"].sum() > 20 and io["spikes1"].sum() > 5
    assert_spikes_as_recorded(net, io, "spikes")


def test_a_file_snntorch_wrote_runs_as_snntorch_ran_it():
    """tests/data/snntorch_mlp.nir was written by snnTorch's export_to_nir (snnTorch 1.0,
    tests/data/make_snntorch.py): Linear-Leaky(beta 0.9)-Linear-Leaky(beta 0.8), with biases.
    Read in its convention (dt 1e-4 s, forward Euler) it gives snnTorch's own spikes for
    reset_mechanism="zero" in both dtypes. snnTorch's subtract reset is not eventsim's
    (reset_delay=True subtracts the threshold one step late and undecayed; reset_delay=False
    checks the threshold against a potential lowered once more while the stored one is still
    above it): with the same file those spikes differ, as the docstring of from_nir says."""
    io = np.load(DATA / "snntorch_mlp_io.npz")
    x = io["x"].astype(np.uint8)
    net = eventsim.from_nir(DATA / "snntorch_mlp.nir", dt_us=100, discretisation="euler")
    assert net.input_shape == (5,) and [lay.reset for lay in net.layers] == ["zero", "zero"]
    assert [lay.decay for lay in net.layers] == pytest.approx([0.9, 0.8], abs=1e-7)
    assert io["zero_spikes0"].sum() > 20 and io["zero_spikes1"].sum() > 20
    assert_spikes_as_recorded(net, io, "zero_spikes")
    sub = eventsim.from_nir(DATA / "snntorch_mlp.nir", dt_us=100, discretisation="euler",
                            reset="subtract")
    result = eventsim.simulate(sub, x, dtype="float64")
    for variant in ("subtract", "subtract_delayed"):
        assert not np.array_equal(result.spikes[0], np.argwhere(io[f"{variant}_spikes0"]))


def test_a_file_norse_wrote_runs_as_norse_ran_it(tmp_path):
    """tests/data/norse_mlp.nir was written by norse.torch.to_nir (Norse 1.1.0,
    tests/data/make_norse.py): Linear-LIFBox(tau 10 ms)-Linear-LIFBox(tau 5 ms), dt 1 ms.
    Norse 1.1.0 writes tau = dt * tau (1e-5 for 10 ms, norse issue #411); tau_scale=1000
    undoes it, and forward Euler with r = 1 gives Norse's own spikes in both dtypes, with its
    value (zero) reset and, read with reset="subtract", its reset_subtract. Without tau_scale
    the error says what to pass."""
    io = np.load(DATA / "norse_mlp_io.npz")
    assert all(io[f"{r}_spikes{p}"].sum() > 20 for r in ("zero", "subtract") for p in range(2))
    for reset in ("zero", "subtract"):
        net = eventsim.from_nir(DATA / "norse_mlp.nir", dt_us=1000, discretisation="euler",
                                tau_scale=1000, reset=reset)
        assert net.input_shape == (5,)
        assert [lay.decay for lay in net.layers] == pytest.approx([0.9, 0.8], abs=1e-7)
        assert_spikes_as_recorded(net, io, f"{reset}_spikes")
    with pytest.raises(NetworkError, match=r"node '1'.*shorter than the step.*tau_scale = 1/dt"):
        eventsim.from_nir(DATA / "norse_mlp.nir", dt_us=1000, discretisation="euler")
    for bad in (0, -1.0, float("nan"), "1000", True):
        with pytest.raises(NetworkError, match="'tau_scale' must be a positive number"):
            eventsim.from_nir(DATA / "norse_mlp.nir", dt_us=1000, tau_scale=bad)
    own = eventsim.to_nir(net, tmp_path / "own.nir")
    with pytest.raises(NetworkError, match="tau_scale does not apply"):
        eventsim.from_nir(own, tau_scale=1000)


def test_bad_files_are_named(tmp_path):
    """A missing, truncated or foreign file, and a node that does not map, name the file."""
    with pytest.raises(FileNotFoundError, match="no such NIR file"):
        eventsim.from_nir(tmp_path / "none.nir")
    cut = tmp_path / "cut.nir"
    cut.write_bytes((DATA / "norse_mlp.nir").read_bytes()[:20000])
    foreign = Path(__file__).resolve().parents[2] / "networks" / "nmnist-mlp.h5"
    for bad in (cut, foreign, DATA / "norse_mlp_io.npz"):
        with pytest.raises(FormatError, match=f"{bad.name}: not a readable NIR graph"):
            eventsim.from_nir(bad, dt_us=1000)
    with pytest.raises(NetworkError, match=r"norse_mlp.nir: from_nir: node '1': tau"):
        eventsim.from_nir(DATA / "norse_mlp.nir", dt_us=1000, discretisation="euler")


def test_to_nir_leaves_nothing_half_written(tmp_path, monkeypatch):
    """A failing write leaves no file and no temporary beside it; an existing file stays."""
    net = eventsim.from_nir(DATA / "norse_mlp.nir", dt_us=1000, discretisation="euler",
                            tau_scale=1000)
    target = tmp_path / "net.nir"
    target.write_bytes(b"old")

    def broken_write(fileobj, graph):
        fileobj.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", broken_write)
    with pytest.raises(OutputError, match=f"^{target}: cannot write the NIR graph: disk full"):
        eventsim.to_nir(net, target)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    with pytest.raises(FileNotFoundError, match="folder to save the NIR graph in"):
        eventsim.to_nir(net, tmp_path / "no" / "net.nir")


def test_a_cnn_snntorch_wrote_runs_as_snntorch_ran_it():
    """tests/data/snntorch_cnn.nir (make_snntorch.py): Conv2d(pad 1) - Leaky - AvgPool2d -
    Leaky - Flatten - Linear - Leaky, zero reset, in snnTorch's float32 tau and r. Their
    r * dt / tau is 1 only to float32 precision; read as 1, the pooling layer imports and the
    weights are the file's, and the spikes are snnTorch's in both dtypes."""
    io = np.load(DATA / "snntorch_cnn_io.npz")
    net = eventsim.from_nir(DATA / "snntorch_cnn.nir", dt_us=100, discretisation="euler")
    assert [type(lay).__name__ for lay in net.layers] == ["Conv2d", "AvgPool2d", "Flatten", "Dense"]
    g = nir.read(DATA / "snntorch_cnn.nir", type_check=False)
    np.testing.assert_array_equal(net.layers[0].weight, g.nodes["0"].weight)
    np.testing.assert_array_equal(net.layers[3].weight, g.nodes["5"].weight)
    assert [io[f"spikes{p}"].sum() for p in range(3)] == [1490, 62, 12]
    assert_spikes_as_recorded(net, io, "spikes")


def test_a_gain_off_one_by_more_than_float32_rounding_is_kept():
    """Only float32 files within 4 float32 eps of gain 1 read as 1; float64 ones are exact."""
    def graph(dtype, r_factor):
        tau = np.full(3, 1e-4 / (1 - 0.9), dtype)
        lif = nir.LIF(tau=tau, r=(tau / 1e-4 * r_factor).astype(dtype), v_leak=np.zeros(3, dtype),
                      v_threshold=np.ones(3, dtype), v_reset=np.zeros(3, dtype))
        return nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([4])}),
                                   "0": nir.Linear(np.ones((3, 4))), "1": lif,
                                   "output": nir.Output({"output": np.array([3])})},
                            edges=[("input", "0"), ("0", "1"), ("1", "output")],
                            type_check=False)
    def gain(g):
        return eventsim.from_nir(g, dt_us=100, discretisation="euler").layers[0].weight[0, 0]

    assert gain(graph(np.float32, 1.0)) == 1.0
    assert gain(graph(np.float32, 1.0 + 1e-5)) == pytest.approx(1 + 1e-5, rel=1e-7)
    assert gain(graph(np.float64, 1.0 + 1e-9)) == pytest.approx(1 + 1e-9, rel=1e-12)


def test_reading_options_cannot_change_a_graph_eventsim_wrote(tmp_path):
    """Its nodes carry the exact decay for the step it was written with: another dt_us, a
    discretisation, tau_scale or a contradicting reset is an error, not silently ignored."""
    net = Network([Dense(np.ones((3, 4)), decay=0.5, v_th=1.0, reset="subtract")], (4,),
                  dt_us=1000, T=7)
    path = tmp_path / "own.nir"
    eventsim.to_nir(net, path)
    assert eventsim.from_nir(path, dt_us=1000, reset="subtract").layers[0].decay == 0.5
    for kwargs, match in (({"dt_us": 100}, "step of 1000 us; dt_us 100 would change"),
                          ({"discretisation": "euler"}, "discretisation does not apply"),
                          ({"tau_scale": 2.0}, "tau_scale does not apply"),
                          ({"reset": "zero"}, "reset 'subtract'; reset='zero' contradicts")):
        with pytest.raises(NetworkError, match=f"own.nir: from_nir: node '0.lif'.*{match}"):
            eventsim.from_nir(path, **kwargs)


def _mlp_graph(**changes):
    lif = {"tau": np.full(3, 0.01), "r": np.full(3, 0.01), "v_leak": np.zeros(3),
           "v_threshold": np.ones(3), "v_reset": np.zeros(3)}
    lif.update({k: v for k, v in changes.items() if k in lif})
    return nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([4])}),
                               "0": nir.Linear(np.ones((3, 4))), "1": nir.LIF(**lif),
                               "output": nir.Output({"output": np.array([3])})},
                        edges=[("input", "0"), ("0", "1"), ("1", "output")],
                        metadata=changes.get("metadata", {}), type_check=False)


def _neurons(shape) -> dict:
    """Every LIF parameter of ``_mlp_graph`` with ``shape`` (NIR wants them all alike)."""
    return {"tau": np.full(shape, 0.01), "r": np.full(shape, 0.01), "v_leak": np.zeros(shape),
            "v_threshold": np.ones(shape), "v_reset": np.zeros(shape)}


@pytest.mark.parametrize("changes, match", [
    ({"tau": np.zeros(3)}, r"node '1': field 'tau' is 0.0; expected a positive"),
    ({"tau": np.full(3, -0.01)}, r"node '1': field 'tau' is -0.01; expected a positive"),
    ({"r": np.full(3, np.inf)}, r"node '1': field 'r' is inf; expected a finite number"),
    ({"v_threshold": np.full(3, np.nan)}, r"node '1': field 'v_threshold' is nan"),
    ({"metadata": {"dt_s": -0.001}}, r"graph metadata field 'dt_s' is -0.001"),
    ({"metadata": {"dt_s": 0.001, "eventsim_T": "abc"}},
     r"graph metadata field 'eventsim_T' is 'abc'; expected a number"),
    ({"metadata": {"dt_s": 0.001, "eventsim_T": 2.5}},
     r"'eventsim_T' is 2.5; expected a positive whole number"),
    ({"metadata": {"dt_s": 0.001, "eventsim_sensor_size": "big"}},
     r"'eventsim_sensor_size' is 'big'; expected numbers"),
    ({"metadata": {"dt_s": 0.001, "eventsim_sensor_size": np.array([2.0, np.nan, 1.0])}},
     r"'eventsim_sensor_size' is .*; expected \(W, H, P\), positive whole numbers"),
    ({"metadata": {"dt_s": 0.001, "eventsim_sensor_size": np.array([2.7, 2.0, 1.0])}},
     r"'eventsim_sensor_size' is .*; expected \(W, H, P\), positive whole numbers"),
    ({"metadata": {"dt_s": 1.5e-6}}, r"'dt_s' is 1.5e-06 s, not a whole number of micro"),
    ({"metadata": {"dt_s": 0.001, "eventsim_provenance": "[1, 2"}},
     r"'eventsim_provenance' is not a JSON object"),
    (_neurons(0), r"node '1': field 'v_reset' is empty; expected a number"),
    (_neurons(7), r"node '1': field 'tau' has shape \[7\]; the projection before it gives \[3\]"),
    (_neurons((2, 3)),
     r"node '1': field 'tau' has shape \[2, 3\]; the projection before it gives \[3\]"),
])
def test_bad_parameters_are_errors_naming_node_and_field(changes, match, recwarn):
    with pytest.raises(NetworkError, match=match):
        eventsim.from_nir(_mlp_graph(**changes), dt_us=None if "metadata" in changes else 1000)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_tau_scale_and_dt_us_accept_numpy_numbers():
    g = _mlp_graph(tau=np.full(3, 1e-5), r=np.ones(3))
    a = eventsim.from_nir(g, dt_us=np.int64(1000), discretisation="euler",
                          tau_scale=np.float32(1000))
    assert a.dt_us == 1000 and a.layers[0].decay == pytest.approx(0.9)
    for bad in (0, -5, 2.5, "1000", True):
        with pytest.raises(NetworkError, match="'dt_us' must be a positive integer"):
            eventsim.from_nir(g, dt_us=bad)


def test_graph_structure_errors_name_the_node():
    g = _mlp_graph()
    g.edges.append(("1", "zzz"))
    with pytest.raises(NetworkError, match=r"edge \('1', 'zzz'\) names node 'zzz', which the"):
        eventsim.from_nir(g, dt_us=1000)
    g = _mlp_graph()
    g.nodes["output"] = nir.Output({"output": np.array([5])})
    with pytest.raises(NetworkError, match=r"node 'output': output type \[5\] is not the shape "
                                           r"of the last layer, \[3\]"):
        eventsim.from_nir(g, dt_us=1000)
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 3, 3)), stride=1,
                      padding="same", dilation=1, groups=1, bias=np.zeros(1))
    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([1, 4, 4])}), "c": conv,
                            "n": nir.IF(r=np.ones((1, 4, 4)), v_threshold=np.ones((1, 4, 4)),
                                        v_reset=np.zeros((1, 4, 4))),
                            "output": nir.Output({"output": np.array([1, 4, 4])})},
                     edges=[("input", "c"), ("c", "n"), ("n", "output")], type_check=False)
    with pytest.raises(NetworkError, match=r"node 'c': field 'padding' is 'same'; expected "
                                           r"whole numbers"):
        eventsim.from_nir(g, dt_us=1000)


@pytest.mark.parametrize("start, end, ok", [(0, -1, True), (0, 2, True), (1, -1, False),
                                            (0, 1, False)])
def test_only_a_whole_flatten_imports(start, end, ok):
    ones = np.ones(2)
    nodes = {"input": nir.Input({"input": np.array([1, 2, 2])}),
             "f": nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=start,
                              end_dim=end),
             "fc": nir.Linear(np.ones((2, 4))),
             "n": nir.IF(r=ones, v_threshold=ones, v_reset=0 * ones),
             "output": nir.Output({"output": np.array([2])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "f"), ("f", "fc"), ("fc", "n"),
                                         ("n", "output")], type_check=False)
    if ok:
        assert isinstance(eventsim.from_nir(g, dt_us=1000).layers[0], Flatten)
    else:
        with pytest.raises(NetworkError, match=f"node 'f': Flatten from dim {start} to {end}"):
            eventsim.from_nir(g, dt_us=1000)


def test_eventsim_metadata_that_is_not_a_number_is_named(tmp_path):
    g = eventsim.to_nir(Network([Dense(np.ones((3, 4)), decay=0.5)], (4,), dt_us=1000))
    g.nodes["0.lif"].metadata["eventsim_decay"] = "half"
    with pytest.raises(NetworkError, match=r"node '0.lif' metadata field 'eventsim_decay' is "
                                           r"'half'; expected a number"):
        eventsim.from_nir(g)


def test_to_nir_checks_its_step():
    net = Network([Dense(np.ones((3, 4)), decay=0.5)], (4,))
    for bad in (0, -5, 2.5, True):
        with pytest.raises(NetworkError, match="to_nir: field 'dt_us' must be a positive"):
            eventsim.to_nir(net, dt_us=bad)
    assert eventsim.from_nir(eventsim.to_nir(net, dt_us=250)).dt_us == 250
    net.dt_us = 1000
    with pytest.raises(NetworkError, match="'dt_us' is 250 but the network's decays are per "
                                           "step of 1000 us"):
        eventsim.to_nir(net, dt_us=250)
    assert eventsim.from_nir(eventsim.to_nir(net, dt_us=1000)).dt_us == 1000


def test_provenance_survives_the_round_trip(tmp_path):
    prov = {"dataset": "nmnist", "epochs": 3, "input_encoding": "current",
            "history": [{"epoch": 1, "loss": 0.5}], "scale": np.float32(0.25)}
    net = Network([Dense(np.ones((3, 4)), decay=0.5)], (4,), dt_us=1000, provenance=prov)
    eventsim.to_nir(net, tmp_path / "p.nir")
    back = eventsim.from_nir(tmp_path / "p.nir")
    assert {k: back.provenance[k] for k in prov} == {**prov, "scale": 0.25}
    assert back.provenance["source"] == "NIR"
    assert back.provenance["nir_file"] == str(tmp_path / "p.nir")


def test_sinabs_file_on_a_real_step_with_tau_scale():
    """Sinabs' tau counts steps: dt_us=D with tau_scale=D*1e-6 gives the decays dt_us=1e6
    gives, so the network runs on a real step of D us."""
    io = np.load(DATA / "sinabs_mlp_io.npz")
    net = eventsim.from_nir(DATA / "sinabs_mlp.nir", dt_us=1000, tau_scale=1e-3,
                            discretisation="zoh", reset="subtract")
    assert net.dt_us == 1000 and net.layers[1].decay == pytest.approx(math.exp(-1 / 20))
    assert_spikes_as_recorded(net, io, "spikes")


def test_a_last_layer_of_one_channel_round_trips():
    """The Output's shape (1, H, W) keeps its channel axis: it is not a batch axis."""
    net = Network([Conv2d(np.full((1, 2, 3, 3), 0.1), padding=1, decay=0.5)], (2, 4, 4),
                  dt_us=1000)
    back = eventsim.from_nir(eventsim.to_nir(net))
    assert back.shapes == [(1, 4, 4)]


def _sinabs_cnn(start_dim: int):
    """A CNN in Sinabs' conventions (its to_nir, per sinabs/nir.py): a batch axis of 1 on the
    Input and on the IF parameters (the shape of v_mem), torch's Flatten(start_dim=1) with a
    placeholder input type."""
    ones = np.ones
    nodes = {"input": nir.Input({"input": np.array([1, 2, 4, 4])}),
             "conv": nir.Conv2d(input_shape=(4, 4), weight=np.full((3, 2, 3, 3), 0.2), stride=1,
                                padding=1, dilation=1, groups=1, bias=np.zeros(3)),
             "if1": nir.IF(r=ones((1, 3, 4, 4)), v_threshold=ones((1, 3, 4, 4)),
                           v_reset=np.zeros((1, 3, 4, 4))),
             "flat": nir.Flatten(input_type={"input": np.array([0, 0, 0, 0])},
                                 start_dim=start_dim, end_dim=-1),
             "fc": nir.Affine(np.full((5, 48), 0.1), np.zeros(5)),
             "if2": nir.IF(r=ones((1, 5)), v_threshold=ones((1, 5)), v_reset=np.zeros((1, 5))),
             "output": nir.Output({"output": np.array([1, 5])})}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(pairwise(names)), type_check=False)


def test_a_cnn_in_sinabs_conventions_imports():
    net = eventsim.from_nir(_sinabs_cnn(start_dim=1), dt_us=1000, discretisation="zoh",
                            reset="subtract")
    assert net.input_shape == (2, 4, 4)
    assert net.shapes == [(3, 4, 4), (48,), (5,)]
    with pytest.raises(NetworkError, match="node 'flat': Flatten from dim 2 to -1"):
        eventsim.from_nir(_sinabs_cnn(start_dim=2), dt_us=1000)


# ----------------------------------------------------------------------------- accepted no more


def test_a_node_off_the_chain_is_refused_not_dropped():
    """An Affine with bias feeding the Output from outside the chain was silently dropped."""
    g = _mlp_graph()
    g.nodes["extra"] = nir.Affine(np.ones((3, 4)), np.ones(3))
    g.edges.append(("extra", "output"))
    with pytest.raises(NetworkError, match=r"node 'extra' cannot be reached from 'input' "
                       r"\(it feeds 'output'\)"):
        eventsim.from_nir(g, dt_us=1000)
    g = _mlp_graph()
    g.nodes["lonely"] = nir.Linear(np.ones((3, 4)))
    with pytest.raises(NetworkError, match=r"node 'lonely' cannot be reached from 'input'; "):
        eventsim.from_nir(g, dt_us=1000)


@pytest.mark.parametrize("r, what", [(0.0, "0 would silence every input"),
                                     (-0.01, "a negative r would negate every weight")])
def test_a_resistance_that_is_not_positive_is_refused(r, what):
    with pytest.raises(NetworkError, match=rf"node '1': field 'r' is {r}; expected a positive "
                       rf"input resistance \(eventsim folds r into the weights: {what}\)"):
        eventsim.from_nir(_mlp_graph(r=np.full(3, r)), dt_us=1000)
    g = _mlp_graph()
    g.nodes["1"] = nir.IF(r=np.full(3, r), v_threshold=np.ones(3), v_reset=np.zeros(3))
    with pytest.raises(NetworkError, match=rf"node '1': field 'r' is {r}"):
        eventsim.from_nir(g, dt_us=1000)


def test_files_eventsim_writes_are_checksummed(tmp_path):
    import h5py

    from eventsim.errors import EventsimWarning
    from eventsim.h5io import DIGEST_ATTR

    net = eventsim.random_mlp([4, 3], (4,), seed=1)
    net.dt_us = 1000
    path = tmp_path / "net.nir"
    eventsim.to_nir(net, path)
    np.testing.assert_array_equal(eventsim.from_nir(path).layers[0].weight, net.layers[0].weight)
    with h5py.File(path, "r+") as f:
        f["node/nodes/0.proj/weight"][0, 0] = 1e30
    with pytest.raises(FormatError, match=rf"^{path}: not a readable NIR graph \(damaged NIR "
                       "graph file: its content does not match the checksum"):
        eventsim.from_nir(path)
    with h5py.File(path, "r+") as f:
        del f.attrs[DIGEST_ATTR]
    with pytest.warns(EventsimWarning, match=f"{path}: the NIR graph file has no checksum"):
        assert eventsim.from_nir(path).layers[0].weight[0, 0] == 1e30


def test_a_graph_claiming_huge_arrays_is_refused_before_reading(tmp_path):
    import h5py

    path = tmp_path / "huge.nir"
    eventsim.to_nir(eventsim.from_nir(_mlp_graph(), dt_us=1000), path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/0.proj/weight"]
        f["node/nodes/0.proj"].create_dataset("weight", shape=(10, 10**8), dtype="f8",
                                              chunks=(10, 1 << 16))
    with pytest.raises(FormatError, match=r"field '/node/nodes/0.proj/weight' claims shape "
                       r"\(10, 100000000\).*holds only 0 of its 1526 chunks"):
        eventsim.from_nir(path)


def test_to_nir_checks_the_memory_of_its_neuron_nodes(monkeypatch):
    from eventsim.errors import ResourceError

    net = Network([eventsim.AvgPool2d(2)], (2, 30000, 30000), dt_us=1000)
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "1G")
    with pytest.raises(ResourceError, match="to_nir: the NIR neuron nodes of 450000000 "
                       "neurons"):
        eventsim.to_nir(net)
