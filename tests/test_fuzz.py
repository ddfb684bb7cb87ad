"""Byte-fuzz of every format eventsim reads, of network files and of NIR graphs (hypothesis,
in a child process: see tests/fuzz_child.py): every outcome is a result or an eventsim error
naming the file, the memory Python traces peaks under 64 MiB, native allocations stay under
1 GiB, nothing hangs (a time limit) and nothing crashes the process.

``EVENTSIM_FUZZ_EXAMPLES`` and ``EVENTSIM_FUZZ_SEED`` set the number of examples (default 600)
and the seed (default 0: the same examples every run, as CI needs; change it to explore).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "fuzz_child.py"


def test_fuzzed_files_are_results_or_named_errors(tmp_path):
    examples = os.environ.get("EVENTSIM_FUZZ_EXAMPLES", "600")
    fuzz_seed = os.environ.get("EVENTSIM_FUZZ_SEED", "0")
    try:
        done = subprocess.run([sys.executable, str(CHILD), examples, fuzz_seed, str(tmp_path)],
                              capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"the fuzz hung (last file: {sorted(tmp_path.glob('fuzzed_*'))}"
                             ")") from err
    assert done.returncode == 0, (
        f"exit {done.returncode}; the file being read is kept in {tmp_path}\n"
        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
