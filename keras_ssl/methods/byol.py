"""BYOL: bootstrap your own latent, with a momentum target network."""

import keras
import tensorflow as tf

from keras_ssl.losses.negative_cosine import negative_cosine
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class BYOL(JointEmbeddingMethod):
    """BYOL pretraining (Grill et al. 2020, "Bootstrap Your Own Latent").

    An online network (encoder, projector, predictor) predicts the
    projection that a target network, an exponential moving average of the
    online encoder and projector (`MomentumTeacher`), gives to another view
    of the same image. No negatives; the predictor and the slowly moving
    target keep the embeddings from collapsing. The loss is the normalised
    squared error `2 - 2 cos(p, z')`, symmetrised over the two views.

    The target's momentum rises from `momentum` to 1.0 along a cosine over
    the training steps of each `fit` call (`momentum_schedule="cosine"`, as
    in the paper), or stays fixed (`"constant"`).

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: view generator; default `SimCLRAugmenter.for_input_shape`.
        projection_dim: output size of projector and predictor (256 in the
            paper).
        projection_hidden_dim: hidden width of projector and predictor;
            default 4 x the encoder's feature size (4096 in the paper).
        momentum: base momentum of the target, in [0, 1] (0.99 for small
            runs; 0.996 in the paper's 300-epoch runs).
        momentum_schedule: "cosine" or "constant".
        schedule_steps: length of the cosine ramp in optimizer steps;
            default: the steps of the current `fit` call.
        seed: seed of the default augmenter.

    `export_backbone(model.encoder, ...)` exports the online encoder;
    `model.teacher.teacher_layers[0]` is the target encoder (`keras-ssl
    export --teacher`).

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.BYOL(encoder, projection_dim=16, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['embedding_std', 'loss']
    """

    def __init__(
        self,
        encoder,
        augmenter=None,
        projection_dim=256,
        projection_hidden_dim=None,
        momentum=0.99,
        momentum_schedule="cosine",
        schedule_steps=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        # === Layers ===
        hidden = projection_hidden_dim or 4 * self.feature_dim
        self.projector = self.make_head("projector", self.feature_dim, projection_dim, hidden, 2)
        self.predictor = self.make_head("predictor", projection_dim, projection_dim, hidden, 2)
        self.embedding_dim = int(projection_dim)
        self.add_teacher([self.encoder, self.projector], momentum, momentum_schedule,
                         schedule_steps)

        # === Config ===
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.built = True

    def compute_views_loss(self, views, training):
        view_a, view_b = views[:2]
        online = [self.encoder, self.projector]
        z_a = self.encode(online, view_a, training)
        z_b = self.encode(online, view_b, training)
        p_a = self.predictor(z_a, training=training)
        p_b = self.predictor(z_b, training=training)
        t_a = self.teacher(view_a, training=training)
        t_b = self.teacher(view_b, training=training)
        loss = 2.0 + (negative_cosine(p_a, t_b) + negative_cosine(p_b, t_a))
        return tf.reduce_mean(loss), {}, z_a

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_hidden_dim": self.projection_hidden_dim,
        })
        return config
