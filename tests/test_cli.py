"""The ``eventsim run`` command: table, JSON, labels from folders, binning flags, streaming, and
one clean line on stderr (no traceback) for every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.cli import EXAMPLE_NOTE, main
from eventsim.errors import EventError, FormatError, InputError, OutputError

SENSOR = (34, 34, 2)
HEADER = "layer  kind        neurons      spikes           SOPs  rate (/neuron/step)"
DIGITS = {"1": 3, "7": 3}  # digit folder -> files copied from the N-MNIST Test set


def make_net(**binning) -> eventsim.Network:
    net = eventsim.random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[0.05, 0.08], seed=0)
    for key, value in binning.items():
        setattr(net, key, value)
    return net


@pytest.fixture(scope="module")
def net():
    return make_net()


@pytest.fixture(scope="module")
def net_file(tmp_path_factory, net) -> Path:
    path = tmp_path_factory.mktemp("net") / "net.h5"
    eventsim.save_network(net, path)
    return path


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory, nmnist_test) -> Path:
    """A folder <digit>/<file>.bin with a few real N-MNIST test recordings of two digits."""
    root = tmp_path_factory.mktemp("nmnist")
    for digit, n in DIGITS.items():
        (root / digit).mkdir()
        for src in sorted((nmnist_test / digit).glob("*.bin"))[:n]:
            shutil.copy(src, root / digit / src.name)
    return root


def files_of(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.bin"))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["run", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def direct(net, files, dt_us=1000, T=None, dtype="float32"):
    """What the CLI must print: simulate called directly on the same files."""
    sim = eventsim.Simulator(net, dtype=dtype, dt_us=dt_us, T=T)
    return [sim.run(eventsim.read_events(f, SENSOR)) for f in files]


def expected_sample(path: Path, result) -> dict:
    return {"path": str(path), "label": int(path.parent.name), "predicted": result.predicted,
                "T": result.T, "spikes": result.n_spikes.tolist(), "sops": result.sops.tolist(),
                "macs": result.macs.tolist()}


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of the printed table, keyed by their first column."""
    lines = out.splitlines()
    start = lines.index(HEADER)
    rows = {}
    for line in lines[start + 1:]:
        cells = line.split()
        rows[cells[0]] = cells
        if cells[0] == "total":
            break
    return rows


# --- the embedded example ------------------------------------------------------------------


def test_example_prints_per_layer_table(capsys):
    code, out, err = run(capsys, "--example")
    assert code == 0, err
    assert EXAMPLE_NOTE in out
    assert HEADER in out.splitlines()
    expected = eventsim.simulate(make_net(), eventsim.saccade_events())
    rows = table_rows(out)
    assert rows["0"][:5] == ["0", "Dense", "800", str(expected.n_spikes[0]), str(expected.sops[0])]
    assert rows["1"][:5] == ["1", "Dense", "10", str(expected.n_spikes[1]), str(expected.sops[1])]
    assert rows["total"] == ["total", "810", str(expected.n_spikes.sum()), str(expected.sops.sum())]
    assert "samples: 1" in out and "accuracy" not in out  # a synthetic sample has no label


def test_example_json(capsys, tmp_path):
    out_json = tmp_path / "example.json"
    code, out, err = run(capsys, "--example", "--json", out_json)
    assert code == 0, err
    assert f"wrote {out_json}" in out
    payload = json.loads(out_json.read_text())
    assert {"samples", "accuracy", "layers"} <= payload.keys()
    assert payload["accuracy"] is None
    expected = eventsim.simulate(make_net(), eventsim.saccade_events())
    [sample] = payload["samples"]
    assert sample["label"] is None
    assert sample["predicted"] == expected.predicted
    assert sample["spikes"] == expected.n_spikes.tolist()
    assert sample["sops"] == expected.sops.tolist()
    assert [layer["sops"] for layer in payload["layers"]] == expected.sops.tolist()
    assert [layer["neurons"] for layer in payload["layers"]] == [800, 10]
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_console_script_example(tmp_path):
    script = Path(sys.executable).parent / "eventsim"
    assert script.exists(), f"console script not installed at {script}"
    proc = subprocess.run([str(script), "run", "--example"], check=False, capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert HEADER in proc.stdout.splitlines()
    assert "Traceback" not in proc.stderr


# --- real N-MNIST recordings ---------------------------------------------------------------


def test_folder_labels_predictions_and_json(capsys, tmp_path, net, net_file, nmnist):
    out_json = tmp_path / "out.json"
    code, out, err = run(capsys, net_file, nmnist, "--json", out_json)
    assert code == 0, err
    files = files_of(nmnist)
    results = direct(net, files)
    expected = [expected_sample(f, r) for f, r in zip(files, results)]
    payload = json.loads(out_json.read_text())
    assert {"samples", "accuracy", "layers"} <= payload.keys()
    assert payload["samples"] == expected
    assert payload["dt_us"] == 1000 and payload["T"] is None
    correct = sum(s["label"] == s["predicted"] for s in expected)
    assert payload["accuracy"] == correct / len(expected)
    assert f"accuracy: {correct / len(expected):.2%} ({correct}/{len(expected)})" in out
    assert f"samples: {len(files)}" in out
    rows = table_rows(out)
    spikes = np.sum([r.n_spikes for r in results], axis=0)
    sops = np.sum([r.sops for r in results], axis=0)
    for i in (0, 1):
        assert rows[str(i)][3:5] == [str(spikes[i]), str(sops[i])]
        assert payload["layers"][i]["spikes"] == spikes[i]
        assert payload["layers"][i]["sops"] == sops[i]
    assert rows["total"][2:] == [str(spikes.sum()), str(sops.sum())]


def test_single_file_input(capsys, tmp_path, net, net_file, nmnist):
    path = files_of(nmnist)[0]
    out_json = tmp_path / "one.json"
    code, _out, err = run(capsys, net_file, path, "--json", out_json)
    assert code == 0, err
    assert err == ""  # no progress bar for a single sample
    [result] = direct(net, [path])
    assert json.loads(out_json.read_text())["samples"] == [expected_sample(path, result)]


def test_class_named_folders_give_labels(capsys, tmp_path, nmnist_test):
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    net = make_net(labels=names)
    path = tmp_path / "labelled.h5"
    eventsim.save_network(net, path)
    for digit in ("1", "7"):
        (tmp_path / "in" / names[int(digit)]).mkdir(parents=True)
        src = min((nmnist_test / digit).glob("*.bin"))
        shutil.copy(src, tmp_path / "in" / names[int(digit)] / src.name)
    out_json = tmp_path / "out.json"
    code, out, err = run(capsys, path, tmp_path / "in", "--json", out_json)
    assert code == 0, err
    samples = json.loads(out_json.read_text())["samples"]
    assert [s["label"] for s in samples] == [1, 7]  # "one" < "seven"
    assert "accuracy: " in out


def test_dt_and_T_flags(capsys, tmp_path, net, net_file, nmnist):
    out_json = tmp_path / "out.json"
    code, out, err = run(capsys, net_file, nmnist, "--dt-us", 5000, "--T", 40, "--json", out_json)
    assert code == 0, err
    assert "dt_us: 5000" in out
    payload = json.loads(out_json.read_text())
    assert payload["dt_us"] == 5000 and payload["T"] == 40
    files = files_of(nmnist)
    expected = [expected_sample(f, r) for f, r in zip(files, direct(net, files, 5000, 40))]
    assert [s["T"] for s in payload["samples"]] == [40] * len(files)
    assert payload["samples"] == expected


def test_network_binning_used_without_flags(capsys, tmp_path, nmnist):
    net = make_net(dt_us=10000, T=30)
    path = tmp_path / "binned.h5"
    eventsim.save_network(net, path)
    files = files_of(nmnist)

    out_json = tmp_path / "net_binning.json"
    code, _, err = run(capsys, path, nmnist, "--json", out_json)
    assert code == 0, err
    payload = json.loads(out_json.read_text())
    assert payload["dt_us"] == 10000 and payload["T"] == 30
    expected = [expected_sample(f, r) for f, r in zip(files, direct(net, files, 10000, 30))]
    assert payload["samples"] == expected

    # the flags win over the network's binning
    out_json = tmp_path / "flags.json"
    code, _out, err = run(capsys, path, nmnist, "--dt-us", 2000, "--T", 50, "--json", out_json)
    assert code == 0, err
    payload = json.loads(out_json.read_text())
    assert payload["dt_us"] == 2000 and payload["T"] == 50
    expected = [expected_sample(f, r) for f, r in zip(files, direct(net, files, 2000, 50))]
    assert payload["samples"] == expected


@pytest.mark.parametrize("flags", [(), ("--dt-us", 3000, "--T", 70), ("--T", 400)],
                         ids=["cover-recording", "dt-T", "T-past-end"])
@pytest.mark.parametrize("chunk", [97, 1000])
def test_chunk_events_same_results(capsys, tmp_path, net_file, nmnist, chunk, flags):
    whole, streamed = tmp_path / "whole.json", tmp_path / "streamed.json"
    code, _, err = run(capsys, net_file, nmnist, *flags, "--json", whole)
    assert code == 0, err
    code, _, err = run(capsys, net_file, nmnist, *flags, "--chunk-events", chunk,
                       "--json", streamed)
    assert code == 0, err
    a, b = json.loads(whole.read_text()), json.loads(streamed.read_text())
    assert b["samples"] == a["samples"]
    assert b["layers"] == a["layers"]
    assert b["accuracy"] == a["accuracy"]


def test_chunk_events_network_binning(capsys, tmp_path, nmnist):
    path = tmp_path / "binned.h5"
    eventsim.save_network(make_net(dt_us=10000, T=30), path)
    whole, streamed = tmp_path / "whole.json", tmp_path / "streamed.json"
    assert run(capsys, path, nmnist, "--json", whole)[0] == 0
    assert run(capsys, path, nmnist, "--chunk-events", 500, "--json", streamed)[0] == 0
    a, b = json.loads(whole.read_text()), json.loads(streamed.read_text())
    assert [s["T"] for s in b["samples"]] == [30] * len(a["samples"])
    assert b["samples"] == a["samples"]


# --- bad input: one line on stderr naming the file, no traceback, exit 1 ---------------------


def _truncated(tmp_path, nmnist_test):
    src = min((nmnist_test / "1").glob("*.bin"))
    path = tmp_path / "trunc.bin"
    path.write_bytes(src.read_bytes()[:5 * 200 + 3])  # 200 records and 3 bytes of the next
    return path


def _random_bytes(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5 * 400, np.uint8).tobytes())
    return path


def _empty(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    return path


def _text(tmp_path, name, text="not an HDF5 file\n"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _folder(tmp_path, name, files=()):
    path = tmp_path / name
    path.mkdir()
    for f in files:
        (path / f).write_text("x")
    return path


def _folder_with_bad_file(tmp_path, nmnist_test, name="zz_trunc.bin"):
    """Two good N-MNIST samples and a truncated one, ``name`` (by default sorted last)."""
    root = tmp_path / "mixed"
    (root / "1").mkdir(parents=True)
    for src in sorted((nmnist_test / "1").glob("*.bin"))[:2]:
        shutil.copy(src, root / "1" / src.name)
    bad = _truncated(tmp_path, nmnist_test)
    shutil.move(bad, root / "1" / name)
    return root, root / "1" / name


#: A DVS Gesture recording's first 400 records (128 x 128 pixels: off an N-MNIST sensor).
GESTURE_CUT = Path(__file__).resolve().parent / "data" / "dvsgesture_cut.bs2"

# Each case: (tmp_path, nmnist_test, net_file) -> (argv after "run", text naming the file,
# further expected text, exception type under --debug)
BAD_INPUTS = {
    "missing-net": lambda t, d, n: (
        [t / "nope.h5", _folder(t, "in")], str(t / "nope.h5"), "no such network file",
        FileNotFoundError),
    "text-net": lambda t, d, n: (
        [_text(t, "fake.h5"), _folder(t, "in")], str(t / "fake.h5"), "not an HDF5 file",
        FormatError),
    "folder-net": lambda t, d, n: (
        [_folder(t, "netdir"), _folder(t, "in")], str(t / "netdir"), "is a folder", FormatError),
    "events-file-as-net": lambda t, d, n: (
        [eventsim.write_events(eventsim.saccade_events(duration_us=2000), t / "ev.h5"),
         _folder(t, "in")], str(t / "ev.h5"), "", FormatError),
    "missing-input": lambda t, d, n: (
        [n, t / "nodir"], str(t / "nodir"), "no such file or folder", FileNotFoundError),
    "empty-folder": lambda t, d, n: (
        [n, _folder(t, "empty", ["notes.txt"])], str(t / "empty"), "no event files", InputError),
    "truncated-bin": lambda t, d, n: (
        [n, _truncated(t, d)], str(t / "trunc.bin"), "byte offset 1000", FormatError),
    "truncated-bin-chunked": lambda t, d, n: (
        [n, _truncated(t, d), "--chunk-events", 50], str(t / "trunc.bin"), "byte offset 1000",
        FormatError),
    "empty-bin": lambda t, d, n: (
        [n, _empty(t, "empty.bin")], str(t / "empty.bin"), "empty", FormatError),
    "random-bin": lambda t, d, n: (
        [n, _random_bytes(t)], str(t / "random.bin"), "off the sensor", EventError),
    "unknown-extension": lambda t, d, n: (
        [n, _text(t, "events.txt", "1 2 3 1\n")], str(t / "events.txt"), "unknown extension",
        FormatError),
    "dvsgesture-on-nmnist-net": lambda t, d, n: (
        [n, GESTURE_CUT], str(GESTURE_CUT), r"x=", EventError),
    "dvsgesture-chunked": lambda t, d, n: (
        [n, GESTURE_CUT, "--chunk-events", 100], str(GESTURE_CUT), r"x=", EventError),
    "no-net-no-input": lambda t, d, n: ([], "", "give NET and INPUT", InputError),
    "net-without-input": lambda t, d, n: ([n], "", "give NET and INPUT", InputError),
    "dt-us-zero": lambda t, d, n: ([n, _folder(t, "in"), "--dt-us", 0], "--dt-us",
                                   "0 is out of range: expected a whole number from 1", InputError),
    "T-zero": lambda t, d, n: ([n, _folder(t, "in"), "--T", 0], "--T", "0 is out of range",
                               InputError),
    "T-negative-chunked": lambda t, d, n: (
        [n, _folder(t, "in"), "--T", -3, "--chunk-events", 100], "--T",
        "expected a whole number from 1 to 9223372036854775807, got '-3'", InputError),
    "chunk-events-zero": lambda t, d, n: (
        [n, _folder(t, "in"), "--chunk-events", 0], "--chunk-events", "0 is out of range",
        InputError),
    "json-in-missing-folder": lambda t, d, n: (
        [n, _folder(t, "in"), "--json", t / "no" / "out.json"], str(t / "no" / "out.json"), "",
        FileNotFoundError),
    "json-is-a-folder": lambda t, d, n: (
        [n, _folder(t, "in"), "--json", _folder(t, "out")], str(t / "out"), "folder", InputError),
    "chunk-events-continuous": lambda t, d, n: (
        [n, _folder(t, "in"), "--mode", "continuous", "--chunk-events", 100], "--chunk-events",
        "streams in discrete mode only", InputError),
    "chunk-events-example": lambda t, d, n: (
        ["--example", "--chunk-events", 100], "--chunk-events", "--example", InputError),
}


def _bad(case, tmp_path, nmnist_test, net_file):
    argv, names, text, exc = BAD_INPUTS[case](tmp_path, nmnist_test, net_file)
    out_json = tmp_path / "result.json"
    if "--json" not in argv:
        argv = [*argv, "--json", out_json]
    # the input folders must hold an event file, so the error is the one under test
    if (tmp_path / "in").is_dir():
        src = min((nmnist_test / "1").glob("*.bin"))
        shutil.copy(src, tmp_path / "in" / src.name)
    return argv, names, text, exc, out_json


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_one_line_no_traceback(capsys, tmp_path, nmnist_test, net_file, case):
    argv, names, text, _, out_json = _bad(case, tmp_path, nmnist_test, net_file)
    code, _out, err = run(capsys, *argv)
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("eventsim: error: "), err
    assert names in lines[0] and text in lines[0], err
    assert not out_json.exists()  # nothing written on failure
    assert not list(out_json.parent.glob(".*.tmp"))


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_debug_raises(capsys, tmp_path, nmnist_test, net_file, case):
    argv, _names, text, exc, _ = _bad(case, tmp_path, nmnist_test, net_file)
    with pytest.raises(exc) as info:
        main(["run", *map(str, argv), "--debug"])
    assert text in str(info.value)


@pytest.mark.parametrize("name", ["zz_trunc.bin", "0000-trunc.bin"])  # the last, the first
def test_a_damaged_sample_among_good_ones_is_named_and_the_others_kept(capsys, tmp_path,
                                                                      nmnist_test, net_file, name):
    """As a parallel run does: the damaged file is reported by name, the others run, the JSON
    (with the metrics, which read the first sample that ran) lists what ran and what did not,
    and the exit status is 1."""
    folder, bad = _folder_with_bad_file(tmp_path, nmnist_test, name)
    out_json = tmp_path / "out.json"
    code, out, err = run(capsys, net_file, folder, "--json", out_json)
    assert code == 1
    assert "Traceback" not in err
    assert err.count("eventsim: error:") == 1, err
    # the message is the last line, on a line of its own after what the progress bar drew
    assert err.endswith("\n")
    last = err.rstrip("\n").split("\n")[-1]
    message = f"{bad}: file cut mid-record at byte offset 1000"
    assert last.startswith(f"eventsim: error: sample not run: {message}"), err
    assert "samples: 2 (1 not run)" in out
    payload = json.loads(out_json.read_text())
    assert [Path(s["path"]).name for s in payload["samples"]] == \
        [p.name for p in sorted((folder / "1").glob("*.bin")) if p != bad]
    assert payload["metrics"]["samples"] == 2
    assert [n["path"] for n in payload["not_run"]] == [str(bad)]
    assert payload["not_run"][0]["error"].startswith(message)
    with pytest.raises(FormatError, match="file cut mid-record"):  # --debug: the traceback
        main(["run", str(net_file), str(folder), "--debug"])


def test_when_no_sample_runs_nothing_is_written(capsys, tmp_path, nmnist_test, net_file):
    folder, bad = _folder_with_bad_file(tmp_path, nmnist_test)
    for good in sorted((folder / "1").glob("0*.bin")):
        good.unlink()
    (folder / "1" / "empty.bin").write_bytes(b"")
    out_json = tmp_path / "out.json"
    code, out, err = run(capsys, net_file, folder, "--json", out_json)
    assert code == 1 and out == ""
    assert f"eventsim: error: sample not run: {folder / '1' / 'empty.bin'}: " in err
    assert f"eventsim: error: sample not run: {bad}: " in err
    assert err.rstrip("\n").endswith("eventsim: error: no sample ran (2 not run); nothing "
                                      "written")
    assert not out_json.exists()


def _refuse_to_run(monkeypatch):
    """Make loading a network or building a simulator fail the test: the check is up front."""
    def ran(*args, **kwargs):
        raise AssertionError("the run started before the arguments were checked")

    for name in ("Simulator", "load_network", "random_mlp"):
        monkeypatch.setattr(eventsim, name, ran)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["NET", "IN", "--mode", "continuous", "--chunk-events", 100],
         "--chunk-events streams in discrete mode only; got --mode continuous"),
        (["--example", "--chunk-events", 100], "--chunk-events streams files; --example reads none"),
    ],
    ids=["continuous", "example"],
)
def test_chunk_events_refused_up_front(capsys, monkeypatch, net_file, nmnist, argv, match):
    argv = [{"NET": net_file, "IN": nmnist}.get(a, a) for a in argv]
    _refuse_to_run(monkeypatch)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err == f"eventsim: error: eventsim run: {match}\n"
    with pytest.raises(InputError, match=match):
        main(["run", *map(str, argv), "--debug"])


def test_json_in_unwritable_folder_refused_up_front(capsys, monkeypatch, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if Path(p) == folder and mode & os.W_OK else access(p, mode, **kw)))
    _refuse_to_run(monkeypatch)
    given = folder / "out.json"
    code, out, err = run(capsys, "--example", "--json", given)
    assert (code, out) == (1, "")
    assert err == (f"eventsim: error: {given}: cannot write the JSON file: folder {folder} is "
                   "not writable; expected a path in a writable folder\n")
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_json_in_virtual_folder_refused_up_front(capsys, monkeypatch):
    # os.access says /proc is writable for root; creating a file there fails all the same
    _refuse_to_run(monkeypatch)
    code, out, err = run(capsys, "--example", "--json", "/proc/x.json")
    assert (code, out) == (1, "")
    assert err.startswith("eventsim: error: /proc/x.json: cannot write the JSON file: "), err
    assert ".tmp" not in err
    with pytest.raises(OutputError, match=r"^/proc/x\.json: cannot write the JSON file"):
        main(["run", "--example", "--json", "/proc/x.json", "--debug"])


def test_chunk_events_empty_recording_same_T(capsys, tmp_path, net_file):
    """Covering an empty recording takes 0 steps, streamed or not (binning.n_steps)."""
    empty = eventsim.write_events(np.empty(0, eventsim.EVENT_DTYPE), tmp_path / "empty.h5",
                                  sensor_size=SENSOR)
    whole, streamed = tmp_path / "whole.json", tmp_path / "streamed.json"
    assert run(capsys, net_file, empty, "--json", whole)[0] == 0
    assert run(capsys, net_file, empty, "--chunk-events", 10, "--json", streamed)[0] == 0
    a, b = json.loads(whole.read_text()), json.loads(streamed.read_text())
    assert [s["T"] for s in a["samples"]] == [s["T"] for s in b["samples"]] == [0]
    assert b["samples"] == a["samples"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: eventsim" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"eventsim {eventsim.__version__}"


def test_neunorm_network_shows_macs(capsys, tmp_path, nmnist):
    """A network with NeuNorm: the analog share is a MACs column next to the SOPs."""
    rng = np.random.default_rng(4)
    net = eventsim.Network([
        eventsim.Conv2d(rng.normal(0.3, 0.3, (3, 2, 3, 3)), stride=2, padding=1),
        eventsim.NeuNorm(rng.normal(0.2, 0.1, (3, 17, 17))),
        eventsim.Flatten(), eventsim.Dense(rng.normal(0, 0.2, (10, 867)))], (2, 34, 34),
        dt_us=10000, T=30)
    eventsim.save_network(net, tmp_path / "neunorm.h5")
    code, out, err = run(capsys, tmp_path / "neunorm.h5", nmnist / "7")
    assert code == 0, err
    header = "layer  kind        neurons      spikes           SOPs           MACs  rate (/neuron/step)"
    assert header in out.splitlines()
    results = [eventsim.simulate(net, eventsim.read_events(f, SENSOR))
               for f in files_of(nmnist / "7")]
    macs = sum(int(r.macs[1]) for r in results)
    assert macs > 0
    lines = out.splitlines()
    row = lines[lines.index(header) + 2].split()
    assert row[:6] == ["3", "Dense", "10", str(sum(int(r.n_spikes[1]) for r in results)),
                       str(sum(int(r.sops[1]) for r in results)), str(macs)]


def test_run_classifies_from_a_leaky_integrator_readout(capsys, tmp_path, nmnist):
    """The shipped CuBa network with an LI readout: eventsim run decides each recording by
    the readout's maximum potential (as Result.predicted and the trainer do), and the JSON
    counts the hidden population's current updates apart."""
    net_file = Path(__file__).parents[1] / "networks" / "nmnist-cuba.h5"
    net = eventsim.load_network(net_file)
    out_json = tmp_path / "cuba.json"
    code, out, err = run(capsys, net_file, nmnist, "--json", out_json)
    assert code == 0, err
    assert "accuracy: " in out
    payload = json.loads(out_json.read_text())
    files = files_of(nmnist)
    sim = eventsim.Simulator(net)
    expected = [int(np.argmax(sim.run(eventsim.read_events(f, net.sensor_size))
                              .membrane_max[1])) for f in files]
    assert [s["predicted"] for s in payload["samples"]] == expected
    hidden, readout = payload["metrics"]["layers"]
    assert hidden["current_updates"] == hidden["membrane_updates"] > 0
    assert readout["current_updates"] == 0 and readout["spikes"] == 0
    assert "leaky integrator" in payload["metrics"]["decisions_omitted"]
