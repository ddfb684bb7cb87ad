"""``eventsim demo``: no data, no network argument, end to end."""

from __future__ import annotations

import json
import re

import pytest

from eventsim import demo
from eventsim.cli import main


def test_demo_end_to_end(capsys, tmp_path):
    code = main(["demo", "--out", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0
    accuracy = int(re.search(r"accuracy: (\d+)% \((\d+)/20\)", out).group(2))
    assert accuracy >= 17  # the N-MNIST network on emulated digits: 19/20 here
    assert re.search(r"energy per sample: SNN [\d.]+ uJ, equivalent ANN [\d.]+ uJ", out)
    assert f"report: {(tmp_path / 'rep' / 'index.html').resolve()}" in out
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["samples"] == 20 and len(metrics["accuracy_vs_steps"]) == 30


def test_demo_trains_a_tiny_network_without_the_shipped_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "NETWORK", tmp_path / "missing.h5")
    payload = demo.run_demo(tmp_path / "rep", samples=20, log=print)
    out = capsys.readouterr().out
    assert "trained a tiny 2312-100-10 network on 180 emulated digits" in out
    assert payload["accuracy"] >= 0.6
    assert (tmp_path / "rep" / "index.html").is_file()


def test_shipped_digits():
    images, labels = demo.digits()
    assert images.shape == (200, 28, 28) and images.dtype.name == "uint8"
    assert labels[:20].tolist() == list(range(10)) * 2
    assert sorted(labels.tolist()) == sorted(list(range(10)) * 20)


@pytest.mark.parametrize("argv, match", [
    (["--samples", "0"], ("argument --samples: 0 is out of range: expected a whole number "
                          "from 1 to 20")),
    (["--net", "nowhere.h5"], "nowhere.h5: no such network file"),
])
def test_demo_bad_arguments(capsys, tmp_path, argv, match):
    code = main(["demo", "--out", str(tmp_path / "x"), *argv])
    assert code == 1 and match in capsys.readouterr().err
