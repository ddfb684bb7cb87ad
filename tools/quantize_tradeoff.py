"""Accuracy, operations, energy and size of the shipped networks, float32 against 8, 4 and 2
bits, quantized after training (PTQ) and trained quantization-aware (QAT).

For each network in ``networks/`` (the N-MNIST ones on the 100 test recordings, the MNIST one
on the first ``--mnist`` test images rate-coded as the trainer evaluates them): the float32
network, its post-training quantizations (``eventsim.network.quantize``, symmetric, per
layer and per output channel, "/ch"), and the quantization-aware networks shipped beside it
(``networks/<name>-qat<bits>.h5``, "qat<bits>"), each run event by event. Energy per sample
from the run's counts: float32 under the 45 nm fp32 profile, the integer networks under the
45 nm int8 profile (no 4- or 2-bit figures are in Horowitz's table: they are costed as int8,
an upper bound). The reference is the float32 network in the same run (ratio columns).

    python tools/quantize_tradeoff.py [--mnist 2000]
"""

from __future__ import annotations

import _machine  # noqa: F401  (one thread; must come before numpy)

import argparse
from pathlib import Path

import numpy as np

import eventsim
from eventsim.metrics import layer_energy, layer_metrics
from eventsim.network.quantize import model_bytes, quantize
from _machine import command_line, data_dir, machine_line

NETWORKS = Path(__file__).resolve().parents[1] / "networks"


def nmnist_samples():
    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin"))
    return [eventsim.read_events(f, (34, 34, 2)) for f in files], [int(f.parent.name)
                                                                    for f in files]


def mnist_samples(n, T):
    from eventsim.train.data import load_mnist_idx, rate_code

    images, labels = load_mnist_idx(data_dir() / "mnist", "t10k")
    rng = np.random.default_rng(12345)
    samples = []
    for start in range(0, n, 100):
        spikes = rate_code(images[start:min(start + 100, n)], T, rng)
        samples += [np.ascontiguousarray(spikes[:, b]).reshape(T, -1)
                    for b in range(spikes.shape[1])]
    return samples, labels[:n].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=int, default=2000, help="MNIST test images to use")
    args = parser.parse_args()
    print(machine_line())
    print(command_line())
    print(f"{'network':<12}{'weights':>9}{'accuracy':>10}{'SOPs/sample':>13}{'energy nJ':>11}"
          f"{'profile':>13}{'size kB':>10}{'energy ratio':>14}{'size ratio':>12}")
    nmnist = nmnist_samples()
    for name in ("nmnist-mlp", "nmnist-cnn", "nmnist-rsnn", "mnist-mlp"):
        net = eventsim.load_network(NETWORKS / f"{name}.h5")
        samples, labels = nmnist if name.startswith("nmnist") else mnist_samples(args.mnist,
                                                                                 net.T)
        reference = None
        variants = [(None, False, net)] + [
            (bits, per_channel, None) for per_channel in (False, True) for bits in (8, 4, 2)]
        variants += [(bits, "qat", eventsim.load_network(NETWORKS / f"{name}-qat{bits}.h5"))
                     for bits in (8, 4, 2) if (NETWORKS / f"{name}-qat{bits}.h5").exists()]
        for bits, per_channel, q in variants:
            q = q if q is not None else quantize(net, bits, per_channel)
            sim = eventsim.Simulator(q)
            results = [sim.run(s) for s in samples]
            accuracy = np.mean([r.predicted == y for r, y in zip(results, labels)])
            metrics = layer_metrics(q, results)
            profile = "cmos45-fp32" if bits is None else "cmos45-int8"
            energy = sum(e.snn_pj for e in layer_energy(metrics, profile)) / len(results) / 1e3
            size = model_bytes(q, bits) / 1e3
            sops = sum(m.effective_acs for m in metrics) / len(results)
            reference = reference or (energy, size)
            label = "float32" if bits is None else f"qat{bits}" if per_channel == "qat" else \
                f"int{bits}" + ("/ch" if per_channel else "")
            print(f"{name:<12}{label:>9}{accuracy:>10.2%}{sops:>13.3g}{energy:>11.1f}"
                  f"{profile:>13}{size:>10.1f}{energy / reference[0]:>14.3f}"
                  f"{size / reference[1]:>12.3f}")
    print(f"samples: N-MNIST 100 test recordings; MNIST the first {args.mnist} test images")


if __name__ == "__main__":
    main()
