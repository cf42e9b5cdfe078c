"""The SimCLR projection head: an MLP with batch normalization."""

import keras

from keras_ssl.layers.projection_head import ProjectionHead


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLRProjectionHead(ProjectionHead):
    """MLP projection head of SimCLR (Chen et al. 2020; v2: Chen et al. 2020b).

    A `ProjectionHead` with SimCLR v2's settings: `num_layers - 1` blocks of
    Dense -> BatchNormalization -> ReLU, then a final Dense ->
    BatchNormalization (no ReLU, BN without a learned scale and offset).
    The contrastive loss is computed on its output; the features used
    downstream are the encoder's, before this head.

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

    def __init__(self, output_dim=128, hidden_dim=512, num_layers=2, synchronized=False,
                 **kwargs):
        kwargs.setdefault("output_batch_norm", True)
        super().__init__(output_dim=output_dim, hidden_dim=hidden_dim,
                         num_layers=num_layers, synchronized=synchronized, **kwargs)
