"""Your own images: a folder tree streamed from disk as a `tf.data.Dataset`."""

import csv
import os

import numpy as np
import tensorflow as tf

#: file extensions read as images (decoded by `tf.io.decode_image`)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _size_pair(image_size):
    if isinstance(image_size, (int, np.integer)):
        image_size = (int(image_size), int(image_size))
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(d, (int, np.integer)) and d >= 1 for d in image_size)):
        raise ValueError(
            f"`image_size` must be an int or a pair of ints >= 1 (height, width), got "
            f"{image_size!r}."
        )
    return int(image_size[0]), int(image_size[1])


def image_conformer(image_size, channels, crop="center"):
    """A tf function bringing one decoded image (any size, 1 to 4 channels,
    any integer dtype of 0-255 values) to uint8 `image_size + (channels,)`:
    the shared last step of every image file reader.

    `crop="center"` keeps the aspect ratio (centre crop to the target
    aspect, then resize), "resize" stretches the whole image.
    """
    import keras

    if crop not in ("center", "resize"):
        raise ValueError(f"`crop` must be 'center' or 'resize', got {crop!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels!r}.")
    height, width = _size_pair(image_size)
    resize = keras.layers.Resizing(height, width, crop_to_aspect_ratio=(crop == "center"),
                                   dtype="float32")

    def to_channels(image):
        # Decoded with the file's own channels (GIF decodes to RGB only,
        # PNG may carry alpha), then brought to `channels`.
        image = tf.cast(image, "float32")
        found = tf.shape(image)[-1]
        if channels == 1:
            weights = tf.constant([0.2989, 0.5870, 0.1140])
            return tf.cond(found < 3, lambda: image[..., :1],
                           lambda: tf.reduce_sum(image[..., :3] * weights, -1, keepdims=True))
        return tf.cond(found < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1),
                       lambda: image[..., :3])

    def resized(image):
        image = resize(tf.ensure_shape(to_channels(image), (None, None, channels)))
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        return tf.ensure_shape(image, (height, width, channels))

    def conform(image):
        if image.dtype != tf.uint8:
            return resized(image)
        # An image already of the target size and channels (a folder
        # written at the training size) is passed through: the resize to
        # the same size would give it back unchanged, at a cost.
        shape = tf.shape(image)
        ready = (shape[0] == height) & (shape[1] == width) & (shape[2] == channels)
        return tf.cond(ready, lambda: tf.reshape(image, (height, width, channels)),
                       lambda: resized(image))

    return conform


def image_decoder(image_size, channels, crop="center"):
    """A tf function from an image file's bytes (JPEG, PNG, BMP, or a GIF's
    first frame) to uint8 `image_size + (channels,)` (`image_conformer`):
    what every image file reader maps over its files.

    A JPEG at least twice the target size on both sides is decoded at 1/2,
    1/4 or 1/8 of its size (libjpeg's DCT scaling, `tf.io.decode_jpeg`'s
    `ratio`), the largest reduction that still leaves it at least the
    target size, before it is resized: a 4,000-px photo for a 96-px model
    costs a fraction of a full decode. `tf.io.decode_image`, which reads
    every format, decodes JPEGs at full size only.
    """
    height, width = _size_pair(image_size)
    conform = image_conformer((height, width), channels, crop)
    ratios = (1, 2, 4, 8)

    def decode_jpeg(contents):
        shape = tf.image.extract_jpeg_shape(contents)
        scale = tf.minimum(shape[0] // height, shape[1] // width)
        index = tf.reduce_sum(tf.cast(scale >= tf.constant(ratios[1:]), "int32"))
        return tf.switch_case(index, [
            lambda r=r: tf.io.decode_jpeg(contents, ratio=r) for r in ratios])

    def decode(contents):
        image = tf.cond(
            tf.io.is_jpeg(contents), lambda: decode_jpeg(contents),
            lambda: tf.io.decode_image(contents, expand_animations=False))
        return conform(tf.ensure_shape(image, (None, None, None)))

    return decode


def list_images(path):
    """Sorted paths of the image files under folder `path` (recursive).

    Raises a clear error for a missing path, an empty folder, or a folder
    without image files (naming the extensions it does hold).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"`path` {path!r} does not exist.")
    if not os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is not a folder of images.")
    files, others = [], {}
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            extension = os.path.splitext(name)[1].lower()
            if extension in IMAGE_EXTENSIONS:
                files.append(os.path.join(root, name))
            else:
                others[extension or "(none)"] = others.get(extension or "(none)", 0) + 1
    if not files:
        if not others:
            raise ValueError(f"`path` {path!r} is an empty folder: expected image files.")
        found = ", ".join(f"{ext} ({n})" for ext, n in sorted(others.items()))
        raise ValueError(
            f"`path` {path!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)}); it holds: "
            f"{found}."
        )
    return files


def _readable(files):
    """Split `files` into readable images and unreadable ones (PIL header
    check: a truncated or foreign file is caught before training)."""
    from PIL import Image

    good, bad = [], []
    for f in files:
        try:
            with Image.open(f) as image:
                image.verify()
            good.append(f)
        except Exception:  # noqa: BLE001 - any failure means "not an image we can read"
            bad.append(f)
    return good, bad


def _labels_from_folders(path, files):
    root = os.fspath(path)
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise ValueError(
            f"`labels='inferred'` needs one sub-folder per class under {root!r}, but it has "
            "no sub-folders."
        )
    index = {name: i for i, name in enumerate(classes)}
    kept, labels = [], []
    for f in files:
        top = os.path.relpath(f, root).split(os.sep)[0]
        if top in index:  # images directly under the root have no class
            kept.append(f)
            labels.append(index[top])
    return kept, labels, classes


def _labels_from_csv(path, files, csv_path):
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    if rows and rows[0][:2] == ["filename", "label"]:
        rows = rows[1:]
    if not rows or any(len(row) < 2 for row in rows):
        raise ValueError(
            f"`labels` CSV {csv_path!r} must hold rows `filename,label` (a header row "
            "`filename,label` is optional)."
        )
    by_name = {os.path.normpath(row[0]): row[1] for row in rows}
    classes = sorted(set(by_name.values()))
    index = {name: i for i, name in enumerate(classes)}
    kept, labels = [], []
    for f in files:
        name = os.path.normpath(os.path.relpath(f, path))
        if name in by_name:
            kept.append(f)
            labels.append(index[by_name[name]])
    if not kept:
        raise ValueError(
            f"None of the images under {os.fspath(path)!r} is named in `labels` CSV "
            f"{csv_path!r} (names are paths relative to the folder, e.g. {rows[0][0]!r})."
        )
    return kept, labels, classes


def from_directory(path, image_size=None, labels=None, channels=None, crop="center",
                   shuffle=True, seed=None, check_files=True, verbose=True):
    """Images under folder `path` (any depth) as a streaming `tf.data.Dataset`.

    Files are read and decoded in parallel as the dataset is iterated
    (`tf.io.decode_image`, JPEG/PNG/BMP/GIF): nothing is loaded into memory
    up front, so the folder may be larger than memory. Elements are
    unbatched uint8 images of shape (height, width, channels), or
    `(image, label)` pairs with `labels`; batch them for `fit`
    (`ds.batch(256)`). The dataset carries `file_paths`, `class_names`
    (with labels) and `skipped` (unreadable files) as attributes.

    Args:
        path: the folder.
        image_size: (height, width) or one int for squares; every image is
            brought to it. Default: the size of the first image.
        labels: None (unlabelled), "inferred" (the first-level sub-folder
            names the class), or the path of a CSV of `filename,label` rows
            with file names relative to `path`.
        channels: 1 (grayscale) or 3 (RGB); default: those of the first
            image (grayscale images are 1, others 3).
        crop: "center" keeps the aspect ratio (centre crop to the target
            aspect, then resize), "resize" stretches the whole image.
        shuffle: shuffle the file order (again each epoch).
        check_files: open every file's header first (PIL) and skip the
            unreadable ones, reporting their count and first names, so
            that a bad file fails nothing mid-training.
        verbose: print the report of skipped files.
    """
    if crop not in ("center", "resize"):
        raise ValueError(f"`crop` must be 'center' or 'resize', got {crop!r}.")
    if channels not in (None, 1, 3):
        raise ValueError(f"`channels` must be 1, 3 or None (the first image's), got {channels!r}.")
    if labels not in (None, "inferred") and not (isinstance(labels, (str, os.PathLike))
                                                 and os.path.isfile(labels)):
        raise ValueError(
            f"`labels` must be None, 'inferred' or the path of a CSV file, got {labels!r}."
        )
    files = list_images(path)
    skipped = []
    if check_files:
        files, skipped = _readable(files)
        if skipped and verbose:
            names = ", ".join(os.path.relpath(f, path) for f in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            print(f"Skipped {len(skipped)} unreadable image file(s) under {os.fspath(path)!r}: "
                  f"{names}{more}.")
        if not files:
            raise ValueError(f"None of the {len(skipped)} image files under {path!r} is readable.")
    class_names = None
    label_values = None
    if labels == "inferred":
        files, label_values, class_names = _labels_from_folders(path, files)
    elif labels is not None:
        files, label_values, class_names = _labels_from_csv(path, files, os.fspath(labels))
    if image_size is None or channels is None:
        from PIL import Image

        with Image.open(files[0]) as first:
            if image_size is None:
                image_size = (first.height, first.width)
            if channels is None:
                channels = 1 if first.mode in ("1", "L", "I", "I;16", "F") else 3
    height, width = _size_pair(image_size)
    decode = image_decoder((height, width), channels, crop)

    def load(file):
        return decode(tf.io.read_file(file))

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if label_values is not None:
        dataset = tf.data.Dataset.zip((dataset, tf.data.Dataset.from_tensor_slices(
            np.asarray(label_values, dtype="int64"))))
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if label_values is None:
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(lambda f, y: (load(f), y), num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the header check but fails to decode (truncated
    # data) is dropped with a logged warning rather than ending the run.
    dataset = dataset.ignore_errors(log_warning=True).prefetch(tf.data.AUTOTUNE)
    dataset.file_paths = files
    dataset.class_names = class_names
    dataset.skipped = skipped
    dataset.image_shape = (height, width, channels)
    return dataset
