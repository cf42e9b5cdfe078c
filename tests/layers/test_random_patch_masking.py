import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import RandomPatchMasking
from tests.testing import run_serialization_test


def tokens(n=6, patches=16, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, patches, dim)).astype("float32")


@pytest.mark.parametrize(
    "ratio,patches", [(0.75, 16), (0.5, 49), (0.1, 10), (0.99, 4), (0.01, 8)]
)
def test_exact_masked_count_and_consistent_indices(ratio, patches):
    x = tokens(patches=patches)
    out = RandomPatchMasking(ratio, seed=0)(x)
    expected = min(max(round(ratio * patches), 1), patches - 1)
    keep = out["keep_indices"].numpy()
    masked = out["mask_indices"].numpy()
    mask = out["mask"].numpy()
    assert keep.dtype == np.int32 and masked.dtype == np.int32
    assert mask.shape == (6, patches) and mask.dtype == np.float32
    assert (mask.sum(axis=1) == expected).all()
    assert keep.shape == (6, patches - expected) and masked.shape == (6, expected)
    assert tuple(out["visible"].shape) == (6, patches - expected, 5)
    # Visible tokens are the ones at keep_indices; mask agrees with indices.
    np.testing.assert_array_equal(
        out["visible"].numpy(), np.take_along_axis(x, keep[:, :, None], axis=1)
    )
    assert (np.take_along_axis(mask, keep, 1) == 0).all()
    assert (np.take_along_axis(mask, masked, 1) == 1).all()
    # keep + mask indices form a permutation of the patches.
    np.testing.assert_array_equal(
        np.sort(np.concatenate([keep, masked], axis=1), axis=1),
        np.tile(np.arange(patches), (6, 1)),
    )


def test_restore_indices_unshuffle_like_mae():
    x = tokens(n=4, patches=16)
    out = RandomPatchMasking(0.75, seed=1)(x)
    # MAE decoder input: visible tokens then mask tokens, unshuffled.
    filler = np.zeros((4, 12, 5), "float32")
    shuffled = np.concatenate([out["visible"].numpy(), filler], axis=1)
    restored = np.take_along_axis(shuffled, out["restore_indices"].numpy()[:, :, None], 1)
    visible = out["mask"].numpy()[:, :, None] == 0
    np.testing.assert_array_equal(restored, np.where(visible, x, 0.0))


def test_per_sample_seeded_and_same_at_inference():
    x = np.repeat(tokens(n=1), 8, axis=0)
    out = RandomPatchMasking(0.5, seed=3)(x)
    assert len({tuple(m) for m in out["mask"].numpy()}) > 1
    again = RandomPatchMasking(0.5, seed=3)(x)
    np.testing.assert_array_equal(out["mask"].numpy(), again["mask"].numpy())
    layer = RandomPatchMasking(0.5, seed=3)
    inference = layer(x, training=False)["mask"].numpy()
    assert (inference.sum(axis=1) == 8).all()


def test_graphs_and_serialization():
    layer = RandomPatchMasking(0.75, seed=0)
    ds = tf.data.Dataset.from_tensors(tokens()).map(lambda t: layer(t)["visible"])
    assert tuple(next(iter(ds)).shape) == (6, 4, 5)
    inputs = keras.Input((16, 5))
    out = layer(inputs)
    assert tuple(out["visible"].shape) == (None, 4, 5)
    assert tuple(out["restore_indices"].shape) == (None, 16)
    revived = run_serialization_test(RandomPatchMasking(0.6, seed=1))
    assert revived.mask_ratio == 0.6 and revived.seed == 1


def test_errors():
    for bad in (0.0, 1.0, -0.5, 2):
        with pytest.raises(ValueError, match="mask_ratio"):
            RandomPatchMasking(bad)
    with pytest.raises(ValueError, match=r"\(batch, patches, dim\)"):
        RandomPatchMasking(0.5)(np.zeros((2, 16), "float32"))
    with pytest.raises(ValueError, match="patches >= 2"):
        RandomPatchMasking(0.5)(np.zeros((2, 1, 4), "float32"))
