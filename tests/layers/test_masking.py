import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import Patchify
from keras_ssl.layers import RandomPatchMasking
from keras_ssl.layers import RandomPixelMasking
from keras_ssl.layers import RandomRotation90
from keras_ssl.layers import Unpatchify
from tests.testing import run_layer_test
from tests.testing import run_serialization_test
from tests.testing import structured_images


def test_rotation_all_labels_undo_rotation():
    images = structured_images(3, 8, 1).astype("float32")
    rotated, labels = RandomRotation90(mode="all")(images)
    assert rotated.shape == (12, 8, 8, 1)
    for i, k in enumerate(labels.numpy()):
        restored = tf.image.rot90(rotated[i : i + 1], k=4 - int(k)).numpy()
        np.testing.assert_array_equal(restored[0], images[i % 3])


def test_rotation_random_labels_undo_rotation():
    images = structured_images(64, 8, 1).astype("float32")
    rotated, labels = RandomRotation90(mode="random", seed=0)(images)
    assert rotated.shape == images.shape
    assert set(labels.numpy().tolist()) == {0, 1, 2, 3}
    for i, k in enumerate(labels.numpy()[:8]):
        restored = tf.image.rot90(rotated[i : i + 1], k=4 - int(k)).numpy()
        np.testing.assert_array_equal(restored[0], images[i])
    run_serialization_test(RandomRotation90(mode="random", seed=2))


def test_rotation_errors():
    with pytest.raises(ValueError, match="square"):
        RandomRotation90()(np.zeros((2, 8, 6, 1), "float32"))
    with pytest.raises(ValueError, match="mode"):
        RandomRotation90(mode="one")


@pytest.mark.parametrize("channels", [1, 3])
def test_patchify_round_trip(channels):
    images = structured_images(2, 16, channels).astype("float32")
    patches = Patchify(4)(images)
    assert patches.shape == (2, 16, 16 * channels)
    # Patch 1 is the second 4x4 block of the first row of blocks.
    np.testing.assert_array_equal(
        patches[0, 1].numpy(), images[0, 0:4, 4:8, :].reshape(-1)
    )
    back = Unpatchify(4, (16, 16), channels)(patches)
    np.testing.assert_array_equal(back.numpy(), images)
    run_layer_test(Patchify(4), images, expected_output_shape=(2, 16, 16 * channels))
    with pytest.raises(ValueError, match="divisible"):
        Patchify(5)(images)


@pytest.mark.parametrize("ratio,patches", [(0.75, 16), (0.5, 49), (0.1, 10), (0.99, 4)])
def test_patch_masking_exact_count(ratio, patches):
    tokens = np.random.default_rng(0).normal(size=(6, patches, 5)).astype("float32")
    out = RandomPatchMasking(ratio, seed=0)(tokens)
    expected = min(round(ratio * patches), patches - 1)
    mask = out["mask"].numpy()
    assert (mask.sum(axis=1) == expected).all()
    assert out["visible"].shape == (6, patches - expected, 5)
    # Visible tokens are the unmasked ones, found at keep_indices.
    keep = out["keep_indices"].numpy()
    np.testing.assert_array_equal(out["visible"].numpy(), np.take_along_axis(tokens, keep[:, :, None], 1))
    assert (np.take_along_axis(mask, keep, 1) == 0).all()
    assert (np.take_along_axis(mask, out["mask_indices"].numpy(), 1) == 1).all()
    # restore_indices undo the shuffle.
    shuffled = np.concatenate([keep, out["mask_indices"].numpy()], axis=1)
    restored = np.take_along_axis(shuffled, out["restore_indices"].numpy(), 1)
    np.testing.assert_array_equal(restored, np.tile(np.arange(patches), (6, 1)))
    # Different samples get different masks.
    assert len({tuple(m) for m in mask}) > 1


def test_patch_masking_errors():
    for bad in (0.0, 1.0, -0.5, 2):
        with pytest.raises(ValueError, match="mask_ratio"):
            RandomPatchMasking(bad)
    run_serialization_test(RandomPatchMasking(0.6, seed=1))


def test_pixel_masking():
    images = np.full((4, 8, 8, 1), 200.0, "float32")
    masked, mask = RandomPixelMasking(0.25, patch_size=2, seed=0)(images)
    m = mask.numpy()
    assert m.shape == (4, 8, 8, 1)
    assert (m.reshape(4, -1).mean(axis=1) == 0.25).all()
    np.testing.assert_array_equal(masked.numpy()[m == 1], 0)
    np.testing.assert_array_equal(masked.numpy()[m == 0], 200)
    same, zeros = RandomPixelMasking(0.25, seed=0)(images, training=False)
    np.testing.assert_array_equal(same.numpy(), images)
    assert zeros.numpy().sum() == 0
    run_serialization_test(RandomPixelMasking(0.3, patch_size=4, fill_value=128.0, seed=0))
    with pytest.raises(ValueError, match="divisible"):
        RandomPixelMasking(0.5, patch_size=3)(images)
