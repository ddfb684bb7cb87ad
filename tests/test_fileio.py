"""eventsim.fileio: input checks, no output onto an input, atomic files and folders, leftovers
of killed writes removed, a full disk named, and a stop signal that a library swallowed still
stops the write."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eventsim import fileio
from eventsim.errors import FormatError, InputError, OutputError


def test_input_path_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such network file") as info:
        fileio.input_path(tmp_path / "none.h5", "network file")
    assert info.value.filename == str(tmp_path / "none.h5")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="symbolic link loop; expected a network file") as info:
        fileio.input_path(tmp_path / "a", "network file")
    assert info.value.errno == errno.ELOOP and info.value.filename == str(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="broken symbolic link"):
        fileio.input_path(tmp_path / "dangling", "network file")
    (tmp_path / "x.nir").mkdir()
    with pytest.raises(FormatError, match=r"x\.nir: is a folder; expected a NIR file"):
        fileio.input_path(tmp_path / "x.nir", "NIR file")
    assert fileio.input_path(tmp_path / "x.nir", "folder", folder_ok=True).is_dir()
    for bad in (None, 3, ["a"]):
        with pytest.raises(InputError, match="load: field 'path' must be a file path"):
            fileio.input_path(bad, "network file", "load")


def test_an_output_that_is_an_input_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "rec.bin"
    src.write_bytes(b"12345")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.json").symlink_to(src)
    os.link(src, tmp_path / "hard.json")
    monkeypatch.chdir(tmp_path)
    for out in (src, Path("sub/../rec.bin"), tmp_path / "link.json", tmp_path / "hard.json"):
        with pytest.raises(OutputError, match="is an input of this run.*would destroy it"):
            fileio.check_output(out, [None, src], "JSON results")
    assert fileio.check_output(tmp_path / "other.json", [src], "JSON") == tmp_path / "other.json"
    assert src.read_bytes() == b"12345"


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), fileio.atomic_path(target, "text") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")  # not an I/O failure: propagates as itself
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    full = pytest.raises(OutputError, match=f"^{target}: cannot write the text: No space left "
                         r"on device \(errno 28\); nothing was written")
    with full, fileio.atomic_path(target, "text"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    missing = pytest.raises(FileNotFoundError, match="folder to save the text in does not exist")
    with missing, fileio.atomic_path(tmp_path / "no" / "x.txt", "text"):
        pass
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="is a folder"), fileio.atomic_path(tmp_path / "dir",
                                                                             "text"):
        pass


def test_leftovers_of_a_killed_write_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "net.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid, host = int(dead.stdout), fileio._HOST  # a process of this host that has ended
    stale = tmp_path / f".net.h5.{host}-{pid}-{'ab' * 8}.tmp"
    stale.write_bytes(b"x" * 100)
    stale_dir = tmp_path / f".net.h5.{host}-{pid}-{'cd' * 8}.tmp"
    stale_dir.mkdir()
    kept = [tmp_path / f".net.h5.{host}-{os.getpid()}-{'ef' * 8}.tmp",  # a write going on
            tmp_path / f".net.h5.0badc0de-{pid}-{'ab' * 8}.tmp",  # another host's
            tmp_path / f".net.h5.{host}-99999999999999999999-{'ab' * 8}.tmp",  # not a pid
            tmp_path / f".other.h5.{host}-{pid}-{'ab' * 8}.tmp"]  # another target's
    for k in kept:
        k.write_bytes(b"y")
    fileio.write_text(target, "new", "network")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, *(k.name for k in kept)])


def test_outputs_through_symlinks_and_dot(tmp_path, monkeypatch):
    """A write through a symbolic link writes the file it names (the link stays); a report
    folder given as "." is the current folder."""
    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    fileio.write_text(tmp_path / "link.json", "new", "JSON")
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "new"
    monkeypatch.chdir(tmp_path)
    with fileio.atomic_folder(".", "report") as tmp:
        (tmp / "index.html").write_text("x")
    assert (tmp_path / "index.html").read_text() == "x"


def test_atomic_folder_replaces_its_files_only_when_all_are_written(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("old")
    (out / "mine.txt").write_text("the user's")
    full = pytest.raises(OutputError, match=f"^{out}: cannot write the report: File too large")
    with full, fileio.atomic_folder(out, "report") as tmp:
        (tmp / "index.html").write_text("new")
        raise OSError(errno.EFBIG, "File too large")
    assert (out / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with fileio.atomic_folder(out, "report") as tmp:
        (tmp / "index.html").write_text("new")
        (tmp / "a.png").write_bytes(b"png")
    assert (out / "index.html").read_text() == "new" and (out / "mine.txt").exists()
    fresh = tmp_path / "fresh"
    with fileio.atomic_folder(fresh, "report") as tmp:
        (tmp / "index.html").write_text("x")
    assert [p.name for p in fresh.iterdir()] == ["index.html"]
    deep = pytest.raises(FileNotFoundError, match="only the last folder of the path is created")
    with deep, fileio.atomic_folder(tmp_path / "a" / "b" / "c", "report"):
        pass
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("")
    a_file = pytest.raises(OutputError, match="is a file; expected a folder for the report")
    with a_file, fileio.atomic_folder(tmp_path / "file", "report"):
        pass


def test_a_swallowed_stop_signal_still_stops_the_write(tmp_path):
    """A library may swallow the KeyboardInterrupt a handler raised (h5py does, in a weakref
    callback): the recorded signal stops the write before it is renamed."""
    target = tmp_path / "x.txt"
    try:
        fileio.note_stop_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt), fileio.atomic_path(target, "text") as tmp:
            tmp.write_text("complete")
        fileio.clear_stop_signal()
        fileio.note_stop_signal(signal.SIGTERM)
        with pytest.raises(SystemExit) as info, fileio.atomic_folder(tmp_path / "rep",
                                                                      "report") as tmp:
            (tmp / "index.html").write_text("x")
        assert info.value.code == 128 + signal.SIGTERM
    finally:
        fileio.clear_stop_signal()
    assert sorted(tmp_path.iterdir()) == []


def _limited_child(code: str, cwd: Path, fsize: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose files may not grow beyond ``fsize`` bytes (EFBIG, as a
    full disk gives ENOSPC; Python ignores SIGXFSZ)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, text=True,
                          capture_output=True, preexec_fn=limit, timeout=300, check=False)


@pytest.mark.parametrize("fsize", [4_000, 100_000, 1_500_000])
@pytest.mark.parametrize("what", ["network", "nir", "events", "checkpoint", "text"])
def test_a_full_disk_is_a_named_error_and_leaves_the_old_file(tmp_path, what, fsize):
    """HDF5 writing to a path crashed the process on a full disk (SIGSEGV); through a file
    object it is an OutputError naming the file, nothing is left behind, the old file stays."""
    target = {"network": "net.h5", "nir": "net.nir", "events": "ev.h5",
              "checkpoint": "ck.h5", "text": "out.json"}[what]
    (tmp_path / target).write_bytes(b"the old file")
    code = f"""
        import numpy as np, eventsim
        from eventsim.errors import OutputError
        net = eventsim.random_mlp([2312, 200, 10], (2, 34, 34), seed=0)
        net.dt_us = 1000
        try:
            if {what!r} == "network":
                eventsim.save_network(net, {target!r})
            elif {what!r} == "nir":
                eventsim.to_nir(net, {target!r})
            elif {what!r} == "events":
                ev = np.zeros(200_000, eventsim.EVENT_DTYPE)
                ev["t"] = np.arange(200_000)
                eventsim.write_events(eventsim.EventStream(ev, (34, 34, 2)), {target!r})
            elif {what!r} == "checkpoint":
                from eventsim.train.checkpoint import save_checkpoint
                save_checkpoint({target!r}, {{"w": np.ones((500, 500))}}, {{}},
                                np.random.default_rng(0), 1)
            else:
                from eventsim.fileio import write_text
                write_text({target!r}, "x" * 3_000_000, "JSON results")
        except OutputError as err:
            print(err)
    """
    done = _limited_child(code, tmp_path, fsize)
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip()
    assert line.startswith(f"{target}: cannot write the ") and "File too large (errno 27)" in line
    assert (tmp_path / target).read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target]
