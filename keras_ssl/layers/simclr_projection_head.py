"""The SimCLR projection head: an MLP with batch normalization."""

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLRProjectionHead(keras.layers.Layer):
    """MLP projection head of SimCLR (Chen et al. 2020; v2: Chen et al. 2020b).

    `num_layers - 1` blocks of Dense -> BatchNormalization -> ReLU, then a
    final Dense -> BatchNormalization (no ReLU, BN without a learned scale
    offset), as in SimCLR v2. The contrastive loss is computed on its output;
    the features used downstream are the encoder's, before this head.

    Args:
        output_dim: size of the projection (the loss's embedding).
        hidden_dim: width of the hidden layers.
        num_layers: number of Dense layers, at least 1.
        synchronized: synchronize batch-norm statistics across replicas
            under `tf.distribute` (the global batch's statistics, as in the
            paper's TPU training).

    Example:

    >>> import numpy as np
    >>> head = SimCLRProjectionHead(output_dim=16, hidden_dim=32)
    >>> tuple(head(np.zeros((4, 64), "float32")).shape)
    (4, 16)
    """

    def __init__(
        self, output_dim=128, hidden_dim=512, num_layers=2, synchronized=False, **kwargs
    ):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")
        if int(output_dim) < 1 or int(hidden_dim) < 1:
            raise ValueError(
                "`output_dim` and `hidden_dim` must be positive integers, got "
                f"{output_dim!r} and {hidden_dim!r}."
            )
        self.output_dim = int(output_dim)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.synchronized = bool(synchronized)
        self.blocks = []
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            units = self.output_dim if last else self.hidden_dim
            self.blocks.append(
                keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")
            )
            self.blocks.append(
                keras.layers.BatchNormalization(
                    center=not last,
                    scale=not last,
                    momentum=0.9,
                    epsilon=1e-5,
                    synchronized=self.synchronized,
                    name=f"batch_norm_{i}",
                )
            )
            if not last:
                self.blocks.append(keras.layers.ReLU(name=f"relu_{i}"))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.blocks:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.blocks:
            if isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "synchronized": self.synchronized,
            }
        )
        return config
