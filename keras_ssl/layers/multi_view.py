"""Several independently augmented views of a batch."""

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class MultiView(keras.layers.Layer):
    """Return `num_views` independently augmented views of the input batch.

    Each view calls `augmenter` afresh, so every view draws new per-sample
    randomness. Use it in a `tf.data.map` to move augmentation out of the
    train step, or inside a custom method.

    Args:
        augmenter: a layer mapping a batch of images to augmented images.
        num_views: number of views, at least 1.

    Example:

    >>> import numpy as np
    >>> from keras_ssl.layers import SimCLRAugmenter
    >>> views = MultiView(SimCLRAugmenter(16, channels=1, seed=0), num_views=2)
    >>> a, b = views(np.zeros((4, 16, 16, 1), "uint8"))
    >>> tuple(a.shape), tuple(b.shape)
    ((4, 16, 16, 1), (4, 16, 16, 1))
    """

    def __init__(self, augmenter, num_views=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(augmenter, keras.layers.Layer):
            raise TypeError(
                f"`augmenter` must be a keras Layer, got {type(augmenter).__name__}."
            )
        if int(num_views) < 1:
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
