"""Every shipped network on every shipped chip target: fits or not, cores, and the kinds of
violation (``eventsim.deploy``; what ``eventsim deploy NET --target T`` prints per pair).

With ``--accuracy``, each pair that fits is also run on the 100 N-MNIST test recordings: the
accuracy event by event (the integer network, as the chip computes it in every respect
``deploy`` checked), and the largest potential any neuron reached (the trainer's integer
forward pass, equal to the engine's spike for spike) against the chip's signed
``state_bits`` range: inside it, the chip's saturation never acts and its spikes are the
engine's.

    python tools/deploy_table.py [--accuracy]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

import eventsim
from eventsim.deploy import deploy, load_target, shipped_targets
from _machine import command_line, data_dir

NETWORKS = Path(__file__).resolve().parents[1] / "networks"


def run_as_chip(net, target):
    """(accuracy, largest |potential|) on the 100 N-MNIST test recordings."""
    from eventsim.train import model

    files = sorted((data_dir() / "nmnist" / "Test").glob("*/*.bin"))
    streams = [eventsim.read_events(f, net.sensor_size) for f in files]
    sim = eventsim.Simulator(net)
    accuracy = np.mean([sim.run(s).predicted == int(f.parent.name)
                        for s, f in zip(streams, files)])
    frames = np.stack([eventsim.bin_events(s, net.dt_us, net.T) for s in streams], axis=1)
    cache, _ = model.forward(net, frames, dtype="float64")
    peak = max(float(np.abs(c.u).max()) for c in cache.layers if c.u is not None)
    return accuracy, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true",
                        help="run each pair that fits on the 100 N-MNIST test recordings")
    args = parser.parse_args()
    print(command_line())
    print(f"{'network':<18}{'target':<8}{'fits':<6}{'cores':>6}  violations (count by limit); "
          "limits not checked")
    fitting = []
    for path in sorted(NETWORKS.glob("*.h5")):
        net = eventsim.load_network(path)
        for name in shipped_targets():
            target = load_target(name)
            m = deploy(net, target)
            kinds = Counter(v.limit for v in m.violations)
            text = ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "-"
            print(f"{path.stem:<18}{name:<8}{'yes' if m.fits else 'no':<6}"
                  f"{m.cores_used if m.fits else '-':>6}  {text}; "
                  f"{len(m.unchecked)} not checked")
            if m.fits:
                fitting.append((path.stem, net, target))
    if args.accuracy:
        print(f"\n{'network':<18}{'target':<8}{'accuracy':>9}  largest |u|  state range")
        for stem, net, target in fitting:
            accuracy, peak = run_as_chip(net, target)
            bits = target.get("state_bits")
            limit = 2 ** (bits - 1) - 1 if bits else None
            inside = "unknown" if limit is None else \
                f"{limit} ({'inside: no saturation' if peak <= limit else 'SATURATES'})"
            print(f"{stem:<18}{target.name:<8}{accuracy:>9.2%}  {peak:>11.0f}  {inside}")


if __name__ == "__main__":
    main()
