"""Dataset-parallel runs on threads and on Dask: identical to serial, in order, failures
reported by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim.cli import main
from eventsim.parallel import Failed, run_files

SENSOR = (34, 34, 2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, nmnist_test):
    """24 real N-MNIST test recordings of three digits, and the MLP."""
    root = tmp_path_factory.mktemp("par")
    for digit in ("1", "4", "7"):
        (root / digit).mkdir()
        for src in sorted((nmnist_test / digit).glob("*.bin"))[:8]:
            shutil.copy(src, root / digit / src.name)
    return root


def _net():
    from pathlib import Path

    return eventsim.load_network(Path(__file__).resolve().parents[1] / "networks" /
                                 "nmnist-mlp.h5")


def test_parallel_equals_serial_in_order(folder):
    net = _net()
    files = sorted(folder.rglob("*.bin"))
    counted = []
    parallel = run_files(net, files, workers=2, sensor_size=SENSOR, progress=counted.append,
                         dtype="float64")
    sim = eventsim.Simulator(net, dtype="float64")
    assert sum(counted) == len(files) == len(parallel)
    for f, r in zip(files, parallel):
        serial = sim.run(eventsim.read_events(f, SENSOR))
        assert len(serial.spikes) == len(r.spikes), f  # zip below would stop at the shorter
        for a, b in zip(serial.spikes, r.spikes):
            np.testing.assert_array_equal(a, b, err_msg=str(f))
        np.testing.assert_array_equal(serial.sops, r.sops)


def test_cli_workers_and_a_damaged_file(capsys, tmp_path, folder):
    """The damaged sample is named and skipped, the others are run and reported; exit 1."""
    bad_folder = tmp_path / "in"
    shutil.copytree(folder, bad_folder)
    bad = sorted((bad_folder / "4").glob("*.bin"))[2]
    bad.write_bytes(bad.read_bytes()[:-2])  # cut mid-record
    net_path = str(eventsim.__path__[0]) + "/../networks/nmnist-mlp.h5"
    serial_json, par_json = tmp_path / "s.json", tmp_path / "p.json"
    assert main(["run", net_path, str(folder), "--json", str(serial_json)]) == 0
    capsys.readouterr()
    code = main(["run", net_path, str(bad_folder), "--workers", "2", "--json", str(par_json)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"eventsim: error: sample not run: {bad}: " in captured.err
    assert "samples: 23 (1 not run)" in captured.out
    serial = json.loads(serial_json.read_text())["samples"]
    par = json.loads(par_json.read_text())["samples"]
    kept = [s for s in serial if not s["path"].endswith(f"4/{bad.name}")]
    assert [(s["predicted"], s["spikes"], s["sops"]) for s in kept] == \
        [(s["predicted"], s["spikes"], s["sops"]) for s in par]


def test_existing_scheduler(folder, monkeypatch, tmp_path):
    """Paths relative to the caller's folder reach workers started in another one; a damaged
    one is named as the caller named it."""
    from distributed import LocalCluster

    net = _net()
    files = sorted(folder.rglob("*.bin"))[:6]
    cut = tmp_path / "cut.bin"
    cut.write_bytes(files[0].read_bytes()[:-2])
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        monkeypatch.chdir(folder)  # the workers keep the folder they were started in
        relative = [f.relative_to(folder) for f in files]
        bad = Path("..") / tmp_path.name / "cut.bin"
        assert (folder / bad).is_file()
        results = run_files(net, relative + [bad], scheduler=cluster.scheduler_address,
                            sensor_size=SENSOR)
    failed = results.pop()
    assert isinstance(failed, Failed) and failed.path == str(bad)
    assert failed.error.startswith(f"{bad}: file cut mid-record"), failed.error
    assert not any(isinstance(r, Failed) for r in results)
    sim = eventsim.Simulator(net)
    assert [r.predicted for r in results] == \
        [sim.run(eventsim.read_events(f, SENSOR)).predicted for f in files]


def test_bad_parallel_arguments(capsys, folder):
    net_path = str(eventsim.__path__[0]) + "/../networks/nmnist-mlp.h5"
    assert main(["run", net_path, str(folder), "--workers", "0"]) == 1
    assert "argument --workers: 0 is out of range" in capsys.readouterr().err
    assert main(["run", "--example", "--workers", "2"]) == 1
    assert "not with --example or --chunk-events" in capsys.readouterr().err
    assert main(["run", net_path, str(folder), "--scheduler", "tcp://127.0.0.1:9"]) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert main(["run", net_path, str(folder), "--scheduler", "foo"]) == 1  # no port
    assert "cannot reach the Dask scheduler at foo (" in capsys.readouterr().err
    assert main(["run", net_path, str(folder), "--scheduler", "tcp://127.0.0.1:9",
                 "--workers", "2"]) == 1
    assert "--workers starts a local cluster, --scheduler uses a running one" in \
        capsys.readouterr().err


class _Panic(BaseException):
    """What pyo3 raises for a Rust panic: a BaseException, not an Exception."""


def test_a_worker_reports_a_panic_instead_of_hanging(folder, monkeypatch):
    """A BaseException inside a task is swallowed by Dask's callbacks and the run waits for
    ever: the batch reports its sample instead."""
    from eventsim import parallel
    from eventsim.events import readers

    files = [str(p) for p in sorted(folder.rglob("*.bin"))[:3]]

    def panicking(path, sensor_size=None):
        if path == files[1]:
            raise _Panic("range end index 9964573 out of range for slice of length 3104")
        return eventsim.read_events(path, sensor_size)

    monkeypatch.setattr(readers, "read_events", panicking)
    out = parallel._run_batch(_net(), {}, list(enumerate(files)), SENSOR)
    assert [i for i, _ in out] == [0, 1, 2]
    assert isinstance(out[1][1], Failed) and not isinstance(out[0][1], Failed)
    assert out[1][1].error == (f"{files[1]}: _Panic: range end index 9964573 out of range for "
                               "slice of length 3104")


def test_dask_run_with_a_damaged_aedat4_file_ends(capsys, tmp_path):
    """One AEDAT 4 file whose header made the aedat library panic in a worker: the run used
    to hang; now the sample is named and the others run."""
    cut = Path(__file__).resolve().parent / "data" / "davis346_cut.aedat4"
    folder = tmp_path / "in"
    folder.mkdir()
    data = bytearray(cut.read_bytes())
    shutil.copy(cut, folder / "a_good.aedat4")
    data[155] = 0xB7  # in the header's XML: not UTF-8 (the library read it as text)
    (folder / "b_damaged.aedat4").write_bytes(bytes(data))
    net = eventsim.random_mlp([2 * 260 * 346, 10], (2, 260, 346), seed=0)
    eventsim.save_network(net, tmp_path / "net.h5")
    code = main(["run", str(tmp_path / "net.h5"), str(folder), "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and "samples: 1 (1 not run)" in out
    assert (f"eventsim: error: sample not run: {folder / 'b_damaged.aedat4'}: damaged AEDAT 4 "
            "header: the description is not UTF-8 text") in err


def _same(a, b, what):
    assert len(a.spikes) == len(b.spikes), what
    for x, y in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(x, y, err_msg=what)
    np.testing.assert_array_equal(a.sops, b.sops, err_msg=what)
    np.testing.assert_array_equal(a.step_counters, b.step_counters, err_msg=what)


@pytest.mark.parametrize("chunk_events", [None, 700])
def test_threads_equal_a_serial_loop_and_report_a_damaged_file(folder, tmp_path, chunk_events):
    from eventsim.runs import run_files as run_on_threads

    files = sorted(folder.rglob("*.bin"))
    cut = tmp_path / "cut.bin"
    cut.write_bytes(files[3].read_bytes()[:-2])
    files.insert(5, cut)
    sim = eventsim.Simulator(_net(), T=None)
    counted = []
    out = run_on_threads(sim, files, threads=2, sensor_size=SENSOR, chunk_events=chunk_events,
                         progress=counted.append)
    assert len(out) == len(files) == sum(counted)
    failed = out.pop(5)
    assert isinstance(failed, Failed) and failed.path == str(cut)
    assert failed.error.startswith(f"{cut}: file cut mid-record at byte offset"), failed.error
    fresh = eventsim.Simulator(_net())
    for f, r in zip(files[:5] + files[6:], out):
        _same(r, fresh.run(eventsim.read_events(f, SENSOR)), str(f))
    with pytest.raises(eventsim.errors.FormatError, match="file cut mid-record"):
        run_on_threads(sim, files, threads=2, sensor_size=SENSOR, strict=True)


def test_cli_threads_print_what_one_thread_prints(capsys, tmp_path, folder):
    net_path = str(eventsim.__path__[0]) + "/../networks/nmnist-mlp.h5"
    outs = []
    for threads in ("1", "2"):
        path = tmp_path / f"t{threads}.json"
        assert main(["run", net_path, str(folder), "--threads", threads,
                     "--json", str(path)]) == 0
        outs.append(json.loads(path.read_text()))
    assert "accuracy:" in capsys.readouterr().out
    assert outs[0]["samples"] == outs[1]["samples"] and len(outs[0]["samples"]) == 24
    assert outs[0]["metrics"] == outs[1]["metrics"]
    assert main(["run", net_path, str(folder), "--threads", "2", "--workers", "2"]) == 1
    assert "--threads runs on this machine, --workers/--scheduler on a Dask cluster" in \
        capsys.readouterr().err
    assert main(["run", net_path, str(folder), "--threads", "0"]) == 1
    assert "argument --threads: 0 is out of range" in capsys.readouterr().err
