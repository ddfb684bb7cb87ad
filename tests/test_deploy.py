"""``eventsim deploy``: chip targets and the exact check of a network against them. Every
limit is tested at its edge: met with nothing to spare it passes, exceeded by one it fails."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.cli import main
from eventsim.deploy import deploy, load_target, shipped_targets
from eventsim.errors import InputError
from eventsim.network import ops
from eventsim.network.graph import INPUT, Graph, Population, Projection
from eventsim.network.layers import Conv2d, Dense
from eventsim.network.network import Network


def target(tmp_path, mapper, name="chip", **limits):
    """A target file of the given limits, each with a source."""
    lines = [f'name = "{name}"', 'description = "a test chip"', f'mapper = "{mapper}"']
    for key, value in limits.items():
        value = json.dumps(value)
        lines.append(f'{key} = {{ value = {value}, source = "the test" }}')
    path = tmp_path / f"{name}-{abs(hash(str(limits)))}.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_target(path)


def integer_mlp(sizes, w_max=1.0, v_th=1.0, decay=1.0, reset="subtract", integer=True):
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        w = np.ones((n_out, n_in))
        w[0, 0] = w_max
        layers.append(Dense(w, v_th=v_th, decay=decay, reset=reset, integer=integer))
    return Network(layers, (sizes[0],))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 16), st.integers(-1, 1), st.booleans())
def test_weight_bits_at_the_edge(tmp_path_factory, bits, delta, negative):
    t = target(tmp_path_factory.mktemp("t"), "neuron_cores", weight_bits=bits)
    edge = -(2 ** (bits - 1)) - delta if negative else 2 ** (bits - 1) - 1 + delta
    m = deploy(integer_mlp([3, 2], w_max=float(edge)), t)
    assert m.fits == (delta <= 0)
    if delta > 0:
        assert [v.limit for v in m.violations] == ["weight_bits"]
        assert f"{bits}-bit weights hold {-(2 ** (bits - 1))}..{2 ** (bits - 1) - 1}" in str(
            m.violations[0])


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 24), st.integers(-1, 1))
def test_threshold_at_the_edge_of_the_state(tmp_path_factory, bits, delta):
    t = target(tmp_path_factory.mktemp("t"), "neuron_cores", state_bits=bits)
    m = deploy(integer_mlp([3, 2], v_th=float(2 ** (bits - 1) - 1 + delta)), t)
    assert m.fits == (delta <= 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(-1, 1))
def test_neuron_cores_at_the_edge(tmp_path_factory, per_core, cores, delta):
    """Two populations: the first fills its cores exactly, the second takes one neuron; the
    total is the target's cores plus delta."""
    t = target(tmp_path_factory.mktemp("t"), "neuron_cores", cores=cores,
               neurons_per_core=per_core)
    n_cores = cores + delta  # cores the network needs
    if n_cores < 2:
        return
    m = deploy(integer_mlp([2, per_core * (n_cores - 1), 1]), t)
    assert m.fits == (delta <= 0)
    if m.fits:
        assert m.cores_used == n_cores
        assert m.placement[0].used["neurons"] == [per_core * (n_cores - 1),
                                                  per_core * (n_cores - 1)]
    else:
        assert m.violations[0].limit == "cores"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["input_channels", "hidden_neurons", "output_neurons"]),
       st.integers(2, 30), st.integers(-1, 1))
def test_xylo_sizes_at_the_edge(tmp_path_factory, key, limit, delta):
    sizes = {"input_channels": 4, "hidden_neurons": 5, "output_neurons": 3}
    sizes[key] = limit + delta
    t = target(tmp_path_factory.mktemp("t"), "xylo", **{key: limit})
    net = integer_mlp([sizes["input_channels"], sizes["hidden_neurons"],
                       sizes["output_neurons"]])
    m = deploy(net, t)
    assert m.fits == (delta <= 0)
    if delta > 0:
        assert str(m.violations[0]).startswith(f"network: {key}: {limit + 1}; chip has {limit}")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(-1, 1))
def test_xylo_fan_out_at_the_edge(tmp_path_factory, most, delta):
    """A hidden layer sending to ``most + delta`` hidden neurons of the next (nonzero)."""
    t = target(tmp_path_factory.mktemp("t"), "xylo", max_fan_out=most)
    m = deploy(integer_mlp([2, 3, most + delta, 2]), t) if most + delta >= 1 else None
    if m is not None:
        assert m.fits == (delta <= 0)


def _conv(c, f, k, size, bias=False):
    w = np.ones((f, c, k, k))
    return Network([Conv2d(w, bias=np.ones(f) if bias else None, v_th=1.0, decay=1.0,
                           reset="subtract", integer=True)], (c, size, size))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.sampled_from([1, 2, 3, 4]),
       st.integers(1, 12), st.sampled_from(["kernel", "neuron", "bias"]), st.integers(-1, 1))
def test_speck_core_memory_at_the_edge(tmp_path_factory, c, f, k, size, which, delta):
    """One conv layer against one core whose memory is the layer's need plus delta (sinabs'
    formulas: kernel c * 2**(ceil log2 k*k + ceil log2 f), neuron f * 2**(2 ceil log2 out))."""
    pow2 = lambda x: 1 if x <= 1 else 2 ** int(np.ceil(np.log2(x)))
    out = size - k + 1
    if out < 1:
        return
    need = {"kernel": c * pow2(k * k) * pow2(f), "neuron": f * pow2(out) ** 2, "bias": f}
    memory = {key: need[key] for key in need}
    memory[which] = need[which] - delta
    if memory[which] < 0:
        return
    t = target(tmp_path_factory.mktemp("t"), "dynapcnn", cores=1,
               kernel_memory_per_core=[memory["kernel"]],
               neuron_memory_per_core=[memory["neuron"]], bias_memory_per_core=[memory["bias"]])
    m = deploy(_conv(c, f, k, size, bias=True), t)
    assert m.fits == (delta <= 0), m.table()
    if m.fits:
        assert m.placement[0].used == {key: [need[key], memory[key]] for key in need}
    else:
        assert m.violations[0].limit == "core memory"


def test_speck_places_layers_on_distinct_cores_by_matching(tmp_path):
    """Layer 0 fits both cores, layer 1 only core 0: a greedy first fit would fail."""
    net = Network([Conv2d(np.ones((4, 1, 3, 3)), v_th=1.0, decay=1.0, reset="subtract",
                          integer=True),
                   Conv2d(np.ones((8, 4, 3, 3)), v_th=1.0, decay=1.0, reset="subtract",
                          integer=True)], (1, 8, 8))
    # needs: kernel 1*16*4 = 64 and 4*16*8 = 512; neuron 4*8*8 = 256 and 8*4*4 = 128
    t = target(tmp_path, "dynapcnn", cores=2, kernel_memory_per_core=[512, 64],
               neuron_memory_per_core=[256, 256])
    m = deploy(net, t)
    assert m.fits and [c.cores for c in m.placement] == [[1], [0]]
    # each fits core 0 alone (core 1 is one entry short for either): no placement
    t = target(tmp_path, "dynapcnn", cores=2, kernel_memory_per_core=[512, 511],
               neuron_memory_per_core=[256, 255])
    m = deploy(net, t)
    assert not m.fits and [str(v) for v in m.violations] == [
        ("network: core memory: no assignment of populations to distinct cores holds them "
        "all; chip's cores differ in memory. Fix: smaller layers")]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(-1, 1))
def test_destinations_at_the_edge(tmp_path_factory, most, delta):
    """A population sending to ``most + delta`` others (which all feed the output)."""
    n = most + delta
    if n < 1:
        return
    pops = [Population("a", (2,), v_th=1.0, decay=1.0, reset="subtract", integer=True)]
    projs = [Projection(INPUT, "a", [ops.Dense(np.ones((2, 2)))])]
    for i in range(n):
        pops.append(Population(f"b{i}", (2,), v_th=1.0, decay=1.0, reset="subtract",
                               integer=True))
        projs.append(Projection("a", f"b{i}", [ops.Dense(np.ones((2, 2)))]))
        projs.append(Projection(f"b{i}", "out", [ops.Dense(np.ones((2, 2)))]))
    pops.append(Population("out", (2,), v_th=1.0, decay=1.0, reset="subtract", integer=True))
    t = target(tmp_path_factory.mktemp("t"), "dynapcnn", max_destinations=most)
    m = deploy(Graph((2,), pops, projs), t)
    assert any(v.limit == "max_destinations" for v in m.violations) == (delta > 0)


@pytest.mark.parametrize("value, ok", [(0.5, True), (0.75, True), (1 - 2 ** -15, True),
                                       (0.2, False), (1.0, False), (0.74, False)])
def test_shift_decays(tmp_path, value, ok):
    t = target(tmp_path, "neuron_cores", decay="shift", decay_shift_bits=4)
    m = deploy(integer_mlp([2, 2], decay=value, integer=False), t)
    assert m.fits == ok


def test_unknown_limits_are_not_checked_and_said(tmp_path):
    t = target(tmp_path, "neuron_cores", neurons_per_core="unknown", cores=4)
    m = deploy(integer_mlp([2, 100]), t)
    assert m.unchecked == [["neurons_per_core", "the test"]]
    assert "not checked: neurons_per_core (unknown: the test)" in m.table()


def test_shipped_targets_load_with_a_source_for_every_number():
    assert shipped_targets() == ["loihi2", "speck", "xylo"]
    for name in shipped_targets():
        t = load_target(name)
        assert t.name == name
        for key in [*t.limits, *(f"energy_pj.{k}" for k in t.energy_pj)]:
            assert t.sources[key].strip(), key


@pytest.mark.parametrize("text, match", [
    ('name = "x"\ndescription = "y"\nmapper = "z"', "key 'mapper' must be one of"),
    ('name = "x"\ndescription = "y"\nmapper = "xylo"\ncores = 3',
     r"key 'cores' must be \{ value = ..., source = \"...\" \}"),
    ('name = "x"\ndescription = "y"\nmapper = "xylo"\ncore = { value = 3, source = "s" }',
     "unknown key 'core'"),
    ('name = "x"\ndescription = "y"\nmapper = "xylo"\ncores = { value = -3, source = "s" }',
     "key 'cores': value must be int"),
])
def test_bad_target_files_are_named(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=f"{path}: {match}"):
        load_target(path)


def test_cli_prints_the_mapping_or_the_violations(tmp_path, capsys):
    from eventsim import save_network

    save_network(integer_mlp([4, 3, 2], reset="zero"), tmp_path / "net.h5")
    assert main(["deploy", str(tmp_path / "net.h5"), "--target", "loihi2", "--report",
                 str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "fits loihi2: 2 cores" in out and "neurons 3/8192" in out
    assert "not checked: max_fan_in (unknown: not in Lava's code or docs)" in out
    report = json.loads((tmp_path / "rep" / "deploy.json").read_text())
    assert report["fits"] and report["cores_used"] == 2
    assert main(["deploy", str(tmp_path / "net.h5"), "--target", "xylo"]) == 1
    out = capsys.readouterr().out
    assert "does not fit xylo: 4 violations" in out
    assert ("layer 0 (Dense): reset: reset 'zero'; xylo resets by subtracting the threshold. "
            "Fix: retrain with reset = 'subtract'") in out
    assert ("layer 1 (Dense): decay: decay 1; xylo decays by bit shifts, 1 - 2**-k for k = "
            "1..15. Fix: retrain with decay = 0.999969 (k = 15)") in out
    assert main(["deploy", str(tmp_path / "net.h5"), "--target", "tpu"]) == 1
    assert "tpu: not a shipped target (loihi2, speck, xylo) nor a TOML file" in \
        capsys.readouterr().err


@pytest.mark.parametrize("name", ["loihi2", "speck", "xylo"])
def test_neunorm_runs_on_no_target(name):
    from eventsim.network.layers import Flatten, NeuNorm

    net = Network([Conv2d(np.ones((1, 1, 1, 1)), v_th=1.0), NeuNorm(np.zeros((1, 2, 2))),
                   Flatten(), Dense(np.ones((2, 4)), v_th=1.0)], (1, 2, 2))
    m = deploy(net, load_target(name))
    assert f"layer 3 (Dense): neuron_models: NeuNorm (analog auxiliary neurons); {name} runs " \
           "spiking neurons and integer weights only. Fix: train without NeuNorm" in \
           [str(v) for v in m.violations]


def test_the_speck_cnn_fits_speck_and_the_qat_networks_loihi2():
    """As the README's table says: the integrate-and-fire CNN takes five Speck cores (each
    layer one, charged by sinabs' formulas), the quantization-aware networks fit Loihi 2."""
    from pathlib import Path

    from eventsim import load_network

    networks = Path(__file__).resolve().parents[1] / "networks"
    m = deploy(load_network(networks / "nmnist-cnn-speck.h5"), load_target("speck"))
    assert m.fits and m.cores_used == 5, m.table()
    conv0 = m.placement[0]
    assert conv0.used["kernel"][0] == 2 * 16 * 16  # c * 2**ceil(log2 9) * 2**ceil(log2 16)
    assert conv0.used["neuron"][0] == 16 * 64 * 64  # f * 2**ceil(log2 34) squared
    for name in ("nmnist-mlp-qat4", "nmnist-cnn-qat4"):
        assert deploy(load_network(networks / f"{name}.h5"), load_target("loihi2")).fits
