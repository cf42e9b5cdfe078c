import keras
import numpy as np
import pytest

import keras_ssl
from tests.testing import random_images
from tests.testing import run_export_test
from tests.testing import run_model_saving_test
from tests.testing import run_serialization_test


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("builder", ["ResNet18", "ResNet34", "ResNet50"])
def test_resnet_shapes(builder, channels):
    model = getattr(keras_ssl.backbones, builder)(input_shape=(16, 16, channels),
                                                  width_multiplier=0.125)
    out = model(random_images(2, 16, channels))
    expected = 64 * 4 if builder == "ResNet50" else 64
    assert tuple(out.shape) == (2, expected)
    assert model.feature_dim == expected


def test_resnet_stem_by_size():
    small = keras_ssl.backbones.ResNet18(input_shape=(32, 32, 3), width_multiplier=0.125)
    large = keras_ssl.backbones.ResNet18(input_shape=(64, 64, 3), width_multiplier=0.125)
    assert small.get_layer("stage1_block1_out").output.shape[1] == 32
    assert large.get_layer("stage1_block1_out").output.shape[1] == 16  # stride 2 + max-pool
    forced = keras_ssl.backbones.ResNet18(input_shape=(32, 32, 3), width_multiplier=0.125,
                                          stem="imagenet")
    assert forced.get_layer("stage1_block1_out").output.shape[1] == 8


def test_width_multiplier_and_synchronized():
    narrow = keras_ssl.backbones.ResNet18(input_shape=(16, 16, 1), width_multiplier=0.125)
    wide = keras_ssl.backbones.ResNet18(input_shape=(16, 16, 1), width_multiplier=0.25)
    assert wide.count_params() > 3 * narrow.count_params()
    synced = keras_ssl.backbones.ResNet18(input_shape=(16, 16, 1), width_multiplier=0.125,
                                          synchronized=True)
    bns = [l for l in synced.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(l.synchronized for l in bns)


def test_resnet_save_load_and_export(tmp_path):
    model = keras_ssl.backbones.ResNet18(input_shape=(16, 16, 3), width_multiplier=0.125)
    revived = run_model_saving_test(model, random_images(3, 16, 3), tmp_path)
    assert revived.get_config() == model.get_config()
    run_serialization_test(model)
    run_export_test(model, random_images(3, 16, 3), tmp_path)


def test_convnet_save_load_and_export(tmp_path):
    model = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    assert model.output_shape == (None, 16)
    run_model_saving_test(model, random_images(3, 16), tmp_path)
    run_export_test(model, random_images(3, 16), tmp_path)


@pytest.mark.parametrize("bad", [(16, 16), (4, 4, 1), "28x28", (16, None, 1)])
def test_bad_input_shapes(bad):
    with pytest.raises(ValueError, match="input_shape"):
        keras_ssl.backbones.ResNet18(input_shape=bad)


def test_bad_resnet_arguments():
    with pytest.raises(ValueError, match="depth"):
        keras_ssl.backbones.ResNet(19, input_shape=(16, 16, 1))
    with pytest.raises(ValueError, match="stem"):
        keras_ssl.backbones.ResNet18(input_shape=(16, 16, 1), stem="tiny")
    with pytest.raises(ValueError, match="width_multiplier"):
        keras_ssl.backbones.ResNet18(input_shape=(16, 16, 1), width_multiplier=0)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("position", ["learned", "sincos"])
def test_vit_pieces_equal_full_call(pooling, position):
    vit = keras_ssl.backbones.ViT(input_shape=(16, 12, 3), patch_size=4, hidden_dim=32,
                                  num_layers=2, num_heads=2, pooling=pooling,
                                  position_embedding=position)
    x = random_images(2, 16, 3)[:, :, :12]
    full = vit(x).numpy()
    pieces = vit.pool(vit.encode_tokens(vit.embed_patches(x))).numpy()
    np.testing.assert_allclose(full, pieces, atol=1e-5)
    assert vit.num_patches == 12 and vit.grid_size == (4, 3)


def test_vit_save_load_export(tmp_path):
    vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4, hidden_dim=32,
                                  num_layers=1, num_heads=2)
    run_model_saving_test(vit, random_images(3, 16), tmp_path)
    run_export_test(vit, random_images(3, 16), tmp_path)


def test_vit_errors_and_presets():
    with pytest.raises(ValueError, match="patch_size"):
        keras_ssl.backbones.ViT(input_shape=(28, 28, 1), patch_size=3)
    with pytest.raises(ValueError, match="num_heads"):
        keras_ssl.backbones.ViT(input_shape=(16, 16, 1), hidden_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="pooling"):
        keras_ssl.backbones.ViT(input_shape=(16, 16, 1), pooling="max")
    tiny = keras_ssl.backbones.ViTTiny(input_shape=(16, 16, 1), patch_size=4, num_layers=1)
    assert tiny.hidden_dim == 192 and tiny.num_heads == 3


def test_registry():
    names = keras_ssl.backbones.available()
    assert {"convnet", "resnet18", "resnet34", "resnet50", "vit", "vit_tiny"} <= set(names)
    model = keras_ssl.backbones.get("resnet18", input_shape=(16, 16, 1), width_multiplier=0.125)
    assert isinstance(model, keras_ssl.backbones.ResNet)
    with pytest.raises(ValueError, match="Unknown backbone 'vgg16'"):
        keras_ssl.backbones.get("vgg16", input_shape=(16, 16, 1))
