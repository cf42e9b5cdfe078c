"""wav2vec 2.0: masked spans of latent steps, contrast with quantized targets."""

import math

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.layers.gumbel_quantizer import GumbelVectorQuantizer
from keras_ssl.layers.span_masking import span_mask
from keras_ssl.losses.wav2vec2 import codebook_diversity
from keras_ssl.losses.wav2vec2 import masked_step_contrast
from keras_ssl.methods.ssl_method import SeriesMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class Wav2Vec2(SeriesMethod):
    """wav2vec 2.0 (Baevski, Zhou, Mohamed and Auli 2020, "wav2vec 2.0: A
    Framework for Self-Supervised Learning of Speech Representations").

    The encoder (the paper's feature encoder) maps a series to latents
    z_t. Spans of latent steps are masked (`layers.span_masking`): their
    projected latents are replaced by a learned mask vector before a small
    Transformer context network (keras-hub `TransformerEncoder` layers,
    with a convolutional relative position embedding as in the paper). A
    Gumbel product quantizer (`layers.GumbelVectorQuantizer`) turns the
    unmasked latents into targets q_t. At every masked step the context
    vector must identify its own target among the targets of the other
    masked steps of the series (`losses.masked_step_contrast`), plus
    `diversity_weight` times the codebook diversity loss
    (`losses.codebook_diversity`). The Gumbel temperature decays from
    `gumbel_temperature[0]` by a factor `gumbel_temperature[2]` per step
    down to `gumbel_temperature[1]`.

    Logs: loss, contrastive_loss, diversity_loss, accuracy (target found),
    perplexity (codebook entries in use, summed over groups), mask_fraction.

    Args:
        encoder: a backbone with per-step features, e.g.
            `keras_ssl.backbones.TemporalConvNet`.
        mask_prob: chance-based share of masked steps (paper: 0.65).
        mask_length: span length in latent steps (paper: 10 at 50 latents
            a second; 2 or 3 suit series of tens of latent steps).
        codebook_size: entries per group (paper: 320).
        num_groups: codebook groups (paper: 2).
        context_layers, context_heads, context_dim: the Transformer.
        temperature: contrastive temperature (paper: 0.1).
        diversity_weight: weight of the diversity loss (paper: 0.1).
        gumbel_temperature: (start, end, decay per step) (paper: 2, 0.5,
            0.999995 over 400k steps; the default decays within a few
            thousand).
        dropout: dropout of the context network.
        seed: seed of masking and Gumbel noise.
    """

    def __init__(self, encoder, mask_prob=0.65, mask_length=3, codebook_size=64, num_groups=2,
                 context_layers=2, context_heads=4, context_dim=None, temperature=0.1,
                 diversity_weight=0.1, gumbel_temperature=(2.0, 0.5, 0.999), dropout=0.1,
                 seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        if not 0.0 < float(mask_prob) <= 1.0:
            raise ValueError(f"`mask_prob` must lie in (0, 1], got {mask_prob!r}.")
        if int(mask_length) < 1:
            raise ValueError(f"`mask_length` must be >= 1, got {mask_length!r}.")
        if float(temperature) <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        start, end, decay = (float(v) for v in gumbel_temperature)
        if not (start >= end > 0 and 0 < decay <= 1):
            raise ValueError(
                "`gumbel_temperature` must be (start, end, decay) with start >= end > 0 and "
                f"decay in (0, 1], got {gumbel_temperature!r}."
            )
        self.mask_prob = float(mask_prob)
        self.mask_length = int(mask_length)
        self.codebook_size = int(codebook_size)
        self.num_groups = int(num_groups)
        self.context_layers = int(context_layers)
        self.context_heads = int(context_heads)
        self.context_dim = int(context_dim or self.feature_dim)
        if self.context_dim % self.context_heads:
            raise ValueError(
                f"`context_dim` ({self.context_dim}) must be divisible by `context_heads` "
                f"({self.context_heads})."
            )
        self.temperature = float(temperature)
        self.diversity_weight = float(diversity_weight)
        self.gumbel_temperature = (start, end, decay)
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.feature_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="feature_norm")
        self.feature_projection = keras.layers.Dense(self.context_dim, name="feature_projection")
        self.mask_embedding = self.add_weight(
            name="mask_embedding", shape=(self.context_dim,), initializer="random_uniform")
        # The paper's relative position embedding: a wide grouped
        # convolution over the sequence (kernel 128, 16 groups for speech).
        self.position_conv = keras.layers.Conv1D(
            self.context_dim, 5, padding="same", groups=math.gcd(4, self.context_dim),
            activation="gelu", name="position_conv")
        self.context_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="context_norm")
        self.transformer = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=4 * self.context_dim, num_heads=self.context_heads,
                dropout=self.dropout, activation="gelu", name=f"context_{i}")
            for i in range(self.context_layers)
        ]
        code_dim = self.num_groups * max(1, self.feature_dim // self.num_groups)
        self.quantizer = GumbelVectorQuantizer(
            num_groups=self.num_groups, codebook_size=self.codebook_size, code_dim=code_dim,
            seed=None if seed is None else int(seed) + 1, name="quantizer")
        self.context_head = keras.layers.Dense(self.feature_dim, name="context_head")
        self.target_head = keras.layers.Dense(self.feature_dim, name="target_head")
        # Built here, so a `.keras` file or checkpoint restores every
        # optimizer slot before the first step.
        sequence = (None, None, self.feature_dim)
        context = (None, None, self.context_dim)
        self.feature_norm.build(sequence)
        self.feature_projection.build(sequence)
        self.position_conv.build(context)
        self.context_norm.build(context)
        for layer in self.transformer:
            layer.build(context)
        self.quantizer.build(sequence)
        self.context_head.build(context)
        self.target_head.build((None, None, code_dim))
        self.contrastive_tracker = keras.metrics.Mean(name="contrastive_loss")
        self.diversity_tracker = keras.metrics.Mean(name="diversity_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.perplexity_tracker = keras.metrics.Mean(name="perplexity")
        self.mask_tracker = keras.metrics.Mean(name="mask_fraction")
        self.built = True

    def extra_metrics(self):
        return [self.contrastive_tracker, self.diversity_tracker, self.accuracy_tracker,
                self.perplexity_tracker, self.mask_tracker]

    def current_gumbel_temperature(self):
        """The Gumbel-softmax temperature at the optimizer's current step."""
        start, end, decay = self.gumbel_temperature
        step = 0.0
        if getattr(self, "optimizer", None) is not None:
            step = tf.cast(self.optimizer.iterations, "float32")
        return tf.maximum(end, start * tf.pow(decay, step))

    def context_features(self, latents, valid, masked, training=False):
        """The context network on latents with the `masked` steps hidden."""
        x = self.feature_projection(self.feature_norm(latents))
        x = tf.where(masked[..., None], tf.cast(self.mask_embedding, x.dtype), x)
        x = x * tf.cast(valid, x.dtype)[..., None]
        x = self.context_norm(x + self.position_conv(x))
        for layer in self.transformer:
            x = layer(x, padding_mask=valid, training=training)
        return self.context_head(x)

    def compute_ssl_loss(self, series, training=True):
        latents, valid = self.sequence_features(series, training=training)
        masked = span_mask(valid, self.mask_prob, self.mask_length, seed=self.seed_generator)
        context = self.context_features(latents, valid, masked, training=training)
        quantized = self.quantizer(latents, temperature=self.current_gumbel_temperature(),
                                   training=training)
        targets = self.target_head(quantized["quantized"])
        contrast, correct = masked_step_contrast(context, targets, masked, self.temperature)
        contrast = tf.reduce_mean(contrast)
        diversity, perplexity = codebook_diversity(quantized["probabilities"], valid)
        loss = contrast + self.diversity_weight * diversity
        self.contrastive_tracker.update_state(contrast)
        self.diversity_tracker.update_state(diversity)
        self.accuracy_tracker.update_state(tf.reduce_mean(correct))
        self.perplexity_tracker.update_state(perplexity)
        self.mask_tracker.update_state(
            tf.reduce_sum(tf.cast(masked, "float32"))
            / tf.maximum(tf.reduce_sum(tf.cast(valid, "float32")), 1.0))
        return loss, {}

    def get_config(self):
        config = super().get_config()
        config.update({
            "mask_prob": self.mask_prob,
            "mask_length": self.mask_length,
            "codebook_size": self.codebook_size,
            "num_groups": self.num_groups,
            "context_layers": self.context_layers,
            "context_heads": self.context_heads,
            "context_dim": self.context_dim,
            "temperature": self.temperature,
            "diversity_weight": self.diversity_weight,
            "gumbel_temperature": list(self.gumbel_temperature),
            "dropout": self.dropout,
            "seed": self.seed,
        })
        return config
