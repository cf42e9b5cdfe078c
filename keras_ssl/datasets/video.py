"""Synthetic video: items moving and bouncing in a frame, as Moving MNIST.

Moving MNIST (Srivastava et al. 2015, "Unsupervised Learning of Video
Representations using LSTMs") puts 28x28 MNIST digits in a 64x64 frame,
each at a random position with a random direction of constant speed,
bouncing off the edges; overlapping items are combined by their maximum.
`moving_objects` makes such clips from any of the image sets of
`keras_ssl.datasets.load` (Fashion-MNIST, MNIST, scikit-learn's 8x8
digits, upscaled), with labels: the class of the item and its initial
direction of motion, one of 8 (the compass directions). The clips are
generated from a seed, so they need no download and are the same on every
machine; each clip depends only on the seed and its index, so the first k
clips of a larger set are the k clips of a smaller one.

The named video sets (`available_videos()`: `moving_fashion_mnist`,
`moving_mnist`, `moving_digits`) are these clips made from one image set
each; `load_videos(name)` gives a training split (items of the image set's
training split) and a held-out test split (items of its test split, other
seeds).
"""

import numbers

import numpy as np

from keras_ssl.utils import check_choice

#: the image sets items are taken from (keras_ssl.datasets.load names)
SOURCES = ("fashion_mnist", "mnist", "digits")
#: the named video sets and their item source
VIDEO_SETS = {f"moving_{source}": source for source in SOURCES}
#: direction k is an angle of k x 45 degrees, counter-clockwise from "right"
DIRECTIONS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")
#: the side of the items at a 64-pixel frame (Moving MNIST's proportions)
ITEM_SIZE_AT_64 = 28
_ITEMS = {}


def available_videos():
    """Names accepted by `load_videos` (and by `keras-ssl pretrain --dataset`
    for the video methods)."""
    return sorted(VIDEO_SETS)


def video_info(name):
    """Item source, class names of the two labels, split seeds of a named set."""
    check_choice("dataset", name, available_videos())
    from keras_ssl.datasets.image_datasets import info

    source = VIDEO_SETS[name]
    return {"source": source, "item_class_names": list(info(source)["class_names"]),
            "direction_names": list(DIRECTIONS), "label_names": ("item", "direction")}


def _positive_int(name, value, minimum=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _items(source, split, item_size, data_dir):
    """The source split's images at `item_size` (uint8 (N, s, s)) and labels."""
    key = (source, split, item_size, data_dir)
    if key not in _ITEMS:
        from keras_ssl.datasets.image_datasets import load

        (x_train, y_train), (x_test, y_test) = load(source, data_dir=data_dir)
        x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
        x = x[..., 0] if x.shape[-1] == 1 else x.mean(axis=-1)
        if x.shape[1:] != (item_size, item_size):
            x = _resize(x, item_size)
        _ITEMS[key] = (np.ascontiguousarray(x, dtype="uint8"), np.asarray(y, "int64"))
    return _ITEMS[key]


def _resize(images, size):
    """Area-averaging (down) or bilinear (up) resize of (N, h, w) uint8 images."""
    import tensorflow as tf

    resized = tf.image.resize(images[..., None].astype("float32"), (size, size),
                              method="area" if size < images.shape[1] else "bilinear")
    return np.clip(np.round(resized.numpy()[..., 0]), 0, 255).astype("uint8")


def _trajectory(rng, frames, room, speed):
    """Top-left corners (frames, 2) of an item bouncing in [0, room]^2 and its
    direction label: a random start, one of 8 directions, constant speed."""
    direction = int(rng.integers(len(DIRECTIONS)))
    angle = direction * np.pi / 4
    velocity = speed * np.array([-np.sin(angle), np.cos(angle)])  # (row, column); rows go down
    position = rng.uniform(0, room, size=2)
    corners = np.empty((frames, 2), "int64")
    for t in range(frames):
        corners[t] = np.round(position).astype("int64")
        position = position + velocity
        for axis in range(2):  # bounce off the edges
            if position[axis] < 0:
                position[axis], velocity[axis] = -position[axis], -velocity[axis]
            elif position[axis] > room:
                position[axis], velocity[axis] = 2 * room - position[axis], -velocity[axis]
    return corners, direction


def moving_objects(num_videos, frames=16, size=64, source="fashion_mnist", num_objects=1,
                   seed=0, item_size=None, speed=None, split="train", data_dir=None):
    """Clips of items moving in straight lines and bouncing off the edges.

    Every clip has `num_objects` items of the `source` image set (the
    `split` of `keras_ssl.datasets.load(source)`), each at a random
    position, moving at `speed` pixels a frame in one of 8 directions
    (`DIRECTIONS`: multiples of 45 degrees) and bouncing off the walls,
    as in Moving MNIST (overlaps keep the brighter pixel). Deterministic
    for a seed; clip i depends only on (seed, i).

    Args:
        num_videos: number of clips.
        frames: frames a clip.
        size: side of the square frames, in pixels.
        source: "fashion_mnist" (28x28 Fashion-MNIST items), "mnist", or
            "digits" (scikit-learn's 8x8 digits, upscaled).
        num_objects: items a clip.
        seed: integer seed.
        item_size: side of the items; default `round(28 * size / 64)`,
            Moving MNIST's 28 in 64 (28 at 64 px, 14 at 32 px); the items
            are resized to it (area averaging down, bilinear up).
        speed: pixels a frame; default `size / 16` (4 at 64 px).
        split: "train" or "test": which split of `source` the items come
            from (a held-out test set uses "test" and another seed).
        data_dir: passed to `keras_ssl.datasets.load`.

    Returns:
        `(videos, labels)`: uint8 videos (num_videos, frames, size, size, 1)
        and a dict of int64 arrays: `"item"` (num_videos,), the class of the
        (first) item; `"direction"` (num_videos,), its initial direction
        (index into `DIRECTIONS`); with several items also `"items"` and
        `"directions"`, (num_videos, num_objects), for all of them.

    Example:

    >>> videos, labels = moving_objects(4, frames=6, size=16, source="digits", seed=0)
    >>> videos.shape, videos.dtype, sorted(labels)
    ((4, 6, 16, 16, 1), dtype('uint8'), ['direction', 'item'])
    """
    num_videos = _positive_int("num_videos", num_videos)
    frames = _positive_int("frames", frames, minimum=2)
    size = _positive_int("size", size, minimum=4)
    num_objects = _positive_int("num_objects", num_objects)
    check_choice("source", source, SOURCES)
    check_choice("split", split, ("train", "test"))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    if item_size is None:
        item_size = max(2, int(round(ITEM_SIZE_AT_64 * size / 64)))
    item_size = _positive_int("item_size", item_size, minimum=2)
    if item_size >= size:
        raise ValueError(
            f"`item_size` ({item_size}) must be smaller than the frame `size` ({size}), so "
            "that items have room to move."
        )
    speed = size / 16.0 if speed is None else speed
    if not isinstance(speed, numbers.Real) or isinstance(speed, bool) or not speed > 0:
        raise ValueError(f"`speed` must be a positive number of pixels a frame, got {speed!r}.")
    items, item_labels = _items(source, split, item_size, data_dir)
    room = size - item_size
    videos = np.zeros((num_videos, frames, size, size), "uint8")
    classes = np.empty((num_videos, num_objects), "int64")
    directions = np.empty((num_videos, num_objects), "int64")
    seeds = np.random.SeedSequence(int(seed)).spawn(num_videos)
    for i in range(num_videos):
        rng = np.random.default_rng(seeds[i])
        for k in range(num_objects):
            index = int(rng.integers(len(items)))
            corners, directions[i, k] = _trajectory(rng, frames, room, float(speed))
            classes[i, k] = item_labels[index]
            item = items[index]
            for t, (row, col) in enumerate(corners):
                window = videos[i, t, row:row + item_size, col:col + item_size]
                np.maximum(window, item, out=window)
    labels = {"item": classes[:, 0].copy(), "direction": directions[:, 0].copy()}
    if num_objects > 1:
        labels.update(items=classes, directions=directions)
    return videos[..., None], labels


def load_videos(name, num_train=4000, num_test=1000, frames=16, size=64, num_objects=1,
                seed=0, data_dir=None):
    """A named video set: a training split and a held-out test split.

    The training clips carry items of the image set's training split, the
    test clips items of its test split, drawn with another seed (`seed +
    1`), so no item image and no trajectory is shared.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, videos uint8 (N, frames,
        size, size, 1) and label dicts as `moving_objects` gives them.

    Example:

    >>> (x, y), (x_test, y_test) = load_videos("moving_digits", num_train=8, num_test=4,
    ...                                        frames=4, size=16)
    >>> x.shape, x_test.shape, y["direction"].shape
    ((8, 4, 16, 16, 1), (4, 4, 16, 16, 1), (8,))
    """
    check_choice("dataset", name, available_videos())
    source = VIDEO_SETS[name]
    common = dict(frames=frames, size=size, source=source, num_objects=num_objects,
                  data_dir=data_dir)
    train = moving_objects(num_train, seed=seed, split="train", **common)
    test = moving_objects(num_test, seed=seed + 1, split="test", **common)
    return train, test
