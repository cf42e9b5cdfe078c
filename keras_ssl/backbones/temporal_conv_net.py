"""A 1D convolutional encoder for time series and speech features."""

import keras
from keras import ops

from keras_ssl.backbones.backbone import Backbone
from keras_ssl.layers.masked_pooling import MaskedAveragePooling


def check_series_shape(input_shape, argument="input_shape"):
    """Validate a series `input_shape` (steps, channels); steps may be None."""
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"`{argument}` must be (steps, channels), got {input_shape!r}.") from None
    if len(shape) != 2:
        raise ValueError(
            f"`{argument}` must be (steps, channels) with steps None for any length, got "
            f"{input_shape!r} (rank {len(shape)}). For univariate series use (T, 1)."
        )
    if shape[1] is None or shape[1] < 1 or (shape[0] is not None and shape[0] < 2):
        raise ValueError(
            f"`{argument}` must have a known number of channels >= 1 and at least 2 steps, got "
            f"{shape}."
        )
    return shape


@keras.saving.register_keras_serializable(package="keras_ssl")
class SeriesMask(keras.layers.Layer):
    """Valid-step mask (N, T) of zero-padded series (N, T, C): step t is valid
    while t < the last step with a non-zero channel, plus one (the rule of
    `keras_ssl.datasets.series_lengths`)."""

    def call(self, series):
        nonzero = ops.cast(ops.any(ops.not_equal(series, 0.0), axis=-1), "int32")
        steps = ops.arange(1, ops.shape(series)[1] + 1, dtype="int32")
        lengths = ops.max(nonzero * steps[None, :], axis=1)
        return ops.arange(ops.shape(series)[1], dtype="int32")[None, :] < lengths[:, None]

    def compute_output_spec(self, series):
        return keras.KerasTensor(tuple(series.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package="keras_ssl")
class DownsampleMask(keras.layers.Layer):
    """The mask of a causal convolution's output with `strides`: output step
    t' sees inputs up to t' * strides, valid while the input step is."""

    def __init__(self, strides, **kwargs):
        super().__init__(**kwargs)
        self.strides = int(strides)

    def call(self, valid):
        return valid[:, :: self.strides]

    def compute_output_spec(self, valid):
        steps = valid.shape[1]
        return keras.KerasTensor(
            (valid.shape[0], None if steps is None else -(-steps // self.strides)), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}


@keras.saving.register_keras_serializable(package="keras_ssl")
class ValidSteps(keras.layers.Layer):
    """The valid-step mask, passed through under a name (a bool-typed
    identity: `keras.layers.Identity` would give a float tensor)."""

    def call(self, valid):
        return ops.cast(valid, "bool")

    def compute_output_spec(self, valid):
        return keras.KerasTensor(tuple(valid.shape), dtype="bool")


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedSteps(keras.layers.Layer):
    """Zero the features (N, T, D) of padded steps (mask (N, T))."""

    def call(self, features, valid):
        return features * ops.cast(valid, features.dtype)[..., None]

    def compute_output_shape(self, features_shape, valid_shape):
        return features_shape


@keras.saving.register_keras_serializable(package="keras_ssl")
class TemporalConvNet(Backbone):
    """1D convolutional encoder of (N, T, C) series: per-step and pooled features.

    Blocks of causal Conv1D, layer normalisation and GELU, each with its
    stride (a residual connection where shapes allow). Causal padding makes
    the features of a series independent of the zeros it is padded with:
    padded steps are masked (see `SeriesMask`) and excluded from the pooled
    mean. Layer rather than batch normalisation, so padded steps never enter
    normalisation statistics.

    The model's output is the pooled (N, D) feature vector, so it drops into
    probes, fine-tuning and exports like any backbone; `sequence_model()`
    gives the per-step features (N, T', D) and their mask (N, T'), which
    CPC and wav2vec 2.0 train on.

    Args:
        input_shape: (steps, channels); steps None for any length.
        filters: channels of each block.
        kernel_sizes: kernel size of each block (one int for all).
        strides: stride of each block (one int for all); the product is
            the downsampling from input steps to feature steps. Default:
            1 for the first block, 2 for the others.
        waveform_frontend: put a wav2vec-style front end first (kernel 10,
            stride 5, `filters[0]` channels) for raw audio sampled densely.
        dropout: dropout after each block (training only).

    Example:

    >>> enc = TemporalConvNet(input_shape=(None, 12), filters=(16, 32), strides=(1, 2))
    >>> enc.output_shape
    (None, 32)
    >>> import numpy as np
    >>> features, mask = enc.sequence_model()(np.ones((2, 10, 12), "float32"))
    >>> tuple(features.shape), tuple(mask.shape)
    ((2, 5, 32), (2, 5))
    """

    def __init__(self, input_shape=(None, 1), filters=(64, 64, 128), kernel_sizes=3,
                 strides=None, waveform_frontend=False, dropout=0.0, **kwargs):
        input_shape = check_series_shape(input_shape)
        filters = tuple(int(f) for f in filters)
        if not filters or min(filters) < 1:
            raise ValueError(f"`filters` must be positive integers, got {filters!r}.")
        kernel_sizes = _per_block(kernel_sizes, len(filters), "kernel_sizes")
        if strides is None:
            strides = (1,) + (2,) * (len(filters) - 1)
        strides = _per_block(strides, len(filters), "strides")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {dropout!r}.")

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="series")
        mask = SeriesMask(name="mask")(inputs)
        x = inputs
        blocks = []
        if waveform_frontend:
            blocks.append(("frontend", filters[0], 10, 5))
        blocks += [(f"block{i + 1}", f, k, s)
                   for i, (f, k, s) in enumerate(zip(filters, kernel_sizes, strides))]
        for name, f, k, s in blocks:
            shortcut = x
            x = keras.layers.Conv1D(f, k, strides=s, padding="causal", name=f"{name}_conv")(x)
            x = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_norm")(x)
            x = keras.layers.Activation("gelu", name=f"{name}_gelu")(x)
            if s > 1:
                mask = DownsampleMask(s, name=f"{name}_mask")(mask)
            elif shortcut.shape[-1] == f and name != "frontend":
                x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
            x = MaskedSteps(name=f"{name}_out")(x, mask)
        sequence = keras.layers.Identity(name="sequence_output")(x)
        mask = ValidSteps(name="sequence_mask")(mask)
        outputs = MaskedAveragePooling(name="pool")(sequence, mask)
        kwargs.setdefault("name", "temporal_conv_net")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.series_shape = input_shape
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.strides = strides
        self.waveform_frontend = bool(waveform_frontend)
        self.dropout = float(dropout)
        self.feature_dim = filters[-1]
        self.downsampling = int(5 if waveform_frontend else 1)
        for s in strides:
            self.downsampling *= s

    def sequence_model(self):
        """A model sharing this encoder's layers: series (N, T, C) ->
        [per-step features (N, T', D), valid-step mask (N, T') bool]."""
        features = self.get_layer("sequence_output").output
        mask = self.get_layer("sequence_mask").output
        return keras.Model(self.inputs, [features, mask], name=f"{self.name}_sequence")

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_shape": list(self.series_shape),
            "filters": list(self.filters),
            "kernel_sizes": list(self.kernel_sizes),
            "strides": list(self.strides),
            "waveform_frontend": self.waveform_frontend,
            "dropout": self.dropout,
        })
        return config


def _per_block(value, blocks, argument):
    values = (value,) * blocks if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != blocks or min(values) < 1:
        raise ValueError(
            f"`{argument}` must be a positive int or one per block ({blocks}), got {value!r}."
        )
    return values
