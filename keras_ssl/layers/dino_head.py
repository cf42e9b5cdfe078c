"""DINO's projection head: an MLP, a bottleneck and weight-normalised prototypes."""

import keras
from keras import ops

from keras_ssl.layers.projection_head import ProjectionHead


@keras.saving.register_keras_serializable(package="keras_ssl")
class DINOHead(keras.layers.Layer):
    """The head of DINO (Caron et al. 2021).

    An MLP (`ProjectionHead` with GELU and no batch norm) to a
    `bottleneck_dim` embedding, L2-normalised, then a linear layer without
    bias whose weight columns are normalised to unit length (weight
    normalisation with the gain fixed at 1, the paper's
    `norm_last_layer=True`): the `output_dim` logits are cosine
    similarities to learned prototypes.

    `embed(x)` returns the normalised bottleneck embedding (what
    `embedding_std` is measured on) and `logits(embed(x))` equals `call(x)`.

    Args:
        output_dim: number of prototypes K (65536 in the paper; a few
            thousand suffice for small data sets).
        hidden_dim: width of the MLP.
        bottleneck_dim: size of the normalised embedding.
        num_layers: Dense layers of the MLP, at least 1.

    Example:

    >>> import numpy as np
    >>> head = DINOHead(output_dim=64, hidden_dim=32, bottleneck_dim=16)
    >>> tuple(head(np.ones((4, 8), "float32")).shape)
    (4, 64)
    """

    def __init__(self, output_dim=4096, hidden_dim=2048, bottleneck_dim=256, num_layers=3,
                 **kwargs):
        super().__init__(**kwargs)
        if int(output_dim) < 1 or int(bottleneck_dim) < 1:
            raise ValueError(
                "`output_dim` and `bottleneck_dim` must be positive integers, got "
                f"{output_dim!r} and {bottleneck_dim!r}."
            )
        self.output_dim = int(output_dim)
        self.hidden_dim = int(hidden_dim)
        self.bottleneck_dim = int(bottleneck_dim)
        self.num_layers = int(num_layers)
        self.mlp = ProjectionHead(
            output_dim=self.bottleneck_dim, hidden_dim=self.hidden_dim,
            num_layers=self.num_layers, batch_norm=False, activation="gelu",
            dtype=self.dtype_policy, name="mlp",
        )

    def build(self, input_shape):
        self.mlp.build(input_shape)
        self.prototypes = self.add_weight(
            shape=(self.bottleneck_dim, self.output_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="prototypes",
        )
        self.built = True

    def embed(self, inputs, training=None):
        x = self.mlp(inputs, training=training)
        # Normalised in float32: the norm's epsilon overflows float16.
        x = ops.normalize(ops.cast(x, "float32"), axis=-1)
        return ops.cast(x, self.compute_dtype)

    def logits(self, embeddings):
        """Cosine similarities of normalised embeddings to the prototypes."""
        kernel = ops.normalize(ops.cast(self.prototypes, "float32"), axis=0)
        return ops.matmul(embeddings, ops.cast(kernel, embeddings.dtype))

    def call(self, inputs, training=None):
        return self.logits(self.embed(inputs, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_dim": self.output_dim,
            "hidden_dim": self.hidden_dim,
            "bottleneck_dim": self.bottleneck_dim,
            "num_layers": self.num_layers,
        })
        return config
