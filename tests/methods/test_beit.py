import keras
import numpy as np
import pytest

import keras_ssl
from keras_ssl.layers.random_pixel_masking import blockwise_mask
from tests.testing import run_method_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images


def tiny_vit(size=16):
    return keras_ssl.backbones.ViT(input_shape=(size, size, 1), patch_size=4, hidden_dim=32,
                                   num_layers=1, num_heads=2)


@pytest.fixture(scope="module")
def trained_tokenizer():
    tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=16, patch_size=4, embedding_dim=8,
                                              hidden_dim=16, seed=0)
    tokenizer.compile(optimizer=keras.optimizers.Adam(1e-3))
    losses = run_method_test(tokenizer, structured_images(32, 16), steps=10)
    return tokenizer, losses


def test_tokenizer_learns_encodes_decodes_and_saves(trained_tokenizer, tmp_path):
    tokenizer, _ = trained_tokenizer
    x = structured_images(6, 16, seed=1)
    ids = np.asarray(tokenizer.encode(x))
    assert ids.shape == (6, 4, 4) and ids.dtype == np.int32
    assert ids.min() >= 0 and ids.max() < 16
    images = np.asarray(tokenizer.decode(ids))
    assert images.shape == (6, 16, 16, 1) and 0 <= images.min() and images.max() <= 255
    usage = tokenizer.codebook_usage(structured_images(64, 16, seed=2), batch_size=16)
    assert 1 / 16 <= usage <= 1.0
    history = tokenizer.fit(x, batch_size=6, epochs=1, verbose=0).history
    for name in ("loss", "reconstruction_loss", "codebook_usage", "commitment_loss",
                 "perplexity"):
        assert np.isfinite(history[name][0]), name
    revived = run_model_saving_test(tokenizer, x, tmp_path)
    np.testing.assert_array_equal(np.asarray(revived.encode(x)), np.asarray(tokenizer.encode(x)))
    np.testing.assert_allclose(np.asarray(revived.codebook), np.asarray(tokenizer.codebook))


def test_tokenizer_restarts_dead_codes():
    tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=8, patch_size=4, embedding_dim=4,
                                              hidden_dim=8, usage_decay=0.5, seed=0)
    tokenizer.build((None, 8, 8, 1))
    # Every code far away from every encoder output: all but the nearest
    # go unused and must be restarted on batch vectors.
    far = np.full((8, 4), 100.0, "float32")
    far[0] = 0.0
    tokenizer.codebook.assign(far)
    images = structured_images(16, 8)
    # Unused codes' shares halve each step, from 1/8 to below 0.03/8 after 6.
    for _ in range(7):
        tokenizer.compute_ssl_loss(keras.ops.cast(images, "float32"), training=True)
    codebook = np.asarray(tokenizer.codebook)
    assert (np.abs(codebook[1:]) < 50).all()
    no_restart = keras_ssl.methods.VQTokenizer(codebook_size=8, patch_size=4, embedding_dim=4,
                                               hidden_dim=8, restart_threshold=0.0)
    no_restart.build((None, 8, 8, 1))
    no_restart.codebook.assign(far)
    no_restart.compute_ssl_loss(keras.ops.cast(images, "float32"), training=True)
    np.testing.assert_array_equal(np.asarray(no_restart.codebook), far)


def test_tokenizer_errors():
    with pytest.raises(ValueError, match="codebook_size"):
        keras_ssl.methods.VQTokenizer(codebook_size=1)
    with pytest.raises(ValueError, match="patch_size"):
        keras_ssl.methods.VQTokenizer(patch_size=0)
    tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=4, patch_size=3)
    with pytest.raises(ValueError, match=r"`patch_size` \(3\) must divide"):
        tokenizer.build((None, 16, 16, 1))
    tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=4, patch_size=4)
    with pytest.raises(ValueError, match="rank"):
        tokenizer.encode(np.zeros((16, 16), "uint8"))


def test_blockwise_mask_covers_about_the_ratio_in_rectangles():
    seed = keras.random.SeedGenerator(0)
    mask = np.asarray(blockwise_mask(64, (7, 7), 0.4, seed, min_block=4))
    assert mask.shape == (64, 7, 7) and set(np.unique(mask)) <= {0.0, 1.0}
    counts = mask.sum(axis=(1, 2))
    # Target round(0.4 x 49) = 20 patches: the chosen union is the one
    # closest to it.
    assert abs(counts.mean() - 20) < 4 and (counts >= 4).all()
    # Different samples get different masks.
    assert len({m.tobytes() for m in mask}) > 50


def test_beit_learns_and_saves_with_its_tokenizer(trained_tokenizer, tmp_path):
    tokenizer, _ = trained_tokenizer
    beit = keras_ssl.methods.BEiT(tiny_vit(), tokenizer, mask_ratio=0.4, seed=0)
    frozen = [np.asarray(v).copy() for v in tokenizer.weights]
    beit.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(beit, structured_images(16, 16), steps=8)
    for before, after in zip(frozen, tokenizer.weights):
        np.testing.assert_array_equal(before, np.asarray(after))
    history = beit.fit(structured_images(16, 16), batch_size=16, epochs=1, verbose=0).history
    assert 0.0 <= history["masked_accuracy"][0] <= 1.0
    assert int(beit.token_mask(8).shape[1]) == 16
    revived = run_model_saving_test(beit, structured_images(4, 16), tmp_path)
    x = structured_images(4, 16, seed=3)
    np.testing.assert_array_equal(np.asarray(revived.tokenizer.encode(x)),
                                  np.asarray(tokenizer.encode(x)))
    assert not revived.tokenizer.trainable


def test_beit_errors(trained_tokenizer):
    tokenizer, _ = trained_tokenizer
    with pytest.raises(ValueError, match="patch grid 4 x 4 .* differs from the ViT's 8 x 8"):
        keras_ssl.methods.BEiT(keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=2,
                                                       hidden_dim=32, num_layers=1,
                                                       num_heads=2), tokenizer)
    with pytest.raises(TypeError, match="VQTokenizer"):
        keras_ssl.methods.BEiT(tiny_vit(), object())
    with pytest.raises(ValueError, match="ViT encoder"):
        keras_ssl.methods.BEiT(keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1)), tokenizer)
    with pytest.raises(ValueError, match="mask_ratio"):
        keras_ssl.methods.BEiT(tiny_vit(), tokenizer, mask_ratio=0.0)


@pytest.mark.slow
def test_pretrain_beit_trains_its_tokenizer_first(tmp_path):
    from keras_ssl import training

    run = training.pretrain(
        str(tmp_path / "run"), method="beit", dataset="digits", epochs=1, batch_size=32,
        limit=128, verbose=0, budget_minutes=5,
        method_kwargs={"tokenizer": {"codebook_size": 16, "hidden_dim": 8}, "tokenizer_epochs": 1})
    summary = run["summary"]
    assert run["config"]["backbone"] == "vit"
    assert summary["tokenizer_seconds"] > 0 and summary["steps"] == 4
    assert 0 < summary["tokenizer_codebook_usage_test"] <= 1
    assert run["model"].tokenizer.codebook_size == 16
    model, _, _ = training.load_run(str(tmp_path / "run"))
    assert isinstance(model, keras_ssl.methods.BEiT) and not model.tokenizer.trainable
    with pytest.raises(ValueError, match="needs a ViT backbone"):
        training.pretrain(str(tmp_path / "bad"), method="beit", backbone="convnet")
