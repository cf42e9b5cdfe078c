"""VideoViT, the video layers, VideoMAE and frame order prediction, at tiny sizes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing

import keras_ssl
from keras_ssl.backbones.vit_layers import TubeletEmbedding
from keras_ssl.backbones.vit_layers import sincos_position_embedding_2d
from keras_ssl.backbones.vit_layers import sincos_position_embedding_3d
from keras_ssl.layers import RandomFrameOrder
from keras_ssl.layers import RandomPatchMasking
from keras_ssl.layers import TubeletPatchify
from keras_ssl.layers import TubeletUnpatchify
from keras_ssl.layers import order_classes
from keras_ssl.losses import masked_reconstruction
from keras_ssl.losses import normalized_patch_targets
from keras_ssl.modalities.video import default_tubelet
from tests.testing import run_export_test
from tests.testing import run_layer_test
from tests.testing import run_method_test
from tests.testing import run_model_saving_test
from tests.testing import run_serialization_test


def clips(n=8, frames=4, size=16, seed=0):
    """Moving 8x8 digits in 16x16 frames: clips with structure to learn."""
    videos, _ = keras_ssl.datasets.moving_objects(n, frames=frames, size=size, source="digits",
                                                  item_size=size // 2, seed=seed)
    return videos


def tiny_video_vit(frames=4, size=16, tubelet=(2, 8, 8), **kwargs):
    kwargs.setdefault("hidden_dim", 16)
    kwargs.setdefault("num_layers", 1)
    kwargs.setdefault("num_heads", 2)
    return keras_ssl.backbones.VideoViT(input_shape=(frames, size, size, 1), tubelet=tubelet,
                                        **kwargs)


def tiny_convnet(size=16):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, 1), filters=(8, 16))


def restore_seed(layer):
    """Put a layer's seed generator back to its current state afterwards."""
    state = layer.seed_generator.state
    saved = keras.ops.convert_to_numpy(state.value).copy()
    return lambda: state.assign(saved)


# -- VideoViT -----------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("position", ["sincos", "learned"])
def test_video_vit_pieces_equal_full_call(pooling, position):
    vit = tiny_video_vit(frames=4, size=16, tubelet=(2, 4, 8), pooling=pooling,
                         position_embedding=position)
    x = clips(2)
    tokens = vit.encode_tokens(vit.embed_patches(x))
    assert tuple(tokens.shape) == (2, 16 + (pooling == "cls"), 16)  # per-token features
    np.testing.assert_allclose(vit(x).numpy(), vit.pool(tokens).numpy(), atol=1e-5)
    assert vit.grid_size == (2, 4, 2) and vit.num_patches == 16 and vit.feature_dim == 16
    assert vit.output_shape == (None, 16)


def test_tubelet_embedding_is_a_conv3d_in_time_major_order():
    layer = TubeletEmbedding((2, 4, 4), 3)
    x = np.random.default_rng(0).normal(size=(2, 4, 8, 8, 1)).astype("float32")
    tokens = layer(x).numpy()
    assert tokens.shape == (2, 8, 3)
    kernel, bias = (w.numpy() for w in layer.projection.weights)
    # Token 5 = time slice 1, row 0, column 1: frames 2-3, rows 0-3, columns 4-7.
    block = x[:, 2:4, 0:4, 4:8, :]
    expected = np.einsum("nthwc,thwcd->nd", block, kernel) + bias
    np.testing.assert_allclose(tokens[:, 5], expected, atol=1e-5)


def test_sincos_3d_position_embedding():
    table = sincos_position_embedding_3d(2, 3, 4, 32)
    assert table.shape == (24, 32) and table.dtype == np.float32
    spatial = sincos_position_embedding_2d(3, 4, 24)
    for t in range(2):
        # Three quarters: the 2-D embedding of (row, column), the same in each slice.
        np.testing.assert_allclose(table[t * 12:(t + 1) * 12, :24], spatial)
        # One quarter: the time index alone.
        np.testing.assert_allclose(table[t * 12:(t + 1) * 12, 24:], table[t * 12, 24:][None]
                                   * np.ones((12, 1)))
    assert not np.allclose(table[0, 24:], table[12, 24:])
    assert len({tuple(np.round(row, 6)) for row in table}) == 24  # every position differs
    with pytest.raises(ValueError, match="divisible by 16"):
        sincos_position_embedding_3d(2, 2, 2, 24)


def test_video_vit_save_load_and_export(tmp_path):
    vit = tiny_video_vit()
    x = clips(3)
    revived = run_model_saving_test(vit, x, tmp_path)
    assert revived.get_config() == vit.get_config() and revived.tubelet == (2, 8, 8)
    run_serialization_test(vit)
    path = run_export_test(vit, x, tmp_path)
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures) == ["serving_default", "serving_uint8"]
    served = loaded.signatures["serving_uint8"](videos=tf.constant(x))["embeddings"].numpy()
    np.testing.assert_allclose(served, vit(x).numpy(), atol=1e-4)
    assert keras_ssl.export.read_metadata(path)["input_kind"] == "videos"


def test_video_vit_preset_round_trip(tmp_path):
    vit = tiny_video_vit()
    path = keras_ssl.presets.save(vit, str(tmp_path / "preset"), modality="video")
    assert keras_ssl.presets.read_manifest(path)["input_shape"] == [4, 16, 16, 1]
    loaded = keras_ssl.backbones.Backbone.from_preset(path)
    assert type(loaded).__name__ == "VideoViT"
    np.testing.assert_allclose(loaded(clips(2)).numpy(), vit(clips(2)).numpy(), atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(16, 16, 1)), r"`input_shape` must be \(frames, height, width, channels\)"),
    (dict(input_shape=(5, 16, 16, 1)), r"`tubelet`=\(2, 8, 8\) does not divide the clip's frames"),
    (dict(input_shape=(1, 16, 16, 1)), "The clips have 1 frames, fewer than the 2 of one tubelet"),
    (dict(tubelet=(2, 8)), "`tubelet` must be three positive integers"),
    (dict(tubelet=(2, 0, 8)), "`tubelet` must be three positive integers"),
    (dict(hidden_dim=24, num_heads=2), "divisible by 16"),
    (dict(num_heads=3), "`num_heads`"),
    (dict(pooling="max"), "`pooling`"),
])
def test_video_vit_bad_arguments(kwargs, message):
    args = dict(input_shape=(4, 16, 16, 1), tubelet=(2, 8, 8), hidden_dim=16, num_layers=1,
                num_heads=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        keras_ssl.backbones.VideoViT(**args)


def test_video_vit_refuses_images_and_other_clip_shapes():
    vit = tiny_video_vit()
    with pytest.raises(ValueError, match=r"must have rank 5 .*frames axis"):
        vit(clips(2)[:, 0])  # a batch of images
    with pytest.raises(ValueError, match=r"takes clips of shape \(4, 16, 16, 1\)"):
        vit(clips(2, frames=6))
    with pytest.raises(ValueError, match="must have rank 5"):
        vit.predict(clips(2)[:, 0], verbose=0)


def test_default_tubelet():
    assert default_tubelet(8, 32) == (2, 8, 8)
    assert default_tubelet(16, 64) == (2, 16, 16)
    assert default_tubelet(5, 16) == (1, 4, 4)


# -- layers -------------------------------------------------------------------


def test_tubelet_patchify_order_and_round_trip():
    x = np.arange(2 * 4 * 8 * 12 * 2, dtype="float32").reshape(2, 4, 8, 12, 2)
    tubes = TubeletPatchify((2, 4, 4))(x).numpy()
    assert tubes.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 2)
    for t in range(2):
        for r in range(2):
            for c in range(3):
                block = x[:, 2 * t:2 * t + 2, 4 * r:4 * r + 4, 4 * c:4 * c + 4]
                np.testing.assert_array_equal(tubes[:, t * 6 + r * 3 + c], block.reshape(2, -1))
    back = TubeletUnpatchify((2, 4, 4), (4, 8, 12, 2))(tubes)
    np.testing.assert_array_equal(back.numpy(), x)
    run_layer_test(TubeletPatchify((2, 8, 8)), clips(2).astype("float32"),
                   expected_output_shape=(2, 8, 128))
    revived = run_serialization_test(TubeletUnpatchify((2, 8, 8), (4, 16, 16, 1)))
    assert revived.video_shape == (4, 16, 16, 1)
    with pytest.raises(ValueError, match="rank 5"):
        TubeletPatchify((2, 8, 8))(clips(2)[:, 0].astype("float32"))
    with pytest.raises(ValueError, match=r"does not divide the clip's width"):
        TubeletPatchify((2, 8, 5))(clips(2).astype("float32"))
    with pytest.raises(ValueError, match=r"expects tubelets of shape \(batch, 8, 128\)"):
        TubeletUnpatchify((2, 8, 8), (4, 16, 16, 1))(np.zeros((2, 8, 64), "float32"))


@pytest.mark.parametrize("ratio, slices, spatial", [(0.9, 4, 16), (0.75, 2, 4), (0.5, 3, 5)])
def test_tube_masking_hides_the_same_positions_in_every_slice(ratio, slices, spatial):
    x = np.random.default_rng(0).normal(size=(6, slices * spatial, 3)).astype("float32")
    out = RandomPatchMasking(ratio, seed=0, time_slices=slices)(x)
    mask = out["mask"].numpy().reshape(6, slices, spatial)
    hidden = min(max(round(ratio * spatial), 1), spatial - 1)
    assert (mask == mask[:, :1]).all()  # one spatial mask, repeated in time
    assert (mask[:, 0].sum(axis=1) == hidden).all()
    assert len({tuple(m) for m in mask[:, 0]}) > 1  # drawn per sample
    keep = out["keep_indices"].numpy()
    np.testing.assert_array_equal(out["visible"].numpy(),
                                  np.take_along_axis(x, keep[:, :, None], axis=1))
    assert (np.take_along_axis(out["mask"].numpy(), keep, 1) == 0).all()
    filler = np.zeros((6, slices * hidden, 3), "float32")
    restored = np.take_along_axis(np.concatenate([out["visible"].numpy(), filler], axis=1),
                                  out["restore_indices"].numpy()[:, :, None], axis=1)
    np.testing.assert_array_equal(restored, np.where(out["mask"].numpy()[..., None] == 0, x, 0))


def test_tube_masking_arguments_and_config():
    layer = run_serialization_test(RandomPatchMasking(0.9, seed=1, time_slices=4))
    assert layer.time_slices == 4
    with pytest.raises(ValueError, match="`time_slices` must be a positive integer"):
        RandomPatchMasking(0.9, time_slices=0)
    with pytest.raises(ValueError, match="a multiple of 3"):
        RandomPatchMasking(0.5, time_slices=3)(np.zeros((1, 8, 2), "float32"))


def test_order_classes():
    assert order_classes(4).shape == (12, 4) and order_classes(4, False).shape == (24, 4)
    table = {tuple(p) for p in order_classes(4)}
    assert all(tuple(reversed(p)) not in table for p in table)  # one of each pair
    assert order_classes(3).tolist() == [[0, 1, 2], [0, 2, 1], [1, 0, 2]]


@pytest.mark.parametrize("reverse_equivalent", [True, False])
def test_random_frame_order_labels_describe_the_shuffle(reverse_equivalent):
    frames = np.arange(12, dtype="float32")
    videos = frames.reshape(1, 12, 1, 1, 1) * np.ones((64, 12, 2, 2, 1), "float32")
    layer = RandomFrameOrder(frames=4, reverse_equivalent=reverse_equivalent, seed=0)
    shuffled, labels = layer(videos)
    picked = shuffled.numpy()[:, :, 0, 0, 0].astype(int)
    labels = labels.numpy()
    assert shuffled.shape == (64, 4, 2, 2, 1) and labels.dtype == np.int32
    starts = set()
    for sample, label in zip(picked, labels):
        ordered = np.sort(sample)
        np.testing.assert_array_equal(np.diff(ordered), [3, 3, 3])  # gap 12 // 4
        starts.add(int(ordered[0]))
        permutation = np.searchsorted(ordered, sample)  # output i is sample permutation[i]
        options = [tuple(layer.permutations[label])]
        if reverse_equivalent:
            options.append(tuple(layer.permutations[label][::-1]))
        assert tuple(permutation) in options
    assert starts == {0, 1, 2}  # random start, the samples stay inside the clip
    assert len(set(labels.tolist())) > layer.num_classes // 2
    again = RandomFrameOrder(frames=4, reverse_equivalent=reverse_equivalent, seed=0)(videos)
    np.testing.assert_array_equal(again[1].numpy(), labels)


def test_random_frame_order_layer_contract():
    layer = RandomFrameOrder(frames=3, frame_gap=2, seed=1)
    out, labels = run_layer_test(layer, clips(4, frames=6).astype("float32"))
    assert tuple(out.shape) == (4, 3, 16, 16, 1) and tuple(labels.shape) == (4,)

    # A step traced for clips of any length samples within each batch's clips.
    any_length = RandomFrameOrder(frames=3, seed=0)

    @tf.function(input_signature=[tf.TensorSpec((None, None, 1, 1, 1), tf.float32)])
    def shuffle(videos):
        return any_length(videos)

    frames = np.arange(9, dtype="float32").reshape(1, 9, 1, 1, 1) * np.ones((5, 9, 1, 1, 1))
    shuffled, _ = shuffle(tf.constant(frames, tf.float32))
    assert np.diff(np.sort(shuffled.numpy()[:, :, 0, 0, 0], axis=1), axis=1).tolist() == [
        [3, 3]] * 5
    revived = run_serialization_test(layer)
    assert revived.frame_gap == 2 and revived.num_classes == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(frames=2), "`frames` must be an integer from 3 to 6 with reverse_equivalent=True"),
    (dict(frames=7), "from 3 to 6"),
    (dict(frames=2, reverse_equivalent=False, frame_gap=0), "`frame_gap` must be None or"),
])
def test_random_frame_order_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomFrameOrder(**kwargs)


def test_random_frame_order_refuses_short_clips():
    with pytest.raises(ValueError, match="samples `frames`=4 frames a clip, but the clips have 3"):
        RandomFrameOrder(frames=4)(clips(2, frames=3).astype("float32"))
    with pytest.raises(ValueError, match="span 10 frames, more than the clips' 8"):
        RandomFrameOrder(frames=4, frame_gap=3)(clips(2, frames=8).astype("float32"))


class KerasLayerHarnessTest(testing.TestCase):
    """Keras's own layer checks (serialization, symbolic and eager calls, a
    mixed-precision policy, training) on the video layers."""

    def test_tubelet_layers(self):
        self.run_layer_test(
            TubeletEmbedding, {"tubelet": (2, 4, 4), "hidden_dim": 8},
            input_shape=(2, 4, 8, 8, 1), expected_output_shape=(2, 8, 8),
            expected_num_trainable_weights=2)
        self.run_layer_test(
            TubeletPatchify, {"tubelet": (2, 4, 4)}, input_shape=(2, 4, 8, 8, 1),
            expected_output_shape=(2, 8, 32), expected_num_trainable_weights=0,
            run_training_check=False)
        self.run_layer_test(
            TubeletUnpatchify, {"tubelet": (2, 4, 4), "video_shape": (4, 8, 8, 1)},
            input_shape=(2, 8, 32), expected_output_shape=(2, 4, 8, 8, 1),
            expected_num_trainable_weights=0, run_training_check=False)

    def test_random_frame_order(self):
        # Its second output, the labels, is int32 under any policy, which the
        # harness's mixed-precision check does not allow: that check is done
        # here on the frames.
        self.run_layer_test(
            RandomFrameOrder, {"frames": 3, "seed": 1}, input_shape=(2, 6, 8, 8, 1),
            expected_output_shape=((2, 3, 8, 8, 1), (2,)), expected_num_trainable_weights=0,
            expected_num_seed_generators=1, run_training_check=False,
            run_mixed_precision_check=False)
        layer = RandomFrameOrder(frames=3, seed=1, dtype="mixed_float16")
        shuffled, labels = layer(np.zeros((2, 6, 8, 8, 1), "float32"))
        assert shuffled.dtype == "float16" and labels.dtype == "int32"


# -- losses -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 2, 3), (4, 8, 16), (3, 5, 7)])
def test_reconstruction_loss_against_numpy(shape):
    rng = np.random.default_rng(sum(shape))
    predictions, targets = rng.normal(size=shape), rng.normal(size=shape)
    mask = (rng.uniform(size=shape[:2]) < 0.5).astype("float64")
    mask[0, 0] = 1.0
    per_patch = ((predictions - targets) ** 2).mean(axis=-1)
    expected = (per_patch * mask).sum() / mask.sum()
    got = masked_reconstruction(predictions.astype("float32"), targets.astype("float32"), mask)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    assert float(masked_reconstruction(predictions, targets, np.zeros(shape[:2]))) == 0.0
    normalized = normalized_patch_targets(targets.astype("float32")).numpy()
    reference = (targets - targets.mean(-1, keepdims=True)) / np.sqrt(
        targets.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(normalized, reference, atol=1e-4)


# -- VideoMAE -----------------------------------------------------------------


def tiny_video_mae(**kwargs):
    kwargs.setdefault("mask_ratio", 0.75)
    return keras_ssl.methods.VideoMAE(tiny_video_vit(tubelet=(2, 4, 4)), decoder_dim=16,
                                      decoder_layers=1, decoder_heads=2, seed=0, **kwargs)


def test_video_mae_learns_reconstructs_and_saves(tmp_path):
    model = tiny_video_mae()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(model, clips(16), steps=8)
    videos, masked, reconstructed = model.reconstruct(clips(3))
    assert videos.shape == masked.shape == reconstructed.shape == (3, 4, 16, 16, 1)
    np.testing.assert_array_equal(videos, clips(3).astype("float32"))
    # Tube masking: 12 of the 16 spatial positions are hidden (black) in all
    # 4 frames (besides background that is black anyway).
    black = (masked.reshape(3, 4, 4, 4, 4, 4).transpose(0, 1, 2, 4, 3, 5)
             .reshape(3, 4, 16, 16) == 0).all(-1)
    assert (black.all(axis=1).sum(axis=1) >= 12).all()
    revived = run_model_saving_test(model, clips(4), tmp_path)
    assert revived.mask_ratio == 0.75 and revived.norm_pix_loss
    assert revived.masking.time_slices == 2


def test_video_mae_loss_against_numpy():
    model = tiny_video_mae(norm_pix_loss=True)
    x = clips(4).astype("float32")
    reset = restore_seed(model.masking)
    predictions, mask = model.forward(x)
    reset()
    loss, _ = model.compute_ssl_loss(x, training=False)
    tubes = x.reshape(4, 2, 2, 4, 4, 4, 4, 1).transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(4, 32, 32)
    tubes = tubes / 255.0
    targets = (tubes - tubes.mean(-1, keepdims=True)) / np.sqrt(
        tubes.var(-1, keepdims=True) + 1e-6)
    per_patch = ((predictions.numpy() - targets) ** 2).mean(-1)
    mask = mask.numpy()
    np.testing.assert_allclose(float(loss), (per_patch * mask).sum() / mask.sum(), rtol=1e-4)
    assert mask.sum() == 4 * 2 * 12


def test_video_mae_encoder_exports(tmp_path):
    run_export_test(tiny_video_mae().encoder, clips(3), tmp_path)


def test_video_mae_bad_inputs():
    model = tiny_video_mae()
    model.compile(optimizer="auto")
    with pytest.raises(ValueError, match=r"`x` must have rank 5 .*frames axis"):
        model.fit(clips(4)[:, 0], batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"takes clips of shape \(4, 16, 16, 1\).*\(2, 16, 16, 1\)"):
        model.fit(clips(4, frames=2), batch_size=4, epochs=1, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(clips(4)[:, 0]).batch(2)
    with pytest.raises(ValueError, match="`x` must have rank 5"):
        model.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="VideoMAE needs a video encoder"):
        keras_ssl.methods.VideoMAE(tiny_convnet())
    vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4, hidden_dim=16,
                                  num_layers=1, num_heads=2)
    with pytest.raises(ValueError, match="VideoMAE needs a video encoder"):
        keras_ssl.methods.VideoMAE(vit)
    with pytest.raises(ValueError, match="for videos, VideoMAE"):
        keras_ssl.methods.MaskedAutoencoder(tiny_video_vit())
    with pytest.raises(ValueError, match="divisible by 16"):
        keras_ssl.methods.VideoMAE(tiny_video_vit(), decoder_dim=24, decoder_heads=2)
    with pytest.raises(ValueError, match="at least 2 positions"):
        keras_ssl.methods.VideoMAE(tiny_video_vit(tubelet=(2, 16, 16)))
    with pytest.raises(ValueError, match="mask_ratio"):
        keras_ssl.methods.VideoMAE(tiny_video_vit(), mask_ratio=1.0)


# -- frame order prediction ---------------------------------------------------


def test_frame_order_learns_and_saves(tmp_path):
    model = keras_ssl.methods.FrameOrderPrediction(tiny_convnet(), frames=3, hidden_dim=32,
                                                   seed=0)
    assert model.num_classes == 3
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    losses = run_method_test(model, clips(32, frames=6), steps=12)
    assert losses[0] > 0.7  # about log(3) at the start
    history = model.fit(clips(8, frames=6), batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "order_accuracy"}
    revived = run_model_saving_test(model, clips(4, frames=6), tmp_path)
    assert revived.frames == 3 and revived.combine == "pairwise"
    # `predict` gives clip features: the mean of the frames' encoder features.
    x = clips(2, frames=6)
    expected = model.encoder.predict(x.reshape(12, 16, 16, 1), verbose=0).reshape(2, 6, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected.mean(1), atol=1e-5)


@pytest.mark.parametrize("combine, reverse_equivalent", [("pairwise", True), ("concat", False)])
def test_frame_order_loss_against_numpy(combine, reverse_equivalent):
    model = keras_ssl.methods.FrameOrderPrediction(
        tiny_convnet(), frames=4, combine=combine, reverse_equivalent=reverse_equivalent,
        hidden_dim=8, seed=0)
    assert model.num_classes == (12 if reverse_equivalent else 24)
    x = clips(6, frames=8).astype("float32")
    reset = restore_seed(model.order)
    shuffled, labels = model.order(x)
    logits = model.classify(shuffled).numpy().astype("float64")
    reset()
    loss, _ = model.compute_ssl_loss(x, training=False)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = -log_probs[np.arange(6), labels.numpy()].mean()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    model.compile(optimizer="auto")
    model.fit(x, batch_size=3, epochs=1, verbose=0)


def test_frame_order_encoder_exports_as_an_image_encoder(tmp_path):
    model = keras_ssl.methods.FrameOrderPrediction(tiny_convnet(), frames=3, hidden_dim=8)
    frames = clips(3).reshape(12, 16, 16, 1)
    path = run_export_test(model.encoder, frames, tmp_path)
    assert keras_ssl.export.read_metadata(path)["input_kind"] == "images"


def test_frame_order_bad_inputs():
    model = keras_ssl.methods.FrameOrderPrediction(tiny_convnet(), frames=4, hidden_dim=8)
    model.compile(optimizer="auto")
    with pytest.raises(ValueError, match="samples `frames`=4 frames a clip, but the clips have 3"):
        model.fit(clips(4, frames=3), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="`x` must have rank 5"):
        model.fit(clips(4)[:, 0], batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"takes frames of shape \(16, 16, 1\)"):
        model.fit(clips(4, size=32), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="needs an image encoder"):
        keras_ssl.methods.FrameOrderPrediction(tiny_video_vit())
    with pytest.raises(ValueError, match="`combine` must be one of"):
        keras_ssl.methods.FrameOrderPrediction(tiny_convnet(), combine="sum")
    with pytest.raises(ValueError, match="`frames` must be an integer from 3 to 6"):
        keras_ssl.methods.FrameOrderPrediction(tiny_convnet(), frames=8)
