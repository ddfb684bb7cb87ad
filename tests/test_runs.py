"""``run_dataset``: a Python user gets what ``eventsim run`` prints and writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import eventsim
from eventsim.cli import main
from eventsim.errors import InputError
from eventsim.runs import Failed, RunSummary, SampleSummary, label_of, run_dataset

NET = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, nmnist_test):
    root = tmp_path_factory.mktemp("runs")
    for digit in ("3", "8"):
        (root / digit).mkdir()
        for src in sorted((nmnist_test / digit).glob("*.bin"))[:3]:
            shutil.copy(src, root / digit / src.name)
    (root / "8" / "cut.bin").write_bytes((root / "3").glob("*.bin").__next__().read_bytes()[:7])
    return root


def test_the_cli_writes_what_run_dataset_returns(folder, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["run", str(NET), str(folder), "--json", str(out), "--threads", "2"]) == 1
    printed = capsys.readouterr()
    files = sorted(p for p in folder.rglob("*.bin"))
    run = run_dataset(eventsim.load_network(NET), files, name=str(NET), input_name=str(folder),
                      metrics=True, threads=1)
    assert json.loads(out.read_text()) == json.loads(json.dumps(run.to_json()))
    assert run.table() in printed.out
    assert f"accuracy: {run.accuracy:.2%} ({run.correct}/{run.labelled})" in printed.out
    assert [f.path for f in run.not_run] == [str(folder / "8" / "cut.bin")]
    assert "sample not run: " + run.not_run[0].error in printed.err
    assert [s.label for s in run.samples] == [int(f.parent.name) for f in files
                                              if f.name != "cut.bin"]
    assert len(run.samples) >= 4
    back = RunSummary.from_json(json.loads(out.read_text()), "run.json")
    assert back.to_json() == json.loads(out.read_text())


def test_recordings_in_memory_with_their_labels(folder):
    files = sorted(folder.rglob("0*.bin"))
    streams = [eventsim.read_events(f, (34, 34, 2)) for f in files]
    net = eventsim.load_network(NET)
    run = run_dataset(net, streams, [7] * len(streams), threads=2)
    sim = eventsim.Simulator(net)
    assert [s.predicted for s in run.samples] == [sim.run(s).predicted for s in streams]
    assert [s.path for s in run.samples] == [str(f) for f in files]
    assert run.accuracy == sum(s.predicted == 7 for s in run.samples) / len(streams)
    assert run.metrics is None and run.layers[0]["neurons"] == 800
    with pytest.raises(InputError, match="recordings in memory run on this machine's threads"):
        run_dataset(net, streams, workers=2)
    with pytest.raises(InputError, match=rf"2 labels for {2 * len(streams)} samples"):
        run_dataset(net, streams + streams, [1, 2])


def test_a_summary_read_back_names_what_is_missing():
    with pytest.raises(InputError, match=r"r\.json: field 'layers' is missing"):
        RunSummary.from_json({"network": "n", "input": None, "mode": "discrete",
                              "dtype": "float32", "dt_us": 1000, "T": None, "samples": [],
                              "accuracy": None}, "r.json")
    with pytest.raises(InputError, match=r"r\.json: a sample or a run not run has the wrong"):
        RunSummary.from_json({"network": "n", "input": None, "mode": "discrete",
                              "dtype": "float32", "dt_us": 1000, "T": None,
                              "samples": [{"path": "x"}], "accuracy": None, "layers": []},
                             "r.json")
    s = RunSummary("n", None, "discrete", "float32", 1000, 30,
                   [SampleSummary("a/1/x.bin", 1, 2, 30, [4, 5], [6, 7], [0, 0])], 0.0,
                   [], [Failed("b.bin", "b.bin: cut")])
    assert RunSummary.from_json(json.loads(json.dumps(s.to_json()))) == s


@pytest.mark.parametrize(("path", "labels", "label"), [
    ("Test/7/00012.bin", None, 7), ("x/seven/1.bin", ["six", "seven"], 1),
    ("x/seven/1.bin", None, None), ("00012.bin", None, None)])
def test_labels_from_folders(path, labels, label):
    assert label_of(path, labels) == label
