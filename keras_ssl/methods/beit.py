"""BEiT: predict the visual tokens of masked patches."""

import keras
from keras import ops

from keras_ssl.layers.random_pixel_masking import blockwise_mask
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.methods.vq_tokenizer import VQTokenizer
from keras_ssl.utils import check_fraction


@keras.saving.register_keras_serializable(package="keras_ssl")
class BEiT(SSLMethod):
    """BEiT (Bao et al. 2022, "BEiT: BERT Pre-Training of Image Transformers").

    A trained visual tokenizer (`VQTokenizer`, frozen inside BEiT and saved
    with it) turns each image patch into a token id. About `mask_ratio`
    of the patches are hidden with blockwise masking (rectangles of
    patches, as in the paper; `layers.random_pixel_masking.blockwise_mask`),
    their patch embeddings replaced by a learned mask token before the
    position embedding; a linear classifier over the codebook predicts the
    hidden patches' token ids from the ViT's output tokens, trained with
    cross-entropy on masked positions only. `masked_accuracy` is logged.

    The tokenizer's patch grid must be the ViT's: `tokenizer.patch_size`
    equals the ViT's patch size.

    Args:
        encoder: a `keras_ssl.backbones.ViT`.
        tokenizer: a trained `VQTokenizer` (built on images of the ViT's
            input shape, or built here).
        mask_ratio: target share of masked patches, in (0, 1) (paper: 0.4).
        min_block: smallest masked rectangle, in patches (default: about
            8% of the grid, the paper's 16 of 196).
        seed: seed of the masking.

    Example:

    >>> import numpy as np, keras_ssl
    >>> x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 1)).astype("uint8")
    >>> tokenizer = keras_ssl.methods.VQTokenizer(codebook_size=16, patch_size=4)
    >>> tokenizer.compile(optimizer="auto")
    >>> history = tokenizer.fit(x, batch_size=8, epochs=1, verbose=0)
    >>> vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4,
    ...                               hidden_dim=32, num_layers=1, num_heads=2)
    >>> beit = keras_ssl.methods.BEiT(vit, tokenizer, mask_ratio=0.4)
    >>> beit.compile(optimizer="auto")
    >>> sorted(beit.fit(x, batch_size=8, epochs=1, verbose=0).history)
    ['loss', 'masked_accuracy']
    """

    def __init__(self, encoder, tokenizer=None, mask_ratio=0.4, min_block=None, seed=None,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        mask_ratio = check_fraction("mask_ratio", mask_ratio)
        if not all(hasattr(encoder, attr) for attr in
                   ("encode_masked", "patch_embedding", "grid_size")):
            raise ValueError(
                f"BEiT needs a ViT encoder (keras_ssl.backbones.ViT), got {type(encoder).__name__}."
            )
        if not isinstance(tokenizer, VQTokenizer):
            raise TypeError(
                "`tokenizer` must be a trained keras_ssl.methods.VQTokenizer (BEiT predicts its "
                f"token ids), got {type(tokenizer).__name__}."
            )
        image_shape = tuple(int(d) for d in encoder.input_shape[1:])
        if not tokenizer.built:
            tokenizer.build((None, *image_shape))
        tokens_grid = (tokenizer.image_shape[0] // tokenizer.patch_size,
                       tokenizer.image_shape[1] // tokenizer.patch_size)
        vit_grid = tuple(int(d) for d in encoder.grid_size)
        if tokenizer.image_shape != image_shape or tokens_grid != vit_grid:
            raise ValueError(
                f"The tokenizer's patch grid {tokens_grid[0]} x {tokens_grid[1]} (images "
                f"{tokenizer.image_shape}, patch size {tokenizer.patch_size}) differs from the "
                f"ViT's {vit_grid[0]} x {vit_grid[1]} (images {image_shape}, patch size "
                f"{encoder.patch_size}): BEiT predicts one token per ViT patch."
            )
        cells = vit_grid[0] * vit_grid[1]
        min_block = int(min_block) if min_block is not None else max(1, round(0.08 * cells))
        if min_block < 1:
            raise ValueError(f"`min_block` must be >= 1, got {min_block!r}.")

        # === Layers ===
        self.tokenizer = tokenizer
        # Frozen: every sublayer too (a tokenizer revived from a config
        # builds its layers after its own `trainable` flag was set).
        for layer in [tokenizer, *tokenizer.layers]:
            layer.trainable = False
        self.mask_token = self.add_weight(
            shape=(1, 1, int(encoder.hidden_dim)), name="mask_token",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.head = keras.layers.Dense(tokenizer.codebook_size, name="token_head")
        self.head.build((None, None, int(encoder.hidden_dim)))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.accuracy_tracker = keras.metrics.Mean(name="masked_accuracy")

        # === Config ===
        self.mask_ratio = mask_ratio
        self.min_block = min_block
        self.seed = seed
        self.grid = vit_grid
        self.built = True

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def unguarded_state(self):
        # The frozen tokenizer does not change in the forward pass.
        return list(self.tokenizer.variables)

    def token_mask(self, batch):
        """(N, patches) blockwise mask, 1 on masked patches."""
        mask = blockwise_mask(batch, self.grid, self.mask_ratio, self.seed_generator,
                              min_block=self.min_block)
        return ops.reshape(mask, (batch, self.grid[0] * self.grid[1]))

    def token_logits(self, images, mask, training=False):
        """(N, patches, codebook_size) logits from images whose `mask`ed
        patches are hidden."""
        sequence = self.encoder.encode_masked(images, mask, self.mask_token, training=training)
        return ops.cast(self.head(sequence), "float32")

    def compute_ssl_loss(self, images, training=True):
        batch = ops.shape(images)[0]
        mask = self.token_mask(batch)
        targets = ops.stop_gradient(ops.reshape(self.tokenizer.encode(images), (batch, -1)))
        logits = self.token_logits(images, mask, training=training)
        per_token = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        total = ops.maximum(ops.sum(mask), 1.0)
        loss = ops.sum(per_token * mask) / total
        hits = ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(targets, "int64")),
                        "float32")
        self.accuracy_tracker.update_state(ops.sum(hits * mask) / total)
        return loss, {}

    def get_config(self):
        config = super().get_config()
        # The frozen tokenizer travels without its own training state.
        tokenizer = keras.saving.serialize_keras_object(self.tokenizer)
        tokenizer.pop("compile_config", None)
        config.update({
            "tokenizer": tokenizer,
            "mask_ratio": self.mask_ratio,
            "min_block": self.min_block,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return super().from_config(config)
