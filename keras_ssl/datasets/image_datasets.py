"""Image data sets as numpy arrays: local files first, TFDS as a fallback."""

import gzip
import os
import pickle
import struct

import numpy as np

from keras_ssl.utils import check_choice

# Debian's data packages install here (e.g. `apt-get install
# dataset-fashion-mnist` gives /usr/share/datasets/fashion-mnist/).
DEBIAN_ROOT = "/usr/share/datasets"

_INFO = {
    "digits": {
        "image_shape": (8, 8, 1),
        "num_classes": 10,
        "class_names": [str(i) for i in range(10)],
        "num_train": 1437,
        "num_test": 360,
    },
    "mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "class_names": [str(i) for i in range(10)],
        "num_train": 60000,
        "num_test": 10000,
    },
    "fashion_mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "class_names": [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ],
        "num_train": 60000,
        "num_test": 10000,
    },
    "cifar10": {
        "image_shape": (32, 32, 3),
        "num_classes": 10,
        "class_names": [
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ],
        "num_train": 50000,
        "num_test": 10000,
    },
}

# Folder names used for each data set by Debian, the Keras cache and TFDS.
_FOLDERS = {
    "mnist": ["mnist", "."],  # Keras keeps mnist.npz at the cache root
    "fashion_mnist": ["fashion-mnist", "fashion_mnist"],
    "cifar10": ["cifar-10-batches-py", "cifar10"],
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def available():
    """Names accepted by `load`."""
    return sorted(_INFO)


def info(name):
    """Shape, class count, class names and split sizes of a data set."""
    check_choice("dataset", name, available())
    return dict(_INFO[name])


def read_idx(path):
    """Read an IDX file (the MNIST format), gzipped or not, into numpy."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path!r} is not an IDX file: it is too short.")
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise ValueError(
            f"{path!r} is not a uint8 IDX file (bad magic number "
            f"{data[:4].hex()}); the file is corrupt or of another format."
        )
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(
            f"{path!r} is truncated or corrupt: header says shape {shape}, "
            f"found {body.size} values."
        )
    return body.reshape(shape)


def _find_idx(folder, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def _load_idx_folder(folder):
    """((x_train, y_train), (x_test, y_test)) from an MNIST-style idx folder."""
    splits = []
    for split in ("train", "test"):
        images_stem, labels_stem = _IDX_FILES[split]
        images_path = _find_idx(folder, images_stem)
        labels_path = _find_idx(folder, labels_stem)
        if images_path is None or labels_path is None:
            return None
        x = read_idx(images_path)[..., None]
        y = read_idx(labels_path).astype("int64")
        if len(x) != len(y):
            raise ValueError(
                f"{images_path!r} has {len(x)} images but {labels_path!r} has "
                f"{len(y)} labels."
            )
        splits.append((x, y))
    return tuple(splits)


def _load_npz(path):
    with np.load(path, allow_pickle=False) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return (
        (x_train.astype("uint8"), y_train.astype("int64").ravel()),
        (x_test.astype("uint8"), y_test.astype("int64").ravel()),
    )


def _load_cifar_batches(folder):
    def read(name):
        with open(os.path.join(folder, name), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch[b"labels"], dtype="int64")
        return data.astype("uint8"), labels

    names = [f"data_batch_{i}" for i in range(1, 6)]
    if not all(os.path.exists(os.path.join(folder, n)) for n in names + ["test_batch"]):
        return None
    parts = [read(n) for n in names]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return (x_train, y_train), read("test_batch")


def _try_folder(name, folder):
    """Load `name` from `folder` if it holds it in a known format."""
    if not os.path.isdir(folder):
        return None
    if name in ("mnist", "fashion_mnist"):
        result = _load_idx_folder(folder)
        if result is not None:
            return result
        npz = os.path.join(folder, "mnist.npz" if name == "mnist" else "fashion_mnist.npz")
        if os.path.exists(npz):
            return _load_npz(npz)
    if name == "cifar10":
        result = _load_cifar_batches(folder)
        if result is not None:
            return result
        nested = os.path.join(folder, "cifar-10-batches-py")
        if os.path.isdir(nested):
            return _load_cifar_batches(nested)
    return None


def _candidate_folders(name, data_dir):
    """(description, folder) pairs, in the order they are searched."""
    candidates = []
    roots = []
    if data_dir:
        roots.append(("data_dir argument", data_dir))
    env = os.environ.get("KERAS_SSL_DATA_DIR")
    if env:
        roots.append(("KERAS_SSL_DATA_DIR", env))
    roots.append(("Debian data package", DEBIAN_ROOT))
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    roots.append(("Keras cache", os.path.join(keras_home, "datasets")))
    for label, root in roots:
        if label.startswith("data_dir") or label == "KERAS_SSL_DATA_DIR":
            candidates.append((label, root))
        for folder in _FOLDERS[name]:
            candidates.append((label, os.path.join(root, folder)))
    return candidates


def _tfds_data_dir():
    return os.environ.get(
        "TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    )


def _load_tfds(name, data_dir, download):
    """Load through tensorflow-datasets (prepared locally, or downloaded)."""
    import tensorflow_datasets as tfds

    splits = tfds.load(
        name,
        split=["train", "test"],
        batch_size=-1,
        as_supervised=True,
        data_dir=data_dir,
        download=download,
    )
    (x_train, y_train), (x_test, y_test) = tfds.as_numpy(splits)
    return (
        (x_train.astype("uint8"), y_train.astype("int64")),
        (x_test.astype("uint8"), y_test.astype("int64")),
    )


def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype("uint8")[..., None]
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=360, stratify=y, random_state=0
    )
    return (x_train, y_train), (x_test, y_test)


def load(name, data_dir=None, download=True):
    """Load an image data set as uint8 (N, H, W, C) arrays and int64 labels.

    Names: "digits" (scikit-learn's bundled 8x8 digits, always available
    offline: the default of the demo), "fashion_mnist", "mnist", "cifar10".

    Local copies are looked for first, in this order:
    1. `data_dir` (MNIST-style idx files, gzipped or not; `mnist.npz`;
       CIFAR-10's `cifar-10-batches-py` folder; or a TFDS data dir);
    2. the `KERAS_SSL_DATA_DIR` environment variable (same formats);
    3. Debian's data packages under /usr/share/datasets (e.g.
       `apt-get install dataset-fashion-mnist`);
    4. the Keras cache, `~/.keras/datasets/`;
    5. a prepared tensorflow-datasets copy in the TFDS data dir.
    Only if none is found and `download=True` does it download with
    `tfds.load`. Otherwise a FileNotFoundError lists every place searched.

    Returns:
        `((x_train, y_train), (x_test, y_test))`.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load("digits")
    >>> x_train.shape, x_train.dtype, y_train.dtype
    ((1437, 8, 8, 1), dtype('uint8'), dtype('int64'))
    """
    check_choice("dataset", name, available())
    if name == "digits":
        return _load_digits()
    searched = []
    for label, folder in _candidate_folders(name, data_dir):
        searched.append(f"{folder} ({label})")
        result = _try_folder(name, folder)
        if result is not None:
            return result
    tfds_dirs = [d for d in (data_dir, _tfds_data_dir()) if d]
    errors = []
    for tfds_dir in tfds_dirs:
        searched.append(f"{tfds_dir} (TFDS data dir, prepared {name})")
        if not os.path.isdir(os.path.join(tfds_dir, name)):
            continue
        try:
            return _load_tfds(name, tfds_dir, download=False)
        except Exception as e:  # TFDS raises many types for missing data.
            errors.append(f"{tfds_dir}: {e}")
    if download:
        try:
            return _load_tfds(name, None, download=True)
        except Exception as e:  # Offline: network errors of several kinds.
            errors.append(f"download with tensorflow-datasets failed: {e}")
    hint = {
        "fashion_mnist": " On Debian: apt-get install dataset-fashion-mnist.",
    }.get(name, "")
    raise FileNotFoundError(
        f"Could not find the {name!r} data set. Looked in:\n  "
        + "\n  ".join(searched)
        + ("\n" + "\n".join(errors) if errors else "")
        + "\nPass data_dir=... pointing at local files, or allow a download."
        + hint
    )
