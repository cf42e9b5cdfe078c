"""Random pixel, square-patch and blockwise masking, for denoising autoencoders
and masked image modelling."""

import keras
import numpy as np
from keras import ops

from keras_ssl.layers.patchify import check_patch_size
from keras_ssl.utils import check_fraction
from keras_ssl.utils import check_images


def random_block_mask(batch, grid_size, block_size, mask_ratio, seed_generator,
                      dtype="float32"):
    """(batch, H, W) masks of `block_size` x `block_size` blocks of a grid.

    The grid (pixels, or patch tokens) is tiled by blocks; where the block
    size does not divide the grid, the last row and column of blocks are
    cut short. For each sample independently, exactly
    round(mask_ratio x blocks) blocks are masked (at least one; where there
    is more than one block, at least one stays visible): the first blocks
    of a per-sample random permutation (ranks of uniform noise). 1 marks a
    masked cell. Shared by `RandomPixelMasking` and `methods.SimMIM`.
    """
    h, w = (int(d) for d in grid_size)
    b = int(block_size)
    gh, gw = -(-h // b), -(-w // b)
    blocks = gh * gw
    masked = int(min(max(round(mask_ratio * blocks), 1), max(blocks - 1, 1)))
    noise = keras.random.uniform((batch, blocks), seed=seed_generator)
    ranks = ops.argsort(ops.argsort(noise, axis=1), axis=1)
    block_mask = ops.cast(ranks < masked, dtype)
    mask = ops.reshape(block_mask, (-1, gh, 1, gw, 1))
    mask = ops.tile(mask, (1, 1, b, 1, b))
    return ops.reshape(mask, (-1, gh * b, gw * b))[:, :h, :w]


def blockwise_mask(batch, grid_size, mask_ratio, seed_generator, min_block=4,
                   max_aspect=3.0, candidates=16, dtype="float32"):
    """(batch, H, W) BEiT-style blockwise masks of a patch grid (Bao et al. 2022).

    Each sample's mask is a union of rectangles with a random area (between
    `min_block` cells and the target round(mask_ratio x H x W)), a random
    aspect ratio in [1 / max_aspect, max_aspect] (log-uniform) and a random
    position. BEiT adds rectangles one by one until the target is reached;
    here `candidates` rectangles are drawn at once and the union of the
    first k is kept, k chosen so that the masked count is closest to the
    target: the same distribution of shapes, with no per-sample loop, so
    it runs inside a compiled step. 1 marks a masked cell.
    """
    h, w = (int(d) for d in grid_size)
    cells = h * w
    target = float(max(1, round(mask_ratio * cells)))
    low = float(min(max(int(min_block), 1), target))
    m = int(candidates)
    u = keras.random.uniform((batch, m, 4), seed=seed_generator)
    area = low + u[..., 0] * (target - low)
    log_aspect = (2.0 * u[..., 1] - 1.0) * float(np.log(max_aspect))
    aspect = ops.exp(log_aspect)
    rows = ops.clip(ops.round(ops.sqrt(area * aspect)), 1.0, float(h))
    cols = ops.clip(ops.round(ops.sqrt(area / aspect)), 1.0, float(w))
    top = ops.floor(u[..., 2] * (float(h) - rows + 1.0))
    left = ops.floor(u[..., 3] * (float(w) - cols + 1.0))
    i = ops.arange(h, dtype="float32")[None, None, :]
    j = ops.arange(w, dtype="float32")[None, None, :]
    in_rows = ops.logical_and(i >= top[..., None], i < (top + rows)[..., None])
    in_cols = ops.logical_and(j >= left[..., None], j < (left + cols)[..., None])
    blocks = ops.cast(ops.logical_and(in_rows[..., :, None], in_cols[..., None, :]), "float32")
    unions = ops.cast(ops.cumsum(blocks, axis=1) > 0, "float32")  # (batch, m, h, w)
    counts = ops.sum(unions, axis=(2, 3))
    k = ops.argmin(ops.abs(counts - target), axis=1)
    chosen = ops.take_along_axis(unions, ops.reshape(k, (-1, 1, 1, 1)), axis=1)[:, 0]
    return ops.cast(chosen, dtype)


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomPixelMasking(keras.layers.Layer):
    """Replace a random subset of pixels (or square patches) by `fill_value`.

    The corruption of a denoising autoencoder (Vincent et al. 2008, "masking
    noise"; with square patches, the context encoder of Pathak et al. 2016).
    For each sample independently, exactly round(mask_ratio x cells) cells
    are masked (at least one), where a cell is a pixel (`patch_size=1`) or a
    `patch_size` x `patch_size` square on a grid; the cells are the first of
    a per-sample random permutation (argsort of uniform noise). Every
    channel of a masked pixel is set to `fill_value`.

    Returns `(masked_images, mask)` with `mask` of shape (N, H, W, 1), 1
    where masked. With `training=False` the images pass unchanged (cast to
    the compute dtype) and the mask is all zeros, so a model can be run on
    clean images at inference.

    Args:
        mask_ratio: fraction of cells to mask, in (0, 1).
        patch_size: side of the square cells; must divide H and W.
        fill_value: value written into masked pixels (images are in [0, 255]).
        seed: integer seed for the layer's `keras.random.SeedGenerator`.

    Example:

    >>> import numpy as np
    >>> masked, mask = RandomPixelMasking(0.5, patch_size=2, seed=0)(np.ones((1, 4, 4, 1), "float32"))
    >>> float(mask.numpy().mean())
    0.5
    """

    def __init__(
        self, mask_ratio=0.5, patch_size=1, fill_value=0.0, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.mask_ratio = check_fraction("mask_ratio", mask_ratio)
        check_patch_size((None, None), patch_size)
        self.patch_size = int(patch_size)
        self.fill_value = float(fill_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        check_images(images, "images")
        _, h, w, _ = images.shape
        if h is None or w is None:
            raise ValueError(
                "RandomPixelMasking needs a known image height and width, got "
                f"shape {tuple(images.shape)}."
            )
        check_patch_size(tuple(images.shape[1:]), self.patch_size, shape=images.shape)
        images = ops.cast(images, self.compute_dtype)
        if not training:
            return images, ops.zeros_like(images[..., :1])
        batch = ops.shape(images)[0]
        mask = random_block_mask(batch, (h, w), self.patch_size, self.mask_ratio,
                                 self.seed_generator, self.compute_dtype)[..., None]
        masked_images = images * (1.0 - mask) + self.fill_value * mask
        return masked_images, mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), tuple(input_shape[:3]) + (1,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_ratio": self.mask_ratio,
                "patch_size": self.patch_size,
                "fill_value": self.fill_value,
                "seed": self.seed,
            }
        )
        return config
