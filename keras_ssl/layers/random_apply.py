"""Apply a layer to each sample with a probability."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomApply(keras.layers.Layer):
    """Apply `layer` to each sample of the batch with probability `rate`.

    The draw is independent per sample, as SimCLR's "color jitter with
    probability 0.8" needs. Keras core has no such wrapper (its `Pipeline`
    applies every layer to every sample). The wrapped layer runs on the whole
    batch and the result is selected per sample, which keeps the graph
    static (XLA- and tf.data-friendly). `training=False` is the identity.

    Args:
        layer: a layer mapping a batch to a batch of the same shape.
        rate: probability in [0, 1] of applying it to a sample.
        seed: integer seed.

    Example:

    >>> import numpy as np, keras
    >>> flip = RandomApply(keras.layers.RandomFlip("horizontal"), rate=0.5, seed=0)
    >>> tuple(flip(np.zeros((4, 8, 8, 1), "float32")).shape)
    (4, 8, 8, 1)
    """

    def __init__(self, layer, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"`layer` must be a keras Layer, got {type(layer).__name__}.")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"`rate` must lie in [0, 1], got {rate!r}.")
        self.layer = layer
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=True):
        inputs = ops.cast(inputs, "float32")
        if not training or self.rate == 0.0:
            return inputs
        transformed = ops.cast(self.layer(inputs, training=True), "float32")
        if self.rate == 1.0:
            return transformed
        batch = ops.shape(inputs)[0]
        draw = keras.random.uniform((batch,), seed=self.seed_generator)
        apply = ops.reshape(draw < self.rate, (-1,) + (1,) * (len(inputs.shape) - 1))
        return ops.where(apply, transformed, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "rate": self.rate,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
