"""Images as TFRecord shards: convert once, then stream fast.

`write_tfrecords` turns a folder of image files (or numpy arrays) into
shards of `tf.train.Example` records, each holding one encoded image (PNG,
lossless, or JPEG) and, when labelled, its class index. A `manifest.json`
beside the shards records the settings, the class names and, per finished
shard, its record count and SHA-256: a conversion that stops part way
(a crash, a full disk, Ctrl-C) keeps its finished shards, and running the
same command again verifies them and writes only the rest.

`from_tfrecords` streams shards back as a `tf.data.Dataset`: files are read
in parallel (interleaved), decoded in parallel, and never loaded into memory
as a whole; under `tf.distribute` multi-worker training the dataset is
sharded by file.
"""

import glob
import os

import numpy as np
import tensorflow as tf

from keras_ssl import files as files_lib
from keras_ssl.datasets.folders import _size_pair, from_directory, image_decoder

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
IMAGE_FORMATS = ("png", "jpeg")


def _shard_name(prefix, index):
    return f"{prefix}-{index:05d}.tfrecord"


def _array_source(source):
    """(images, labels or None) from a numpy array or an (x, y) pair."""
    x, y = (source if isinstance(source, tuple) else (source, None))
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.dtype != np.uint8:
        raise ValueError(
            "`source` arrays must be uint8 images of shape (N, height, width) or "
            f"(N, height, width, 1 or 3), got dtype {x.dtype} and shape {x.shape}."
        )
    if len(x) == 0:
        raise ValueError("`source` holds no images.")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"`source` labels must be {len(x)} integers (one per image), got dtype "
                f"{y.dtype} and shape {np.shape(y)}."
            )
    return x, y


def write_tfrecords(source, out_dir, shard_size=5000, image_size=None, channels=None,
                    crop="center", labels=None, image_format="png", prefix="images",
                    overwrite=False, verbose=True):
    """Convert images to TFRecord shards in `out_dir`, resumably.

    Args:
        source: a folder of image files (read with `from_directory`, in a
            fixed order; unreadable files are skipped and reported), a uint8
            numpy array of images, or an `(images, labels)` pair.
        out_dir: folder for the shards and `manifest.json`.
        shard_size: records per shard (the last one may hold fewer).
        image_size, channels, crop: as in `from_directory` (a folder
            source); arrays are written at their own size.
        labels: a folder source's labels, as in `from_directory` (None,
            "inferred" or a CSV path).
        image_format: "png" (lossless, the default) or "jpeg" (quality 95,
            smaller and faster to decode for photographs).
        prefix: shard file names are `PREFIX-00000.tfrecord`, ...
        overwrite: start afresh when `out_dir` holds the shards of another
            conversion (other source or settings). Without it that is an
            error, and the same conversion resumes.
        verbose: progress bar and a summary line.

    Returns:
        The manifest (a dict): settings, `count`, `class_names`, and
        `shards`, a list of `{"file", "count", "sha256"}`.
    """
    import keras

    if not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(f"`shard_size` must be an int >= 1, got {shard_size!r}.")
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"`image_format` must be one of {IMAGE_FORMATS}, got {image_format!r}.")
    if isinstance(source, (str, os.PathLike)):
        dataset = from_directory(source, image_size=image_size, labels=labels,
                                 channels=channels, crop=crop, shuffle=False, verbose=verbose)
        total = len(dataset.file_paths)
        class_names = dataset.class_names
        image_shape = dataset.image_shape
        labelled = labels is not None
        origin = os.path.abspath(os.fspath(source))
        if not labelled:
            dataset = dataset.map(lambda image: (image, tf.constant(-1, tf.int64)))
    else:
        if labels is not None or image_size is not None or channels is not None:
            raise ValueError(
                "`labels`, `image_size` and `channels` apply to a folder `source`; arrays are "
                "written as they are (pass `source=(images, labels)` for labels)."
            )
        x, y = _array_source(source)
        total, image_shape, labelled = len(x), tuple(int(d) for d in x.shape[1:]), y is not None
        class_names = [str(c) for c in range(int(y.max()) + 1)] if labelled else None
        origin = f"arrays of shape {tuple(x.shape)}"
        dataset = tf.data.Dataset.from_tensor_slices(
            (x, y.astype("int64") if labelled else np.full(len(x), -1, "int64")))

    settings = {
        "format_version": FORMAT_VERSION, "source": origin, "source_count": total,
        "image_shape": list(image_shape), "image_format": image_format, "crop": crop,
        "labelled": labelled, "class_names": class_names, "shard_size": int(shard_size),
        "prefix": prefix,
    }
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, MANIFEST)
    done = []
    if os.path.exists(manifest_path):
        old = files_lib.read_json(manifest_path)
        if {k: old.get(k) for k in settings} != settings:
            if not overwrite:
                raise FileExistsError(
                    f"`out_dir` {out_dir!r} holds the shards of another conversion (other source "
                    "or settings). Pass overwrite=True to replace them."
                )
            for shard in old.get("shards", []):
                path = os.path.join(out_dir, shard["file"])
                if os.path.exists(path):
                    os.remove(path)
        else:
            # Resume: keep the finished shards whose checksum still holds,
            # in order; everything from the first bad one is written again.
            for shard in old.get("shards", []):
                path = os.path.join(out_dir, shard["file"])
                if not os.path.exists(path) or files_lib.sha256(path) != shard["sha256"]:
                    break
                done.append(shard)
    skip = sum(shard["count"] for shard in done)

    def encode(image, label):
        data = (tf.io.encode_png(image) if image_format == "png"
                else tf.io.encode_jpeg(image, quality=95))
        return data, label

    stream = dataset.skip(skip).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    stream = stream.prefetch(tf.data.AUTOTUNE)
    manifest = dict(settings, shards=list(done), count=skip, complete=False)
    progress = keras.utils.Progbar(total, unit_name="image") if verbose else None
    if progress is not None and skip:
        progress.update(skip)
    writer, tmp_path, count = None, None, 0

    def finish_shard():
        writer.close()
        name = _shard_name(prefix, len(manifest["shards"]))
        final = os.path.join(out_dir, name)
        os.replace(tmp_path, final)
        manifest["shards"].append({"file": name, "count": count,
                                   "sha256": files_lib.sha256(final)})
        manifest["count"] += count
        files_lib.write_json(manifest_path, manifest)

    seen = skip
    for data, label in stream.as_numpy_iterator():
        if writer is None:
            tmp_path = os.path.join(out_dir, f".{_shard_name(prefix, len(manifest['shards']))}.tmp")
            writer, count = tf.io.TFRecordWriter(tmp_path), 0
        feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
        if labelled:
            feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
        writer.write(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
        count += 1
        seen += 1
        if progress is not None:
            progress.update(seen)
        if count == shard_size:
            finish_shard()
            writer = None
    if writer is not None:
        finish_shard()
    if not manifest["shards"]:
        raise ValueError(f"`source` {origin!r} gave no images to write.")
    manifest["complete"] = True
    files_lib.write_json(manifest_path, manifest)
    if verbose:
        kept = f" ({skip} already written, verified)" if skip else ""
        print(f"Wrote {manifest['count']} images in {len(manifest['shards'])} shard(s) to "
              f"{out_dir!r}{kept}; manifest: {MANIFEST}.")
    return manifest


def _shard_files(pattern):
    """The shard files named by `pattern` (a folder, a file or a glob) and
    the manifest of their folder, if it has one."""
    pattern = os.fspath(pattern)
    if os.path.isdir(pattern):
        manifest_path = os.path.join(pattern, MANIFEST)
        if os.path.exists(manifest_path):
            manifest = files_lib.read_json(manifest_path)
            found = [os.path.join(pattern, s["file"]) for s in manifest.get("shards", [])]
            return found, manifest
        found = sorted(glob.glob(os.path.join(pattern, "*.tfrecord")))
        if not found:
            raise ValueError(
                f"`pattern` {pattern!r} is a folder without {MANIFEST} or *.tfrecord files."
            )
    else:
        found = sorted(glob.glob(pattern))
        if not found:
            raise FileNotFoundError(f"`pattern` {pattern!r} matches no files.")
    manifest_path = os.path.join(os.path.dirname(found[0]), MANIFEST)
    manifest = files_lib.read_json(manifest_path) if os.path.exists(manifest_path) else None
    return found, manifest


def _first_record(path):
    """The features of the first record of `path`, with a clear error for
    a file that is not a TFRecord file of images."""
    try:
        raw = next(iter(tf.data.TFRecordDataset([path]).take(1)), None)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        raise ValueError(f"{path!r} is not a TFRecord file ({type(e).__name__}).") from None
    if raw is None:
        raise ValueError(f"TFRecord file {path!r} holds no records.")
    example = tf.train.Example()
    try:
        example.ParseFromString(raw.numpy())
    except Exception:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise ValueError(f"{path!r} does not hold tf.train.Example records.") from None
    features = example.features.feature
    if "image" not in features or not features["image"].bytes_list.value:
        raise ValueError(
            f"{path!r} holds records without an encoded `image` feature (found: "
            f"{sorted(features)}); write shards with keras_ssl.datasets.write_tfrecords."
        )
    return features


def from_tfrecords(pattern, image_size=None, channels=None, crop="center", labels=False,
                   shuffle=True, seed=None, shuffle_buffer=10000):
    """Stream images from TFRecord shards as a `tf.data.Dataset`.

    Elements are unbatched uint8 images (height, width, channels), or
    `(image, label)` pairs with `labels=True`; batch them for `fit`.

    Args:
        pattern: a folder written by `write_tfrecords` (its manifest names
            the shards), a shard file, or a glob such as
            "shards/train-*.tfrecord".
        image_size: bring every image to this (height, width) or int;
            default: the manifest's size, else the first image's.
        channels: 1 or 3; default: the manifest's, else the first image's.
        crop: "center" or "resize", as in `from_directory`, when resizing.
        labels: yield `(image, label)` pairs (the shards must hold labels).
        shuffle: shuffle the shard order each epoch and the records in a
            buffer of `shuffle_buffer`.
    The dataset carries `file_paths` (the shards), `class_names`,
    `image_shape` and `count` (None without a manifest).
    """
    if not isinstance(labels, bool):
        raise ValueError(f"`labels` must be True or False, got {labels!r}.")
    shards, manifest = _shard_files(pattern)
    features = _first_record(shards[0])
    if labels and "label" not in features:
        raise ValueError(
            f"`labels=True`, but the records of {shards[0]!r} hold no labels (write them with "
            "labels='inferred' or a CSV)."
        )
    if manifest is not None:
        stored = tuple(manifest["image_shape"])
    else:
        first = tf.io.decode_image(features["image"].bytes_list.value[0],
                                   expand_animations=False)
        stored = tuple(int(d) for d in first.shape)
    height, width = _size_pair(image_size) if image_size is not None else stored[:2]
    channels = channels or (1 if stored[-1] == 1 else 3)
    decode = image_decoder((height, width), channels, crop)
    spec = {"image": tf.io.FixedLenFeature([], tf.string)}
    if labels:
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        image = decode(parsed["image"])
        return (image, parsed["label"]) if labels else image

    dataset = tf.data.Dataset.from_tensor_slices(shards)
    if shuffle:
        dataset = dataset.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    # Shuffled: several shards read at once (their records interleaved);
    # otherwise one after the other, in the order the images were written.
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(shards), 8) if shuffle else 1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Multi-worker training gives each worker its own shard files.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE
    dataset = dataset.with_options(options)
    dataset.file_paths = shards
    dataset.class_names = manifest.get("class_names") if manifest else None
    dataset.image_shape = (height, width, channels)
    dataset.count = manifest.get("count") if manifest else None
    return dataset
