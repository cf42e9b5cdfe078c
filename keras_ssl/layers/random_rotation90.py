"""Rotate images by multiples of 90 degrees and return the rotation as a label."""

import keras
import tensorflow as tf
from keras import ops

from keras_ssl.utils import check_images

MODES = ("all", "random")


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomRotation90(keras.layers.Layer):
    """Rotation with label, for rotation prediction (Gidaris et al. 2018).

    Returns `(rotated_images, labels)` where label k means a rotation by
    k x 90 degrees counter-clockwise. With `mode="all"` each image appears in
    all four rotations (batch 4N, ordered rotation-major: the N images at
    0 degrees, then the N at 90, ...), as in the paper; with
    `mode="random"` each image gets one rotation drawn at random (batch N).

    Keras core's `RandomRotation` cannot return the angle it drew, hence
    this layer (rotations by `tf.image.rot90`, exact, no interpolation).
    Images must be square so that every rotation keeps the shape. The
    rotation is the pretext task itself, so it is applied whatever the
    `training` flag.

    Args:
        mode: `"all"` (4N outputs, every rotation of every image) or
            `"random"` (N outputs, one rotation per image drawn uniformly).
        seed: integer seed for `mode="random"`.

    Input: `(N, S, S, C)` images. Output: `(images, labels)`, images in the
    layer's compute dtype (float32), labels int32 in {0, 1, 2, 3}.

    Example:

    >>> import numpy as np
    >>> images, labels = RandomRotation90(mode="all")(np.zeros((2, 8, 8, 1), "float32"))
    >>> tuple(images.shape), labels.numpy().tolist()
    ((8, 8, 8, 1), [0, 0, 1, 1, 2, 2, 3, 3])
    """

    def __init__(self, mode="all", seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
        self.mode = mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_square(self, images):
        check_images(images, "inputs")
        shape = tuple(images.shape)
        if shape[1] is not None and shape[2] is not None and shape[1] != shape[2]:
            raise ValueError(
                "Rotation prediction needs square images (height == width) so "
                f"that every rotation keeps the shape; got images of shape {tuple(shape)}."
            )

    def call(self, inputs):
        self._check_square(inputs)
        images = ops.cast(inputs, self.compute_dtype)
        if self.mode == "all":
            rotated = [tf.image.rot90(images, k=k) for k in range(4)]
            batch = ops.shape(images)[0]
            labels = ops.repeat(ops.arange(4, dtype="int32"), batch)
            return ops.concatenate(rotated, axis=0), labels
        batch = ops.shape(images)[0]
        labels = keras.random.randint((batch,), 0, 4, seed=self.seed_generator, dtype="int32")
        rotated = images
        for k in range(1, 4):
            mask = ops.reshape(ops.equal(labels, k), (-1, 1, 1, 1))
            rotated = ops.where(mask, tf.image.rot90(images, k=k), rotated)
        return rotated, labels

    def compute_output_shape(self, input_shape):
        n = input_shape[0]
        if self.mode == "all" and n is not None:
            n = 4 * n
        return (n,) + tuple(input_shape[1:]), (n,)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "seed": self.seed})
        return config
