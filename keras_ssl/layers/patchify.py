"""Split images into flattened patches, and put them back together."""

import numbers

import keras
from keras import ops

from keras_ssl.utils import check_image_size


def check_patch_size(image_shape, patch_size, argument="patch_size", shape=None):
    """Raise a ValueError unless `patch_size` divides both H and W.

    `image_shape` starts with (H, W); unknown (None) sizes are not checked.
    `shape`, if given, is the full input shape quoted in the message.
    """
    if (
        not isinstance(patch_size, numbers.Integral)
        or isinstance(patch_size, bool)
        or patch_size < 1
    ):
        raise ValueError(f"`{argument}` must be a positive integer, got {patch_size!r}.")
    height, width = image_shape[0], image_shape[1]
    if (
        height is not None
        and width is not None
        and (height % patch_size or width % patch_size)
    ):
        shape = tuple(image_shape) if shape is None else tuple(shape)
        raise ValueError(
            f"`{argument}`={patch_size} does not divide the image size "
            f"{height}x{width} (shape {shape}): choose a patch size that "
            "divides both the height and the width."
        )


def _check_image_batch(shape, patch_size, layer):
    if len(shape) != 4:
        raise ValueError(
            f"{layer} expects images of rank 4 (batch, height, width, "
            f"channels), got shape {tuple(shape)}."
        )
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"{layer} needs a known height, width and channel count, got "
            f"shape {tuple(shape)}."
        )
    check_patch_size(tuple(shape[1:]), patch_size, shape=shape)


@keras.saving.register_keras_serializable(package="keras_ssl")
class Patchify(keras.layers.Layer):
    """`(N, H, W, C)` images -> `(N, (H/p) * (W/p), p * p * C)` patches.

    The patch sequence of ViT and masked autoencoders (Dosovitskiy et al.
    2021; He et al. 2021). Patches are in row-major order (left to right,
    then top to bottom); each patch is flattened row-major with channels
    last. `Unpatchify` is the exact inverse. A pure reshape/transpose, so
    it is exact and has no weights (`keras.layers.Conv2D` with stride `p`
    would embed patches, not return their pixels).

    Args:
        patch_size: side `p` of the square patches; must divide H and W.

    Example:

    >>> import numpy as np
    >>> images = np.arange(2 * 8 * 8 * 3, dtype="float32").reshape(2, 8, 8, 3)
    >>> patches = Patchify(4)(images)
    >>> tuple(patches.shape)
    (2, 4, 48)
    >>> bool(np.all(patches[0, 1].numpy() == images[0, :4, 4:8].reshape(-1)))
    True
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        check_patch_size((None, None), patch_size)
        self.patch_size = int(patch_size)

    def build(self, input_shape):
        _check_image_batch(tuple(input_shape), self.patch_size, "Patchify")

    def call(self, images):
        images = ops.convert_to_tensor(images)
        _check_image_batch(tuple(images.shape), self.patch_size, "Patchify")
        _, h, w, c = images.shape
        p = self.patch_size
        x = ops.reshape(images, (-1, h // p, p, w // p, p, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, (h // p) * (w // p), p * p * c))

    def compute_output_shape(self, input_shape):
        _check_image_batch(tuple(input_shape), self.patch_size, "Patchify")
        _, h, w, c = input_shape
        p = self.patch_size
        return (input_shape[0], (h // p) * (w // p), p * p * c)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class Unpatchify(keras.layers.Layer):
    """Inverse of `Patchify`: `(N, P, p * p * C)` patches -> `(N, H, W, C)`.

    Args:
        patch_size: side `p` of the square patches.
        image_size: `(H, W)` of the images, or an int for square images;
            `patch_size` must divide both.
        channels: number of image channels C.

    Example:

    >>> import numpy as np
    >>> x = np.arange(2 * 8 * 8 * 1, dtype="float32").reshape(2, 8, 8, 1)
    >>> y = Unpatchify(4, image_size=(8, 8), channels=1)(Patchify(4)(x))
    >>> bool(np.all(np.asarray(y) == x))
    True
    """

    def __init__(self, patch_size, image_size, channels, **kwargs):
        super().__init__(**kwargs)
        check_patch_size((None, None), patch_size)
        size = check_image_size(image_size)
        if int(channels) < 1:
            raise ValueError(f"`channels` must be a positive integer, got {channels!r}.")
        self.patch_size = int(patch_size)
        self.image_size = size
        self.channels = int(channels)
        check_patch_size(self.image_size, self.patch_size)

    def _check_patches(self, shape):
        p, c = self.patch_size, self.channels
        num_patches = (self.image_size[0] // p) * (self.image_size[1] // p)
        expected = (num_patches, p * p * c)
        if len(shape) != 3 or tuple(
            got for got, want in zip(shape[1:], expected) if got not in (None, want)
        ):
            raise ValueError(
                f"Unpatchify(patch_size={p}, image_size={self.image_size}, "
                f"channels={c}) expects patches of shape (batch, {expected[0]}, "
                f"{expected[1]}), got shape {tuple(shape)}."
            )

    def build(self, input_shape):
        self._check_patches(tuple(input_shape))

    def call(self, patches):
        patches = ops.convert_to_tensor(patches)
        self._check_patches(tuple(patches.shape))
        p, c = self.patch_size, self.channels
        gh, gw = self.image_size[0] // p, self.image_size[1] // p
        x = ops.reshape(patches, (-1, gh, gw, p, p, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, gh * p, gw * p, c))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size[0], self.image_size[1], self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "image_size": list(self.image_size),
                "channels": self.channels,
            }
        )
        return config
