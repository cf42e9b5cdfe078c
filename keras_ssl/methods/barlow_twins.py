"""Barlow Twins: make the cross-correlation of two views' embeddings the identity."""

import keras

from keras_ssl.losses.barlow_twins import barlow_twins
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class BarlowTwins(JointEmbeddingMethod):
    """Barlow Twins pretraining (Zbontar et al. 2021, "Barlow Twins:
    Self-Supervised Learning via Redundancy Reduction").

    The cross-correlation matrix of the two views' projections, each
    standardised over the batch, is pushed to the identity: diagonal terms
    to 1 (invariance), off-diagonal terms to 0 (redundancy reduction),
    weighted by `redundancy_weight`. Under `tf.distribute` the matrix is
    that of the global batch.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: view generator; default `SimCLRAugmenter.for_input_shape`.
        projection_dim: width of every projector layer (8192 in the paper);
            default 8 x the encoder's feature size.
        projection_layers: Dense layers of the projector (3 in the paper).
        redundancy_weight: lambda (5e-3 in the paper).
        gather_across_replicas: statistics over the global batch.
        seed: seed of the default augmenter.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.BarlowTwins(encoder, projection_dim=32, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['embedding_std', 'loss']
    """

    def __init__(self, encoder, augmenter=None, projection_dim=None, projection_layers=3,
                 redundancy_weight=5e-3, gather_across_replicas=True, seed=None, **kwargs):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        if redundancy_weight < 0:
            raise ValueError(f"`redundancy_weight` must be >= 0, got {redundancy_weight!r}.")
        dim = projection_dim or 8 * self.feature_dim
        # === Layers ===
        self.projector = self.make_head("projector", self.feature_dim, dim, dim,
                                        projection_layers)
        self.embedding_dim = int(dim)
        # === Config ===
        self.projection_dim = projection_dim
        self.projection_layers = projection_layers
        self.redundancy_weight = redundancy_weight
        self.gather_across_replicas = gather_across_replicas
        self.built = True

    def compute_views_loss(self, views, training):
        student = [self.encoder, self.projector]
        z_a = self.encode(student, views[0], training)
        z_b = self.encode(student, views[1], training)
        loss = barlow_twins(z_a, z_b, self.redundancy_weight, self.gather_across_replicas)
        return loss, {}, z_a

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_layers": self.projection_layers,
            "redundancy_weight": self.redundancy_weight,
            "gather_across_replicas": self.gather_across_replicas,
        })
        return config
