"""The SimCLR augmentation preset, built from Keras core layers."""

import keras
from keras import ops

from keras_ssl.layers.random_apply import RandomApply
from keras_ssl.layers.random_resized_crop import RandomResizedCrop


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLRAugmenter(keras.layers.Layer):
    """SimCLR's view generator (Chen et al. 2020, appendix A).

    In order: random resized crop to `image_size`, horizontal flip, color
    jitter with probability `jitter_rate`, grayscale with probability
    `grayscale_rate`, Gaussian blur with probability `blur_rate`, and
    solarization with probability `solarize_rate` (BYOL's addition). Every
    draw is per sample. Images are float in [0, 255] in and out.

    Color jitter follows SimCLR's strength `s`: brightness and contrast by up
    to 0.8 s, saturation by up to 0.8 s, hue by up to 0.2 s (Keras core's
    `RandomColorJitter` factors). For 1-channel images only brightness and
    contrast are jittered, and grayscale is skipped: saturation, hue and
    grayscale have no meaning without color.

    `training=False` only resizes to `image_size` (the identity when the
    input already has that size).

    Args:
        image_size: (height, width) of the views, or an int.
        channels: number of image channels (1 or 3).
        crop_scale: area range of the random crop.
        flip: random horizontal flip.
        jitter_strength: SimCLR's color distortion strength `s`.
        jitter_rate: probability of color jitter.
        grayscale_rate: probability of grayscale (3 channels only).
        blur_rate: probability of Gaussian blur.
        solarize_rate: probability of solarization.
        seed: integer seed; each sub-layer gets its own derived seed.

    Example:

    >>> import numpy as np
    >>> augment = SimCLRAugmenter(image_size=(32, 32), channels=3, seed=0)
    >>> tuple(augment(np.zeros((2, 32, 32, 3), "uint8")).shape)
    (2, 32, 32, 3)
    """

    def __init__(
        self,
        image_size,
        channels=3,
        crop_scale=(0.08, 1.0),
        flip=True,
        jitter_strength=0.5,
        jitter_rate=0.8,
        grayscale_rate=0.2,
        blur_rate=0.0,
        solarize_rate=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(
                f"`image_size` must be (height, width), got {image_size!r}."
            )
        if int(channels) not in (1, 3):
            raise ValueError(f"`channels` must be 1 or 3, got {channels!r}.")
        for name, rate in (
            ("jitter_rate", jitter_rate),
            ("grayscale_rate", grayscale_rate),
            ("blur_rate", blur_rate),
            ("solarize_rate", solarize_rate),
        ):
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1], got {rate!r}.")
        if float(jitter_strength) < 0:
            raise ValueError(f"`jitter_strength` must be >= 0, got {jitter_strength!r}.")
        self.image_size = image_size
        self.channels = int(channels)
        self.crop_scale = tuple(float(s) for s in crop_scale)
        self.flip = bool(flip)
        self.jitter_strength = float(jitter_strength)
        self.jitter_rate = float(jitter_rate)
        self.grayscale_rate = float(grayscale_rate)
        self.blur_rate = float(blur_rate)
        self.solarize_rate = float(solarize_rate)
        self.seed = seed

        def sub_seed(i):
            return None if seed is None else int(seed) + 1000 * i

        # === Layers ===
        s = self.jitter_strength
        self.stages = [
            RandomResizedCrop(
                image_size[0], image_size[1], scale=self.crop_scale, seed=sub_seed(1)
            )
        ]
        if self.flip:
            self.stages.append(keras.layers.RandomFlip("horizontal", seed=sub_seed(2)))
        if self.jitter_rate > 0 and s > 0:
            color = {}
            if self.channels == 3:
                color = {
                    "saturation_factor": (max(0.0, 0.5 - 0.4 * s), min(1.0, 0.5 + 0.4 * s)),
                    "hue_factor": min(1.0, 0.2 * s),
                }
            jitter = keras.layers.RandomColorJitter(
                value_range=(0, 255),
                brightness_factor=min(1.0, 0.8 * s),
                contrast_factor=min(1.0, 0.8 * s),
                seed=sub_seed(3),
                **color,
            )
            self.stages.append(RandomApply(jitter, rate=self.jitter_rate, seed=sub_seed(4)))
        if self.channels == 3 and self.grayscale_rate > 0:
            self.stages.append(
                keras.layers.RandomGrayscale(
                    factor=self.grayscale_rate, data_format="channels_last", seed=sub_seed(5)
                )
            )
        if self.blur_rate > 0:
            kernel = max(3, (int(0.1 * min(image_size)) // 2) * 2 + 1)
            # Keras core's RandomGaussianBlur draws one sigma per batch; the
            # per-sample choice of whether to blur comes from RandomApply.
            blur = keras.layers.RandomGaussianBlur(
                factor=1.0, kernel_size=kernel, sigma=(0.1, 2.0),
                value_range=(0, 255), seed=sub_seed(6),
            )
            self.stages.append(RandomApply(blur, rate=self.blur_rate, seed=sub_seed(7)))
        if self.solarize_rate > 0:
            solarize = keras.layers.Solarization(
                addition_factor=0.0, threshold_factor=(0.5, 0.5),
                value_range=(0, 255), seed=sub_seed(8),
            )
            self.stages.append(
                RandomApply(solarize, rate=self.solarize_rate, seed=sub_seed(9))
            )

    @classmethod
    def for_input_shape(cls, input_shape, **overrides):
        """Defaults suited to images of `input_shape` (H, W, C).

        Small images (under 64 px) use a crop area of (0.2, 1.0) instead of
        (0.08, 1.0), since an 8% crop of a 28-px image leaves about 8 px,
        and no blur, which SimCLR also drops for CIFAR-10. Larger images
        get the ImageNet recipe with blur at probability 0.5.
        """
        if len(input_shape) != 3:
            raise ValueError(
                f"`input_shape` must be (height, width, channels), got {input_shape!r}."
            )
        height, width, channels = (int(d) for d in input_shape)
        small = min(height, width) < 64
        config = {
            "image_size": (height, width),
            "channels": channels,
            "crop_scale": (0.2, 1.0) if small else (0.08, 1.0),
            "blur_rate": 0.0 if small else 0.5,
        }
        config.update(overrides)
        return cls(**config)

    def build(self, input_shape):
        shape = (input_shape[0], self.image_size[0], self.image_size[1], input_shape[-1])
        for layer in self.stages[1:]:
            if not layer.built:
                layer.build(shape)
        self.built = True

    def call(self, inputs, training=True):
        images = ops.cast(inputs, "float32")
        if not training:
            return self.stages[0](images, training=False)
        for layer in self.stages:
            images = layer(images, training=True)
        return ops.clip(images, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size[0], self.image_size[1], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "channels": self.channels,
                "crop_scale": list(self.crop_scale),
                "flip": self.flip,
                "jitter_strength": self.jitter_strength,
                "jitter_rate": self.jitter_rate,
                "grayscale_rate": self.grayscale_rate,
                "blur_rate": self.blur_rate,
                "solarize_rate": self.solarize_rate,
                "seed": self.seed,
            }
        )
        return config
