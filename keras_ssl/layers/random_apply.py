"""Apply a layer to each sample with a probability."""

import keras
from keras import ops


def build_layer(layer, input_shape):
    """Build `layer` (and, for a shape-preserving `Pipeline`, its layers)."""
    if layer.built:
        return
    if isinstance(layer, keras.layers.Pipeline):
        # Pipeline has no build() of its own; build its stages in turn.
        for stage in layer.layers:
            build_layer(stage, input_shape)
        layer.built = True
    else:
        layer.build(input_shape)


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomApply(keras.layers.Layer):
    """Apply `layer` to each sample of a batch with probability `rate`.

    The draw is independent for every sample, as SimCLR's "color jitter
    with probability 0.8" needs (Chen et al. 2020, appendix A). Keras core
    has no such wrapper: `keras.layers.Pipeline` applies every layer to every
    sample, and only some core layers (`RandomGrayscale`, the `factor` of
    `RandomGaussianBlur`) have a per-sample probability of their own.

    The wrapped layer runs on the whole batch and the result is selected per
    sample, which keeps the graph static (runs inside `tf.data.map`, a
    model, or a compiled train step). The wrapped layer must keep the
    shape of its input. `training=False` is the identity (the input cast to
    the layer's compute dtype).

    Args:
        layer: a `keras.layers.Layer` mapping a batch to a batch of the same
            shape; it is called with `training=True`.
        rate: probability in [0, 1] of applying `layer` to a sample.
        seed: integer seed for the layer's `keras.random.SeedGenerator`.

    Example:

    >>> import numpy as np, keras
    >>> layer = RandomApply(keras.layers.RandomGrayscale(1.0), rate=0.5, seed=0)
    >>> images = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3))
    >>> out = layer(images.astype("float32")).numpy()
    >>> out.shape
    (6, 8, 8, 3)
    >>> gray = np.all(out[..., :1] == out, axis=(1, 2, 3))  # which samples
    >>> 0 < int(gray.sum()) < 6
    True
    """

    def __init__(self, layer, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"`layer` must be a keras.layers.Layer, got {type(layer).__name__}."
            )
        if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"`rate` must lie in [0, 1], got {rate!r}.")
        self.layer = layer
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        try:
            output_shape = self.layer.compute_output_shape(input_shape)
        except NotImplementedError:
            output_shape = input_shape
        if tuple(output_shape) != tuple(input_shape):
            raise ValueError(
                "`layer` must keep the shape of its input so that transformed "
                f"and original samples can be mixed; {self.layer.name} maps "
                f"{tuple(input_shape)} to {tuple(output_shape)}."
            )
        build_layer(self.layer, input_shape)

    def call(self, inputs, training=True):
        inputs = ops.cast(inputs, self.compute_dtype)
        if not training or self.rate == 0.0:
            return inputs
        transformed = ops.cast(self.layer(inputs, training=True), self.compute_dtype)
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
