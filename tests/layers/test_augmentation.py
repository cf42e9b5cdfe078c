import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import MultiView
from keras_ssl.layers import RandomApply
from keras_ssl.layers import RandomResizedCrop
from keras_ssl.layers import SimCLRAugmenter
from tests.testing import run_layer_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images


def test_random_resized_crop():
    images = structured_images(8, 32, 3).astype("float32")
    layer = RandomResizedCrop(24, 20, scale=(0.2, 1.0), seed=1)
    out = run_layer_test(layer, images, expected_output_shape=(8, 24, 20, 3),
                         check_per_sample=True)
    assert out.min() >= 0 and out.max() <= 255
    # Inference resizes the whole image: same shape, no randomness.
    a = layer(images, training=False).numpy()
    b = layer(images, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8, 24, 20, 3)


def test_random_resized_crop_full_scale_is_resize():
    images = structured_images(4, 16, 1).astype("float32")
    layer = RandomResizedCrop(16, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(layer(images, training=True).numpy(), images, atol=1e-3)
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images)


def test_random_resized_crop_seeded_and_errors():
    images = structured_images(4, 16, 1).astype("float32")
    a = RandomResizedCrop(8, 8, seed=3)(images).numpy()
    b = RandomResizedCrop(8, 8, seed=3)(images).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, 8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="ratio"):
        RandomResizedCrop(8, 8, ratio=(0, 1))
    with pytest.raises(ValueError, match="height"):
        RandomResizedCrop(0, 8)


def test_random_apply_rate():
    images = np.ones((400, 2, 2, 1), "float32")
    layer = RandomApply(keras.layers.Rescaling(0.0), rate=0.3, seed=0)
    out = layer(images).numpy()
    applied = np.mean(out[:, 0, 0, 0] == 0)
    assert 0.2 < applied < 0.4
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images)
    run_layer_test(RandomApply(keras.layers.RandomFlip("horizontal", seed=0), rate=0.5, seed=1),
                   structured_images(4, 8, 1).astype("float32"), expected_output_shape=(4, 8, 8, 1))
    with pytest.raises(ValueError, match="rate"):
        RandomApply(keras.layers.Identity(), rate=1.5)
    with pytest.raises(TypeError, match="layer"):
        RandomApply(lambda x: x)


@pytest.mark.parametrize("channels", [1, 3])
def test_simclr_augmenter(channels):
    images = structured_images(8, 16, channels)
    layer = SimCLRAugmenter(16, channels=channels, blur_rate=0.5, solarize_rate=0.2, seed=0)
    out = run_layer_test(layer, images, expected_output_shape=(8, 16, 16, channels),
                         check_identity_at_inference=True, check_per_sample=True)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255


def test_simclr_augmenter_presets_and_save(tmp_path):
    small = SimCLRAugmenter.for_input_shape((28, 28, 1))
    assert small.crop_scale == (0.2, 1.0) and small.blur_rate == 0.0 and small.channels == 1
    large = SimCLRAugmenter.for_input_shape((96, 96, 3), jitter_strength=1.0)
    assert large.crop_scale == (0.08, 1.0) and large.blur_rate == 0.5
    assert large.jitter_strength == 1.0
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, SimCLRAugmenter(16, channels=1, seed=0)(inputs, training=False))
    run_model_saving_test(model, structured_images(4, 16, 1).astype("float32"), tmp_path)
    with pytest.raises(ValueError, match="channels"):
        SimCLRAugmenter(16, channels=2)
    with pytest.raises(ValueError, match="jitter_rate"):
        SimCLRAugmenter(16, jitter_rate=2.0)


def test_multi_view_independent_views():
    images = structured_images(8, 16, 1)
    layer = MultiView(SimCLRAugmenter(16, channels=1, seed=0), num_views=3)
    views = layer(images)
    assert len(views) == 3
    assert all(tuple(v.shape) == (8, 16, 16, 1) for v in views)
    assert np.abs(views[0].numpy() - views[1].numpy()).max() > 0
    ds = tf.data.Dataset.from_tensor_slices(images).batch(4).map(lambda x: layer(x))
    first = next(iter(ds))
    assert len(first) == 3
    from tests.testing import run_serialization_test

    revived = run_serialization_test(layer)
    assert revived.num_views == 3
    with pytest.raises(ValueError, match="num_views"):
        MultiView(SimCLRAugmenter(16, channels=1), num_views=0)
