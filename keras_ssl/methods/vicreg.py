"""VICReg: variance-invariance-covariance regularisation."""

import keras

from keras_ssl.losses.vicreg import vicreg_terms
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class VICReg(JointEmbeddingMethod):
    """VICReg pretraining (Bardes, Ponce and LeCun 2022, "VICReg:
    Variance-Invariance-Covariance Regularization for Self-Supervised
    Learning").

    The two views' projections are pulled together (invariance, mean
    squared error), while each dimension keeps a standard deviation of at
    least 1 over the batch (variance hinge) and different dimensions stay
    decorrelated (covariance), with the paper's weights 25, 25 and 1.
    Batch statistics are those of the global batch under `tf.distribute`.
    The three terms are logged as `invariance`, `variance` and `covariance`.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: view generator; default `SimCLRAugmenter.for_input_shape`.
        projection_dim: width of every projector layer (8192 in the paper);
            default 8 x the encoder's feature size.
        projection_layers: Dense layers of the projector (3 in the paper).
        invariance_weight, variance_weight, covariance_weight: 25, 25, 1.
        gather_across_replicas: statistics over the global batch.
        seed: seed of the default augmenter.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.VICReg(encoder, projection_dim=32, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['covariance', 'embedding_std', 'invariance', 'loss', 'variance']
    """

    def __init__(self, encoder, augmenter=None, projection_dim=None, projection_layers=3,
                 invariance_weight=25.0, variance_weight=25.0, covariance_weight=1.0,
                 gather_across_replicas=True, seed=None, **kwargs):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        for name, value in (("invariance_weight", invariance_weight),
                            ("variance_weight", variance_weight),
                            ("covariance_weight", covariance_weight)):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0, got {value!r}.")
        dim = projection_dim or 8 * self.feature_dim
        # === Layers ===
        self.projector = self.make_head("projector", self.feature_dim, dim, dim,
                                        projection_layers)
        self.term_trackers = [keras.metrics.Mean(name=n)
                              for n in ("invariance", "variance", "covariance")]
        self.embedding_dim = int(dim)
        # === Config ===
        self.projection_dim = projection_dim
        self.projection_layers = projection_layers
        self.invariance_weight = float(invariance_weight)
        self.variance_weight = float(variance_weight)
        self.covariance_weight = float(covariance_weight)
        self.gather_across_replicas = gather_across_replicas
        self.built = True

    def method_metrics(self):
        return self.term_trackers

    def compute_views_loss(self, views, training):
        student = [self.encoder, self.projector]
        z_a = self.encode(student, views[0], training)
        z_b = self.encode(student, views[1], training)
        terms = vicreg_terms(z_a, z_b, self.gather_across_replicas)
        for tracker, value in zip(self.term_trackers, terms):
            tracker.update_state(value)
        invariance, variance, covariance = terms
        loss = (self.invariance_weight * invariance + self.variance_weight * variance
                + self.covariance_weight * covariance)
        return loss, {}, z_a

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_layers": self.projection_layers,
            "invariance_weight": self.invariance_weight,
            "variance_weight": self.variance_weight,
            "covariance_weight": self.covariance_weight,
            "gather_across_replicas": self.gather_across_replicas,
        })
        return config
