"""VICReg: variance, invariance and covariance regularisation."""

import keras
import tensorflow as tf

from keras_ssl.losses.barlow_twins import check_batch_statistics
from keras_ssl.losses.barlow_twins import global_pair


def _variance_term(z, epsilon):
    std = tf.sqrt(tf.math.reduce_variance(z, axis=0) * _unbiased(z) + epsilon)
    return tf.reduce_mean(tf.nn.relu(1.0 - std))


def _unbiased(z):
    n = tf.cast(tf.shape(z)[0], "float32")
    return n / (n - 1.0)


def _covariance_term(z):
    z = z - tf.reduce_mean(z, axis=0)
    n = tf.cast(tf.shape(z)[0], "float32")
    dim = tf.cast(tf.shape(z)[1], "float32")
    cov = tf.matmul(z, z, transpose_a=True) / (n - 1.0)
    off = tf.reduce_sum(tf.square(cov)) - tf.reduce_sum(tf.square(tf.linalg.diag_part(cov)))
    return off / dim


def vicreg_terms(z_a, z_b, gather_across_replicas=True, epsilon=1e-4):
    """The three VICReg terms `(invariance, variance, covariance)`.

    Bardes, Ponce and LeCun 2022: invariance is the mean squared distance
    between the views; variance a hinge on each dimension's standard
    deviation (target 1); covariance the sum of squared off-diagonal
    covariances divided by the dimension. Variance and covariance are
    averaged over the two views, over the global batch under
    `tf.distribute`.
    """
    check_batch_statistics(z_a, "VICReg")
    z_a, z_b = global_pair(z_a, z_b, gather_across_replicas)
    invariance = tf.reduce_mean(tf.square(z_a - z_b))
    variance = (_variance_term(z_a, epsilon) + _variance_term(z_b, epsilon)) / 2.0
    covariance = _covariance_term(z_a) + _covariance_term(z_b)
    return invariance, variance, covariance


def vicreg(z_a, z_b, invariance_weight=25.0, variance_weight=25.0,
           covariance_weight=1.0, gather_across_replicas=True):
    """The VICReg loss, a scalar: the weighted sum of `vicreg_terms`
    (weights 25, 25 and 1 as in the paper)."""
    invariance, variance, covariance = vicreg_terms(z_a, z_b, gather_across_replicas)
    return (invariance_weight * invariance + variance_weight * variance
            + covariance_weight * covariance)


@keras.saving.register_keras_serializable(package="keras_ssl")
class VICRegLoss(keras.losses.Loss):
    """VICReg loss as a Keras loss: `loss(z_a, z_b)` is a scalar.

    Example:

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> loss = VICRegLoss()
    >>> float(loss(z, z)) < float(loss(z, 0.1 * z))
    True
    """

    def __init__(self, invariance_weight=25.0, variance_weight=25.0,
                 covariance_weight=1.0, gather_across_replicas=True, name="vicreg",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.gather_across_replicas = gather_across_replicas

    def call(self, y_true, y_pred):
        return vicreg(y_true, y_pred, self.invariance_weight, self.variance_weight,
                      self.covariance_weight, self.gather_across_replicas)

    def get_config(self):
        config = super().get_config()
        config.update({
            "invariance_weight": self.invariance_weight,
            "variance_weight": self.variance_weight,
            "covariance_weight": self.covariance_weight,
            "gather_across_replicas": self.gather_across_replicas,
        })
        return config
