"""The command line on hostile input: every case makes its own input, and asserts one
``eventsim: error: ...`` line naming the file or flag (or the bounded run), nothing of the
user's destroyed, nothing half-written left, and a stop signal that stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.cli import main
from eventsim.train import fit as fit_module

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
EVENTSIM = [sys.executable, "-m", "eventsim.cli"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *parts: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eventsim: error: "), err
    assert "Traceback" not in err and all(p in lines[0] for p in parts), (err, parts)
    return lines[0]


@pytest.fixture
def net_and_rec(tmp_path) -> tuple[Path, Path]:
    net = eventsim.random_mlp([2312, 20, 10], (2, 34, 34), seed=0)
    net_path = tmp_path / "net.h5"
    eventsim.save_network(net, net_path)
    rec = tmp_path / "rec" / "1" / "00001.bin"
    rec.parent.mkdir(parents=True)
    shutil.copy(DATA / "nmnist_cut.bin", rec)
    return net_path, rec


@pytest.mark.parametrize("argv, parts", [
    (["run", "NET", "REC", "--T", "abc"], ["argument --T: expected a whole number", "'abc'"]),
    (["run", "NET", "REC", "--dt-us", "x"], ["argument --dt-us", "'x'"]),
    (["run", "NET", "REC", "--T", "1e5"], ["argument --T", "'1e5'"]),
    (["run", "NET", "REC", "--T", "100000000000000000000"],
     ["argument --T: 100000000000000000000 is out of range"]),
    (["run", "NET", "REC", "--dt-us", "100000000000000000000"], ["argument --dt-us"]),
    (["run", "NET", "REC", "--T", "10000000000000000", "--dt-us", "1000"],
     ["eventsim run: --T=10000000000000000 steps of --dt-us=1000 us", "int64 microsecond"]),
    (["validate", "NET", "REC", "--T", "10000000000000000", "--dt-us", "1000"],
     ["eventsim validate: --T=10000000000000000 steps of --dt-us=1000 us"]),
    (["validate", "NET", "REC", "--samples", "many"], ["argument --samples"]),
    (["quantize", "NET", "--bits", "x", "--out", "q.h5"], ["argument --bits"]),
    (["convert", "NET", "--out", "x.nir", "--tau-scale", "nan"], ["argument --tau-scale"]),
    (["run", "NET", "REC", "--mode", "sideways"], ["argument --mode: invalid choice"]),
    (["run", "NET", "REC", "--workers", "1000"],
     ["--workers 1000: this machine has", "cores", "give at most --workers"]),
    (["frobnicate"], ["argument command: invalid choice: 'frobnicate'"]),
    (["run", "NET", "REC", "--T", "1_000"], ["argument --T", "'1_000'"]),
    (["validate", "NET", "REC", "--dt-brian-us", "1e-15"],
     ["argument --dt-brian-us: 1e-15 us is below Brian2's smallest step here"]),
])
def test_bad_flags_are_one_line(capsys, net_and_rec, argv, parts):
    net, rec = net_and_rec
    argv = [{"NET": net, "REC": rec}.get(a, a) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    one_error_line(err, *parts)


def test_workers_beyond_the_cores_start_no_process(capsys, net_and_rec, monkeypatch):
    import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    cores = len(os.sched_getaffinity(0))
    code, _, err = run(capsys, "run", *net_and_rec, "--workers", cores + 1)
    assert code == 1
    one_error_line(err, f"--workers {cores + 1}: this machine has {cores} cores")


def _hashes(*paths: Path) -> list[bytes]:
    return [p.read_bytes() for p in paths]


@pytest.mark.parametrize("where", ["NET", "REC", "symlink", "relative", "hardlink"])
@pytest.mark.parametrize("flag", ["--json", "--report"])
def test_an_output_onto_an_input_is_refused_before_the_run(capsys, tmp_path, monkeypatch,
                                                           net_and_rec, where, flag):
    net, rec = net_and_rec
    before = _hashes(net, rec)
    monkeypatch.chdir(tmp_path)
    target = {"NET": net, "REC": rec, "relative": Path("rec/1/../../net.h5")}.get(where)
    if where == "symlink":
        target = tmp_path / "out.json"
        target.symlink_to(net)
    elif where == "hardlink":
        target = tmp_path / "out.json"
        os.link(rec, target)
    monkeypatch.setattr(eventsim, "Simulator", lambda *a, **k: pytest.fail("the run started"))
    code, out, err = run(capsys, "run", net, rec.parent.parent, flag, target)
    assert code == 1 and out == ""
    one_error_line(err, str(target), "is an input of this run", "would destroy it")
    assert _hashes(net, rec) == before


def test_a_report_onto_the_input_folder_or_a_deep_missing_path_is_refused(capsys, tmp_path,
                                                                          net_and_rec):
    net, rec = net_and_rec
    folder = rec.parent.parent
    code, _, err = run(capsys, "run", net, folder, "--report", folder)
    assert code == 1
    one_error_line(err, str(folder), "is an input of this run")
    assert sorted(p.name for p in folder.rglob("*")) == ["00001.bin", "1"]
    deep = tmp_path / "a" / "b" / "c"
    code, _, err = run(capsys, "run", net, folder, "--report", deep)
    assert code == 1
    one_error_line(err, str(deep), "no such folder")
    assert not (tmp_path / "a").exists()
    assert run(capsys, "run", net, folder, "--report", tmp_path / "rep")[0] == 0  # its own folder
    assert (tmp_path / "rep" / "index.html").is_file()


@pytest.mark.parametrize("command", ["quantize", "convert"])
def test_a_network_output_onto_its_input_is_refused(capsys, tmp_path, net_and_rec, command):
    net, _ = net_and_rec
    before = net.read_bytes()
    if command == "quantize":
        argv = ["quantize", net, "--out", net]
    else:
        (tmp_path / "out.nir").symlink_to(net)  # a .nir name for the very network file
        argv = ["convert", net, "--out", tmp_path / "out.nir"]
    code, _, err = run(capsys, *argv)
    assert code == 1
    one_error_line(err, "is an input of this run")
    assert net.read_bytes() == before


def test_loops_folders_and_none_are_named(capsys, tmp_path, net_and_rec):
    net, rec = net_and_rec
    (tmp_path / "loopA.h5").symlink_to(tmp_path / "loopB.h5")
    (tmp_path / "loopB.h5").symlink_to(tmp_path / "loopA.h5")
    code, _, err = run(capsys, "run", tmp_path / "loopA.h5", rec)
    one_error_line(err, str(tmp_path / "loopA.h5"), "symbolic link loop")
    code, _, err = run(capsys, "run", net, tmp_path / "loopA.h5")
    one_error_line(err, str(tmp_path / "loopA.h5"), "symbolic link loop")
    (tmp_path / "x.nir").mkdir()
    code, _, err = run(capsys, "convert", tmp_path / "x.nir", "--out", tmp_path / "y.h5")
    one_error_line(err, str(tmp_path / "x.nir"), "is a folder; expected a NIR file")
    (tmp_path / "n.h5").mkdir()
    code, _, err = run(capsys, "run", tmp_path / "n.h5", rec)
    one_error_line(err, str(tmp_path / "n.h5"), "is a folder")
    assert code == 1
    for call in (eventsim.read_events, eventsim.from_nir, eventsim.load_network):
        with pytest.raises(eventsim.InputError, match="must be"):
            call(None)


def test_chunked_runs_count_the_report_frame_as_the_chunks_pass(capsys, tmp_path, net_and_rec,
                                                              monkeypatch):
    """--json with --chunk-events never reads the recording whole (the frame of the report
    is counted chunk by chunk), and it is the frame of the whole recording."""
    net, rec = net_and_rec
    whole = tmp_path / "whole.json"
    assert run(capsys, "run", net, rec, "--json", whole)[0] == 0

    def no_whole_read(*args, **kwargs):
        raise AssertionError("the recording was read whole")

    monkeypatch.setattr(eventsim, "read_events", no_whole_read)
    chunked = tmp_path / "chunked.json"
    assert run(capsys, "run", net, rec, "--chunk-events", 50, "--json", chunked)[0] == 0
    a, b = json.loads(whole.read_text()), json.loads(chunked.read_text())
    assert a["metrics"]["input_frame"] == b["metrics"]["input_frame"]
    assert np.sum(a["metrics"]["input_frame"]) == 400


def test_a_damaged_npy_in_a_folder_is_named_and_the_others_run(capsys, tmp_path, net_and_rec):
    net, rec = net_and_rec
    bad = rec.parent / "bad.npy"
    text = b"{'descr': [('x', '<i2')], 'shape': (3,), "
    text += b" " * (64 - (10 + len(text) + 1) % 64) + b"\n"
    bad.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(6))
    code, out, err = run(capsys, "run", net, rec.parent.parent)
    assert code == 1 and "samples: 1 (1 not run)" in out
    errors = [line for line in err.splitlines() if "eventsim:" in line]  # not the progress bar
    one_error_line(errors[-1], f"sample not run: {bad}: not a valid .npy file")


def test_train_checks_its_outputs_before_loading_data(capsys, tmp_path, monkeypatch):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[data]\ndataset = "nmnist"\npath = "{tmp_path}"\ndt_us = 10000\nT = 5\n'
                    '[network]\nlayers = [{type = "Dense", out = 10}]\n')
    monkeypatch.setattr(fit_module, "load_data", lambda *a: pytest.fail("data were loaded"))
    out = tmp_path / "missing" / "dir" / "net.h5"
    code, _, err = run(capsys, "train", spec, "--out", out)
    assert code == 1
    one_error_line(err, str(out), "no such folder")
    code, _, err = run(capsys, "train", spec, "--out", spec)
    one_error_line(err, str(spec), "is an input of this run")


def test_resuming_a_finished_run_evaluates_and_saves(capsys, tmp_path, data_dir):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[data]\ndataset = "nmnist"\npath = "{data_dir / "nmnist"}"\n'
                    'dt_us = 10000\nT = 10\nlimit_train = 20\nlimit_test = 10\n'
                    '[network]\nlayers = [{type = "Dense", out = 10}]\n'
                    '[train]\nepochs = 1\nbatch_size = 10\n')
    out = tmp_path / "net.h5"
    assert run(capsys, "train", spec, "--out", out)[0] == 0
    first = eventsim.load_network(out)
    out.unlink()  # stopped between the last checkpoint and the network file
    code, printed, err = run(capsys, "train", spec, "--out", out, "--resume",
                             str(out) + ".ckpt.h5")
    assert code == 0, err
    assert "nothing left to train" in printed
    again = eventsim.load_network(out)
    np.testing.assert_array_equal(again.layers[0].weight, first.layers[0].weight)
    assert (again.provenance["trainer_test_accuracy"]
            == first.provenance["trainer_test_accuracy"])


def _big_network(tmp_path: Path) -> Path:
    net = eventsim.random_mlp([2312, 3000, 10], (2, 34, 34), seed=0)
    net.dt_us = 1000
    path = tmp_path / "big.h5"
    eventsim.save_network(net, path)
    return path


def _signal_during_write(argv: list, tmp_path: Path, target: Path, sig: int,
                         after: float) -> subprocess.CompletedProcess:
    """Start ``argv``, send ``sig`` ``after`` seconds after its temporary file appeared (the
    write has begun), and wait for it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and \
            not list(tmp_path.glob(f".{target.name}.*.tmp")):
        time.sleep(0.002)
    time.sleep(after)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_stops_convert_and_leaves_nothing(tmp_path, sig):
    """Ctrl-C or SIGTERM while `eventsim convert` writes: exit 128 + N, one line saying so,
    no temporary file, the old target unchanged (before, SIGINT was swallowed inside h5py and
    the process exited 0, or crashed it; SIGTERM left the temporary file)."""
    src = _big_network(tmp_path)
    target = tmp_path / "out.nir"
    target.write_bytes(b"old")
    stopped = 0
    for after in (0.0, 0.05, 0.3):
        done = _signal_during_write([*EVENTSIM, "convert", str(src), "--out", str(target)],
                                    tmp_path, target, sig, after)
        if done.returncode == 0:  # finished before the signal
            target.write_bytes(b"old")
            continue
        assert done.returncode == 128 + sig, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "nothing half-written was left" in lines[0], done.stderr
        assert target.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5", "out.nir"]
        stopped += 1
    assert stopped >= 2


def test_ctrl_c_during_to_nir_from_python_stops_it(tmp_path):
    """From Python (Python's own SIGINT handler): a KeyboardInterrupt, nothing written."""
    src = _big_network(tmp_path)
    target = tmp_path / "out.nir"
    code = (f"import eventsim\nnet = eventsim.load_network({str(src)!r})\n"
            f"eventsim.to_nir(net, {str(target)!r})\nprint('finished')\n")
    done = _signal_during_write([sys.executable, "-c", code], tmp_path, target, signal.SIGINT,
                                0.05)
    assert done.returncode != 0 and "finished" not in done.stdout, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "KeyboardInterrupt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]


def test_a_killed_save_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    src = _big_network(tmp_path)
    target = tmp_path / "copy.h5"
    code = (f"import eventsim\nnet = eventsim.load_network({str(src)!r})\nprint('ready', "
            f"flush=True)\nwhile True:\n    eventsim.save_network(net, {str(target)!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".copy.h5.*.tmp")):
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    left = list(tmp_path.glob(".copy.h5.*.tmp"))
    assert left, "the kill did not land inside a save"
    eventsim.save_network(eventsim.load_network(src), target)
    assert not list(tmp_path.glob(".copy.h5.*.tmp"))
    eventsim.load_network(target)


def test_a_tiny_network_file_claiming_4e8_neurons_is_refused_naming_it(capsys, tmp_path,
                                                                        net_and_rec,
                                                                        monkeypatch):
    """8 KB, a pooling layer over a (2, 30000, 30000) input: 4.5e8 neurons, ~84 GiB to run."""
    _, rec = net_and_rec
    path = tmp_path / "huge.h5"
    eventsim.save_network(eventsim.Network([eventsim.AvgPool2d(2)], (2, 30000, 30000)), path)
    assert path.stat().st_size < 20_000
    monkeypatch.setenv("EVENTSIM_MAX_MEMORY", "8G")
    code, _, err = run(capsys, "run", path, rec)
    assert code == 1
    one_error_line(err, f"{path}: simulate: the network's 450000000 neurons",
                   "more than the budget EVENTSIM_MAX_MEMORY=8G")


def test_a_full_disk_under_the_cli_is_one_line_and_leaves_the_old_outputs(tmp_path):
    """--json and --report when files may not grow past 64 KiB (EFBIG): one line naming the
    file, the previous JSON and report intact, no temporary file or folder left."""
    import resource

    (tmp_path / "old.json").write_text("{}")
    report = tmp_path / "rep"
    report.mkdir()
    (report / "index.html").write_text("old")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    for flags in (["--json", str(tmp_path / "old.json")], ["--report", str(report)]):
        done = subprocess.run([*EVENTSIM, "run", "--example", *flags], capture_output=True,
                              text=True, preexec_fn=limit, timeout=300, check=False)
        assert done.returncode == 1, done.stderr
        line = done.stderr.strip().splitlines()[-1]
        assert line.startswith("eventsim: error: ") and "File too large (errno 27)" in line
        assert (flags[1] + ": cannot write the") in line
    assert (tmp_path / "old.json").read_text() == "{}"
    assert [p.name for p in report.iterdir()] == ["index.html"]
    assert (report / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json", "rep"]


def test_a_serial_folder_run_names_a_damaged_aedat4_file_and_runs_the_others(capsys, tmp_path):
    """The header flip that made the aedat library panic ended a serial folder run with a raw
    traceback and no JSON."""
    cut = DATA / "davis346_cut.aedat4"
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(cut, folder / "a_good.aedat4")
    data = bytearray(cut.read_bytes())
    data[155] = 0xB7
    (folder / "b_damaged.aedat4").write_bytes(bytes(data))
    net = tmp_path / "net.h5"
    eventsim.save_network(eventsim.random_mlp([2 * 260 * 346, 10], (2, 260, 346), seed=0), net)
    out = tmp_path / "out.json"
    code, printed, err = run(capsys, "run", net, folder, "--json", out)
    assert code == 1 and "samples: 1 (1 not run)" in printed
    errors = [line for line in err.splitlines() if "eventsim:" in line]
    one_error_line(errors[-1], f"sample not run: {folder / 'b_damaged.aedat4'}: damaged AEDAT 4 "
                   "header: the description is not UTF-8 text")
    assert [s["path"] for s in json.loads(out.read_text())["not_run"]] == [
        str(folder / "b_damaged.aedat4")]


def test_a_signal_the_caller_ignores_stays_ignored(tmp_path):
    """Under nohup SIGHUP is ignored: the command goes on and writes its file."""
    src = _big_network(tmp_path)
    target = tmp_path / "out.nir"

    nohup = shutil.which("nohup")
    if nohup is None:
        pytest.skip("no nohup command here")
    proc = subprocess.Popen([nohup, *EVENTSIM, "convert", str(src), "--out", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not list(tmp_path.glob(".out.nir.*.tmp")):
        time.sleep(0.002)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert eventsim.from_nir(target).n_neurons == 3010


def test_outputs_onto_a_profile_or_a_data_file_are_refused(capsys, tmp_path, data_dir):
    profile = tmp_path / "chip.toml"
    profile.write_text((ROOT / "eventsim" / "metrics" / "profiles.toml").read_text()
                       .split("[cmos45-fp16]")[0])
    before = profile.read_text()
    code, _, err = run(capsys, "run", "--example", "--json", profile, "--profile", profile)
    assert code == 1
    one_error_line(err, str(profile), "is an input of this run")
    assert profile.read_text() == before
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[data]\ndataset = "nmnist"\npath = "{data_dir / "nmnist"}"\n'
                    'dt_us = 10000\nT = 5\n[network]\nlayers = [{type = "Dense", out = 10}]\n')
    recording = min((data_dir / "nmnist" / "Train" / "0").glob("*.bin"))
    code, _, err = run(capsys, "train", spec, "--out", recording)
    one_error_line(err, str(recording), "is a file of the training data")


def test_a_report_from_a_malformed_json_is_one_line(capsys, tmp_path, net_and_rec):
    net, rec = net_and_rec
    good = tmp_path / "run.json"
    assert run(capsys, "run", net, rec, "--json", good)[0] == 0
    bad = tmp_path / "bad.json"
    payload = json.loads(good.read_text())
    payload["metrics"]["layers"] = 5
    bad.write_text(json.dumps(payload))
    code, _, err = run(capsys, "report", bad, "--out", tmp_path / "rep")
    assert code == 1
    one_error_line(err, f"{bad}: not the JSON of `eventsim run --json`: its metrics cannot be "
                   "drawn (TypeError")
    assert not (tmp_path / "rep").exists()
    assert run(capsys, "report", good, "--out", tmp_path / "rep")[0] == 0


def test_a_chunked_window_beyond_int64_names_the_recording(capsys, tmp_path):
    net = eventsim.random_mlp([2312, 10], (2, 34, 34), seed=0)
    path = tmp_path / "net.h5"
    eventsim.save_network(net, path)
    events = np.zeros(3, eventsim.EVENT_DTYPE)
    events["t"] = 2**62 + np.arange(3)
    late = tmp_path / "late.npy"
    np.save(late, events)
    code, _, err = run(capsys, "run", path, late, "--dt-us", 1, "--chunk-events", 2)
    assert code == 1
    one_error_line(err, f"{late}: the window that covers its events", "int64 event keys")
