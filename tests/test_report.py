"""``eventsim run --report`` and ``eventsim report``: the page, its figures and tables."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import eventsim
from eventsim.cli import main
from eventsim.metrics.report import FIGURES

SENSOR = (34, 34, 2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, nmnist_test):
    """A report of the shipped MLP on 6 real test recordings of two digits."""
    root = tmp_path_factory.mktemp("report")
    for digit in ("3", "8"):
        (root / "in" / digit).mkdir(parents=True)
        for src in sorted((nmnist_test / digit).glob("*.bin"))[:3]:
            shutil.copy(src, root / "in" / digit / src.name)
    return root


def _mlp():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


def test_run_writes_report_and_json(capsys, run_dir):
    code = main(["run", str(_mlp()), str(run_dir / "in"), "--report", str(run_dir / "rep"),
                 "--json", str(run_dir / "run.json")])
    out = capsys.readouterr().out
    assert code == 0 and f"report: {run_dir / 'rep' / 'index.html'}" in out
    page = (run_dir / "rep" / "index.html").read_text()
    import matplotlib.image

    for name in FIGURES:
        png = run_dir / "rep" / f"{name}.png"
        assert f"src='{name}.png'" in page
        h, w = matplotlib.image.imread(png).shape[:2]
        assert h > 200 and w > 300, name
    run = json.loads((run_dir / "run.json").read_text())
    m = run["metrics"]
    # the report's numbers are the run's: SOPs and spikes per layer
    for row, layer in zip(run["layers"], m["layers"]):
        assert layer["effective_acs"] == row["sops"] and layer["spikes"] == row["spikes"]
    net = eventsim.load_network(_mlp())
    first = min((run_dir / "in").rglob("*.bin"))
    r = eventsim.simulate(net, eventsim.read_events(first, SENSOR))
    assert [np.asarray(x).reshape(-1, 2).tolist() for x in m["raster"]] == \
        [s.tolist() for s in r.spikes]
    assert np.asarray(m["input_frame"]).sum() == len(eventsim.read_events(first, SENSOR))
    assert len(m["accuracy_vs_steps"]) == net.T
    assert m["accuracy_vs_steps"][-1] == run["accuracy"]
    md = (run_dir / "rep" / "metrics.md").read_text()
    assert "| profile | SNN pJ/sample | ANN pJ/sample | SNN / ANN |" in md
    assert "Davies et al." in page and "Horowitz" in page


def test_report_command_redraws_from_the_json(capsys, run_dir):
    code = main(["report", str(run_dir / "run.json"), "--out", str(run_dir / "again")])
    assert code == 0
    assert (run_dir / "again" / "metrics.md").read_text() == \
        (run_dir / "rep" / "metrics.md").read_text()
    assert sorted(p.name for p in (run_dir / "again").iterdir()) == \
        sorted(p.name for p in (run_dir / "rep").iterdir())


def test_example_report_without_labels(capsys, tmp_path):
    code = main(["run", "--example", "--report", str(tmp_path / "ex")])
    assert code == 0
    names = {p.name for p in (tmp_path / "ex").iterdir()}
    assert "accuracy.png" not in names and {"input.png", "raster.png", "energy.png"} <= names


@pytest.mark.parametrize("content, match", [
    ("{}", "field 'metrics' is missing"),
    ("not json", "not a JSON file"),
    ('{"metrics": {"layers": []}}', r"field 'metrics.energy' is missing"),
])
def test_report_bad_json(capsys, tmp_path, content, match):
    f = tmp_path / "r.json"
    f.write_text(content)
    code = main(["report", str(f), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and match in err and str(f) in err
    assert not (tmp_path / "o").exists()


def test_report_needs_discrete_mode(capsys, tmp_path):
    code = main(["run", "--example", "--mode", "continuous", "--report", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and "--report draws per-step figures: discrete mode only" in err


def test_user_energy_profile_in_the_report(capsys, tmp_path):
    chip = tmp_path / "chip.toml"
    chip.write_text('description = "my chip"\ne_ac_pj = 2.0\ne_update_pj = 1.0\ne_mac_pj = 9.0\n')
    code = main(["run", "--example", "--json", str(tmp_path / "r.json"), "--profile", str(chip),
                 "--profile", "loihi"])
    assert code == 0
    energy = json.loads((tmp_path / "r.json").read_text())["metrics"]["energy"]
    assert list(energy) == ["chip", "loihi"]
    assert energy["chip"]["description"] == "my chip"


def test_bad_user_profile_fails_before_the_run(capsys, tmp_path):
    chip = tmp_path / "chip.toml"
    chip.write_text("e_ac_pj = 2.0\n")
    code = main(["run", "--example", "--profile", str(chip)])
    captured = capsys.readouterr()
    assert code == 1 and f"{chip}: missing key 'e_update_pj'" in captured.err
    assert "network:" not in captured.out  # nothing was run
