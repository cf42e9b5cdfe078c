"""Masked autoencoders: reconstruct the hidden patches of an image."""

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_ssl.backbones.vit_layers import PatchPositionEmbedding
from keras_ssl.layers.patchify import Patchify
from keras_ssl.layers.patchify import Unpatchify
from keras_ssl.layers.random_patch_masking import RandomPatchMasking
from keras_ssl.losses.masked_reconstruction import masked_reconstruction
from keras_ssl.losses.masked_reconstruction import normalized_patch_targets
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.utils import check_fraction


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedAutoencoder(SSLMethod):
    """Masked autoencoder (He et al. 2021, "Masked Autoencoders Are Scalable
    Vision Learners").

    The image is cut into patches; a random `mask_ratio` of them is hidden
    per sample (`keras_ssl.layers.RandomPatchMasking`). The ViT encoder sees
    only the visible patches. A light decoder gets the encoded visible
    tokens plus a shared learned mask token at each hidden position, adds
    its own (sine-cosine) position embedding, and predicts the pixels of
    every patch. The loss is the mean squared error on the hidden patches
    only, optionally against per-patch normalised pixels
    (`norm_pix_loss=True`, the paper's best setting).

    The encoder itself stays a plain ViT: exported or probed, it runs on
    full images without masking.

    Args:
        encoder: a `keras_ssl.backbones.ViT`.
        mask_ratio: fraction of patches hidden, in (0, 1).
        decoder_dim: token width of the decoder (divisible by 4).
        decoder_layers: transformer blocks in the decoder.
        decoder_heads: attention heads in the decoder.
        norm_pix_loss: normalise each target patch by its mean and variance.
        seed: seed of the masking.

    Example:

    >>> import numpy as np, keras_ssl
    >>> vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4,
    ...                               hidden_dim=32, num_layers=1, num_heads=2)
    >>> mae = keras_ssl.methods.MaskedAutoencoder(vit, decoder_dim=16, decoder_layers=1)
    >>> mae.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 1)).astype("uint8")
    >>> sorted(mae.fit(x, batch_size=8, epochs=1, verbose=0).history)
    ['loss']
    >>> images, masked, reconstructed = mae.reconstruct(x[:2])
    >>> reconstructed.shape
    (2, 16, 16, 1)
    """

    def __init__(
        self,
        encoder,
        mask_ratio=0.75,
        decoder_dim=64,
        decoder_layers=2,
        decoder_heads=4,
        norm_pix_loss=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        self.check_encoder(encoder)
        mask_ratio = check_fraction("mask_ratio", mask_ratio)
        multiple = self.decoder_dim_multiple
        if int(decoder_dim) % multiple or int(decoder_dim) % int(decoder_heads):
            raise ValueError(
                f"`decoder_dim` ({decoder_dim}) must be divisible by {multiple} and by "
                f"`decoder_heads` ({decoder_heads})."
            )
        num_patches = encoder.num_patches

        # === Layers ===
        self.masking = self.build_masking(encoder, mask_ratio, seed)
        # Targets and pictures stay float32 under a mixed-precision policy.
        self.patchify, self.unpatchify, patch_pixels = self.build_pixel_layers(encoder)
        self.decoder_embed = keras.layers.Dense(int(decoder_dim), name="decoder_embed")
        self.decoder_embed.build((None, None, encoder.hidden_dim))
        self.mask_token = self.add_weight(
            shape=(1, 1, int(decoder_dim)), name="mask_token",
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        self.decoder_position = PatchPositionEmbedding(
            encoder.grid_size, int(decoder_dim), "sincos", name="decoder_position"
        )
        self.decoder_position.build((None, num_patches, int(decoder_dim)))
        self.decoder_blocks = []
        for i in range(int(decoder_layers)):
            block = keras_hub.layers.TransformerEncoder(
                intermediate_dim=4 * int(decoder_dim),
                num_heads=int(decoder_heads),
                activation="gelu",
                layer_norm_epsilon=1e-6,
                normalize_first=True,
                name=f"decoder_block_{i}",
            )
            block.build((None, num_patches, int(decoder_dim)))
            self.decoder_blocks.append(block)
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")
        self.decoder_norm.build((None, num_patches, int(decoder_dim)))
        self.decoder_pred = keras.layers.Dense(patch_pixels, name="decoder_pred")
        self.decoder_pred.build((None, num_patches, int(decoder_dim)))

        # === Config ===
        self.mask_ratio = mask_ratio
        self.decoder_dim = int(decoder_dim)
        self.decoder_layers = int(decoder_layers)
        self.decoder_heads = int(decoder_heads)
        self.norm_pix_loss = bool(norm_pix_loss)
        self.seed = seed
        self.built = True

    #: `decoder_dim` must be a multiple of this (its sine-cosine position
    #: embedding: 4 for a 2-D patch grid)
    decoder_dim_multiple = 4

    def check_encoder(self, encoder):
        """Raise a clear error unless `encoder` is a ViT that can encode
        visible patches only."""
        if not all(hasattr(encoder, attr) for attr in
                   ("embed_patches", "encode_tokens", "num_patches", "patch_size")):
            raise ValueError(
                "MaskedAutoencoder needs a ViT encoder (keras_ssl.backbones.ViT) that "
                "can encode visible patches only; got "
                f"{type(encoder).__name__}. For convolutional encoders use "
                "keras_ssl.methods.DenoisingAutoencoder; for videos, VideoMAE with a "
                "VideoViT."
            )

    def build_masking(self, encoder, mask_ratio, seed):
        """The layer that hides patches: per-sample random patches."""
        return RandomPatchMasking(mask_ratio, seed=seed, name="masking")

    def build_pixel_layers(self, encoder):
        """`(patchify, unpatchify, pixels per patch)`: the reconstruction
        targets' layout, matching the encoder's token order."""
        height, width, channels = encoder.image_shape
        p = encoder.patch_size
        patchify = Patchify(p, name="patchify", dtype="float32")
        unpatchify = Unpatchify(p, (height, width), channels, name="unpatchify",
                                dtype="float32")
        return patchify, unpatchify, p * p * channels

    def _targets(self, images):
        target = self.patchify(images / 255.0)
        if self.norm_pix_loss:
            target = normalized_patch_targets(target)
        return target

    def forward(self, images, training=False):
        """Mask, encode the visible patches, decode every patch.

        Returns `(predictions, mask)`: (N, P, p*p*C) predicted patches in the
        loss's target space and the (N, P) mask (1 = hidden).
        """
        tokens = self.encoder.embed_patches(images, training=training)
        masked = self.masking(tokens)
        encoded = self.encoder.encode_tokens(masked["visible"], training=training)
        if self.encoder.class_token is not None:
            encoded = encoded[:, 1:]
        x = self.decoder_embed(encoded)
        batch = ops.shape(x)[0]
        num_hidden = masked["mask_indices"].shape[1]
        mask_tokens = ops.broadcast_to(
            ops.cast(self.mask_token, x.dtype), (batch, num_hidden, self.decoder_dim)
        )
        x = ops.concatenate([x, mask_tokens], axis=1)
        x = ops.take_along_axis(x, masked["restore_indices"][:, :, None], axis=1)
        x = self.decoder_position(x)
        for block in self.decoder_blocks:
            x = block(x, training=training)
        x = self.decoder_norm(x)
        return self.decoder_pred(x), masked["mask"]

    def compute_ssl_loss(self, images, training=True):
        predictions, mask = self.forward(images, training=training)
        return masked_reconstruction(predictions, self._targets(images), mask), {}

    def reconstruct(self, images):
        """`(images, masked, reconstructed)` as float numpy arrays in [0, 255].

        `masked` shows the visible patches (hidden ones black);
        `reconstructed` pastes the predicted hidden patches among the
        visible ones, as in the paper's figures.
        """
        images = ops.cast(ops.convert_to_tensor(images), "float32")
        predictions, mask = self.forward(images, training=False)
        predictions = ops.cast(predictions, "float32")
        mask = ops.cast(mask, "float32")
        pixels = self.patchify(images / 255.0)
        if self.norm_pix_loss:
            mean = ops.mean(pixels, axis=-1, keepdims=True)
            std = ops.sqrt(ops.var(pixels, axis=-1, keepdims=True) + 1e-6)
            predictions = predictions * std + mean
        hidden = mask[:, :, None]
        masked = self.unpatchify(pixels * (1.0 - hidden))
        pasted = self.unpatchify(pixels * (1.0 - hidden) + predictions * hidden)

        def to_numpy(x):
            return np.clip(ops.convert_to_numpy(x) * 255.0, 0, 255)

        return to_numpy(images / 255.0), to_numpy(masked), to_numpy(pasted)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_ratio": self.mask_ratio,
                "decoder_dim": self.decoder_dim,
                "decoder_layers": self.decoder_layers,
                "decoder_heads": self.decoder_heads,
                "norm_pix_loss": self.norm_pix_loss,
                "seed": self.seed,
            }
        )
        return config
