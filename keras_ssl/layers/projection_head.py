"""MLP projection and prediction heads of joint-embedding methods."""

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class ProjectionHead(keras.layers.Layer):
    """An MLP head: `num_layers - 1` hidden blocks, then a linear output.

    A hidden block is Dense -> BatchNormalization -> activation (Dense with
    a bias and no batch norm when `batch_norm=False`). The output is a
    Dense layer, followed by a batch norm without learned scale and offset
    when `output_batch_norm=True`. The heads of the joint-embedding papers
    are settings of this one layer:

    * SimCLR v2 projector: 2-3 layers, `output_batch_norm=True`
      (`SimCLRProjectionHead`);
    * MoCo v2 projector: 2 layers, `batch_norm=False`;
    * BYOL projector and predictor, SimSiam predictor: 2 layers;
    * SimSiam projector: 3 layers, `output_batch_norm=True`;
    * Barlow Twins and VICReg projectors: 3 layers, equal widths.

    Args:
        output_dim: size of the output embedding.
        hidden_dim: width of the hidden layers.
        num_layers: number of Dense layers, at least 1.
        batch_norm: batch norm in the hidden blocks.
        output_batch_norm: batch norm (no scale, no offset) on the output.
        activation: activation of the hidden blocks.
        synchronized: synchronize batch-norm statistics across replicas
            under `tf.distribute`.

    Example:

    >>> import numpy as np
    >>> head = ProjectionHead(output_dim=16, hidden_dim=32, num_layers=3)
    >>> tuple(head(np.zeros((4, 64), "float32")).shape)
    (4, 16)
    """

    def __init__(
        self,
        output_dim=128,
        hidden_dim=512,
        num_layers=2,
        batch_norm=True,
        output_batch_norm=False,
        activation="relu",
        synchronized=False,
        **kwargs,
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
        self.batch_norm = bool(batch_norm)
        self.output_batch_norm = bool(output_batch_norm)
        self.activation = activation
        self.synchronized = bool(synchronized)
        policy = self.dtype_policy
        self.blocks = []
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            units = self.output_dim if last else self.hidden_dim
            norm = self.output_batch_norm if last else self.batch_norm
            self.blocks.append(
                keras.layers.Dense(units, use_bias=not norm, dtype=policy, name=f"dense_{i}")
            )
            if norm:
                self.blocks.append(
                    keras.layers.BatchNormalization(
                        center=not last,
                        scale=not last,
                        momentum=0.9,
                        epsilon=1e-5,
                        synchronized=self.synchronized,
                        dtype=policy,
                        name=f"batch_norm_{i}",
                    )
                )
            if not last:
                self.blocks.append(
                    keras.layers.Activation(activation, dtype=policy, name=f"{activation}_{i}")
                )

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
                "batch_norm": self.batch_norm,
                "output_batch_norm": self.output_batch_norm,
                "activation": self.activation,
                "synchronized": self.synchronized,
            }
        )
        return config
