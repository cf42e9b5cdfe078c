"""`datasets.moving_objects` and the named video sets: clips, labels, errors."""

import numpy as np
import pytest

import keras_ssl
from keras_ssl.datasets import video


def test_shapes_dtype_and_labels():
    videos, labels = keras_ssl.datasets.moving_objects(12, frames=6, size=32, seed=0)
    assert videos.shape == (12, 6, 32, 32, 1) and videos.dtype == np.uint8
    assert sorted(labels) == ["direction", "item"]
    assert labels["item"].shape == labels["direction"].shape == (12,)
    assert labels["item"].dtype == labels["direction"].dtype == np.int64
    assert set(labels["item"]) <= set(range(10)) and set(labels["direction"]) <= set(range(8))
    assert videos.max() > 100  # items are drawn


def test_seeded_deterministic_and_prefix_stable():
    a, la = keras_ssl.datasets.moving_objects(10, frames=5, size=16, source="digits", seed=3)
    b, lb = keras_ssl.datasets.moving_objects(10, frames=5, size=16, source="digits", seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la["item"], lb["item"])
    # Clip i depends only on (seed, i): a smaller set is a prefix of a larger one.
    c, lc = keras_ssl.datasets.moving_objects(4, frames=5, size=16, source="digits", seed=3)
    np.testing.assert_array_equal(c, a[:4])
    np.testing.assert_array_equal(lc["direction"], la["direction"][:4])
    d, _ = keras_ssl.datasets.moving_objects(10, frames=5, size=16, source="digits", seed=4)
    assert not np.array_equal(a, d)


def test_items_move_in_their_direction_and_stay_inside():
    videos, labels = keras_ssl.datasets.moving_objects(
        60, frames=10, size=64, source="fashion_mnist", item_size=12, speed=2.0, seed=1)
    clips = videos[..., 0].astype("float64")
    # One item, never clipped: every frame holds all of its pixels (bounces
    # happen inside the frame).
    mass = clips.sum(axis=(2, 3))
    np.testing.assert_allclose(mass, mass[:, :1] * np.ones((1, 10)))
    rows, cols = np.mgrid[0:64, 0:64]
    center = np.stack([(clips * rows).sum(axis=(2, 3)), (clips * cols).sum(axis=(2, 3))],
                      axis=-1) / mass[..., None]
    step = center[:, 1] - center[:, 0]  # first move, (row, column)
    angle = labels["direction"] * np.pi / 4
    expected = np.stack([-np.sin(angle), np.cos(angle)], axis=-1) * 2.0
    # Rounded positions move by the expected step, to a pixel; a bounce in
    # the very first frame (an item starting at a wall) may flip a sign.
    agree = (np.abs(step - expected) <= 1.01).all(axis=1)
    assert agree.mean() >= 0.9, agree.mean()
    assert len(set(labels["direction"])) == 8


def test_default_item_size_keeps_moving_mnists_proportions():
    videos, _ = keras_ssl.datasets.moving_objects(20, frames=2, size=32, seed=0)
    extent = [(np.any(frame > 0, axis=1).sum(), np.any(frame > 0, axis=0).sum())
              for frame in videos[:, 0, :, :, 0]]
    assert max(max(e) for e in extent) == 14  # 28 * 32 / 64
    digits, _ = keras_ssl.datasets.moving_objects(20, frames=2, size=32, source="digits")
    assert digits[:, 0].astype(bool).sum(axis=(1, 2, 3)).max() > 64  # 8x8 digits upscaled


def test_several_objects():
    videos, labels = keras_ssl.datasets.moving_objects(5, frames=4, size=32, num_objects=3,
                                                       source="fashion_mnist", seed=0)
    assert labels["items"].shape == labels["directions"].shape == (5, 3)
    np.testing.assert_array_equal(labels["item"], labels["items"][:, 0])
    np.testing.assert_array_equal(labels["direction"], labels["directions"][:, 0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(source="cifar"), "Unknown source 'cifar'"),
    (dict(num_videos=0), "`num_videos` must be an integer >= 1"),
    (dict(frames=1), "`frames` must be an integer >= 2"),
    (dict(frames=2.5), "`frames` must be an integer"),
    (dict(size=16, item_size=16), r"`item_size` \(16\) must be smaller than the frame `size`"),
    (dict(speed=0), "`speed` must be a positive number"),
    (dict(split="val"), "Unknown split 'val'"),
    (dict(seed=-1), "`seed` must be a non-negative integer"),
])
def test_bad_arguments(kwargs, message):
    args = dict(num_videos=2, frames=4, size=16, source="digits")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        keras_ssl.datasets.moving_objects(**args)


def test_named_sets_and_held_out_split():
    assert keras_ssl.datasets.available_videos() == [
        "moving_digits", "moving_fashion_mnist", "moving_mnist"]
    info = keras_ssl.datasets.video_info("moving_fashion_mnist")
    assert info["source"] == "fashion_mnist" and info["item_class_names"][0] == "T-shirt/top"
    assert info["direction_names"] == list(video.DIRECTIONS)
    (x, y), (x_test, y_test) = keras_ssl.datasets.load_videos(
        "moving_digits", num_train=6, num_test=3, frames=4, size=16, seed=0)
    assert x.shape == (6, 4, 16, 16, 1) and x_test.shape == (3, 4, 16, 16, 1)
    train, _ = keras_ssl.datasets.moving_objects(6, frames=4, size=16, source="digits", seed=0)
    np.testing.assert_array_equal(x, train)
    test, _ = keras_ssl.datasets.moving_objects(3, frames=4, size=16, source="digits", seed=1,
                                                split="test")
    np.testing.assert_array_equal(x_test, test)
    with pytest.raises(ValueError, match="Unknown dataset 'moving_cifar'"):
        keras_ssl.datasets.load_videos("moving_cifar")
