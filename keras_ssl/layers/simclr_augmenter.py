"""The SimCLR augmentation preset, built from Keras core layers."""

import keras
from keras import ops

from keras_ssl.layers.random_apply import RandomApply
from keras_ssl.layers.random_apply import build_layer
from keras_ssl.layers.random_resized_crop import RandomResizedCrop
from keras_ssl.layers.random_resized_crop import check_range
from keras_ssl.utils import check_image_size
from keras_ssl.utils import check_images

MAX_JITTER_STRENGTH = 1.25  # brightness and contrast factors 0.8 * s must be <= 1
SMALL_IMAGE_SIZE = 64


class _RandomSaturation(keras.layers.Layer):
    """Per-sample HSV saturation scaling, as `tf.image.adjust_saturation`.

    Written by hand because `keras.layers.RandomSaturation` clips the HSV
    saturation channel to `value_range` (0-255) instead of [0, 1]: a factor
    above 1 pushes RGB channels far below 0 (measured: -99 for a factor of
    1.4 on [0, 255] images) and shifts hues once they are clipped back.
    Here the saturation channel is clipped to [0, 1], as in SimCLR's code.
    """

    def __init__(self, lower, upper, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.lower = float(lower)
        self.upper = float(upper)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        images = ops.cast(images, self.compute_dtype)
        if not training:
            return images
        batch = ops.shape(images)[0]
        factor = keras.random.uniform(
            (batch, 1, 1), self.lower, self.upper, seed=self.seed_generator
        )
        hsv = ops.image.rgb_to_hsv(ops.clip(images, 0.0, 255.0) / 255.0)
        saturation = ops.clip(hsv[..., 1] * factor, 0.0, 1.0)
        hsv = ops.stack([hsv[..., 0], saturation, hsv[..., 2]], axis=-1)
        return ops.image.hsv_to_rgb(hsv) * 255.0

    def compute_output_shape(self, input_shape):
        return input_shape


class _Solarize(keras.layers.Layer):
    """Invert pixels at or above the mid-gray threshold 128 (BYOL's solarize).

    Written by hand because `keras.layers.Solarization` draws its threshold
    from `[threshold_factor[0], threshold_factor[1] * 255]`: with
    `threshold_factor=(0.5, 0.5)` the threshold is uniform in [0.5, 127.5]
    rather than the fixed mid-gray of Grill et al. 2020.
    """

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        return ops.where(images < 128.0, images, 255.0 - images)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLRAugmenter(keras.layers.Layer):
    """SimCLR's view generator (Chen et al. 2020, "A Simple Framework for
    Contrastive Learning of Visual Representations", appendix A).

    In order, every draw per sample:

    1. `RandomResizedCrop` to `image_size` with area fraction `crop_scale`
       and aspect ratio in [3/4, 4/3];
    2. horizontal flip with probability 0.5 (`keras.layers.RandomFlip`);
    3. color jitter with probability `jitter_rate` (`RandomApply`), of
       strength `s = jitter_strength` as in SimCLR's appendix A: brightness
       shifted by up to 0.8 s of the value range and contrast scaled by
       [1 - 0.8 s, 1 + 0.8 s] (`keras.layers.RandomColorJitter`), hue
       rotated by up to 0.2 s of the color circle, saturation scaled by
       [1 - 0.8 s, 1 + 0.8 s]. The operations run in this fixed order where
       SimCLR shuffles it per image;
    4. grayscale with probability `grayscale_rate`
       (`keras.layers.RandomGrayscale`);
    5. Gaussian blur with probability `blur_rate`, kernel 10% of the image
       side, sigma in [0.1, 2.0] (`keras.layers.RandomGaussianBlur`; Keras
       draws one sigma per batch, SimCLR one per image);
    6. solarization with probability `solarize_rate` (the addition of BYOL,
       Grill et al. 2020): pixels >= 128 become 255 - x.

    For 1-channel (grayscale) images only brightness and contrast are
    jittered and the grayscale step is skipped: saturation, hue and
    grayscale conversion have no meaning without color.

    Images are uint8 or float in [0, 255] in, float32 (the layer's compute
    dtype) clipped to [0, 255] out. `training=False` only resizes to
    `image_size`, which is the identity for inputs of that size.

    Args:
        image_size: `(height, width)` of the views, or an int for square views.
        channels: number of image channels, 1 or 3.
        crop_scale: `(low, high)` area fraction range of the random crop.
        flip: whether to flip horizontally at random.
        jitter_strength: SimCLR's color distortion strength `s`, in
            [0, 1.25] (SimCLR: 1.0 on ImageNet, 0.5 on CIFAR-10).
        jitter_rate: probability of color jitter per sample.
        grayscale_rate: probability of grayscale per sample (3 channels).
        blur_rate: probability of Gaussian blur per sample.
        solarize_rate: probability of solarization per sample.
        seed: integer seed; every random sub-layer gets its own seed
            derived from it.

    Example:

    >>> import numpy as np
    >>> augment = SimCLRAugmenter(image_size=(32, 32), channels=3, seed=0)
    >>> images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3))
    >>> views = augment(images.astype("uint8"))
    >>> tuple(views.shape), views.dtype.name
    ((2, 32, 32, 3), 'float32')
    >>> 0.0 <= float(views.numpy().min()) <= float(views.numpy().max()) <= 255.0
    True
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
        size = check_image_size(image_size)
        if channels not in (1, 3):
            raise ValueError(
                f"`channels` must be 1 (grayscale) or 3 (RGB), got {channels!r}."
            )
        for name, rate in (
            ("jitter_rate", jitter_rate),
            ("grayscale_rate", grayscale_rate),
            ("blur_rate", blur_rate),
            ("solarize_rate", solarize_rate),
        ):
            if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1], got {rate!r}.")
        if not 0.0 <= float(jitter_strength) <= MAX_JITTER_STRENGTH:
            raise ValueError(
                f"`jitter_strength` must lie in [0, {MAX_JITTER_STRENGTH}] (the "
                "brightness and contrast factors 0.8 * s must not exceed 1), "
                f"got {jitter_strength!r}."
            )
        # === Config ===
        self.image_size = size
        self.channels = int(channels)
        self.crop_scale = check_range("crop_scale", crop_scale, low=0.0, high=1.0)
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
        self.crop = RandomResizedCrop(
            size[0], size[1], scale=self.crop_scale, seed=sub_seed(1), name="crop"
        )
        stages = []
        if self.flip:
            stages.append(
                keras.layers.RandomFlip("horizontal", seed=sub_seed(2), name="flip")
            )
        s = self.jitter_strength
        if self.jitter_rate > 0 and s > 0:
            jitter = keras.layers.RandomColorJitter(
                value_range=(0, 255),
                brightness_factor=0.8 * s,
                contrast_factor=0.8 * s,
                # RandomHue rotates by +-uniform(0, factor) / 2 of the circle.
                hue_factor=min(1.0, 0.4 * s) if self.channels == 3 else None,
                seed=sub_seed(3),
                name="color_jitter",
            )
            if self.channels == 3:
                saturation = _RandomSaturation(
                    max(0.0, 1.0 - 0.8 * s), 1.0 + 0.8 * s, seed=sub_seed(10),
                    name="saturation",
                )
                jitter = keras.layers.Pipeline([jitter, saturation], name="jitter")
            stages.append(
                RandomApply(
                    jitter, rate=self.jitter_rate, seed=sub_seed(4),
                    name="random_jitter",
                )
            )
        if self.channels == 3 and self.grayscale_rate > 0:
            stages.append(
                keras.layers.RandomGrayscale(
                    factor=self.grayscale_rate,
                    data_format="channels_last",
                    seed=sub_seed(5),
                    name="grayscale",
                )
            )
        if self.blur_rate > 0:
            kernel = max(3, (int(0.1 * min(size)) // 2) * 2 + 1)
            # A (p, p) `factor` applies the blur to each sample with
            # probability p; a single float f would draw p from [0, f].
            stages.append(
                keras.layers.RandomGaussianBlur(
                    factor=(self.blur_rate, self.blur_rate),
                    kernel_size=kernel,
                    sigma=(0.1, 2.0),
                    value_range=(0, 255),
                    seed=sub_seed(6),
                    name="blur",
                )
            )
        if self.solarize_rate > 0:
            stages.append(
                RandomApply(
                    _Solarize(name="solarize"), rate=self.solarize_rate,
                    seed=sub_seed(9), name="random_solarize",
                )
            )
        self.augment = keras.layers.Pipeline(stages, name="augment")

    @classmethod
    def for_input_shape(cls, input_shape, **overrides):
        """An augmenter with defaults suited to images of `input_shape`.

        `input_shape` is `(height, width, channels)` (a leading batch
        dimension is dropped). Views keep the input size.

        * Images under 64 px (MNIST, CIFAR): crop area (0.2, 1.0) instead of
          (0.08, 1.0), since an 8% crop of a 28-px image is about 8 px wide
          and carries little of the object; no blur, which SimCLR also drops
          on CIFAR-10 because it wipes out most of a small image's detail;
          jitter strength 0.5 (SimCLR's CIFAR-10 setting).
        * Larger images: SimCLR's ImageNet recipe, crop area (0.08, 1.0),
          jitter strength 1.0, blur with probability 0.5.

        Any constructor argument given in `overrides` wins.

        Example:

        >>> augment = SimCLRAugmenter.for_input_shape((28, 28, 1))
        >>> augment.crop_scale, augment.blur_rate, augment.channels
        ((0.2, 1.0), 0.0, 1)
        """
        shape = tuple(input_shape)
        if len(shape) == 4:
            shape = shape[1:]
        if len(shape) != 3 or any(d is None for d in shape):
            raise ValueError(
                "`input_shape` must be (height, width, channels) with known "
                f"sizes, got {input_shape!r}."
            )
        height, width, channels = (int(d) for d in shape)
        small = min(height, width) < SMALL_IMAGE_SIZE
        config = {
            "image_size": (height, width),
            "channels": channels,
            "crop_scale": (0.2, 1.0) if small else (0.08, 1.0),
            "jitter_strength": 0.5 if small else 1.0,
            "blur_rate": 0.0 if small else 0.5,
        }
        config.update(overrides)
        return cls(**config)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.channels:
            raise ValueError(
                f"SimCLRAugmenter was built for `channels`={self.channels} but "
                f"got images of shape {tuple(input_shape)}. Pass "
                f"channels={input_shape[-1]} (or use "
                "SimCLRAugmenter.for_input_shape)."
            )
        self.crop.build(input_shape)
        shape = self.compute_output_shape(input_shape)
        build_layer(self.augment, shape)

    def call(self, inputs, training=True):
        check_images(inputs, "inputs")
        images = self.crop(inputs, training=training)
        if not training:
            return images
        images = self.augment(images, training=True)
        return ops.clip(ops.cast(images, self.compute_dtype), 0.0, 255.0)

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
