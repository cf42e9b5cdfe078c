"""MoCo: momentum contrast with a queue of negatives (v2), or in-batch (v3)."""

import keras
import tensorflow as tf

from keras_ssl.distribute import num_replicas
from keras_ssl.losses.info_nce import info_nce
from keras_ssl.methods.embedding_queue import add_embedding_queue
from keras_ssl.methods.embedding_queue import enqueue
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class MoCo(JointEmbeddingMethod):
    """MoCo pretraining (He et al. 2020, "Momentum Contrast for Unsupervised
    Visual Representation Learning"; v2: Chen et al. 2020, "Improved
    Baselines with Momentum Contrastive Learning"; v3: Chen, Xie and He
    2021, "An Empirical Study of Training Self-Supervised Vision
    Transformers").

    A query encoder (encoder and projector, trained) and a key encoder
    (their momentum copy, `MomentumTeacher`) embed two views; InfoNCE
    picks each query's key among negatives.

    * MoCo v2 (default): negatives from a queue of the keys of the last
      `queue_size / global batch` batches, kept as non-trainable state
      (saved with the model); 2-layer MLP projector without batch norm;
      temperature 0.2. The keys of the whole global batch are enqueued
      under `tf.distribute`.
    * MoCo v3: `MoCo(encoder, queue_size=0, predictor=True)`: negatives
      are the other keys of the (global) batch, the projector has batch
      norm and 3 layers, and a predictor follows it on the query side, as
      in the paper (which also uses a ViT; any encoder works here).

    The loss is symmetrised: each view serves once as query and once as
    key; the keys of the second view are enqueued.

    With `adversarial=` (adversarial momentum contrast, as RoCL and ACL do
    for SimCLR; Xu et al. 2021, "Adversarial Momentum-Contrastive
    Pre-training"), each step attacks the first view's query to increase
    its InfoNCE loss against the second view's key and the queue (the
    attack runs the query encoder only, the key encoder's keys held
    fixed), and the attacked view is one more query of that key: the loss
    is the mean of the two clean terms and the adversarial one. Only the
    clean keys are enqueued.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: view generator; default `SimCLRAugmenter.for_input_shape`.
        projection_dim: embedding size (128 in v2, 256 in v3).
        projection_hidden_dim: hidden width; default the encoder's feature
            size for v2, 4 x it for v3.
        queue_size: negatives in the queue, a multiple of the global batch
            size; 0 for in-batch negatives (v3). Keep it well below the
            number of training images: a queue holding earlier keys of the
            same images contrasts each query with copies of itself.
        momentum: momentum of the key encoder, in [0, 1] (0.999 in the
            paper's 200-epoch ImageNet runs; 0.99 suits short runs).
        momentum_schedule: "constant" (MoCo v2) or "cosine" (v3).
        temperature: InfoNCE temperature (0.2 in v2 and v3).
        predictor: add the v3 predictor (and the v3 projector).
        gather_across_replicas: in-batch negatives (queue_size=0) from the
            global batch.
        schedule_steps: length of a cosine momentum ramp in optimizer steps.
        seed: seed of the augmenter and of the queue's initial values.
        adversarial: an attack from `keras_ssl.adversarial` (e.g.
            `PGD(epsilon=8 / 255, steps=3)`, budgets on the [0, 1] pixel
            scale), or None.

    Metrics: `loss`, `contrastive_accuracy` (the key ranked first among the
    candidates), `embedding_std`.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.MoCo(encoder, queue_size=64, projection_dim=16, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['contrastive_accuracy', 'embedding_std', 'loss']
    """

    def __init__(
        self,
        encoder,
        augmenter=None,
        projection_dim=128,
        projection_hidden_dim=None,
        queue_size=4096,
        momentum=0.99,
        momentum_schedule="constant",
        temperature=0.2,
        predictor=False,
        gather_across_replicas=True,
        schedule_steps=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        if isinstance(queue_size, bool) or int(queue_size) != queue_size or queue_size < 0:
            raise ValueError(
                f"`queue_size` must be a non-negative integer (0: in-batch negatives), "
                f"got {queue_size!r}."
            )
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        # === Layers ===
        if predictor:
            hidden = projection_hidden_dim or 4 * self.feature_dim
            self.projector = self.make_head("projector", self.feature_dim, projection_dim,
                                            hidden, 3, output_batch_norm=True)
            self.predictor = self.make_head("predictor", projection_dim, projection_dim,
                                            hidden, 2)
        else:
            hidden = projection_hidden_dim or self.feature_dim
            self.projector = self.make_head("projector", self.feature_dim, projection_dim,
                                            hidden, 2, batch_norm=False)
            self.predictor = None
        self.add_teacher([self.encoder, self.projector], momentum, momentum_schedule,
                         schedule_steps)
        self.queue = None
        if queue_size:
            add_embedding_queue(self, queue_size, projection_dim, seed=seed)
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")
        self.embedding_dim = int(projection_dim)

        # === Config ===
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.queue_size = int(queue_size)
        self.temperature = temperature
        self.use_predictor = bool(predictor)
        self.gather_across_replicas = gather_across_replicas
        self.built = True

    def method_metrics(self):
        return [self.accuracy_tracker]

    def _queue_message(self, batch):
        return (
            f"`queue_size` ({self.queue_size}) must be a multiple of the global batch "
            f"size ({batch}), so that each batch of keys replaces whole rows of the queue."
        )

    def check_fit_data(self, batch_size):
        super().check_fit_data(batch_size)
        if self.queue_size and batch_size and self.queue_size % batch_size:
            raise ValueError(self._queue_message(batch_size))

    def _query(self, view, training):
        q = self.encode([self.encoder, self.projector], view, training)
        p = self.predictor(q, training=training) if self.predictor is not None else q
        return q, p

    supports_adversarial = True

    def compute_views_loss(self, views, training):
        view_a, view_b = views[:2]
        z_a, q_a = self._query(view_a, training)
        _, q_b = self._query(view_b, training)
        k_a = self.teacher(view_a, training=training)
        k_b = self.teacher(view_b, training=training)
        queue = None
        if self.queue is not None:
            static = view_a.shape[0]
            if static is not None and self.queue_size % (static * num_replicas()):
                raise ValueError(self._queue_message(static * num_replicas()))
            queue = tf.convert_to_tensor(self.queue)
        loss_a, acc_a = info_nce(q_a, k_b, queue, self.temperature, self.gather_across_replicas)
        loss_b, acc_b = info_nce(q_b, k_a, queue, self.temperature, self.gather_across_replicas)
        self.accuracy_tracker.update_state((acc_a + acc_b) / 2.0)
        self.set_pending("keys", k_b)
        if self.adversarial is not None and training:
            # The attacked first view, last of `views`: one more query of k_b.
            _, q_adv = self._query(views[-1], training)
            loss_adv, _ = info_nce(q_adv, k_b, queue, self.temperature,
                                   self.gather_across_replicas)
            return tf.reduce_mean(loss_a + loss_b + loss_adv) / 3.0, {}, z_a
        return tf.reduce_mean(loss_a + loss_b) / 2.0, {}, z_a

    def attack_target(self, views):
        # The second view's keys, as the step computes them.
        return self.teacher(self.fit_to_encoder(views[1:2])[0], training=True)

    def attack_loss(self, inputs, target):
        # Per replica (the attack is instance-wise): the in-batch
        # negatives, or the queue, of this replica's keys.
        _, query = self._query(self.fit_to_encoder([inputs])[0], True)
        queue = tf.convert_to_tensor(self.queue) if self.queue is not None else None
        loss, _ = info_nce(query, target, queue, self.temperature, gather_across_replicas=False)
        return loss

    def after_update(self):
        super().after_update()
        pending = self.pop_pending("keys")
        if self.queue is None or pending is None:
            return
        enqueue(self.queue, self.queue_pointer, pending, "MoCo")

    def unguarded_state(self):
        return super().unguarded_state() + ([self.queue] if self.queue is not None else [])

    def get_config(self):
        config = super().get_config()
        config.update({
            "projection_dim": self.projection_dim,
            "projection_hidden_dim": self.projection_hidden_dim,
            "queue_size": self.queue_size,
            "temperature": self.temperature,
            "predictor": self.use_predictor,
            "gather_across_replicas": self.gather_across_replicas,
        })
        return config
