import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from keras_ssl import datasets
from keras_ssl.datasets import image_datasets

DEBIAN_FASHION = os.path.join(image_datasets.DEBIAN_ROOT, "fashion-mnist")


def write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype("uint8").tobytes()
    if compress:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def make_idx_folder(folder, n_train=20, n_test=10, compress=True):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28)).astype("uint8")
        y = rng.integers(0, 10, n).astype("uint8")
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte"), x, compress)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte"), y, compress)
        arrays[split] = (x, y)
    return arrays


@pytest.fixture
def no_local_data(tmp_path, monkeypatch):
    """Hide every real local copy: HOME, env vars and the Debian root."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home" / ".keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("KERAS_SSL_DATA_DIR", raising=False)
    monkeypatch.setattr(image_datasets, "DEBIAN_ROOT", str(tmp_path / "debian"))
    return tmp_path


def test_digits_embedded_default():
    (x_train, y_train), (x_test, y_test) = datasets.load("digits")
    assert x_train.shape == (1437, 8, 8, 1) and x_test.shape == (360, 8, 8, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert x_train.max() == 255 and x_train.min() == 0
    assert set(np.unique(y_train)) == set(range(10))
    again = datasets.load("digits")[0][0]
    np.testing.assert_array_equal(again, x_train)


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package():
    (x_train, y_train), (x_test, y_test) = datasets.load("fashion_mnist", download=False)
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert datasets.info("fashion_mnist")["class_names"][9] == "Ankle boot"


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_in_data_dir(tmp_path, no_local_data, compress):
    arrays = make_idx_folder(str(tmp_path / "data"), compress=compress)
    (x_train, y_train), (x_test, y_test) = datasets.load(
        "mnist", data_dir=str(tmp_path / "data"), download=False
    )
    np.testing.assert_array_equal(x_train[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])


def test_env_var_and_keras_cache(tmp_path, no_local_data, monkeypatch):
    make_idx_folder(str(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist"))
    (x_train, _), _ = datasets.load("fashion_mnist", download=False)
    assert x_train.shape == (20, 28, 28, 1)
    make_idx_folder(str(tmp_path / "env" / "fashion-mnist"), n_train=7)
    monkeypatch.setenv("KERAS_SSL_DATA_DIR", str(tmp_path / "env"))
    (x_train, _), _ = datasets.load("fashion_mnist", download=False)
    assert len(x_train) == 7


def test_mnist_npz(tmp_path, no_local_data):
    folder = tmp_path / "npz"
    folder.mkdir()
    rng = np.random.default_rng(1)
    np.savez(folder / "mnist.npz", x_train=rng.integers(0, 255, (5, 28, 28)),
             y_train=np.arange(5), x_test=rng.integers(0, 255, (3, 28, 28)), y_test=np.arange(3))
    (x_train, y_train), (x_test, _) = datasets.load("mnist", data_dir=str(folder), download=False)
    assert x_train.shape == (5, 28, 28, 1) and x_test.shape == (3, 28, 28, 1)
    assert y_train.tolist() == [0, 1, 2, 3, 4]


def test_cifar_batches(tmp_path, no_local_data):
    folder = tmp_path / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072)).astype("uint8")
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [1, 2, 3, 4]}, f)
    (x_train, y_train), (x_test, _) = datasets.load("cifar10", data_dir=str(tmp_path / "c"),
                                                    download=False)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert y_train[:4].tolist() == [1, 2, 3, 4]


def test_corrupt_idx(tmp_path, no_local_data):
    folder = tmp_path / "bad"
    make_idx_folder(str(folder))
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x01\x02\x03\x04garbage")
    with pytest.raises(ValueError, match="corrupt"):
        datasets.load("mnist", data_dir=str(folder), download=False)


def test_not_found_lists_every_place(tmp_path, no_local_data):
    with pytest.raises(FileNotFoundError) as err:
        datasets.load("fashion_mnist", data_dir=str(tmp_path / "mine"), download=False)
    message = str(err.value)
    for place in ("mine", "debian", ".keras", "tfds", "dataset-fashion-mnist"):
        assert place in message


def test_unknown_name():
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'.*digits"):
        datasets.load("imagenet")
    assert datasets.available() == ["cifar10", "digits", "fashion_mnist", "mnist"]


def test_label_subset():
    x = np.arange(1000)
    y = np.repeat(np.arange(10), 100)
    xs, ys = datasets.label_subset(x, y, fraction=0.01, seed=0)
    assert len(xs) == 10 and np.bincount(ys).tolist() == [1] * 10
    np.testing.assert_array_equal(y[xs], ys)
    again, _ = datasets.label_subset(x, y, fraction=0.01, seed=0)
    other, _ = datasets.label_subset(x, y, fraction=0.01, seed=1)
    np.testing.assert_array_equal(xs, again)
    assert not np.array_equal(xs, other)
    xs, _ = datasets.label_subset(x, y, num_samples=50)
    assert len(xs) == 50
    with pytest.raises(ValueError, match="fraction"):
        datasets.label_subset(x, y, fraction=0)
    with pytest.raises(ValueError, match="exactly one"):
        datasets.label_subset(x, y)


def test_make_dataset():
    x = np.arange(10 * 4, dtype="uint8").reshape(10, 2, 2, 1)
    y = np.arange(10)
    ds = datasets.make_dataset(x, y, batch_size=4, shuffle=False)
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    ds = datasets.make_dataset(x, batch_size=4, drop_remainder=True, seed=0,
                               map_fn=lambda b: b * 2)
    batches = [b.numpy() for b in ds]
    assert [len(b) for b in batches] == [4, 4]
    order1 = [b[0].numpy().tolist() for b in datasets.make_dataset(x, y, batch_size=10, seed=3)]
    order2 = [b[0].numpy().tolist() for b in datasets.make_dataset(x, y, batch_size=10, seed=3)]
    assert order1 == order2
    with pytest.raises(ValueError, match="empty"):
        datasets.make_dataset(x[:0])
    with pytest.raises(ValueError, match="labels"):
        datasets.make_dataset(x, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        datasets.make_dataset(x, batch_size=0)
