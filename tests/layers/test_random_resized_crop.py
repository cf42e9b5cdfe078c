import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import RandomResizedCrop
from tests.testing import random_images
from tests.testing import run_layer_test
from tests.testing import structured_images


def test_layer_contract():
    images = structured_images(8, 32, 3)
    layer = RandomResizedCrop(24, 20, scale=(0.2, 1.0), seed=1)
    out = run_layer_test(
        layer, images, expected_output_shape=(8, 24, 20, 3), check_per_sample=True
    )
    assert out.dtype == np.float32
    # Bilinear resampling stays within the input's range.
    assert out.min() >= images.min() and out.max() <= images.max()


def test_inference_resizes_whole_image():
    images = structured_images(4, 32, 1).astype("float32")
    layer = RandomResizedCrop(16, 16, seed=0)
    a = layer(images, training=False).numpy()
    b = layer(images, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    expected = keras.ops.image.resize(images, (16, 16), interpolation="bilinear")
    np.testing.assert_allclose(a, expected.numpy(), atol=1e-4)
    # Same size in and out: the identity.
    same = RandomResizedCrop(32, 32)(images, training=False).numpy()
    np.testing.assert_array_equal(same, images)


def test_full_box_is_identity():
    images = structured_images(4, 16, 1).astype("float32")
    layer = RandomResizedCrop(16, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(layer(images, training=True).numpy(), images, atol=1e-3)


@pytest.mark.parametrize("shape", [(16, 16), (32, 16)])
def test_box_area_and_aspect(shape):
    layer = RandomResizedCrop(8, 8, scale=(0.1, 0.5), ratio=(0.5, 2.0), seed=0)
    h, w = shape
    boxes = layer.get_random_transformation(np.zeros((256, h, w, 1), "float32")).numpy()
    y1, x1, y2, x2 = boxes.T
    assert (boxes >= 0).all() and (boxes <= 1 + 1e-6).all()
    assert (y2 > y1).all() and (x2 > x1).all()
    box_h, box_w = (y2 - y1) * h, (x2 - x1) * w
    area = box_h * box_w / (h * w)
    aspect = box_w / box_h
    unclipped = ((y2 - y1) < 1 - 1e-6) & ((x2 - x1) < 1 - 1e-6)
    assert unclipped.mean() > 0.8
    assert (area[unclipped] >= 0.1 - 1e-4).all() and (area[unclipped] <= 0.5 + 1e-4).all()
    assert (aspect[unclipped] >= 0.5 - 1e-3).all() and (aspect[unclipped] <= 2 + 1e-3).all()
    # Log-uniform aspect: about half the boxes are wider than tall.
    assert 0.35 < np.mean(np.log(aspect[unclipped]) > 0) < 0.65
    # Positions spread over the image, one box per sample.
    assert len(np.unique(np.round(boxes, 5), axis=0)) == len(boxes)
    assert y1.max() > 0.2 and x1.max() > 0.2


def test_crop_zooms_into_the_box():
    # Each pixel holds its column index: a crop of width fraction f spans
    # about f * (W - 1) columns.
    cols = np.tile(np.arange(16, dtype="float32"), (16, 1))[None, :, :, None]
    layer = RandomResizedCrop(16, 16, scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=3)
    out = layer(np.repeat(cols, 4, axis=0)).numpy()
    spans = out[:, 0, -1, 0] - out[:, 0, 0, 0]
    np.testing.assert_allclose(spans, 0.5 * 15, atol=1e-3)


def test_seeded_and_fresh_randomness():
    images = structured_images(4, 16, 1)
    a = RandomResizedCrop(8, 8, seed=3)(images).numpy()
    b = RandomResizedCrop(8, 8, seed=3)(images).numpy()
    np.testing.assert_array_equal(a, b)
    c = RandomResizedCrop(8, 8, seed=4)(images).numpy()
    assert np.abs(a - c).max() > 0
    layer = RandomResizedCrop(8, 8, seed=3)
    first, second = layer(images).numpy(), layer(images).numpy()
    assert np.abs(first - second).max() > 0


def test_tf_data_draws_new_boxes_each_batch():
    images = random_images(4, 16, 3)
    layer = RandomResizedCrop(8, 8, seed=0)
    ds = tf.data.Dataset.from_tensors(images).repeat(2).map(lambda x: layer(x))
    first, second = [b.numpy() for b in ds]
    assert first.shape == (4, 8, 8, 3)
    assert np.abs(first - second).max() > 0


def test_in_model_with_unknown_batch():
    inputs = keras.Input((20, 12, 1), dtype="uint8")
    outputs = RandomResizedCrop(8, 6)(inputs)
    assert tuple(outputs.shape) == (None, 8, 6, 1)
    model = keras.Model(inputs, outputs)
    images = random_images(3, 20, 1)[:, :, :12]
    assert model.predict(images, verbose=0).shape == (3, 8, 6, 1)
    assert tuple(model(images, training=True).shape) == (3, 8, 6, 1)


def test_errors():
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, 8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, 8, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, 8, scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="ratio"):
        RandomResizedCrop(8, 8, ratio=(0, 1))
    with pytest.raises(ValueError, match="height"):
        RandomResizedCrop(0, 8)
    with pytest.raises(ValueError, match="width"):
        RandomResizedCrop(8, 2.5)
    with pytest.raises(ValueError, match="interpolation"):
        RandomResizedCrop(8, 8, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"rank 4.*\(16, 16, 1\)"):
        RandomResizedCrop(8, 8)(np.zeros((16, 16, 1), "float32"))
    assert math.isclose(RandomResizedCrop(8, 8).ratio[1], 4 / 3)
