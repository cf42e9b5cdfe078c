"""Split images into flattened patches."""

import keras
from keras import ops


def check_patch_size(image_shape, patch_size, argument="patch_size"):
    """Raise a clear error unless H and W are divisible by `patch_size`."""
    height, width = image_shape[0], image_shape[1]
    if int(patch_size) < 1:
        raise ValueError(f"`{argument}` must be a positive integer, got {patch_size!r}.")
    if height is not None and width is not None and (height % patch_size or width % patch_size):
        raise ValueError(
            f"Image size {height}x{width} is not divisible by `{argument}`={patch_size}: "
            "choose a patch size that divides both the height and the width."
        )


@keras.saving.register_keras_serializable(package="keras_ssl")
class Patchify(keras.layers.Layer):
    """(N, H, W, C) images -> (N, (H/p) * (W/p), p * p * C) patches.

    Patches are in row-major order (left to right, top to bottom); each is
    flattened row-major with channels last. `Unpatchify` is the inverse.

    Example:

    >>> import numpy as np
    >>> tuple(Patchify(4)(np.zeros((2, 8, 8, 3), "float32")).shape)
    (2, 4, 48)
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        check_patch_size((None, None), self.patch_size)

    def call(self, images):
        images = ops.convert_to_tensor(images)
        if len(images.shape) != 4:
            raise ValueError(f"Patchify expects rank-4 images, got shape {images.shape}.")
        _, h, w, c = images.shape
        check_patch_size((h, w), self.patch_size)
        p = self.patch_size
        x = ops.reshape(images, (-1, h // p, p, w // p, p, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, (h // p) * (w // p), p * p * c))

    def compute_output_shape(self, input_shape):
        _, h, w, c = input_shape
        p = self.patch_size
        return (input_shape[0], (h // p) * (w // p), p * p * c)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class Unpatchify(keras.layers.Layer):
    """Inverse of `Patchify`: (N, P, p * p * C) patches -> (N, H, W, C).

    Example:

    >>> import numpy as np
    >>> x = np.arange(2 * 8 * 8 * 1, dtype="float32").reshape(2, 8, 8, 1)
    >>> y = Unpatchify(4, image_size=(8, 8), channels=1)(Patchify(4)(x))
    >>> bool(np.all(np.asarray(y) == x))
    True
    """

    def __init__(self, patch_size, image_size, channels, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(int(s) for s in image_size)
        self.channels = int(channels)
        check_patch_size(self.image_size, self.patch_size)

    def call(self, patches):
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
