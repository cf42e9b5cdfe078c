"""TensorBoard Embedding Projector files for a learned embedding space."""

import math
import os
import re

import numpy as np
import tensorflow as tf

# TensorBoard's projector refuses sprites larger than this, in either side.
MAX_SPRITE_SIZE = 8192

_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_embeddings(embeddings):
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(
            f"`embeddings` must be a 2-d (N, D) array, got shape {embeddings.shape}."
        )
    if embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        raise ValueError(
            f"`embeddings` is empty (shape {embeddings.shape}): expected at "
            "least one point of at least one dimension."
        )
    if not np.issubdtype(embeddings.dtype, np.number) or np.issubdtype(
        embeddings.dtype, np.complexfloating
    ):
        raise ValueError(
            f"`embeddings` must be a real numeric array, got dtype {embeddings.dtype}."
        )
    embeddings = embeddings.astype("float32")
    if not np.all(np.isfinite(embeddings)):
        raise ValueError("`embeddings` contains NaN or infinite values.")
    return embeddings


def _check_labels(labels, n, class_names):
    if labels is None:
        if class_names is not None:
            raise ValueError("`class_names` was given without `labels`.")
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "`labels` must be a 1-d array of integer class ids, got dtype "
            f"{labels.dtype} and shape {labels.shape}."
        )
    if len(labels) != n:
        raise ValueError(
            f"`labels` has {len(labels)} entries but `embeddings` has {n} points."
        )
    if class_names is not None:
        if isinstance(class_names, str):
            raise TypeError("`class_names` must be a list of strings, not a string.")
        num_classes = len(class_names)
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"`labels` must lie in [0, {num_classes}) to index `class_names` "
                f"({num_classes} names), got values in "
                f"[{labels.min()}, {labels.max()}]."
            )
    return labels


def _check_images(images, n):
    if images is None:
        return None
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "`images` must have shape (N, H, W), (N, H, W, 1), (N, H, W, 3) or "
            f"(N, H, W, 4), got shape {images.shape}."
        )
    if len(images) != n:
        raise ValueError(
            f"`images` has {len(images)} entries but `embeddings` has {n} points."
        )
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"`images` are empty, got shape {images.shape}.")
    return images


def _select(n, labels, max_points):
    """Indices of at most `max_points` points, in their original order.

    Without labels, a seeded uniform pick; with labels, a seeded stratified
    pick: each class keeps its share of the points (up to rounding).
    """
    if n <= max_points:
        return np.arange(n)
    order = np.random.default_rng(0).permutation(n)
    if labels is None:
        return np.sort(order[:max_points])
    _, inverse = np.unique(labels[order], return_inverse=True)
    # Rank of each shuffled point within its class, scaled to (0, 1): sorting
    # on it interleaves the classes in proportion to their sizes.
    rank = np.empty(n)
    for c in range(inverse.max() + 1):
        members = np.flatnonzero(inverse == c)
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(order[np.argsort(rank, kind="stable")[:max_points]])


def _replace_file(path, data, mode="wb"):
    tmp = f"{path}.tmp"
    with open(tmp, mode) as f:
        f.write(data)
    os.replace(tmp, path)


def _metadata_text(labels, class_names):
    def clean(value):
        return " ".join(str(value).split()) or "-"

    if class_names is None:
        # A single column: TensorBoard's format has no header row.
        return "".join(f"{int(y)}\n" for y in labels)
    rows = ["label\tclass\n"]
    rows += [f"{int(y)}\t{clean(class_names[int(y)])}\n" for y in labels]
    return "".join(rows)


def _sprite(images):
    """Square grid of thumbnails, as (PNG bytes, thumbnail height, width)."""
    n, height, width, channels = images.shape
    grid = math.ceil(math.sqrt(n))
    if grid > MAX_SPRITE_SIZE:
        raise ValueError(
            f"Too many images ({n}) for a {MAX_SPRITE_SIZE}px sprite; lower "
            "`max_points`."
        )
    scale = min(1.0, MAX_SPRITE_SIZE / (grid * height), MAX_SPRITE_SIZE / (grid * width))
    thumb_h = max(1, int(height * scale))
    thumb_w = max(1, int(width * scale))

    if channels == 1:
        images = np.repeat(images, 3, axis=-1)
        channels = 3
    sprite = np.zeros((grid * thumb_h, grid * thumb_w, channels), dtype="uint8")
    chunk = 256
    for start in range(0, n, chunk):
        batch = np.nan_to_num(images[start : start + chunk].astype("float32"))
        if (thumb_h, thumb_w) != (height, width):
            batch = tf.image.resize(
                batch, (thumb_h, thumb_w), method="area", antialias=True
            ).numpy()
        batch = np.round(np.clip(batch, 0, 255)).astype("uint8")
        for i, image in enumerate(batch, start):
            row, col = divmod(i, grid)
            sprite[
                row * thumb_h : (row + 1) * thumb_h, col * thumb_w : (col + 1) * thumb_w
            ] = image
    return tf.io.encode_png(sprite).numpy(), thumb_h, thumb_w


def _event_files(log_dir):
    return {f for f in os.listdir(log_dir) if f.startswith("events.out.tfevents.")}


def _ensure_event_file(log_dir):
    """Make `log_dir` a TensorBoard run; return the event file if one was written.

    TensorBoard lists a folder below `--logdir` as a run, and so looks for
    its projector config, only when the folder holds an event file.
    """
    before = _event_files(log_dir)
    if before:
        return None
    writer = tf.summary.create_file_writer(log_dir)
    writer.flush()
    writer.close()
    new = sorted(_event_files(log_dir) - before)
    return os.path.join(log_dir, new[0]) if new else None


def write_projector(
    log_dir,
    embeddings,
    labels=None,
    images=None,
    class_names=None,
    max_points=2000,
    name="embeddings",
):
    """Write TensorBoard Embedding Projector files for an embedding space.

    After the call, `tensorboard --logdir` pointed at `log_dir` or a folder
    above it (e.g. `log_dir=RUN/logs/projector`, `--logdir RUN/logs`)
    shows the points in the Projector tab (PCA, t-SNE, UMAP), coloured and
    searchable by label, with each point's image when `images` is given. The layout follows TensorFlow's "TensorBoard embedding
    projector" guide:

    - `<name>.ckpt-1.*` and `checkpoint`: a `tf.train.Checkpoint` holding the
      (M, D) float32 embedding variable under `name`.
    - `metadata.tsv` (with `labels`): one row per point. With `class_names`
      two tab-separated columns under a `label\\tclass` header; otherwise
      the label ids alone, without a header (TensorBoard's format for a
      single column). Whitespace runs in class names (tabs, newlines)
      become single spaces.
    - `sprite.png` (with `images`): a square grid of thumbnails, row by row
      in point order, grayscale turned to RGB. Thumbnails keep the images'
      H x W size unless the sprite would exceed TensorBoard's 8192 x 8192
      pixel limit, in which case they are downscaled (area averaging).
    - `projector_config.pbtxt`: the `ProjectorConfig` tying these together,
      with paths relative to `log_dir`.
    - an empty `events.out.tfevents.*` file, unless `log_dir` already holds
      one: TensorBoard only treats a folder below `--logdir` as a run (and
      reads its projector config) when it holds an event file.

    The checkpoint, metadata and sprite are written before the config, and
    the metadata and sprite are written to temporary files renamed into
    place. One embedding is configured per `log_dir`: a second call
    replaces the config.

    When there are more than `max_points` points, a deterministic (seed 0)
    random subset of `max_points` is kept, in the original order; with
    `labels` the pick is stratified, so every class keeps its share of the
    points. Embeddings, labels and images are subsetted alike.

    Args:
        log_dir: folder to write into; created if missing.
        embeddings: (N, D) real array, e.g. `extract_features` output.
        labels: optional (N,) integer class ids.
        images: optional (N, H, W) or (N, H, W, C) array with C in 1, 3, 4,
            uint8 or float with values in [0, 255] (values outside are
            clipped).
        class_names: optional list of str indexed by label id; adds a
            `class` column to the metadata. Needs `labels`.
        max_points: the most points written.
        name: name of the embedding variable in the checkpoint and the
            projector; letters, digits and underscores, starting with a
            letter.

    Returns:
        A dict of the written paths: `"config"` (the pbtxt), `"checkpoint"`
        (the checkpoint prefix), and `"metadata"`, `"sprite"` and
        `"events"` when written.

    Example:

    >>> import os, tempfile, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> paths = write_projector(
    ...     tempfile.mkdtemp(),
    ...     rng.normal(size=(10, 4)),
    ...     labels=np.arange(10) % 2,
    ...     images=rng.integers(0, 256, (10, 8, 8), dtype="uint8"),
    ...     class_names=["cat", "dog"],
    ... )
    >>> sorted(paths)
    ['checkpoint', 'config', 'events', 'metadata', 'sprite']
    >>> [os.path.basename(paths[key]) for key in ("checkpoint", "metadata", "sprite")]
    ['embeddings.ckpt-1', 'metadata.tsv', 'sprite.png']
    >>> os.path.basename(paths["config"])
    'projector_config.pbtxt'
    """
    from tensorboard.plugins import projector

    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or name == "save_counter":
        raise ValueError(
            "`name` must be letters, digits and underscores starting with a "
            f"letter (and not 'save_counter'), got {name!r}."
        )
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) \
            or max_points < 1:
        raise ValueError(f"`max_points` must be a positive integer, got {max_points!r}.")
    embeddings = _check_embeddings(embeddings)
    n = embeddings.shape[0]
    labels = _check_labels(labels, n, class_names)
    images = _check_images(images, n)

    keep = _select(n, labels, int(max_points))
    embeddings = embeddings[keep]
    labels = None if labels is None else labels[keep]
    images = None if images is None else images[keep]

    log_dir = os.fspath(log_dir)
    os.makedirs(log_dir, exist_ok=True)
    paths = {}

    checkpoint = tf.train.Checkpoint(**{name: tf.Variable(embeddings, name=name)})
    paths["checkpoint"] = checkpoint.save(os.path.join(log_dir, f"{name}.ckpt"))

    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"

    if labels is not None:
        paths["metadata"] = os.path.join(log_dir, "metadata.tsv")
        _replace_file(
            paths["metadata"], _metadata_text(labels, class_names), mode="w"
        )
        embedding.metadata_path = "metadata.tsv"

    if images is not None:
        png, thumb_h, thumb_w = _sprite(images)
        paths["sprite"] = os.path.join(log_dir, "sprite.png")
        _replace_file(paths["sprite"], png)
        embedding.sprite.image_path = "sprite.png"
        embedding.sprite.single_image_dim.extend([thumb_w, thumb_h])

    projector.visualize_embeddings(log_dir, config)
    paths["config"] = os.path.join(log_dir, "projector_config.pbtxt")

    events = _ensure_event_file(log_dir)
    if events is not None:
        paths["events"] = events
    return paths
