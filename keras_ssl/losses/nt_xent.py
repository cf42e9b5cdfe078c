"""NT-Xent: the normalized temperature-scaled cross-entropy of SimCLR."""

import keras
import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat

# Added to a logit to exclude it from the softmax. A finite number (not -inf)
# keeps the loss finite in float16 and under XLA.
_LARGE_NUM = 1e9


def nt_xent(z_a, z_b, temperature=0.1, gather_across_replicas=True):
    """NT-Xent loss per sample, and the contrastive top-1 accuracy.

    Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations" (SimCLR). `z_a[i]` and `z_b[i]` are projections of two
    views of sample i. Each of the 2N views is classified among the other
    2N - 1 views: its partner is the positive, the rest are negatives. The
    embeddings are L2-normalised, so logits are cosine similarities divided
    by `temperature`.

    Under `tf.distribute`, with `gather_across_replicas=True`, the negatives
    come from the whole global batch (all replicas), not only this one.

    Args:
        z_a: (N, D) projections of the first views.
        z_b: (N, D) projections of the second views.
        temperature: positive float.
        gather_across_replicas: use the negatives of every replica.

    Returns:
        `(loss, accuracy)`: per-sample loss (N,) averaged over the two
        directions, and per-sample top-1 accuracy (N,) of picking the partner
        view, also averaged over both directions.
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    z_a = tf.math.l2_normalize(tf.cast(z_a, "float32"), axis=-1)
    z_b = tf.math.l2_normalize(tf.cast(z_b, "float32"), axis=-1)
    batch = tf.shape(z_a)[0]
    if gather_across_replicas:
        all_a, offset = cross_replica_concat(z_a)
        all_b, _ = cross_replica_concat(z_b)
    else:
        all_a, all_b, offset = z_a, z_b, 0
    total = tf.shape(all_a)[0]
    positives = tf.range(batch) + offset
    self_mask = tf.one_hot(positives, total) * _LARGE_NUM

    logits_aa = tf.matmul(z_a, all_a, transpose_b=True) / temperature - self_mask
    logits_bb = tf.matmul(z_b, all_b, transpose_b=True) / temperature - self_mask
    logits_ab = tf.matmul(z_a, all_b, transpose_b=True) / temperature
    logits_ba = tf.matmul(z_b, all_a, transpose_b=True) / temperature

    logits_a = tf.concat([logits_ab, logits_aa], axis=1)
    logits_b = tf.concat([logits_ba, logits_bb], axis=1)
    loss_a = tf.nn.sparse_softmax_cross_entropy_with_logits(positives, logits_a)
    loss_b = tf.nn.sparse_softmax_cross_entropy_with_logits(positives, logits_b)
    correct_a = tf.cast(
        tf.equal(tf.argmax(logits_a, axis=1, output_type="int32"), positives),
        "float32",
    )
    correct_b = tf.cast(
        tf.equal(tf.argmax(logits_b, axis=1, output_type="int32"), positives),
        "float32",
    )
    return (loss_a + loss_b) / 2.0, (correct_a + correct_b) / 2.0


@keras.saving.register_keras_serializable(package="keras_ssl")
class NTXentLoss(keras.losses.Loss):
    """NT-Xent contrastive loss (SimCLR, Chen et al. 2020) as a Keras loss.

    Called as `loss(z_a, z_b)` with the (N, D) projections of two views of
    the same N samples, in either order (the loss is symmetric). With the
    default reduction it returns the mean over samples.

    Args:
        temperature: softmax temperature (SimCLR uses 0.1 to 0.5).
        gather_across_replicas: under `tf.distribute`, draw negatives from
            the global batch.

    Example:

    >>> import numpy as np
    >>> loss = NTXentLoss(temperature=0.5)
    >>> z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    >>> float(loss(z, z)) < float(loss(z, z[::-1]))
    True
    """

    def __init__(
        self,
        temperature=0.1,
        gather_across_replicas=True,
        reduction="sum_over_batch_size",
        name="nt_xent",
        **kwargs,
    ):
        super().__init__(reduction=reduction, name=name, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        self.temperature = temperature
        self.gather_across_replicas = gather_across_replicas

    def call(self, y_true, y_pred):
        loss, _ = nt_xent(
            y_true,
            y_pred,
            temperature=self.temperature,
            gather_across_replicas=self.gather_across_replicas,
        )
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "gather_across_replicas": self.gather_across_replicas,
            }
        )
        return config
