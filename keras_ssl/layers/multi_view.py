"""Several independently augmented views of a batch."""

import numbers

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class MultiView(keras.layers.Layer):
    """Return `num_views` independently augmented views of the input batch.

    The positive pairs of contrastive methods (two views in SimCLR, Chen et
    al. 2020; more in multi-crop set-ups, Caron et al. 2020). Each view
    calls `augmenter` afresh, so every view draws new per-sample randomness
    (the augmenter's seed generator advances between calls). Use it in a
    `tf.data.map` to move augmentation out of the train step, or inside a
    custom method. With `training=False` every view is the augmenter's
    inference output (for `SimCLRAugmenter`: the resized input).

    Args:
        augmenter: a layer mapping a batch of images to augmented images.
        num_views: number of views, at least 1.

    Returns a tuple of `num_views` tensors.

    Example:

    >>> import numpy as np
    >>> from keras_ssl.layers import SimCLRAugmenter
    >>> views = MultiView(SimCLRAugmenter(16, channels=1, seed=0), num_views=2)
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 1))
    >>> a, b = views(images.astype("uint8"))
    >>> tuple(a.shape), tuple(b.shape)
    ((4, 16, 16, 1), (4, 16, 16, 1))
    >>> bool(np.any(a.numpy() != b.numpy()))
    True
    """

    def __init__(self, augmenter, num_views=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(augmenter, keras.layers.Layer):
            raise TypeError(
                f"`augmenter` must be a keras Layer, got {type(augmenter).__name__}."
            )
        if (
            isinstance(num_views, bool)
            or not isinstance(num_views, numbers.Integral)
            or num_views < 1
        ):
            raise ValueError(f"`num_views` must be >= 1, got {num_views!r}.")
        self.augmenter = augmenter
        self.num_views = int(num_views)

    def build(self, input_shape):
        if not self.augmenter.built:
            self.augmenter.build(input_shape)
        self.built = True

    def call(self, inputs, training=True):
        return tuple(
            self.augmenter(inputs, training=training) for _ in range(self.num_views)
        )

    def compute_output_shape(self, input_shape):
        shape = self.augmenter.compute_output_shape(input_shape)
        return tuple(shape for _ in range(self.num_views))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "augmenter": keras.saving.serialize_keras_object(self.augmenter),
                "num_views": self.num_views,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["augmenter"] = keras.saving.deserialize_keras_object(config["augmenter"])
        return cls(**config)
