"""Negative cosine similarity (SimSiam, BYOL)."""

import keras
import tensorflow as tf


def negative_cosine(p, z):
    """Per-sample negative cosine similarity `-cos(p[i], z[i])`, shape (N,).

    SimSiam's D(p, z) (Chen and He 2021, "Exploring Simple Siamese
    Representation Learning"); BYOL's normalised squared error is
    `2 + 2 * negative_cosine(p, z)` (Grill et al. 2020). The gradient is
    not stopped here: the methods stop it on the target branch.
    """
    p = tf.math.l2_normalize(tf.cast(p, "float32"), axis=-1)
    z = tf.math.l2_normalize(tf.cast(z, "float32"), axis=-1)
    return -tf.reduce_sum(p * z, axis=-1)


@keras.saving.register_keras_serializable(package="keras_ssl")
class NegativeCosineSimilarity(keras.losses.Loss):
    """`-cos(y_true, y_pred)` per sample as a Keras loss (SimSiam's D).

    Example:

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    >>> round(float(NegativeCosineSimilarity()(z, z)), 4)
    -1.0
    """

    def __init__(self, reduction="sum_over_batch_size", name="negative_cosine", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return negative_cosine(y_pred, y_true)
