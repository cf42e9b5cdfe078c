"""Inception-style random resized crop with a box drawn per sample."""

import math

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomResizedCrop(keras.layers.Layer):
    """Crop a random box of each image and resize it to (height, width).

    Szegedy et al. 2015 ("Going deeper with convolutions"), the crop SimCLR
    relies on most. For each sample independently, the box covers a fraction
    of the image area drawn uniformly from `scale`, with an aspect ratio
    drawn log-uniformly from `ratio`, at a uniform position; it is clipped
    to the image. With `training=False` the whole image is resized, so the
    output shape never depends on the mode.

    Written here because Keras core has no such layer: `keras.layers.
    RandomCrop` draws one offset per batch and returns the input uncropped
    at inference. The resampling uses `tf.image.crop_and_resize`, which
    takes one box per sample.

    Args:
        height, width: output size.
        scale: range of the box's area as a fraction of the image's.
        ratio: range of the box's aspect ratio (width / height).
        interpolation: "bilinear" or "nearest".
        seed: integer seed.

    Example:

    >>> import numpy as np
    >>> crop = RandomResizedCrop(24, 24, seed=0)
    >>> tuple(crop(np.zeros((4, 32, 32, 3), "float32")).shape)
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
        if int(height) < 1 or int(width) < 1:
            raise ValueError(
                f"`height` and `width` must be positive, got {height!r}, {width!r}."
            )
        scale = tuple(float(s) for s in scale)
        ratio = tuple(float(r) for r in ratio)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                f"`scale` must be (low, high) with 0 < low <= high <= 1, got {scale!r}."
            )
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"`ratio` must be (low, high) with 0 < low <= high, got {ratio!r}."
            )
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"`interpolation` must be 'bilinear' or 'nearest', got {interpolation!r}."
            )
        self.height = int(height)
        self.width = int(width)
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def get_random_transformation(self, images):
        """Normalised boxes (N, 4) as [y1, x1, y2, x2], one per sample."""
        batch = ops.shape(images)[0]
        h_img = ops.cast(ops.shape(images)[1], "float32")
        w_img = ops.cast(ops.shape(images)[2], "float32")
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
        # Box sides as fractions of the image sides, for a box whose pixel
        # area is `area * h_img * w_img` and whose pixel aspect is `aspect`.
        image_aspect = w_img / h_img
        box_w = ops.minimum(ops.sqrt(area * aspect / image_aspect), 1.0)
        box_h = ops.minimum(ops.sqrt(area * image_aspect / aspect), 1.0)
        y1 = keras.random.uniform((batch,), 0.0, 1.0, seed=self.seed_generator) * (1.0 - box_h)
        x1 = keras.random.uniform((batch,), 0.0, 1.0, seed=self.seed_generator) * (1.0 - box_w)
        return ops.stack([y1, x1, y1 + box_h, x1 + box_w], axis=1)

    def transform_images(self, images, boxes):
        batch = ops.shape(images)[0]
        return tf.image.crop_and_resize(
            images,
            boxes,
            box_indices=tf.range(batch),
            crop_size=(self.height, self.width),
            method=self.interpolation,
        )

    def call(self, inputs, training=True):
        images = ops.cast(inputs, "float32")
        if not training:
            if tuple(images.shape[1:3]) == (self.height, self.width):
                return images
            return ops.image.resize(
                images, (self.height, self.width), interpolation=self.interpolation
            )
        boxes = self.get_random_transformation(images)
        return self.transform_images(images, boxes)

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
