"""Training data on the real recordings and digits: N-MNIST folders, MNIST IDX, coding."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from eventsim import bin_events, read_events
from eventsim.errors import FormatError, InputError
from eventsim.train.data import (
    batches,
    load_mnist_idx,
    load_nmnist_folder,
    nmnist_files,
    random_shift,
    rate_code,
    shift_frames,
)

NMNIST_TEST_COUNTS = [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]
NMNIST_TRAIN_COUNTS = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def nmnist(data_dir: Path) -> Path:
    return data_dir / "nmnist"


@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> Path:
    return data_dir / "mnist"


# ----------------------------------------------------------------------------- N-MNIST


def test_nmnist_test_folder_loads_100_samples(nmnist):
    x, y = load_nmnist_folder(nmnist, "Test", dt_us=1000, T=300, progress=False)
    assert x.shape == (100, 300, 2, 34, 34) and x.dtype == np.uint8
    assert y.shape == (100,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == NMNIST_TEST_COUNTS
    assert set(np.unique(x).tolist()) == {0, 1}
    files = nmnist_files(nmnist, "Test")
    assert [label for _, label in files] == y.tolist()
    for i in (0, 57, 99):
        path, label = files[i]
        assert path.parent.name == str(label)
        stream = read_events(path, sensor_size=(34, 34, 2))
        np.testing.assert_array_equal(x[i], bin_events(stream, 1000, 300))


def test_nmnist_walk_order_and_train_labels_match_mnist(nmnist, mnist):
    files = nmnist_files(nmnist, "Train")
    labels = [label for _, label in files]
    assert labels == sorted(labels)
    assert np.bincount(labels).tolist() == NMNIST_TRAIN_COUNTS
    for label in range(10):
        names = [p.name for p, lab in files if lab == label]
        assert names == sorted(names)
    # file names are 1-based MNIST train indices
    _, mnist_labels = load_mnist_idx(mnist, "train")
    index = np.array([int(p.stem) - 1 for p, _ in files])
    np.testing.assert_array_equal(mnist_labels[index], labels)


def test_nmnist_limit_is_balanced_over_classes(nmnist):
    x, y = load_nmnist_folder(nmnist, "Train", dt_us=10_000, T=31, limit=25, progress=False)
    assert x.shape == (25, 31, 2, 34, 34)
    assert np.bincount(y, minlength=10).tolist() == [3] * 5 + [2] * 5
    assert y.tolist() == sorted(y.tolist())
    files = nmnist_files(nmnist, "Train")
    first_of_class_3 = next(p for p, lab in files if lab == 3)
    i = int(np.flatnonzero(y == 3)[0])
    expected = bin_events(read_events(first_of_class_3, sensor_size=(34, 34, 2)), 10_000, 31)
    np.testing.assert_array_equal(x[i], expected)
    # the Test split has only 2 eights: a larger limit takes more of the other classes
    _, y = load_nmnist_folder(nmnist, "Test", dt_us=10_000, T=1, limit=40, progress=False)
    # four rounds take 9 + 9 + 9 + 9 + 2 (the eights) = 38; the fifth starts with 0 and 1
    assert np.bincount(y, minlength=10).tolist() == [5, 5, 4, 4, 4, 4, 4, 4, 2, 4]


def test_nmnist_small_tree_in_tmp(nmnist, tmp_path):
    src = nmnist_files(nmnist, "Test")
    for path, label in (src[0], src[20], src[21]):
        dst = tmp_path / "Test" / str(label)
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dst / path.name)
    (tmp_path / "Test" / ".hidden").mkdir()
    x, y = load_nmnist_folder(tmp_path, "Test", dt_us=5000, T=10)
    assert x.shape == (3, 10, 2, 34, 34)
    assert y.tolist() == [src[0][1], src[20][1], src[21][1]]


def test_nmnist_layout_errors_name_the_folder(nmnist, tmp_path):
    with pytest.raises(InputError, match="'split'"):
        load_nmnist_folder(nmnist, "test", dt_us=1000, T=10)
    with pytest.raises(FileNotFoundError):
        load_nmnist_folder(tmp_path / "nowhere", "Test", dt_us=1000, T=10)
    with pytest.raises(FormatError, match=r"no folder 'Train'.*give the folder above"):
        load_nmnist_folder(nmnist / "Test", "Train", dt_us=1000, T=10)
    with pytest.raises(InputError, match="'T'"):
        load_nmnist_folder(nmnist, "Test", dt_us=1000, T=0)

    (tmp_path / "Test").mkdir()
    with pytest.raises(FormatError, match="no label folders"):
        load_nmnist_folder(tmp_path, "Test", dt_us=1000, T=10)
    (tmp_path / "Test" / "seven").mkdir()
    with pytest.raises(FormatError, match=r"Test/seven.*not a non-negative integer"):
        load_nmnist_folder(tmp_path, "Test", dt_us=1000, T=10)
    (tmp_path / "Test" / "seven").rmdir()
    (tmp_path / "Test" / "7").mkdir()
    with pytest.raises(FormatError, match=r"Test/7: label folder holds no .bin"):
        load_nmnist_folder(tmp_path, "Test", dt_us=1000, T=10)
    (tmp_path / "Test" / "00001.bin").write_bytes(b"")
    with pytest.raises(FormatError, match=r"outside a label folder"):
        load_nmnist_folder(tmp_path, "Test", dt_us=1000, T=10)
    (tmp_path / "Test" / "00001.bin").unlink()
    (tmp_path / "Test" / "7" / "00002.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(FormatError, match=r"7/00002.bin"):
        load_nmnist_folder(tmp_path, "Test", dt_us=1000, T=10)


# ----------------------------------------------------------------------------- MNIST


def test_mnist_t10k(mnist):
    images, labels = load_mnist_idx(mnist, "t10k")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == T10K_COUNTS
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert images.min() == 0 and images.max() == 255
    assert images.flags.writeable


def test_mnist_train_has_60000(mnist):
    images, labels = load_mnist_idx(mnist, "train")
    assert images.shape == (60000, 28, 28)
    assert labels.shape == (60000,)
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(labels).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


def _copy_t10k(mnist: Path, dst: Path) -> None:
    for kind in ("images-idx3", "labels-idx1"):
        shutil.copy(mnist / f"t10k-{kind}-ubyte.gz", dst / f"t10k-{kind}-ubyte.gz")


def test_mnist_truncated_gz_names_the_file(mnist, tmp_path):
    _copy_t10k(mnist, tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = images.read_bytes()
    images.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"t10k-images-idx3-ubyte\.gz.*truncated"):
        load_mnist_idx(tmp_path, "t10k")


def test_mnist_foreign_files_name_file_and_field(mnist, tmp_path):
    _copy_t10k(mnist, tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"not gzip at all")
    with pytest.raises(FormatError, match=r"t10k-labels-idx1-ubyte\.gz: not a gzip file"):
        load_mnist_idx(tmp_path, "t10k")
    # an images file in place of the labels: wrong magic
    shutil.copy(mnist / "t10k-images-idx3-ubyte.gz", labels)
    with pytest.raises(FormatError, match=r"labels-idx1-ubyte\.gz.*'magic' is 2051; expected 2049"):
        load_mnist_idx(tmp_path, "t10k")
    # a header announcing more images than the data holds
    labels.write_bytes(gzip.compress(struct.pack(">ii", 2049, 3) + bytes([1, 2, 3])))
    with pytest.raises(FormatError, match=r"images-idx3-ubyte\.gz.*field 'n' is 10000.*3 labels"):
        load_mnist_idx(tmp_path, "t10k")
    labels.write_bytes(gzip.compress(struct.pack(">ii", 2049, 4) + bytes([1, 2, 3])))
    with pytest.raises(FormatError, match=r"labels-idx1-ubyte\.gz.*ends after 3 of the 4 bytes"):
        load_mnist_idx(tmp_path, "t10k")
    labels.write_bytes(gzip.compress(struct.pack(">ii", 2049, 2) + bytes([1, 2, 3])))
    with pytest.raises(FormatError, match=r"labels-idx1-ubyte\.gz: data: more bytes"):
        load_mnist_idx(tmp_path, "t10k")
    labels.write_bytes(gzip.compress(struct.pack(">ii", 2049, 1) + bytes([12])))
    with pytest.raises(FormatError, match=r"labels-idx1-ubyte\.gz: data: label 0 is 12"):
        load_mnist_idx(tmp_path, "t10k")
    labels.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(FormatError, match=r"labels-idx1-ubyte\.gz: header: 2 bytes"):
        load_mnist_idx(tmp_path, "t10k")
    labels.unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist_idx(tmp_path, "t10k")
    with pytest.raises(InputError, match="'split'"):
        load_mnist_idx(tmp_path, "test")


# ----------------------------------------------------------------------------- coding


def test_rate_code_mean_matches_intensity_and_is_seeded():
    images = np.array([[0, 64, 128, 255]], dtype=np.uint8)
    T = 20_000
    spikes = rate_code(images, T, np.random.default_rng(3))
    assert spikes.shape == (T, 1, 4) and spikes.dtype == np.float32
    assert set(np.unique(spikes).tolist()) <= {0.0, 1.0}
    p = images[0] / 255.0
    mean = spikes.mean(axis=0)[0]
    # five standard deviations of a mean of T Bernoulli draws
    bound = 5 * np.sqrt(p * (1 - p) / T)
    assert np.all(np.abs(mean - p) <= bound), (mean, p)
    assert mean[0] == 0.0 and mean[3] == 1.0
    again = rate_code(images, T, np.random.default_rng(3))
    np.testing.assert_array_equal(spikes, again)
    other = rate_code(images, T, np.random.default_rng(4))
    assert not np.array_equal(spikes, other)


def test_rate_code_float_input_and_errors():
    x = np.full((2, 3, 3), 0.5)
    spikes = rate_code(x, 4000, np.random.default_rng(0))
    assert spikes.shape == (4000, 2, 3, 3)
    assert abs(spikes.mean() - 0.5) < 5 * np.sqrt(0.25 / spikes.size)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        rate_code(np.array([[1.5]]), 2, np.random.default_rng(0))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        rate_code(np.array([[np.nan]]), 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="dtype int64"):
        rate_code(np.array([[1]]), 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="'rng'"):
        rate_code(x, 2, 0)


def test_shift_frames_moves_a_single_pixel_exactly():
    frames = np.zeros((4, 2, 2, 6, 7), dtype=np.uint8)
    frames[:, 1, 0, 2, 3] = 1
    shifts = np.array([[0, 0], [1, -2], [-2, 3], [3, 0]])
    out = shift_frames(frames, shifts)
    assert out.shape == frames.shape and out.dtype == frames.dtype
    for b, (dy, dx) in enumerate(shifts):
        expected = np.zeros((2, 2, 6, 7), dtype=np.uint8)
        expected[1, 0, 2 + dy, 3 + dx] = 1
        np.testing.assert_array_equal(out[b], expected)
    # moved off the frame: zeros; more than the frame size: zeros, no error
    gone = shift_frames(frames[:2], np.array([[0, 4], [-50, 50]]))
    assert not gone.any()


def test_random_shift_draws_documented_shifts():
    B, m = 200, 2
    frames = np.zeros((B, 3, 2, 9, 9), dtype=np.uint8)
    frames[:, :, :, 4, 4] = 1
    out = random_shift(frames, m, np.random.default_rng(7))
    shifts = np.random.default_rng(7).integers(-m, m + 1, size=(B, 2))
    for b in range(B):
        ys, xs = np.nonzero(out[b, 0, 0])
        assert (ys.tolist(), xs.tolist()) == ([4 + shifts[b, 0]], [4 + shifts[b, 1]])
        assert out[b].sum() == 6
    assert {tuple(s) for s in shifts.tolist()} == {
        (i, j) for i in range(-2, 3) for j in range(-2, 3)
    }
    np.testing.assert_array_equal(random_shift(frames, 0, np.random.default_rng(1)), frames)
    with pytest.raises(InputError, match="'max_shift'"):
        random_shift(frames, -1, np.random.default_rng(1))


def test_batches_cover_everything_and_are_seeded():
    parts = batches(10, 3, np.random.default_rng(5))
    assert [len(b) for b in parts] == [3, 3, 3, 1]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    again = batches(10, 3, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(np.concatenate(parts), np.arange(10))
    ordered = batches(7, 3, shuffle=False)
    assert [b.tolist() for b in ordered] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [len(b) for b in batches(7, 3, shuffle=False, drop_last=True)] == [3, 3]
    assert batches(0, 4, np.random.default_rng(0)) == []
    with pytest.raises(InputError, match="'batch_size'"):
        batches(10, 0, np.random.default_rng(0))
    with pytest.raises(InputError, match="'rng'"):
        batches(10, 2)
