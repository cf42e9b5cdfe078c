"""SimCLR: contrastive learning of visual representations."""

import keras
import tensorflow as tf

from keras_ssl.layers.simclr_projection_head import SimCLRProjectionHead
from keras_ssl.losses.nt_xent import nt_xent
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLR(JointEmbeddingMethod):
    """SimCLR pretraining (Chen et al. 2020, "A Simple Framework for
    Contrastive Learning of Visual Representations").

    Each batch is augmented twice; the encoder and a projection head map
    both views to embeddings, and the NT-Xent loss pulls the two views of
    each image together and pushes the other images of the batch away.

    `fit` takes unlabeled images: a numpy array or a `tf.data.Dataset` of
    batches, uint8 or float in [0, 255], shape (N, H, W, C). Labels, if
    present, are ignored. Augmentation then runs inside `train_step`.
    `fit` also takes ready-made views: batches whose `x` is a pair
    `(view_a, view_b)` of augmented images. With a `layers.MultiCrop`
    augmenter (global and local crops), the loss averages NT-Xent over each
    global view paired with every other view. `augment_dataset(dataset)`
    builds such a dataset with the model's own augmenter, so augmentation
    runs in `tf.data` workers, overlapped with the train step.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features, e.g.
            `keras_ssl.backbones.ResNet18(input_shape=(32, 32, 3))`.
        augmenter: the view-generating layer. Default:
            `keras_ssl.layers.SimCLRAugmenter.for_input_shape(...)` fitted to
            the encoder's input shape.
        projection_dim: output size of the projection head.
        projection_hidden_dim: hidden width of the head; default: the
            encoder's feature size.
        projection_layers: number of Dense layers in the head.
        temperature: NT-Xent temperature.
        gather_across_replicas: under `tf.distribute`, use the negatives of
            the whole global batch (as the official SimCLR code does).
        synchronized: synchronize the projection head's batch norm across
            replicas (pass `synchronized=True` to the backbone too, for
            its own batch norm).
        seed: seed of the default augmenter.
        adversarial: an attack from `keras_ssl.adversarial`, e.g.
            `PGD(epsilon=8 / 255, steps=3)`: adversarial contrastive
            learning. Each step attacks the first view to increase its
            NT-Xent loss against the second view (an instance-wise attack,
            as RoCL, Kim et al. 2020, and ACL, Jiang et al. 2020) and adds
            the result as a third view: the loss averages NT-Xent over the
            three pairs, so the encoder maps an image and its attacked
            version close together. A step costs about `steps + 2` plain
            ones.

    Metrics: `loss`, `contrastive_accuracy` (how often a view's nearest
    candidate among the other 2N - 1 views is its partner) and
    `embedding_std` (see `JointEmbeddingMethod`).

    `compile(optimizer="auto")` uses AdamW (learning rate 1e-3, weight decay
    1e-4), a good default for the small batches of a single machine; LARS
    with a large batch is what the paper used on TPUs.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.SimCLR(encoder, projection_dim=16, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> history = model.fit(x, batch_size=16, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['contrastive_accuracy', 'embedding_std', 'loss']
    """

    multi_crop = True
    supports_adversarial = True

    def __init__(
        self,
        encoder,
        augmenter=None,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_layers=2,
        temperature=0.1,
        gather_across_replicas=True,
        synchronized=False,
        seed=None,
        adversarial=None,
        **kwargs,
    ):
        super().__init__(encoder, augmenter=augmenter, synchronized=synchronized, seed=seed,
                         adversarial=adversarial, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        # === Layers ===
        hidden = projection_hidden_dim or self.feature_dim
        self.projection_head = SimCLRProjectionHead(
            output_dim=projection_dim,
            hidden_dim=hidden,
            num_layers=projection_layers,
            synchronized=synchronized,
            name="projection_head",
        )
        self.projection_head.build((None, self.feature_dim))
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")
        self.embedding_dim = int(projection_dim)

        # === Config ===
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.projection_layers = projection_layers
        self.temperature = temperature
        self.gather_across_replicas = gather_across_replicas
        # Every weight exists now (encoder and head are built), so the model
        # counts as built: BackupAndRestore and weight loading need that.
        self.built = True

    def method_metrics(self):
        return [self.accuracy_tracker]

    def compute_views_loss(self, views, training):
        student = [self.encoder, self.projection_head]
        z = [self.encode(student, v, training) for v in self.fit_to_encoder(views)]
        # Two views: one NT-Xent (symmetric). Multi-crop: NT-Xent of each
        # global view against every other view, each pair once, averaged.
        pairs = sorted({tuple(sorted(p)) for p in self.view_pairs(len(z))})
        losses, accuracies = [], []
        for i, j in pairs:
            loss, accuracy = nt_xent(
                z[i],
                z[j],
                temperature=self.temperature,
                gather_across_replicas=self.gather_across_replicas,
            )
            losses.append(tf.reduce_mean(loss))
            accuracies.append(accuracy)
        self.accuracy_tracker.update_state(tf.add_n(accuracies) / len(accuracies))
        return tf.add_n(losses) / len(losses), {}, z[0]

    def attack_target(self, views):
        return self.encode([self.encoder, self.projection_head],
                           self.fit_to_encoder(views[1:2])[0], True)

    def attack_loss(self, inputs, target):
        # Per replica: the attack is instance-wise, it needs no gathering.
        z = self.encode([self.encoder, self.projection_head],
                        self.fit_to_encoder([inputs])[0], True)
        loss, _ = nt_xent(z, target, temperature=self.temperature, gather_across_replicas=False)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "projection_hidden_dim": self.projection_hidden_dim,
                "projection_layers": self.projection_layers,
                "temperature": self.temperature,
                "gather_across_replicas": self.gather_across_replicas,
            }
        )
        return config
