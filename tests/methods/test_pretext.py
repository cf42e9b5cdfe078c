import keras
import numpy as np
import pytest

import keras_ssl
from tests.testing import run_export_test
from tests.testing import run_method_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images


def tiny_vit(size=16, channels=1, **kwargs):
    return keras_ssl.backbones.ViT(
        input_shape=(size, size, channels), patch_size=4, hidden_dim=32, num_layers=1,
        num_heads=2, **kwargs,
    )


def tiny_convnet(size=16, channels=1):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, channels), filters=(8, 16))


def test_rotation_learns_and_saves(tmp_path):
    model = keras_ssl.methods.RotationPrediction(tiny_convnet(), hidden_dim=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    losses = run_method_test(model, structured_images(16, 16), steps=8)
    assert losses[0] > 1.0  # about log(4) at the start
    history = model.fit(structured_images(16, 16), batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "rotation_accuracy"}
    run_model_saving_test(model, structured_images(4, 16), tmp_path)


def test_rotation_random_mode_batch_size():
    model = keras_ssl.methods.RotationPrediction(tiny_convnet(), mode="random", seed=0)
    model.compile(optimizer="auto")
    model.fit(structured_images(8, 16), batch_size=4, epochs=1, verbose=0)
    assert model.rotate.mode == "random"


def test_rotation_rejects_non_square():
    encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 12, 1), filters=(8,))
    with pytest.raises(ValueError, match="square"):
        keras_ssl.methods.RotationPrediction(encoder)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_mae_learns_reconstructs_and_saves(tmp_path, pooling):
    model = keras_ssl.methods.MaskedAutoencoder(
        tiny_vit(pooling=pooling), mask_ratio=0.5, decoder_dim=16, decoder_layers=1,
        decoder_heads=2, seed=0,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(model, structured_images(16, 16), steps=8)
    images, masked, reconstructed = model.reconstruct(structured_images(3, 16))
    assert images.shape == masked.shape == reconstructed.shape == (3, 16, 16, 1)
    # At least half of each image's 16 patches is black in `masked` (the 8
    # hidden ones, plus any all-black background patch).
    blocks = masked.reshape(3, 4, 4, 4, 4).transpose(0, 1, 3, 2, 4).reshape(3, 16, 16)
    assert ((blocks == 0).all(-1).sum(axis=1) >= 8).all()
    np.testing.assert_array_equal(images, structured_images(3, 16).astype("float32"))
    revived = run_model_saving_test(model, structured_images(4, 16), tmp_path)
    assert revived.mask_ratio == 0.5


def test_mae_norm_pix_loss_and_errors():
    model = keras_ssl.methods.MaskedAutoencoder(tiny_vit(), decoder_dim=16, decoder_layers=1,
                                                decoder_heads=2, norm_pix_loss=True)
    model.compile(optimizer="auto")
    history = model.fit(structured_images(8, 16), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="mask_ratio"):
        keras_ssl.methods.MaskedAutoencoder(tiny_vit(), mask_ratio=1.0)
    with pytest.raises(ValueError, match="ViT"):
        keras_ssl.methods.MaskedAutoencoder(tiny_convnet())


def test_mae_encoder_exports_without_masking(tmp_path):
    model = keras_ssl.methods.MaskedAutoencoder(tiny_vit(), decoder_dim=16, decoder_layers=1,
                                                decoder_heads=2)
    run_export_test(model.encoder, structured_images(4, 16), tmp_path)


def test_denoising_learns_and_saves(tmp_path):
    model = keras_ssl.methods.DenoisingAutoencoder(tiny_convnet(), mask_ratio=0.5, patch_size=2,
                                                   decoder_filters=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(model, structured_images(16, 16), steps=8)
    images, masked, reconstructed = model.reconstruct(structured_images(2, 16))
    assert reconstructed.shape == (2, 16, 16, 1)
    assert 0 <= reconstructed.min() and reconstructed.max() <= 255
    run_model_saving_test(model, structured_images(4, 16), tmp_path)
    with pytest.raises(ValueError, match="loss_on"):
        keras_ssl.methods.DenoisingAutoencoder(tiny_convnet(), loss_on="some")


def test_denoising_odd_sizes():
    encoder = keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(8,))
    model = keras_ssl.methods.DenoisingAutoencoder(encoder, patch_size=1, decoder_filters=16)
    model.compile(optimizer="auto")
    model.fit(structured_images(8, 8), batch_size=4, epochs=1, verbose=0)


@pytest.mark.parametrize("backbone", ["vit", "convnet"])
def test_simmim_learns_reconstructs_and_saves(tmp_path, backbone):
    encoder = tiny_vit() if backbone == "vit" else tiny_convnet()
    model = keras_ssl.methods.SimMIM(encoder, mask_ratio=0.5, mask_patch_size=8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(model, structured_images(16, 16), steps=8)
    images, masked, reconstructed = model.reconstruct(structured_images(3, 16))
    assert images.shape == masked.shape == reconstructed.shape == (3, 16, 16, 1)
    assert 0 <= reconstructed.min() and reconstructed.max() <= 255
    # Two of each image's four 8 x 8 blocks are hidden (black in `masked`).
    blocks = masked.reshape(3, 2, 8, 2, 8).transpose(0, 1, 3, 2, 4).reshape(3, 4, 64)
    assert ((blocks == 0).all(-1).sum(axis=1) >= 2).all()
    revived = run_model_saving_test(model, structured_images(4, 16), tmp_path)
    assert revived.mask_patch_size == 8 and revived.is_vit == (backbone == "vit")


def test_simmim_masks_whole_blocks_and_partial_edges():
    model = keras_ssl.methods.SimMIM(tiny_vit(size=28), mask_ratio=0.6, mask_patch_size=8, seed=0)
    assert model.mask_patch_size == 8
    mask = np.asarray(model.pixel_mask(4))
    assert mask.shape == (4, 28, 28)
    # 16 blocks of 8 pixels cover 28 x 28 (the last row and column cut to
    # 4 pixels); round(0.6 x 16) = 10 of them are masked in every image.
    blocks = np.pad(mask, ((0, 0), (0, 4), (0, 4)), constant_values=-1)
    blocks = blocks.reshape(4, 4, 8, 4, 8).transpose(0, 1, 3, 2, 4).reshape(4, 16, 64)
    for image in blocks:
        values = [set(np.unique(block[block >= 0])) for block in image]
        assert all(len(v) == 1 for v in values)
        assert sum(v == {1.0} for v in values) == 10
    conv = keras_ssl.methods.SimMIM(tiny_convnet())
    # ConvNet default: one masked block per feature-map cell.
    assert conv.mask_patch_size == conv.stride == 16 // conv.feature_map.output_shape[1]


def test_simmim_errors():
    with pytest.raises(ValueError, match="mask_patch_size.*multiple"):
        keras_ssl.methods.SimMIM(tiny_vit(), mask_patch_size=6)
    with pytest.raises(ValueError, match="mask_ratio"):
        keras_ssl.methods.SimMIM(tiny_vit(), mask_ratio=1.0)
    with pytest.raises(ValueError, match="larger than the images"):
        keras_ssl.methods.SimMIM(tiny_convnet(), mask_patch_size=32)
    flat = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8)])
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        keras_ssl.methods.SimMIM(flat)


def test_simmim_encoder_exports_without_masking(tmp_path):
    model = keras_ssl.methods.SimMIM(tiny_convnet(), seed=0)
    run_export_test(model.encoder, structured_images(4, 16), tmp_path)
