"""Averaging over the valid positions of padded sequences (text, series)."""

import keras
from keras import ops


def masked_mean(sequence, valid):
    """Mean of `sequence` (N, L, D) over the positions where `valid` (N, L)
    is true; a sequence without a valid position gives zeros."""
    weights = ops.cast(valid, sequence.dtype)[..., None]
    total = ops.sum(sequence * weights, axis=1)
    return total / ops.maximum(ops.sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedAveragePooling(keras.layers.Layer):
    """`masked_mean` as a layer: (N, T, D) features and mask (N, T) -> (N, D)."""

    def call(self, features, valid):
        return masked_mean(features, valid)

    def compute_output_shape(self, features_shape, valid_shape):
        return (features_shape[0], features_shape[2])
