import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import RandomRotation90
from tests.testing import run_layer_test
from tests.testing import structured_images


def undo(rotated, labels):
    return np.stack(
        [np.rot90(img, k=-int(k), axes=(0, 1)) for img, k in zip(rotated, labels)]
    )


def test_all_mode_labels_undo_rotation():
    images = structured_images(3, 8, 2).astype("float32")
    rotated, labels = RandomRotation90(mode="all")(images)
    rotated, labels = rotated.numpy(), labels.numpy()
    assert rotated.shape == (12, 8, 8, 2) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(undo(rotated, labels), np.tile(images, (4, 1, 1, 1)))
    # Label 1 is a quarter turn counter-clockwise: the top-right pixel
    # moves to the top-left.
    np.testing.assert_array_equal(rotated[3, 0, 0], images[0, 0, -1])


def test_random_mode_labels_undo_rotation():
    images = structured_images(32, 8, 1).astype("float32")
    layer = RandomRotation90(mode="random", seed=0)
    rotated, labels = layer(images)
    rotated, labels = rotated.numpy(), labels.numpy()
    assert rotated.shape == images.shape
    assert set(labels.tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(undo(rotated, labels), images)
    # Seeded: a fresh layer with the same seed draws the same rotations.
    _, again = RandomRotation90(mode="random", seed=0)(images)
    np.testing.assert_array_equal(again.numpy(), labels)


def test_layer_contract():
    images = structured_images(4, 8, 1)
    run_layer_test(RandomRotation90(mode="random", seed=2), images)
    run_layer_test(RandomRotation90(mode="all"), images)
    inputs = keras.Input((8, 8, 1))
    rotated, labels = RandomRotation90(mode="all")(inputs)
    assert tuple(rotated.shape) == (None, 8, 8, 1) and tuple(labels.shape) == (None,)
    ds = tf.data.Dataset.from_tensors(images).map(RandomRotation90(mode="all"))
    rotated, labels = next(iter(ds))
    assert tuple(rotated.shape) == (16, 8, 8, 1) and tuple(labels.shape) == (16,)


def test_errors():
    with pytest.raises(ValueError, match=r"square.*\(2, 8, 6, 1\)"):
        RandomRotation90()(np.zeros((2, 8, 6, 1), "float32"))
    with pytest.raises(ValueError, match="rank 4"):
        RandomRotation90()(np.zeros((8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="mode"):
        RandomRotation90(mode="one")
