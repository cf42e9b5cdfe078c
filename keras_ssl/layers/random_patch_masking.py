"""Per-sample random masking of patch tokens, as in masked autoencoders."""

import keras
from keras import ops

from keras_ssl.utils import check_fraction


def num_masked(num_patches, mask_ratio):
    """`round(mask_ratio * num_patches)`, clamped to [1, num_patches - 1].

    At least one patch stays visible (the encoder needs an input) and at
    least one is masked (the loss needs a target).
    """
    return int(min(max(round(mask_ratio * num_patches), 1), num_patches - 1))


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomPatchMasking(keras.layers.Layer):
    """Hide a random subset of each sample's patch tokens (He et al. 2021).

    For every sample independently, a random permutation of the P patches
    (argsort of uniform noise, as in the MAE code) keeps the first P - M and
    masks the other M = round(mask_ratio x P), so every sample has exactly
    M masked patches. M is clamped to [1, P - 1] so that at least one patch
    stays visible and at least one is masked.

    Returns a dict:
        "visible": (N, P - M, D) tokens of the kept patches, in permutation order;
        "keep_indices": (N, P - M) int32 patch indices of those tokens;
        "mask_indices": (N, M) int32 indices of the masked patches;
        "mask": (N, P) float32, 1 for masked patches, 0 for visible ones;
        "restore_indices": (N, P) int32, the inverse permutation: gathering
            `concat([visible, mask_tokens])` with it restores patch order.

    Masking is the pretext task itself, so it behaves the same whatever
    the `training` flag: at inference (e.g. to show reconstructions) a
    fresh random mask is drawn as in training.

    Args:
        mask_ratio: fraction of patches to mask, in (0, 1) (MAE: 0.75).
        seed: integer seed for the layer's `keras.random.SeedGenerator`.

    Input: `(N, P, D)` patch tokens with a known P >= 2.

    Example:

    >>> import numpy as np
    >>> out = RandomPatchMasking(mask_ratio=0.75, seed=0)(np.zeros((2, 16, 8), "float32"))
    >>> tuple(out["visible"].shape), int(out["mask"].numpy().sum(axis=1)[0])
    ((2, 4, 8), 12)
    """

    def __init__(self, mask_ratio=0.75, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.mask_ratio = check_fraction("mask_ratio", mask_ratio)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, tokens):
        tokens = ops.convert_to_tensor(tokens)
        if len(tokens.shape) != 3 or tokens.shape[1] is None or tokens.shape[1] < 2:
            raise ValueError(
                "RandomPatchMasking expects tokens of shape (batch, patches, dim) "
                f"with a known number of patches >= 2, got {tuple(tokens.shape)}."
            )
        num_patches = tokens.shape[1]
        masked = num_masked(num_patches, self.mask_ratio)
        keep = num_patches - masked
        batch = ops.shape(tokens)[0]
        noise = keras.random.uniform((batch, num_patches), seed=self.seed_generator)
        shuffle = ops.cast(ops.argsort(noise, axis=1), "int32")
        restore = ops.cast(ops.argsort(shuffle, axis=1), "int32")
        keep_indices = shuffle[:, :keep]
        mask_indices = shuffle[:, keep:]
        visible = ops.take_along_axis(tokens, keep_indices[:, :, None], axis=1)
        mask = ops.cast(restore >= keep, "float32")
        return {
            "visible": visible,
            "keep_indices": keep_indices,
            "mask_indices": mask_indices,
            "mask": mask,
            "restore_indices": restore,
        }

    def get_config(self):
        config = super().get_config()
        config.update({"mask_ratio": self.mask_ratio, "seed": self.seed})
        return config
