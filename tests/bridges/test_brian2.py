"""The Brian2 twin: spike for spike in discrete mode, within one Brian2 step in continuous mode,
the first divergence of an edited network, and ``eventsim validate``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import graphgen
import netgen
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from netgen import conv_networks, dense_networks

import eventsim
from eventsim.bridges.brian2 import run_brian2
from eventsim.cli import main
from eventsim.errors import InputError, NetworkError
from eventsim.events.stream import EVENT_DTYPE, EventStream
from eventsim.network.graph import as_graph
from eventsim.network.layers import Conv2d, Dense, Flatten, NeuNorm
from eventsim.network.network import Network
from eventsim.network.reference import simulate_dense
from eventsim.validate import READOUT_RTOL, validate


@settings(max_examples=55, deadline=None)
@given(st.one_of(dense_networks(cuba=True), conv_networks(cuba=True),
                 graphgen.vector_graphs(cuba=True), graphgen.image_graphs(cuba=True)),
       st.integers(0, 2**32 - 1), st.booleans())
def test_random_networks_agree_spike_for_spike(case, seed, readout):
    """Dense, conv and pooling networks with bias and both resets, and graphs (cycles,
    self-loops, skip sums, delays per projection, source neuron and synapse, pool composed
    with conv), current-based populations among them; three samples as segments of one run(), of different lengths, so what one
    sample sends late must not reach the next. With ``readout``, the output is a leaky
    integrator: its membrane maximum and mean agree within float64 rounding
    (:data:`eventsim.validate.READOUT_RTOL`)."""
    net, x = case
    if readout:
        net = as_graph(net)
        net.populations[-1].v_th = math.inf
    _assert_agree(net, x, seed, readout)


def _assert_agree(net, x, seed: int, readout: bool = False) -> None:
    """``x`` and two more seeded samples of other lengths, as segments of one Brian2 run():
    equal spikes, and readouts within :data:`eventsim.validate.READOUT_RTOL`."""
    rng = np.random.default_rng(seed)
    others = [(rng.random((rng.integers(1, 25), *x.shape[1:])) < 0.4).astype(np.uint8)
              for _ in range(2)]
    samples = [x, *others]
    run = run_brian2(net, samples)
    for k, sample in enumerate(samples):
        ours = eventsim.simulate(net, sample, dtype="float64")
        for pop, spikes in enumerate(ours.spikes):
            np.testing.assert_array_equal(run.spikes[k][pop], spikes,
                                          err_msg=f"sample {k}, population {pop}")
            for a, b in ((ours.membrane_max[pop], run.membrane_max[k][pop]),
                         (ours.membrane_mean[pop], run.membrane_mean[k][pop])):
                assert (a is None) == (b is None) == (not readout or pop < len(ours.spikes) - 1)
                if a is not None:
                    np.testing.assert_allclose(b, a, rtol=READOUT_RTOL, atol=READOUT_RTOL)


@settings(max_examples=30, deadline=None)
@given(graphgen.vector_graphs(cuba=True, two=True, adapt=True), st.integers(0, 2**32 - 1))
def test_two_currents_adaptation_and_a_start_agree_spike_for_spike(case, seed):
    """Graphs with a second current (``isyn2`` in Brian2, fed by the projections of port 1),
    an adaptive threshold (``badapt``, reset to 0 at every sample) and starts ``v_init`` per
    neuron (Brian2's ``v0``, set again at every sample), with refractory periods, leaks and
    both resets among them: three samples in one run()."""
    net, x = case
    assume(any(p.syn_decay_2 or p.adaptive for p in net.populations))
    _assert_agree(net, x, seed)


def _net(seed=0, n_in=6, reset="zero"):
    rng = np.random.default_rng(seed)
    return Network([Dense(rng.normal(0.3, 0.5, (8, n_in)), bias=rng.normal(0.05, 0.1, 8),
                          decay=0.7, v_th=0.6, reset=reset),
                    Dense(rng.normal(0.2, 0.6, (3, 8)), decay=0.5, v_th=0.5, reset=reset)],
                   (n_in,))


def test_probe_records_the_potential_before_the_threshold_test():
    net = _net()
    x = (np.random.default_rng(1).random((30, 6)) < 0.3).astype(np.uint8)
    for pop, neuron in ((0, 2), (1, 1)):
        run = run_brian2(net, [x], probe=(pop, neuron))
        _, _, trace = simulate_dense(net, x, probe=(pop, neuron))
        np.testing.assert_allclose(run.potential, trace, rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="'probe' records one sample"):
        run_brian2(net, [x, x], probe=(0, 0))


def _streams(n, seed=0, n_ch=6, duration_us=4000, rate=0.01):
    """Short recordings with events on integer microseconds (some simultaneous)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.sort(rng.integers(0, duration_us, int(duration_us * rate * n_ch)))
        ev = np.zeros(len(t), EVENT_DTYPE)
        ev["t"], ev["x"] = t, rng.integers(0, n_ch, len(t))
        out.append(EventStream(ev, (n_ch, 1, 1)))
    return out


def test_edited_network_is_caught_at_its_first_divergence():
    """eventsim runs a copy with one weight changed, Brian2 the original: the first mismatch
    is where the two networks first differ in eventsim alone, and the potentials there are
    on either side of the threshold."""
    original = _net(3)
    edited = _net(3)
    edited.layers[0].weight[4, 2] -= 0.8  # 1.27 -> 0.47, below v_th = 0.6 alone
    samples = _streams(4, seed=5, rate=0.001)
    report = validate(edited, samples, [f"s{k}" for k in range(4)], dt_us=200, T=20,
                      reference=original)
    assert not report.ok and report.n_mismatches > 0
    expected = None
    for k, s in enumerate(samples):
        a = eventsim.simulate(edited, s, dtype="float64", dt_us=200, T=20)
        b = eventsim.simulate(original, s, dtype="float64", dt_us=200, T=20)
        diffs = [(step, pop, n) for pop in range(2)
                 for step, n in set(map(tuple, a.spikes[pop])) ^ set(map(tuple, b.spikes[pop]))]
        if diffs:
            expected = (k, *min(diffs))
            break
    f = report.first
    assert (f.sample, f.step, f.layer, f.neuron) == expected
    v_th = edited.layers[f.layer].v_th
    assert (f.v_eventsim >= v_th) != (f.v_brian2 >= v_th)
    assert (f.spiked_in == "eventsim") == (f.v_eventsim >= v_th)
    assert validate(original, samples, ["s"] * 4, dt_us=200, T=20).ok


def test_continuous_mode_input_driven_spikes_coincide():
    """Inputs on integer microseconds, Brian2 at 1 us, no bias: every spike is caused by an
    arrival, at a grid point, and both simulators put it at the same time (simultaneous
    arrivals summed before the threshold test in both)."""
    net = _net(7)
    for layer in net.layers:
        layer.tau_us, layer.bias = 300.0, None
    samples = _streams(2, seed=2)
    report = validate(net, samples, ["a", "b"], mode="continuous", dt_us=100)
    assert report.ok, report.first
    assert report.max_dt_us < 1e-6
    assert sum(report.samples[0].spikes_eventsim) > 20


def test_continuous_mode_bias_crossing_within_one_step():
    """A crossing driven by the bias falls between grid points: Brian2 reports it on the next
    step. (Repeated bias crossings drift further: each interval rounds up to the grid.)"""
    net = Network([Dense(np.zeros((1, 1)), bias=[0.3], v_th=1.0, tau_us=700.0)], (1,))
    quiet = _streams(1, n_ch=1, rate=0.0)
    report = validate(net, quiet, ["q"], mode="continuous", dt_us=100, T=6)
    assert report.samples[0].spikes_eventsim == report.samples[0].spikes_brian2 == [1]
    assert 0 < report.max_dt_us <= 1.0 and report.ok


def test_continuous_mode_leak_and_start_within_one_step():
    """A leak towards ``v_leak = 1.3`` above ``v_th = 1`` from starts ``v_init`` (0.2 and 0.9)
    and a reset to ``v_reset = -0.5``: every crossing comes from the leak alone, in closed
    form; Brian2 (``v0``, and ``v_leak / tau`` in its drive) reports each on the grid step
    after: the first ones within one of its 1 us steps, and as each interval rounds up to
    the grid, the second ones (after the reset) within two."""
    from eventsim.network.graph import INPUT, Graph, Population, Projection
    from eventsim.network.ops import Dense as DenseOp

    g = Graph((1,), [Population("h", (2,), decay=0.5, v_th=1.0, v_leak=1.3, v_reset=-0.5,
                                tau_us=400.0, v_init=np.array([0.2, 0.9]))],
              [Projection(INPUT, "h", [DenseOp(np.zeros((2, 1)))])], dt_us=100)
    quiet = _streams(1, n_ch=1, rate=0.0)
    ours = eventsim.simulate(g, quiet[0], mode="continuous", dtype="float64", T=30)
    t = ours.spikes[0]["t_us"]
    first = 400 * np.log((1.3 - np.array([0.2, 0.9])) / 0.3)  # u(t) = 1.3 + (u0 - 1.3) e^(-t/tau)
    np.testing.assert_allclose(np.sort(t[:2]), np.sort(first), rtol=1e-12)
    report = validate(g, quiet, ["q"], mode="continuous", dt_us=100, T=9)
    assert report.samples[0].spikes_eventsim == report.samples[0].spikes_brian2 == [3]
    assert 0 < report.max_dt_us <= 2.0


@pytest.mark.parametrize("target", ["cython", "cpp_standalone"])
def test_other_targets_agree(target):
    net = _net(11, reset="subtract")
    samples = _streams(2, seed=9)
    report = validate(net, samples, ["a", "b"], target=target, dt_us=250, T=16)
    assert report.ok and sum(report.samples[0].spikes_eventsim) > 10


def test_neunorm_has_no_twin():
    net = Network([Conv2d(np.ones((1, 1, 1, 1))), NeuNorm(np.zeros((1, 2, 2))), Flatten(),
                   Dense(np.ones((1, 4)))], (1, 2, 2))
    with pytest.raises(NetworkError, match=r"layer 1 \(NeuNorm\): NeuNorm has no Brian2 twin"):
        run_brian2(net, [np.zeros((3, 1, 2, 2), np.uint8)])


def test_import_eventsim_does_not_import_brian2():
    code = "import sys, eventsim; eventsim.simulate; print('brian2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- real data and the command --------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "networks" / "nmnist-mlp.h5"


@pytest.mark.parametrize("name", ["nmnist-mlp.h5", "nmnist-cnn.h5", "nmnist-rsnn.h5",
                                  "nmnist-mlp-qat4.h5", "nmnist-cnn-qat4.h5", "nmnist-cnn-speck.h5"])
def test_shipped_networks_validate_on_the_100_test_recordings(capsys, tmp_path, data_dir, mlp,
                                                              name):
    out_json = tmp_path / "report.json"
    code = main(["validate", str(mlp.parent / name), str(data_dir / "nmnist" / "Test"),
                 "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "samples: 100  mismatching spikes: 0" in out and "OK: the simulators agree" in out
    report = json.loads(out_json.read_text())
    assert report["ok"] and len(report["samples"]) == 100
    assert sum(s["spikes_eventsim"][0] for s in report["samples"]) > 100000


def test_validate_fails_on_an_edited_copy(capsys, tmp_path, data_dir, mlp):
    net = eventsim.load_network(mlp)
    net.layers[0].weight[123, 500] += 0.3
    eventsim.save_network(net, tmp_path / "edited.h5")
    code = main(["validate", str(tmp_path / "edited.h5"), str(data_dir / "nmnist" / "Test"),
                 "--samples", "10", "--reference", str(mlp)])
    out = capsys.readouterr().out
    assert code == 1
    assert ("first mismatch: sample 6 (" in out and "layer 0 (Dense), neuron 123, step 7: spike "
            "in eventsim only" in out)
    assert "FAILED: the simulators disagree" in out


@pytest.mark.parametrize("argv, match", [
    (["--samples", "0"], "argument --samples: 0 is out of range"),
    (["--dt-brian-us", "0"], "argument --dt-brian-us: expected a finite number > 0, got '0'"),
    (["--mode", "continuous", "--target", "cpp_standalone"], "use --target numpy or cython"),
])
def test_validate_bad_flags(capsys, data_dir, mlp, argv, match):
    code = main(["validate", str(mlp), str(data_dir / "nmnist" / "Test"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and match in err and "Traceback" not in err


def test_validate_missing_input(capsys, mlp, tmp_path):
    code = main(["validate", str(mlp), str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 1 and f"{tmp_path / 'nothing'}: no such file or folder" in err


def test_shipped_mnist_mlp_validates_on_rate_coded_test_images(data_dir, mlp):
    """784-800-10 on 100 MNIST test images, rate-coded as the trainer evaluates them."""
    from eventsim.train.data import load_mnist_idx, rate_code

    net = eventsim.load_network(mlp.parent / "mnist-mlp.h5")
    images, _ = load_mnist_idx(data_dir / "mnist", "t10k")
    spikes = rate_code(images[:100], net.T, np.random.default_rng(12345))  # (T, B, 28, 28)
    samples = [np.ascontiguousarray(spikes[:, b]).reshape(net.T, -1) for b in range(100)]
    report = validate(net, samples, [f"t10k[{b}]" for b in range(100)])
    assert report.ok, report.first
    assert sum(sum(s.spikes_eventsim) for s in report.samples) > 10000


@settings(max_examples=25, deadline=None)
@given(netgen.integer_networks())
def test_integer_networks_agree_spike_for_spike(case):
    """Quantized (integer) layers: Brian2 steps the truncating decay; exact on both sides."""
    net, x = case
    run = run_brian2(net, [x, x[::-1].copy()])
    for k, sample in enumerate([x, x[::-1].copy()]):
        ours = eventsim.simulate(net, sample)
        for pop, spikes in enumerate(ours.spikes):
            np.testing.assert_array_equal(run.spikes[k][pop], spikes)
