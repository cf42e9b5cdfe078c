"""Per-sample random masking of patch tokens, as in masked autoencoders."""

import numbers

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

    Tube masking (VideoMAE, Tong et al. 2022): with `time_slices` = T' > 1
    the tokens are those of a video, in time-major order (T' slices of S =
    P / T' spatial positions each, as `backbones.VideoViT` makes them). One
    random spatial mask is drawn per sample, M = round(mask_ratio x S)
    positions clamped to [1, S - 1], and hidden in every time slice alike:
    a masked "tube" runs through the whole clip, so a hidden patch cannot
    be copied from the same place in a neighbouring frame. "visible" then
    holds the (S - M) x T' tokens of the kept positions, and the mask has
    M x T' ones a sample.

    Args:
        mask_ratio: fraction of patches to mask, in (0, 1) (MAE: 0.75;
            VideoMAE: 0.9).
        seed: integer seed for the layer's `keras.random.SeedGenerator`.
        time_slices: number of time slices T' the tokens hold (1: images).

    Input: `(N, P, D)` patch tokens with a known P >= 2 (P divisible by
    `time_slices`, with at least 2 spatial positions).

    Example:

    >>> import numpy as np
    >>> out = RandomPatchMasking(mask_ratio=0.75, seed=0)(np.zeros((2, 16, 8), "float32"))
    >>> tuple(out["visible"].shape), int(out["mask"].numpy().sum(axis=1)[0])
    ((2, 4, 8), 12)
    """

    def __init__(self, mask_ratio=0.75, seed=None, time_slices=1, **kwargs):
        super().__init__(**kwargs)
        self.mask_ratio = check_fraction("mask_ratio", mask_ratio)
        if (not isinstance(time_slices, numbers.Integral) or isinstance(time_slices, bool)
                or time_slices < 1):
            raise ValueError(f"`time_slices` must be a positive integer, got {time_slices!r}.")
        self.seed = seed
        self.time_slices = int(time_slices)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, tokens):
        tokens = ops.convert_to_tensor(tokens)
        if len(tokens.shape) != 3 or tokens.shape[1] is None or tokens.shape[1] < 2:
            raise ValueError(
                "RandomPatchMasking expects tokens of shape (batch, patches, dim) "
                f"with a known number of patches >= 2, got {tuple(tokens.shape)}."
            )
        num_patches = tokens.shape[1]
        slices = self.time_slices
        if num_patches % slices or num_patches // slices < 2:
            raise ValueError(
                f"RandomPatchMasking(time_slices={slices}) needs a number of patches that "
                f"is a multiple of {slices} with at least 2 spatial positions a slice, got "
                f"{num_patches} patches."
            )
        spatial = num_patches // slices
        keep = (spatial - num_masked(spatial, self.mask_ratio)) * slices
        batch = ops.shape(tokens)[0]
        noise = keras.random.uniform((batch, spatial), seed=self.seed_generator)
        shuffle = ops.cast(ops.argsort(noise, axis=1), "int32")
        if slices > 1:
            # Each spatial position, in shuffled order, brings its tokens of
            # every time slice (token t * S + s): whole tubes are kept or hidden.
            offsets = ops.arange(slices, dtype="int32") * spatial
            shuffle = ops.reshape(shuffle[:, :, None] + offsets[None, None, :],
                                  (-1, num_patches))
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
        config.update({"mask_ratio": self.mask_ratio, "seed": self.seed,
                       "time_slices": self.time_slices})
        return config
