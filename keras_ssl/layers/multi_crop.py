"""Multi-crop views: a few large global crops and several small local crops."""

import numbers

import keras

from keras_ssl.layers.random_resized_crop import check_range
from keras_ssl.layers.simclr_augmenter import SimCLRAugmenter
from keras_ssl.utils import check_image_size


@keras.saving.register_keras_serializable(package="keras_ssl")
class MultiCrop(keras.layers.Layer):
    """Multi-crop augmentation (Caron et al. 2020, SwAV; DINO, 2021).

    Returns `global_crops` views of `global_size` covering a large share of
    the image (`global_scale`), then `local_crops` views of the smaller
    `local_size` covering a small share (`local_scale`): a tuple of
    `global_crops + local_crops` batches, global ones first. Every view is
    drawn independently, per sample, by a `SimCLRAugmenter` (random resized
    crop, flip, color jitter, grayscale, blur, solarize); the global and
    local crops differ in size and crop scale only. Students see all
    crops; teachers (DINO) only the global ones.

    Args:
        global_size: `(height, width)` or int, size of the global crops.
        local_size: size of the local crops, at most `global_size`.
        global_crops: number of global crops, at least 1 (2 in the papers).
        local_crops: number of local crops, at least 0.
        global_scale: area fraction range of the global crops.
        local_scale: area fraction range of the local crops.
        channels: image channels, 1 or 3.
        augment: further `SimCLRAugmenter` arguments shared by every crop
            (e.g. `{"jitter_strength": 0.5, "blur_rate": 0.5}`).
        seed: integer seed.

    Example:

    >>> import numpy as np
    >>> crops = MultiCrop(28, 12, local_crops=4, channels=1, seed=0)
    >>> views = crops(np.zeros((2, 28, 28, 1), "uint8"))
    >>> [tuple(v.shape) for v in views][1:3]
    [(2, 28, 28, 1), (2, 12, 12, 1)]
    >>> len(views)
    6
    """

    def __init__(
        self,
        global_size,
        local_size=None,
        global_crops=2,
        local_crops=0,
        global_scale=(0.4, 1.0),
        local_scale=(0.05, 0.4),
        channels=3,
        augment=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.global_size = check_image_size(global_size, "global_size")
        self.local_size = check_image_size(
            local_size if local_size is not None else global_size, "local_size"
        )
        if (self.local_size[0] > self.global_size[0]
                or self.local_size[1] > self.global_size[1]):
            raise ValueError(
                f"`local_size` {self.local_size} must not exceed `global_size` "
                f"{self.global_size}: local crops are the small views."
            )
        for name, value, least in (("global_crops", global_crops, 1),
                                   ("local_crops", local_crops, 0)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or value < least):
                raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}.")
        self.global_crops = int(global_crops)
        self.local_crops = int(local_crops)
        self.global_scale = check_range("global_scale", global_scale, 0.0, 1.0)
        self.local_scale = check_range("local_scale", local_scale, 0.0, 1.0)
        self.channels = int(channels)
        self.augment = dict(augment or {})
        self.seed = seed
        common = dict(self.augment, channels=self.channels, dtype=self.dtype_policy)
        self.global_augmenter = SimCLRAugmenter(
            self.global_size, crop_scale=self.global_scale, seed=seed,
            name="global_augmenter", **common,
        )
        self.local_augmenter = SimCLRAugmenter(
            self.local_size, crop_scale=self.local_scale,
            seed=None if seed is None else int(seed) + 1, name="local_augmenter", **common,
        )

    @classmethod
    def for_input_shape(cls, input_shape, local_crops=6, **overrides):
        """Multi-crop fitted to images of `input_shape` (height, width, channels).

        Global crops keep the input size; local crops are 3/7 of it (DINO's
        96 / 224), at least 8 px. Color jitter strength 0.5 and no blur
        under 64 px, as `SimCLRAugmenter.for_input_shape`.
        """
        shape = tuple(input_shape)[-3:]
        height, width, channels = (int(d) for d in shape)
        small = min(height, width) < 64
        config = {
            "global_size": (height, width),
            "local_size": (max(8, round(height * 3 / 7)), max(8, round(width * 3 / 7))),
            "local_crops": local_crops,
            "channels": channels,
            "augment": {"jitter_strength": 0.5 if small else 1.0,
                        "blur_rate": 0.0 if small else 0.5},
        }
        config.update(overrides)
        return cls(**config)

    @property
    def num_crops(self):
        return self.global_crops + self.local_crops

    def build(self, input_shape):
        self.global_augmenter.build(input_shape)
        self.local_augmenter.build(input_shape)
        self.built = True

    def call(self, inputs, training=True):
        views = [self.global_augmenter(inputs, training=training)
                 for _ in range(self.global_crops)]
        views += [self.local_augmenter(inputs, training=training)
                  for _ in range(self.local_crops)]
        return tuple(views)

    def compute_output_shape(self, input_shape):
        batch, channels = input_shape[0], input_shape[-1]
        return tuple(
            [(batch, *self.global_size, channels)] * self.global_crops
            + [(batch, *self.local_size, channels)] * self.local_crops
        )

    def get_config(self):
        config = super().get_config()
        config.update({
            "global_size": list(self.global_size),
            "local_size": list(self.local_size),
            "global_crops": self.global_crops,
            "local_crops": self.local_crops,
            "global_scale": list(self.global_scale),
            "local_scale": list(self.local_scale),
            "channels": self.channels,
            "augment": self.augment,
            "seed": self.seed,
        })
        return config
