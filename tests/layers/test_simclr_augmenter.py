import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import SimCLRAugmenter
from keras_ssl.layers.simclr_augmenter import _RandomSaturation
from keras_ssl.layers.simclr_augmenter import _Solarize
from tests.testing import random_images
from tests.testing import run_layer_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images


@pytest.mark.parametrize("channels", [1, 3])
def test_layer_contract(channels):
    images = structured_images(8, 16, channels)
    layer = SimCLRAugmenter(16, channels=channels, blur_rate=0.5, solarize_rate=0.2, seed=0)
    out = run_layer_test(
        layer,
        images,
        expected_output_shape=(8, 16, 16, channels),
        check_identity_at_inference=True,
        check_per_sample=True,
    )
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
    assert np.abs(out - images).max() > 0


def test_inference_only_resizes():
    images = structured_images(2, 32, 3)
    out = SimCLRAugmenter((16, 24), channels=3, seed=0)(images, training=False)
    expected = keras.ops.image.resize(images.astype("float32"), (16, 24))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-4)


def test_seeded():
    images = random_images(4, 16, 3)
    a = SimCLRAugmenter(16, seed=5, blur_rate=0.5, solarize_rate=0.5)(images).numpy()
    b = SimCLRAugmenter(16, seed=5, blur_rate=0.5, solarize_rate=0.5)(images).numpy()
    np.testing.assert_array_equal(a, b)
    c = SimCLRAugmenter(16, seed=6, blur_rate=0.5, solarize_rate=0.5)(images).numpy()
    assert np.abs(a - c).max() > 0


def test_stages_follow_channels():
    gray = SimCLRAugmenter(16, channels=1, grayscale_rate=0.5, blur_rate=0.5)
    names = [layer.name for layer in gray.augment.layers]
    assert names == ["flip", "random_jitter", "blur"]
    jitter = gray.augment.layers[1].layer
    assert isinstance(jitter, keras.layers.RandomColorJitter)
    assert jitter.saturation_factor is None and jitter.hue_factor is None
    color = SimCLRAugmenter(16, channels=3, jitter_strength=1.0, solarize_rate=0.1)
    names = [layer.name for layer in color.augment.layers]
    assert names == ["flip", "random_jitter", "grayscale", "random_solarize"]
    bare = SimCLRAugmenter(16, flip=False, jitter_rate=0.0, grayscale_rate=0.0)
    assert bare.augment.layers == []


def test_jitter_strength_matches_simclr():
    # SimCLR appendix A: brightness 0.8 s, contrast 0.8 s, saturation 0.8 s,
    # hue 0.2 s; here s = 1.
    layer = SimCLRAugmenter(16, channels=3, jitter_strength=1.0)
    jitter, saturation = layer.augment.layers[1].layer.layers
    assert jitter.brightness_factor == pytest.approx(0.8)
    assert jitter.contrast_factor == pytest.approx(0.8)
    # keras RandomHue shifts by +-uniform(0, factor) / 2 of the hue circle.
    assert jitter.hue_factor == pytest.approx(0.4)
    assert (saturation.lower, saturation.upper) == pytest.approx((0.2, 1.8))
    blur = SimCLRAugmenter(32, blur_rate=0.3).augment.layers[-1]
    assert isinstance(blur, keras.layers.RandomGaussianBlur)
    assert tuple(blur.factor) == (0.3, 0.3)


def test_saturation_matches_tf_image():
    images = random_images(4, 8, 3).astype("float32")
    for factor in (0.3, 1.6):
        out = _RandomSaturation(factor, factor)(images).numpy()
        expected = tf.image.adjust_saturation(images / 255.0, factor).numpy() * 255.0
        np.testing.assert_allclose(out, expected, atol=0.05)
        assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3


def test_solarize_inverts_bright_pixels():
    images = np.array([0.0, 100.0, 127.0, 128.0, 200.0, 255.0], "float32").reshape(1, 1, 6, 1)
    out = _Solarize()(images).numpy().ravel()
    np.testing.assert_array_equal(out, [0, 100, 127, 127, 55, 0])


def test_grayscale_always():
    layer = SimCLRAugmenter(16, channels=3, jitter_rate=0.0, grayscale_rate=1.0, seed=0)
    out = layer(random_images(4, 16, 3)).numpy()
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-3)
    np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-3)


def test_for_input_shape():
    small = SimCLRAugmenter.for_input_shape((28, 28, 1))
    assert small.image_size == (28, 28) and small.channels == 1
    assert small.crop_scale == (0.2, 1.0) and small.blur_rate == 0.0
    assert small.jitter_strength == 0.5
    large = SimCLRAugmenter.for_input_shape((None, 96, 64, 3), solarize_rate=0.2)
    assert large.image_size == (96, 64) and large.channels == 3
    assert large.crop_scale == (0.08, 1.0) and large.blur_rate == 0.5
    assert large.jitter_strength == 1.0 and large.solarize_rate == 0.2
    with pytest.raises(ValueError, match="input_shape"):
        SimCLRAugmenter.for_input_shape((28, 28))


def test_tf_data_uint8():
    layer = SimCLRAugmenter(16, channels=1, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(structured_images(8, 16, 1)).batch(4)
    batches = [b.numpy() for b in ds.map(lambda x: layer(x))]
    assert [b.shape for b in batches] == [(4, 16, 16, 1)] * 2
    assert all(b.dtype == np.float32 for b in batches)


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = SimCLRAugmenter(16, channels=3, blur_rate=0.5, seed=0, name="augment")(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs, name="tiny")
    revived = run_model_saving_test(model, structured_images(4, 16, 3), tmp_path)
    assert revived.get_layer("augment").get_config() == model.get_layer("augment").get_config()
    # The revived augmenter still augments in training mode.
    out = revived.get_layer("augment")(structured_images(4, 16, 3), training=True)
    assert tuple(out.shape) == (4, 16, 16, 3)


def test_errors():
    with pytest.raises(ValueError, match="channels"):
        SimCLRAugmenter(16, channels=2)
    with pytest.raises(ValueError, match="jitter_rate"):
        SimCLRAugmenter(16, jitter_rate=2.0)
    with pytest.raises(ValueError, match="jitter_strength"):
        SimCLRAugmenter(16, jitter_strength=1.5)
    with pytest.raises(ValueError, match="crop_scale"):
        SimCLRAugmenter(16, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="image_size"):
        SimCLRAugmenter((16, 16, 3))
    with pytest.raises(ValueError, match="channels"):
        SimCLRAugmenter(16, channels=3)(structured_images(2, 16, 1))
    with pytest.raises(ValueError, match="rank 4"):
        SimCLRAugmenter(16, channels=1)(np.zeros((16, 16, 1), "float32"))
