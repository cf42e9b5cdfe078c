"""Barlow Twins: redundancy reduction of the cross-correlation matrix."""

import keras
import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat


def _standardize(z, epsilon):
    """Zero mean, unit variance per dimension over the batch (biased variance,
    as PyTorch's BatchNorm1d(affine=False) in the reference code)."""
    mean, variance = tf.nn.moments(z, axes=[0])
    return (z - mean) / tf.sqrt(variance + epsilon)


def check_batch_statistics(z, method):
    """Raise if a batch-statistics loss gets fewer than 2 samples."""
    batch = z.shape[0]
    if batch is not None and batch < 2:
        raise ValueError(
            f"{method} computes statistics over the batch and needs at least 2 "
            f"samples per batch, got a batch of {batch}. Use batch_size >= 2."
        )


def global_pair(z_a, z_b, gather_across_replicas=True):
    """Both views' embeddings as float32, over the global batch under
    `tf.distribute` when `gather_across_replicas` (gradients flow back to
    each replica's rows)."""
    z_a = tf.cast(z_a, "float32")
    z_b = tf.cast(z_b, "float32")
    if gather_across_replicas:
        z_a, _ = cross_replica_concat(z_a)
        z_b, _ = cross_replica_concat(z_b)
    return z_a, z_b


def cross_correlation(z_a, z_b, gather_across_replicas=True, epsilon=1e-5):
    """The (D, D) cross-correlation matrix of two batches of embeddings,
    each standardised per dimension over the (global) batch."""
    z_a, z_b = global_pair(z_a, z_b, gather_across_replicas)
    batch = tf.cast(tf.shape(z_a)[0], "float32")
    return tf.matmul(
        _standardize(z_a, epsilon), _standardize(z_b, epsilon), transpose_a=True
    ) / batch


def barlow_twins(z_a, z_b, redundancy_weight=5e-3, gather_across_replicas=True):
    """Barlow Twins loss (Zbontar et al. 2021), a scalar.

    `sum_i (1 - C_ii)^2 + redundancy_weight * sum_{i != j} C_ij^2` where C is
    the cross-correlation of the two views' embeddings standardised over
    the batch. Under `tf.distribute` the statistics are those of the global
    batch (every replica computes the same C).
    """
    check_batch_statistics(z_a, "Barlow Twins")
    c = cross_correlation(z_a, z_b, gather_across_replicas)
    diagonal = tf.linalg.diag_part(c)
    on_diagonal = tf.reduce_sum(tf.square(1.0 - diagonal))
    off_diagonal = tf.reduce_sum(tf.square(c)) - tf.reduce_sum(tf.square(diagonal))
    return on_diagonal + redundancy_weight * off_diagonal


@keras.saving.register_keras_serializable(package="keras_ssl")
class BarlowTwinsLoss(keras.losses.Loss):
    """Barlow Twins loss as a Keras loss: `loss(z_a, z_b)` is a scalar.

    Args:
        redundancy_weight: lambda, the weight of the off-diagonal terms
            (5e-3 in the paper).
        gather_across_replicas: statistics over the global batch.

    Example:

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> loss = BarlowTwinsLoss()
    >>> float(loss(z, z)) < float(loss(z, z[::-1]))
    True
    """

    def __init__(self, redundancy_weight=5e-3, gather_across_replicas=True,
                 name="barlow_twins", **kwargs):
        super().__init__(name=name, **kwargs)
        self.redundancy_weight = redundancy_weight
        self.gather_across_replicas = gather_across_replicas

    def call(self, y_true, y_pred):
        return barlow_twins(y_true, y_pred, self.redundancy_weight,
                            self.gather_across_replicas)

    def get_config(self):
        config = super().get_config()
        config.update({"redundancy_weight": self.redundancy_weight,
                       "gather_across_replicas": self.gather_across_replicas})
        return config
