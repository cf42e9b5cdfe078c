"""Inception-style random resized crop with a box drawn per sample."""

import math
import numbers

import keras
from keras import ops

from keras_ssl.utils import check_images

INTERPOLATIONS = ("bilinear", "nearest")


def check_range(name, value, low=0.0, high=None):
    """Validate a `(low, high)` pair with `low_bound < low <= high [<= high_bound]`."""
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    upper = "" if high is None else f" <= {high:g}"
    if (
        len(pair) != 2
        or not low < pair[0] <= pair[1]
        or (high is not None and pair[1] > high)
    ):
        raise ValueError(
            f"`{name}` must be a pair (low, high) with {low:g} < low <= high"
            f"{upper}, got {value!r}."
        )
    return pair


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomResizedCrop(keras.layers.Layer):
    """Crop a random box of each image and resize it to `(height, width)`.

    The "Inception-style" crop (Szegedy et al. 2015, "Going deeper with
    convolutions"), the augmentation SimCLR (Chen et al. 2020) found to
    matter most. For each sample independently the box covers a fraction of
    the image area drawn uniformly from `scale`, has an aspect ratio
    (width / height) drawn log-uniformly from `ratio`, sits at a uniform
    random position, and is clipped to the image. The box is resampled to
    `(height, width)` with the sampling of `tf.image.crop_and_resize`, by
    matrix products that XLA compiles (see `transform_images`).

    With `training=False` the whole image is resized to `(height, width)`
    (no randomness), so the output shape never depends on the mode.

    Written here because Keras core has no such layer: `keras.layers.
    RandomCrop` draws one offset for the whole batch, does not rescale, and
    returns the input uncropped at inference.

    Args:
        height: output height in pixels.
        width: output width in pixels.
        scale: `(low, high)` range of the box area as a fraction of the
            image area, `0 < low <= high <= 1`.
        ratio: `(low, high)` range of the box aspect ratio (width / height),
            sampled log-uniformly.
        interpolation: `"bilinear"` or `"nearest"`.
        seed: integer seed for the layer's `keras.random.SeedGenerator`.

    Input: `(N, H, W, C)` images, uint8 or float in [0, 255].
    Output: `(N, height, width, C)` in the layer's compute dtype (float32).

    Example:

    >>> import numpy as np
    >>> crop = RandomResizedCrop(24, 24, seed=0)
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3))
    >>> tuple(crop(images.astype("uint8")).shape)
    (4, 24, 24, 3)
    >>> tuple(crop(images.astype("uint8"), training=False).shape)
    (4, 24, 24, 3)
    """

    def __init__(
        self,
        height,
        width,
        scale=(0.08, 1.0),
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        interpolation="bilinear",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("height", height), ("width", width)):
            if (
                not isinstance(value, numbers.Integral)
                or isinstance(value, bool)
                or value < 1
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer, got {value!r}."
                )
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {INTERPOLATIONS}, got "
                f"{interpolation!r}."
            )
        self.height = int(height)
        self.width = int(width)
        self.scale = check_range("scale", scale, low=0.0, high=1.0)
        self.ratio = check_range("ratio", ratio, low=0.0)
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_random_transformation(self, images):
        """Boxes `(N, 4)` as normalized `[y1, x1, y2, x2]`, one per sample."""
        batch = ops.shape(images)[0]
        image_h = ops.cast(ops.shape(images)[1], "float32")
        image_w = ops.cast(ops.shape(images)[2], "float32")
        area = keras.random.uniform(
            (batch,), self.scale[0], self.scale[1], seed=self.seed_generator
        )
        log_ratio = keras.random.uniform(
            (batch,),
            math.log(self.ratio[0]),
            math.log(self.ratio[1]),
            seed=self.seed_generator,
        )
        aspect = ops.exp(log_ratio)  # box width / box height, in pixels
        # Box sides as fractions of the image sides, for a box of pixel area
        # `area * image_h * image_w` and pixel aspect `aspect`; clipped to 1.
        image_aspect = image_w / image_h
        box_w = ops.minimum(ops.sqrt(area * aspect / image_aspect), 1.0)
        box_h = ops.minimum(ops.sqrt(area * image_aspect / aspect), 1.0)
        offsets = keras.random.uniform((batch, 2), seed=self.seed_generator)
        y1 = offsets[:, 0] * (1.0 - box_h)
        x1 = offsets[:, 1] * (1.0 - box_w)
        return ops.stack([y1, x1, y1 + box_h, x1 + box_w], axis=1)

    def transform_images(self, images, boxes):
        """Resample each image's box to `(height, width)`.

        Same sampling as `tf.image.crop_and_resize` (box corners on pixel
        centers), written as two batched matrix products because
        crop_and_resize has no XLA kernel: with it inside, a train step
        cannot be compiled with `jit_compile=True`. Per sample, output rows
        are `Wy @ image` and columns `... @ Wx.T`, where each row of the
        interpolation matrices `Wy` (height, H) and `Wx` (width, W) holds
        the bilinear (or nearest) weights of one output pixel.
        """
        images = ops.cast(images, "float32")
        weights_y = _interpolation_weights(
            boxes[:, 0], boxes[:, 2], ops.shape(images)[1], self.height,
            self.interpolation,
        )
        weights_x = _interpolation_weights(
            boxes[:, 1], boxes[:, 3], ops.shape(images)[2], self.width,
            self.interpolation,
        )
        rows = ops.einsum("nih,nhwc->niwc", weights_y, images)
        return ops.einsum("njw,niwc->nijc", weights_x, rows)

    def call(self, inputs, training=True):
        check_images(inputs, "inputs")
        images = ops.cast(inputs, "float32")
        if not training:
            if tuple(images.shape[1:3]) != (self.height, self.width):
                images = ops.image.resize(
                    images,
                    (self.height, self.width),
                    interpolation=self.interpolation,
                )
        else:
            boxes = self.get_random_transformation(images)
            images = self.transform_images(images, boxes)
        return ops.cast(images, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "height": self.height,
                "width": self.width,
                "scale": list(self.scale),
                "ratio": list(self.ratio),
                "interpolation": self.interpolation,
                "seed": self.seed,
            }
        )
        return config


def _interpolation_weights(start, end, in_size, out_size, interpolation):
    """`(N, out_size, in_size)` weights sampling `[start, end]` of an axis.

    `start` and `end` are normalized box edges `(N,)`; output pixel `i`
    samples input position `start * (in - 1) + i * (end - start) * (in - 1)
    / (out - 1)` (the box center when `out_size` is 1), as
    `tf.image.crop_and_resize` does.
    """
    last = ops.cast(in_size - 1, "float32")
    if out_size > 1:
        steps = ops.arange(out_size, dtype="float32") / float(out_size - 1)
        positions = (start[:, None] + steps[None, :] * (end - start)[:, None]) * last
    else:
        positions = ((start + end) * 0.5 * last)[:, None]
    grid = ops.cast(ops.arange(in_size), "float32")
    distance = positions[:, :, None] - grid[None, None, :]
    if interpolation == "nearest":
        nearest = ops.floor(positions + 0.5)[:, :, None]
        return ops.cast(ops.equal(grid[None, None, :], nearest), "float32")
    # Bilinear: the triangle kernel max(0, 1 - |distance|) gives the two
    # neighbours of each position their linear-interpolation weights.
    return ops.relu(1.0 - ops.abs(distance))
