"""One entry for the user's own images: a folder or TFRecord shards."""

import glob
import os

import tensorflow as tf

from keras_ssl.datasets.folders import from_directory
from keras_ssl.datasets.tfrecords import MANIFEST, from_tfrecords


def is_tfrecord_source(source):
    """True for TFRecord shards: a `*.tfrecord` file or glob, or a folder
    holding a shard manifest or `*.tfrecord` files."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return (os.path.exists(os.path.join(source, MANIFEST))
                or bool(glob.glob(os.path.join(source, "*.tfrecord"))))
    return ".tfrecord" in os.path.basename(source) or glob.has_magic(source)


def is_image_source(source):
    """True when `source` names the user's own images (an existing folder,
    a TFRecord file or a glob of them), not a built-in dataset name (a
    name wins over a folder of the same name)."""
    from keras_ssl.datasets.image_datasets import available

    if not isinstance(source, (str, os.PathLike)):
        return False
    source = os.fspath(source)
    if source in available():
        return False
    return os.path.isdir(source) or is_tfrecord_source(source) or os.sep in source


def open_images(source, image_size=None, channels=None, labels=None, shuffle=True, seed=None):
    """Stream the images of `source`, a folder tree of image files or
    TFRecord shards, as a `tf.data.Dataset` of unbatched uint8 images
    (`(image, label)` pairs with labels).

    Returns `(dataset, count)`; `count` is the number of images (for
    TFRecord shards without a manifest the records are counted once).
    """
    if is_tfrecord_source(source):
        dataset = from_tfrecords(source, image_size=image_size, channels=channels,
                                 labels=bool(labels), shuffle=shuffle, seed=seed)
        count = dataset.count
        if count is None:
            print(f"Counting the records of {len(dataset.file_paths)} TFRecord file(s) "
                  f"(write them with `keras-ssl data write-tfrecords` to skip this) ...")
            count = int(tf.data.TFRecordDataset(dataset.file_paths).reduce(
                tf.constant(0, tf.int64), lambda n, _: n + 1))
        return dataset, int(count)
    if not os.path.exists(os.fspath(source)):
        raise FileNotFoundError(
            f"`dataset` {os.fspath(source)!r} does not exist: expected a folder of images, "
            "TFRecord shards, or a built-in dataset name."
        )
    dataset = from_directory(source, image_size=image_size, channels=channels,
                             labels="inferred" if labels is True else labels,
                             shuffle=shuffle, seed=seed)
    return dataset, len(dataset.file_paths)


def load_labelled_images(source, image_size, channels, test_fraction=0.2, seed=0):
    """A labelled folder (one sub-folder per class) or labelled TFRecord
    shards, read into memory and split into a stratified train and test
    part: `((x_train, y_train), (x_test, y_test)), class_names`.

    For probes and fine-tuning, where labelled sets are small. Every class
    with at least two images puts `test_fraction` of them (at least one)
    into the test part.
    """
    import numpy as np

    if not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must lie in (0, 1), got {test_fraction!r}.")
    dataset, _ = open_images(source, image_size=image_size, channels=channels, labels=True,
                             shuffle=False)
    pairs = list(dataset.as_numpy_iterator())
    if not pairs:
        raise ValueError(f"`source` {os.fspath(source)!r} holds no labelled images.")
    x = np.stack([image for image, _ in pairs])
    y = np.asarray([label for _, label in pairs], dtype="int64")
    rng = np.random.default_rng(seed)
    test = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        if len(members) >= 2:
            k = max(1, int(round(test_fraction * len(members))))
            test.append(rng.choice(members, size=k, replace=False))
    test = np.sort(np.concatenate(test)) if test else np.zeros(0, "int64")
    if len(test) == 0:
        raise ValueError(
            f"`source` {os.fspath(source)!r} has no class with two or more images: nothing to "
            "test on."
        )
    train = np.setdiff1d(np.arange(len(y)), test)
    names = dataset.class_names or [str(c) for c in range(int(y.max()) + 1)]
    return ((x[train], y[train]), (x[test], y[test])), list(names)
