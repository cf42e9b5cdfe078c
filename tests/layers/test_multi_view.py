import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import MultiView
from keras_ssl.layers import RandomResizedCrop
from keras_ssl.layers import SimCLRAugmenter
from tests.testing import run_layer_test
from tests.testing import run_serialization_test
from tests.testing import structured_images


def augmenter(seed=0):
    return SimCLRAugmenter(16, channels=1, seed=seed)


def test_independent_views():
    images = structured_images(8, 16, 1)
    views = MultiView(augmenter(), num_views=3)(images)
    assert isinstance(views, tuple) and len(views) == 3
    assert all(tuple(v.shape) == (8, 16, 16, 1) for v in views)
    for i in range(3):
        for j in range(i + 1, 3):
            # Every sample differs between views, not just some.
            diff = np.abs(views[i].numpy() - views[j].numpy()).max(axis=(1, 2, 3))
            assert (diff > 0).all()


def test_views_differ_in_graphs():
    images = structured_images(4, 16, 1)
    layer = MultiView(augmenter(), num_views=2)
    ds = tf.data.Dataset.from_tensors(images).map(lambda x: layer(x))
    a, b = next(iter(ds))
    assert np.abs(a.numpy() - b.numpy()).max() > 0
    a, b = tf.function(lambda x: layer(x, training=True))(images)
    assert np.abs(a.numpy() - b.numpy()).max() > 0


def test_inference_views_are_the_input():
    images = structured_images(4, 16, 1)
    a, b = MultiView(augmenter(), num_views=2)(images, training=False)
    np.testing.assert_array_equal(a.numpy(), images)
    np.testing.assert_array_equal(b.numpy(), images)


def test_seeded():
    images = structured_images(4, 16, 1)
    a = MultiView(augmenter(seed=3))(images)
    b = MultiView(augmenter(seed=3))(images)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_symbolic_and_serialization():
    layer = MultiView(RandomResizedCrop(8, 8, seed=0), num_views=2)
    run_layer_test(layer, structured_images(4, 16, 1))
    inputs = keras.Input((16, 16, 1))
    outputs = layer(inputs)
    assert [tuple(o.shape) for o in outputs] == [(None, 8, 8, 1)] * 2
    original = MultiView(augmenter(seed=9), num_views=4)
    revived = run_serialization_test(original)
    assert revived.num_views == 4
    assert isinstance(revived.augmenter, SimCLRAugmenter)
    assert revived.augmenter.get_config() == original.augmenter.get_config()


def test_errors():
    with pytest.raises(ValueError, match="num_views"):
        MultiView(augmenter(), num_views=0)
    with pytest.raises(ValueError, match="num_views"):
        MultiView(augmenter(), num_views=2.5)
    with pytest.raises(TypeError, match="augmenter"):
        MultiView(lambda x: x)
