"""Vision Transformer backbone, with the pieces a masked autoencoder needs."""

import keras
from keras import ops

from keras_ssl.backbones.backbone import Backbone
from keras_ssl.backbones.validation import check_input_shape
from keras_ssl.backbones.vit_layers import ClassToken
from keras_ssl.backbones.vit_layers import PatchEmbedding
from keras_ssl.backbones.vit_layers import PatchPositionEmbedding
from keras_ssl.backbones.vit_layers import encode_tokens
from keras_ssl.backbones.vit_layers import transformer_blocks
from keras_ssl.layers.patchify import check_patch_size


@keras.saving.register_keras_serializable(package="keras_ssl")
class ViT(Backbone):
    """Vision Transformer (Dosovitskiy et al. 2021) returning a feature vector.

    Raw images (uint8 or float in [0, 255]) are rescaled, cut into
    `patch_size` patches, linearly embedded, given a position embedding
    (learned, or MAE's fixed 2-D sine-cosine), optionally prefixed with a
    class token, and run through pre-norm transformer blocks (keras-hub's
    `TransformerEncoder` with `normalize_first=True`: the ViT block, with
    GELU MLPs) and a final LayerNorm. The output is the class token
    (`pooling="cls"`) or the mean of the patch tokens (`pooling="mean"`).

    For masked autoencoders the same weights are reachable piecewise:
    `embed_patches(images)` -> (N, P, D) tokens with position embedding,
    `encode_tokens(tokens)` -> (N, T(+1), D) after the blocks and norm, and
    `pool(sequence)`. `pool(encode_tokens(embed_patches(x)))` equals `vit(x)`.

    Args:
        input_shape: (H, W, C), H and W divisible by `patch_size`.
        patch_size: side of the square patches.
        hidden_dim: token width.
        num_layers: transformer blocks.
        num_heads: attention heads (must divide hidden_dim).
        mlp_dim: hidden width of the MLPs; default 4 x hidden_dim.
        pooling: "cls" or "mean".
        position_embedding: "learned" or "sincos".
        dropout: dropout rate inside the blocks.

    Example:

    >>> vit = ViT(input_shape=(28, 28, 1), patch_size=4, hidden_dim=32, num_layers=2, num_heads=2)
    >>> vit.output_shape, vit.num_patches
    ((None, 32), 49)
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        patch_size=4,
        hidden_dim=192,
        num_layers=12,
        num_heads=3,
        mlp_dim=None,
        pooling="cls",
        position_embedding="sincos",
        dropout=0.0,
        **kwargs,
    ):
        input_shape = check_input_shape(input_shape, min_size=1)
        check_patch_size(input_shape, int(patch_size))
        if pooling not in ("cls", "mean"):
            raise ValueError(f"`pooling` must be 'cls' or 'mean', got {pooling!r}.")
        if int(hidden_dim) % int(num_heads):
            raise ValueError(
                f"`num_heads` ({num_heads}) must divide `hidden_dim` ({hidden_dim})."
            )
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")
        patch_size, hidden_dim = int(patch_size), int(hidden_dim)
        grid = (input_shape[0] // patch_size, input_shape[1] // patch_size)
        mlp_dim = int(mlp_dim or 4 * hidden_dim)

        # === Layers ===
        rescale = keras.layers.Rescaling(1.0 / 255.0, name="rescale")
        patch_embedding = PatchEmbedding(patch_size, hidden_dim, name="patch_embedding")
        position = PatchPositionEmbedding(grid, hidden_dim, position_embedding, name="position_embedding")
        class_token = ClassToken(hidden_dim, name="class_token") if pooling == "cls" else None
        blocks, norm = transformer_blocks(hidden_dim, num_layers, num_heads, mlp_dim, dropout)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = rescale(ops.cast(inputs, "float32"))
        outputs = encode_tokens(position(patch_embedding(x)), class_token, blocks, norm, pooling)
        kwargs.setdefault("name", "vit")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # Pieces reused by masked autoencoders (the same layer objects, so the
        # same weights as the functional graph).
        self.rescale = rescale
        self.patch_embedding = patch_embedding
        self.position_embedding = position
        self.class_token = class_token
        self.blocks = blocks
        self.final_norm = norm

        # === Config ===
        self.image_shape = input_shape
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.mlp_dim = mlp_dim
        self.pooling = pooling
        self.position_embedding_kind = position_embedding
        self.dropout = float(dropout)
        self.grid_size = grid
        self.num_patches = grid[0] * grid[1]
        self.feature_dim = hidden_dim

    def embed_patches(self, images, training=False):
        """Rescale, patch-embed and add position embeddings: (N, P, D)."""
        x = self.rescale(ops.cast(images, "float32"))
        return self.position_embedding(self.patch_embedding(x))

    def encode_tokens(self, tokens, training=False):
        """Class token (if any), transformer blocks and final norm."""
        x = tokens
        if self.class_token is not None:
            x = self.class_token(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.final_norm(x)

    def encode_masked(self, images, token_mask, mask_token, training=False):
        """Encode images whose masked patches are replaced by `mask_token`.

        `token_mask` (N, patches) is 1 on masked patches; their patch
        embeddings become the learned `mask_token` (1, 1, hidden_dim)
        before the position embedding (SimMIM, BEiT). Returns the output
        tokens of the patches, (N, patches, hidden_dim), without the class
        token.
        """
        tokens = self.patch_embedding(self.rescale(ops.cast(images, "float32")))
        m = ops.cast(token_mask[..., None], tokens.dtype)
        tokens = tokens * (1.0 - m) + ops.cast(mask_token, tokens.dtype) * m
        sequence = self.encode_tokens(self.position_embedding(tokens), training=training)
        return sequence[:, 1:] if self.class_token is not None else sequence

    def pool(self, sequence):
        """The feature vector of an encoded sequence."""
        if self.pooling == "cls":
            return sequence[:, 0]
        return ops.mean(sequence, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_shape": list(self.image_shape),
            "patch_size": self.patch_size,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "pooling": self.pooling,
            "position_embedding": self.position_embedding_kind,
            "dropout": self.dropout,
        })
        return config


def ViTTiny(input_shape=(32, 32, 3), patch_size=4, **kwargs):
    """ViT-Tiny (DeiT sizes: hidden 192, 12 blocks, 3 heads)."""
    kwargs.setdefault("hidden_dim", 192)
    kwargs.setdefault("num_layers", 12)
    kwargs.setdefault("num_heads", 3)
    return ViT(input_shape=input_shape, patch_size=patch_size, **kwargs)


def ViTSmall(input_shape=(32, 32, 3), patch_size=4, **kwargs):
    """ViT-Small (DeiT sizes: hidden 384, 12 blocks, 6 heads)."""
    kwargs.setdefault("hidden_dim", 384)
    kwargs.setdefault("num_layers", 12)
    kwargs.setdefault("num_heads", 6)
    return ViT(input_shape=input_shape, patch_size=patch_size, **kwargs)
