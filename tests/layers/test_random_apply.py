import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import RandomApply
from keras_ssl.layers import RandomResizedCrop
from tests.testing import run_layer_test
from tests.testing import structured_images


def zero_layer():
    return keras.layers.Rescaling(0.0)


def test_rate_is_per_sample():
    images = np.ones((400, 2, 2, 1), "float32")
    layer = RandomApply(zero_layer(), rate=0.3, seed=0)
    applied = layer(images).numpy()[:, 0, 0, 0] == 0
    assert 0.22 < applied.mean() < 0.38
    # A second call draws afresh.
    again = layer(images).numpy()[:, 0, 0, 0] == 0
    assert (applied != again).any()


def test_edge_rates_and_inference():
    images = structured_images(6, 8, 1)
    np.testing.assert_array_equal(
        RandomApply(zero_layer(), rate=0.0)(images).numpy(), images
    )
    np.testing.assert_array_equal(RandomApply(zero_layer(), rate=1.0)(images).numpy(), 0)
    layer = RandomApply(zero_layer(), rate=1.0)
    out = layer(images, training=False)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), images)


def test_seeded():
    images = np.ones((64, 2, 2, 1), "float32")
    a = RandomApply(zero_layer(), rate=0.5, seed=7)(images).numpy()
    b = RandomApply(zero_layer(), rate=0.5, seed=7)(images).numpy()
    np.testing.assert_array_equal(a, b)


def test_layer_contract_and_serialization():
    images = structured_images(8, 8, 3)
    layer = RandomApply(keras.layers.RandomGrayscale(1.0, seed=0), rate=0.5, seed=1)
    run_layer_test(
        layer, images, expected_output_shape=(8, 8, 8, 3), check_per_sample=True
    )
    config = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(config)
    assert isinstance(revived.layer, keras.layers.RandomGrayscale)
    assert revived.rate == 0.5 and revived.seed == 1


def test_wraps_a_pipeline_without_warnings():
    pipeline = keras.layers.Pipeline(
        [keras.layers.RandomFlip("horizontal", seed=0), keras.layers.RandomGrayscale(1.0)]
    )
    layer = RandomApply(pipeline, rate=0.5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.build((None, 8, 8, 3))
    out = layer(structured_images(4, 8, 3))
    assert tuple(out.shape) == (4, 8, 8, 3)
    ds = tf.data.Dataset.from_tensors(structured_images(4, 8, 3)).map(lambda x: layer(x))
    assert tuple(next(iter(ds)).shape) == (4, 8, 8, 3)


def test_errors():
    with pytest.raises(ValueError, match="rate"):
        RandomApply(keras.layers.Identity(), rate=1.5)
    with pytest.raises(ValueError, match="rate"):
        RandomApply(keras.layers.Identity(), rate=-0.1)
    with pytest.raises(TypeError, match="layer"):
        RandomApply(lambda x: x)
    with pytest.raises(ValueError, match="shape"):
        RandomApply(RandomResizedCrop(4, 4))(structured_images(2, 8, 1))
