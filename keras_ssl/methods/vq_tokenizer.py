"""A VQ-VAE that turns image patches into discrete tokens (for BEiT)."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.methods.ssl_method import PretrainingModel
from keras_ssl.utils import check_fraction
from keras_ssl.utils import check_images


@keras.saving.register_keras_serializable(package="keras_ssl")
class VQTokenizer(PretrainingModel):
    """Vector-quantised autoencoder over patches (van den Oord et al. 2017,
    "Neural Discrete Representation Learning"), the visual tokenizer of BEiT.

    A small convolutional encoder maps each `patch_size` x `patch_size`
    patch to a vector, which is replaced by its nearest entry of a learned
    codebook of `codebook_size` vectors; a decoder rebuilds the image from
    the quantised grid. Gradients pass the quantisation with the
    straight-through estimator; the loss is the reconstruction error (pixels
    in [0, 1]) plus the codebook loss and `commitment_cost` x the commitment
    loss. keras-hub and Keras have no vector quantiser, hence this class.

    Codebook collapse (a few codes doing all the work) is watched and
    fought: the share of the codebook each batch uses is logged
    (`codebook_usage`, with `perplexity`), and a code whose running share
    of assignments falls below `restart_threshold` / `codebook_size` is
    restarted on an encoder output of the current batch (single-device
    training; under `tf.distribute` the restarts are skipped).

    Args:
        codebook_size: number of tokens, >= 2.
        patch_size: side of the patches, in pixels; must divide the images.
        embedding_dim: size of the code vectors.
        hidden_dim: channels of the encoder and decoder convolutions.
        commitment_cost: weight of the commitment loss (paper: 0.25).
        usage_decay: decay of the running assignment shares.
        restart_threshold: dead-code threshold relative to uniform usage;
            0 turns restarts off.
        seed: seed of the restarts.

    Example:

    >>> import numpy as np, keras_ssl
    >>> tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=16, patch_size=4)
    >>> tokenizer.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 1)).astype("uint8")
    >>> history = tokenizer.fit(x, batch_size=8, epochs=1, verbose=0)
    >>> tuple(tokenizer.encode(x[:2]).shape)
    (2, 4, 4)
    >>> tuple(tokenizer.decode(tokenizer.encode(x[:2])).shape)
    (2, 16, 16, 1)
    """

    def __init__(
        self,
        codebook_size=512,
        patch_size=4,
        embedding_dim=32,
        hidden_dim=64,
        commitment_cost=0.25,
        usage_decay=0.99,
        restart_threshold=0.03,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (isinstance(codebook_size, (int, np.integer)) and codebook_size >= 2):
            raise ValueError(f"`codebook_size` must be an integer >= 2, got {codebook_size!r}.")
        if not (isinstance(patch_size, (int, np.integer)) and patch_size >= 1):
            raise ValueError(f"`patch_size` must be an integer >= 1, got {patch_size!r}.")
        for name, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim)):
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if not commitment_cost >= 0:
            raise ValueError(f"`commitment_cost` must be >= 0, got {commitment_cost!r}.")
        usage_decay = check_fraction("usage_decay", usage_decay)
        if not restart_threshold >= 0:
            raise ValueError(f"`restart_threshold` must be >= 0, got {restart_threshold!r}.")
        self.codebook_size = int(codebook_size)
        self.patch_size = int(patch_size)
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.commitment_cost = float(commitment_cost)
        self.usage_decay = float(usage_decay)
        self.restart_threshold = float(restart_threshold)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        p, h = self.patch_size, self.hidden_dim
        self.encoder_layers = [
            keras.layers.Conv2D(h, 3, padding="same", activation="relu", name="enc_conv1"),
            keras.layers.Conv2D(h, p, strides=p, activation="relu", name="enc_patch"),
            keras.layers.Conv2D(self.embedding_dim, 1, name="enc_out"),
        ]
        self.decoder_layers = [
            keras.layers.Conv2D(h, 1, activation="relu", name="dec_in"),
            keras.layers.Conv2DTranspose(h, p, strides=p, activation="relu", name="dec_patch"),
            keras.layers.Conv2D(h, 3, padding="same", activation="relu", name="dec_conv1"),
        ]
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.usage_tracker = keras.metrics.Mean(name="codebook_usage")

    def build(self, input_shape):
        height, width, channels = (int(d) for d in input_shape[1:])
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(
                f"`patch_size` ({p}) must divide the image size ({height} x {width})."
            )
        self.image_shape = (height, width, channels)
        shape = (None, height, width, channels)
        for layer in self.encoder_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.codebook = self.add_weight(
            shape=(self.codebook_size, self.embedding_dim), name="codebook",
            initializer=keras.initializers.RandomUniform(-1.0 / self.codebook_size,
                                                         1.0 / self.codebook_size),
        )
        self.usage = self.add_weight(
            shape=(self.codebook_size,), name="usage", trainable=False,
            initializer=keras.initializers.Constant(1.0 / self.codebook_size),
        )
        shape = (None, height // p, width // p, self.embedding_dim)
        for layer in self.decoder_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_conv = keras.layers.Conv2D(channels, 1, name="dec_out")
        self.output_conv.build(shape)
        self.built = True

    # Pieces -----------------------------------------------------------------

    def _check(self, images):
        check_images(images, name="images")
        images = ops.cast(images, "float32")
        if not self.built:
            self.build(images.shape)
        if tuple(int(d) for d in images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"The tokenizer was built for images of shape {self.image_shape}, got "
                f"{tuple(images.shape[1:])}."
            )
        return images

    def embed(self, images):
        """Continuous patch vectors (N, H/p, W/p, embedding_dim)."""
        x = ops.cast(images, "float32") / 255.0
        for layer in self.encoder_layers:
            x = layer(x)
        return ops.cast(x, "float32")  # the codebook is float32 under mixed precision

    def nearest(self, vectors):
        """Codebook ids of the nearest codes (squared L2) of (..., D) vectors."""
        flat = ops.reshape(vectors, (-1, self.embedding_dim))
        distances = (ops.sum(flat ** 2, axis=1, keepdims=True)
                     - 2.0 * ops.matmul(flat, ops.transpose(self.codebook))
                     + ops.sum(self.codebook ** 2, axis=1)[None, :])
        ids = ops.argmin(distances, axis=1)
        return ops.reshape(ids, ops.shape(vectors)[:-1])

    def decode_vectors(self, vectors):
        x = vectors
        for layer in self.decoder_layers:
            x = layer(x)
        return ops.cast(self.output_conv(x), "float32")

    def encode(self, images):
        """Token ids (N, H/p, W/p), int32."""
        images = self._check(images)
        return ops.cast(self.nearest(self.embed(images)), "int32")

    def decode(self, ids):
        """Images (N, H, W, C) in [0, 255] rebuilt from token ids."""
        ids = ops.convert_to_tensor(ids)
        vectors = ops.take(self.codebook, ops.cast(ids, "int32"), axis=0)
        return ops.clip(self.decode_vectors(vectors) * 255.0, 0.0, 255.0)

    def call(self, images, training=False):
        """Reconstructions in [0, 255]."""
        return self.decode(self.encode(images))

    def codebook_usage(self, images, batch_size=256):
        """Share of the codebook used to tokenize `images` (numpy, batched)."""
        used = np.zeros(self.codebook_size, dtype=bool)
        for start in range(0, len(images), batch_size):
            ids = ops.convert_to_numpy(self.encode(images[start:start + batch_size]))
            used[np.unique(ids)] = True
        return float(used.mean())

    # Training ---------------------------------------------------------------

    def fit(self, x=None, *args, **kwargs):
        # Build from the data's shape before training: the codebook must
        # exist before the optimizer and the compiled step are made.
        if not self.built:
            if isinstance(x, tf.data.Dataset):
                spec = x.element_spec
                spec = spec[0] if isinstance(spec, (tuple, list)) else spec
                shape = spec.shape
            elif x is not None:
                shape = np.shape(x)
            else:
                raise ValueError("`x` is required: a batch of images or a tf.data.Dataset.")
            if len(shape) != 4:
                raise ValueError(
                    f"`x` must be images of shape (N, H, W, C), got shape {tuple(shape)}."
                )
            self.build((None, *shape[1:]))
            if self.compiled:
                self.optimizer.build(self.trainable_variables)
        return super().fit(x, *args, **kwargs)

    def prepare_inputs(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._check(images)

    def extra_metrics(self):
        return [self.reconstruction_tracker, self.usage_tracker]

    def compute_ssl_loss(self, images, training=True):
        z = self.embed(images)
        ids = self.nearest(z)
        quantized = ops.take(self.codebook, ids, axis=0)
        codebook_loss = ops.mean((ops.stop_gradient(z) - quantized) ** 2)
        commitment_loss = ops.mean((z - ops.stop_gradient(quantized)) ** 2)
        # Straight-through: the decoder's gradient flows to the encoder.
        straight = z + ops.stop_gradient(quantized - z)
        reconstruction = self.decode_vectors(straight)
        reconstruction_loss = ops.mean((reconstruction - images / 255.0) ** 2)
        loss = reconstruction_loss + codebook_loss + self.commitment_cost * commitment_loss
        flat_ids = ops.reshape(ids, (-1,))
        counts = ops.cast(ops.bincount(flat_ids, minlength=self.codebook_size), "float32")
        share = counts / ops.maximum(ops.sum(counts), 1.0)
        usage = ops.mean(ops.cast(counts > 0, "float32"))
        perplexity = ops.exp(-ops.sum(share * ops.log(share + 1e-10)))
        if training:
            self._track_usage(share, ops.reshape(ops.stop_gradient(z), (-1, self.embedding_dim)))
        self.reconstruction_tracker.update_state(reconstruction_loss)
        self.usage_tracker.update_state(usage)
        return loss, {"commitment_loss": commitment_loss, "perplexity": perplexity}

    def _track_usage(self, share, vectors):
        """Update the running shares; restart dead codes on batch vectors."""
        usage = self.usage_decay * self.usage + (1.0 - self.usage_decay) * share
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if self.restart_threshold > 0 and replicas == 1:
            dead = usage < self.restart_threshold / self.codebook_size
            picks = keras.random.randint((self.codebook_size,), 0, ops.shape(vectors)[0],
                                         seed=self.seed_generator)
            fresh = ops.take(vectors, picks, axis=0)
            self.codebook.assign(ops.where(dead[:, None], fresh, self.codebook))
            usage = ops.where(dead, 1.0 / self.codebook_size, usage)
        self.usage.assign(usage)

    def get_config(self):
        config = super().get_config()
        config.update({
            "codebook_size": self.codebook_size,
            "patch_size": self.patch_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "commitment_cost": self.commitment_cost,
            "usage_decay": self.usage_decay,
            "restart_threshold": self.restart_threshold,
            "seed": self.seed,
        })
        return config

    def get_build_config(self):
        if not self.built:
            return None
        return {"input_shape": [None, *self.image_shape]}

    def build_from_config(self, config):
        if config:
            self.build(config["input_shape"])
