"""Every shipped network on every shipped chip target: fits or not, cores, and the kinds of
violation (``eventsim.deploy``; what ``eventsim deploy NET --target T`` prints per pair).

    python tools/deploy_table.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import eventsim
from eventsim.deploy import deploy, load_target, shipped_targets
from _machine import command_line

NETWORKS = Path(__file__).resolve().parents[1] / "networks"


def main() -> None:
    print(command_line())
    print(f"{'network':<18}{'target':<8}{'fits':<6}{'cores':>6}  violations (count by limit); "
          "limits not checked")
    for path in sorted(NETWORKS.glob("*.h5")):
        net = eventsim.load_network(path)
        for name in shipped_targets():
            m = deploy(net, load_target(name))
            kinds = Counter(v.limit for v in m.violations)
            text = ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "-"
            print(f"{path.stem:<18}{name:<8}{'yes' if m.fits else 'no':<6}"
                  f"{m.cores_used if m.fits else '-':>6}  {text}; "
                  f"{len(m.unchecked)} not checked")


if __name__ == "__main__":
    main()
