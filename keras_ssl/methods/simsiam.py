"""SimSiam: a siamese network with a predictor and a stop-gradient."""

import keras
import tensorflow as tf

from keras_ssl.losses.negative_cosine import negative_cosine
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimSiam(JointEmbeddingMethod):
    """SimSiam pretraining (Chen and He 2021, "Exploring Simple Siamese
    Representation Learning").

    Both views go through the same encoder and projector; a predictor maps
    one view's projection to the other's, whose gradient is stopped. No
    negatives, no momentum encoder: the stop-gradient alone prevents
    collapse (watch `embedding_std`). Loss: `-cos(p_a, sg(z_b)) / 2 -
    cos(p_b, sg(z_a)) / 2`, in [-1, 1].

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: view generator; default `SimCLRAugmenter.for_input_shape`.
        projection_dim: projector output (2048 in the paper); default
            4 x the encoder's feature size.
        predictor_hidden_dim: the predictor's bottleneck; default a quarter
            of `projection_dim` (as the paper's 512 for 2048).
        seed: seed of the default augmenter.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.SimSiam(encoder, projection_dim=32, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['embedding_std', 'loss']
    """

    def __init__(self, encoder, augmenter=None, projection_dim=None,
                 predictor_hidden_dim=None, seed=None, **kwargs):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        dim = projection_dim or 4 * self.feature_dim
        bottleneck = predictor_hidden_dim or max(1, dim // 4)
        # === Layers ===
        self.projector = self.make_head("projector", self.feature_dim, dim, dim, 3,
                                        output_batch_norm=True)
        self.predictor = self.make_head("predictor", dim, dim, bottleneck, 2)
        self.embedding_dim = int(dim)
        # === Config ===
        self.projection_dim = projection_dim
        self.predictor_hidden_dim = predictor_hidden_dim
        self.built = True

    def compute_views_loss(self, views, training):
        view_a, view_b = views[:2]
        student = [self.encoder, self.projector]
        z_a = self.encode(student, view_a, training)
        z_b = self.encode(student, view_b, training)
        p_a = self.predictor(z_a, training=training)
        p_b = self.predictor(z_b, training=training)
        loss = (negative_cosine(p_a, tf.stop_gradient(z_b))
                + negative_cosine(p_b, tf.stop_gradient(z_a))) / 2.0
        return tf.reduce_mean(loss), {}, z_a

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "predictor_hidden_dim": self.predictor_hidden_dim,
        })
        return config
