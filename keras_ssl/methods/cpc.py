"""CPC: contrastive predictive coding of time series."""

import keras
import tensorflow as tf

from keras_ssl.losses.info_nce import info_nce
from keras_ssl.methods.ssl_method import SeriesMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class CPC(SeriesMethod):
    """Contrastive Predictive Coding (van den Oord, Li and Vinyals 2018,
    "Representation Learning with Contrastive Predictive Coding").

    The encoder maps a series to latents z_t (its per-step features); a
    GRU summarises z_1..z_t into a context c_t; for each horizon k in
    1..`prediction_steps` a linear map W_k predicts z_{t+k} from c_t. The
    loss is InfoNCE (`losses.info_nce`): the true z_{t+k} against the
    latents at every other valid position and series of the batch, which
    are the negatives. Predictions and latents are L2-normalised and
    divided by `temperature` (the paper scores with a plain dot product;
    the cosine form is the one SimCLR and MoCo train stably with).
    Padded steps neither predict nor serve as targets or negatives.

    The encoder is what pretraining is for: probe or fine-tune
    `model.encoder` (its pooled features); `call(series)` returns them.

    Args:
        encoder: a backbone with per-step features, e.g.
            `keras_ssl.backbones.TemporalConvNet`.
        prediction_steps: horizons k = 1..K predicted (paper: 12 for
            speech at 100 latents a second; 4 suits short series).
        context_units: GRU units (default: the encoder's feature size).
        temperature: InfoNCE temperature.
        seed: unused (no random draws); accepted like every method's.

    Example:

    >>> import numpy as np, keras_ssl
    >>> enc = keras_ssl.backbones.TemporalConvNet(input_shape=(None, 3), filters=(8, 8),
    ...                                           strides=(1, 1))
    >>> cpc = keras_ssl.methods.CPC(enc, prediction_steps=2)
    >>> cpc.compile(optimizer="auto")
    >>> history = cpc.fit(np.random.rand(8, 12, 3).astype("float32"), batch_size=4, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
    """

    def __init__(self, encoder, prediction_steps=4, context_units=None, temperature=0.1,
                 seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        if int(prediction_steps) < 1:
            raise ValueError(f"`prediction_steps` must be >= 1, got {prediction_steps!r}.")
        if float(temperature) <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        self.prediction_steps = int(prediction_steps)
        self.context_units = int(context_units or self.feature_dim)
        self.temperature = float(temperature)
        self.seed = seed
        self.context = keras.layers.GRU(self.context_units, return_sequences=True,
                                        name="context")
        # One linear prediction W_k c_t per horizon, computed together.
        self.predictor = keras.layers.Dense(self.prediction_steps * self.feature_dim,
                                            name="predictor")
        # Built here, so a `.keras` file or checkpoint restores every
        # optimizer slot before the first step.
        self.context.build((None, None, self.feature_dim))
        self.predictor.build((None, None, self.context_units))
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = True
        steps = encoder.input_shape[1]
        if steps is not None:
            self.check_steps(steps, "encoder input")

    def check_steps(self, steps, what):
        latents = -(-int(steps) // int(getattr(self.encoder, "downsampling", 1)))
        if latents <= self.prediction_steps:
            raise ValueError(
                f"CPC with `prediction_steps`={self.prediction_steps} needs more than "
                f"{self.prediction_steps} latent steps, but the {what} has {steps} steps, which "
                f"the encoder turns into {latents} (downsampling "
                f"{getattr(self.encoder, 'downsampling', 1)}). Use longer series or fewer "
                "prediction steps."
            )

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def compute_ssl_loss(self, series, training=True):
        if series.shape[1] is not None:
            self.check_steps(series.shape[1], "batch")
        latents, mask = self.sequence_features(series, training=training)
        # No mask for the GRU: padding only follows the real steps and the
        # GRU runs forward, so c_t at a real step never sees a padded one
        # (and Keras' masked GRU adds a boolean op that oneDNN logs about).
        context = self.context(latents, training=training)
        predictions = self.predictor(context)
        shape = tf.shape(latents)
        predictions = tf.reshape(
            predictions, [shape[0], shape[1], self.prediction_steps, self.feature_dim])
        losses, correct = [], []
        for k in range(1, self.prediction_steps + 1):
            # Anchors at t whose target t + k is a real step (mask is a prefix).
            valid = mask[:, k:]
            query = tf.boolean_mask(predictions[:, :-k, k - 1], valid)
            key = tf.boolean_mask(latents[:, k:], valid)
            loss, accuracy = info_nce(query, key, temperature=self.temperature,
                                      gather_across_replicas=False)
            losses.append(loss)
            correct.append(accuracy)
        loss = tf.reduce_mean(tf.concat(losses, axis=0))
        self.accuracy_tracker.update_state(tf.reduce_mean(tf.concat(correct, axis=0)))
        return loss, {}

    def get_config(self):
        config = super().get_config()
        config.update({
            "prediction_steps": self.prediction_steps,
            "context_units": self.context_units,
            "temperature": self.temperature,
            "seed": self.seed,
        })
        return config
