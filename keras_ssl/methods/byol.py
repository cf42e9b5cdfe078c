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

    With a `layers.MultiCrop` augmenter, the targets of the global views
    are predicted from every other view (global and local).

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
        projector_output_batch_norm: batch norm on the projector's output.
            The paper's projector has none; without it BYOL's encoder got
            worse than a random one on the digits demo (10%-label probe
            0.675 against 0.744), with it 0.850, so it is on by default.
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

    multi_crop = True

    def __init__(
        self,
        encoder,
        augmenter=None,
        projection_dim=256,
        projection_hidden_dim=None,
        momentum=0.99,
        momentum_schedule="cosine",
        schedule_steps=None,
        projector_output_batch_norm=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        # === Layers ===
        hidden = projection_hidden_dim or 4 * self.feature_dim
        self.projector = self.make_head("projector", self.feature_dim, projection_dim, hidden, 2,
                                        output_batch_norm=projector_output_batch_norm)
        self.predictor = self.make_head("predictor", projection_dim, projection_dim, hidden, 2)
        self.embedding_dim = int(projection_dim)
        self.add_teacher([self.encoder, self.projector], momentum, momentum_schedule,
                         schedule_steps)

        # === Config ===
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.projector_output_batch_norm = bool(projector_output_batch_norm)
        self.built = True

    def compute_views_loss(self, views, training):
        views = self.fit_to_encoder(views)
        online = [self.encoder, self.projector]
        z = [self.encode(online, v, training) for v in views]
        p = [self.predictor(z_i, training=training) for z_i in z]
        pairs = self.view_pairs(len(views))
        targets = {i: self.teacher(views[i], training=training) for i in {i for i, _ in pairs}}
        # 2 - 2 cos(prediction of view j, target of view i), averaged over
        # the pairs: (0, 1) and (1, 0) for two views; with multi-crop, each
        # global view's target against every other view's prediction.
        loss = tf.add_n([tf.reduce_mean(2.0 + 2.0 * negative_cosine(p[j], targets[i]))
                         for i, j in pairs]) / len(pairs)
        return loss, {}, z[0]

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_hidden_dim": self.projection_hidden_dim,
            "projector_output_batch_norm": self.projector_output_batch_norm,
        })
        return config
