"""Video Vision Transformer backbone: tubelet tokens, the ViT's blocks."""

import keras
from keras import ops

from keras_ssl.backbones.backbone import Backbone
from keras_ssl.backbones.validation import check_tubelet
from keras_ssl.backbones.validation import check_video_shape
from keras_ssl.backbones.vit_layers import ClassToken
from keras_ssl.backbones.vit_layers import PatchPositionEmbedding
from keras_ssl.backbones.vit_layers import encode_tokens
from keras_ssl.backbones.vit_layers import transformer_blocks
from keras_ssl.backbones.vit_layers import TubeletEmbedding
from keras_ssl.utils import check_videos


@keras.saving.register_keras_serializable(package="keras_ssl")
class VideoViT(Backbone):
    """Video Vision Transformer returning a clip's feature vector.

    The ViT of `keras_ssl.backbones.ViT` on video tokens (ViViT's "tubelet
    embedding", Arnab et al. 2021; the VideoMAE encoder, Tong et al. 2022):
    raw clips (uint8 or float in [0, 255], (N, T, H, W, C)) are rescaled,
    cut into non-overlapping `tubelet`s of t frames x h x w pixels,
    linearly embedded (a Conv3D with stride = tubelet), given a position
    embedding (learned, or the fixed 3-D sine-cosine one) and run through
    the same pre-norm transformer blocks as the image ViT (keras-hub's
    `TransformerEncoder`, `normalize_first=True`, GELU MLPs) and a final
    LayerNorm. Every token attends to every other (joint space-time
    attention). The output is the mean of the tokens (`pooling="mean"`,
    VideoMAE's choice) or a class token (`pooling="cls"`).

    The pieces that masked autoencoders need are those of `ViT`:
    `embed_patches(videos)` -> (N, P, D) tubelet tokens with position
    embedding, `encode_tokens(tokens)` -> (N, P(+1), D) per-token features
    after the blocks and norm, `pool(sequence)`;
    `pool(encode_tokens(embed_patches(x)))` equals `video_vit(x)`.

    Args:
        input_shape: (frames, height, width, channels); `tubelet` must
            divide the first three.
        tubelet: (t, h, w) size of a tubelet.
        hidden_dim: token width (divisible by 16 for the sine-cosine
            position embedding).
        num_layers: transformer blocks.
        num_heads: attention heads (must divide hidden_dim).
        mlp_dim: hidden width of the MLPs; default 4 x hidden_dim.
        pooling: "mean" or "cls".
        position_embedding: "sincos" (3-D sine-cosine, fixed) or "learned".
        dropout: dropout rate inside the blocks.

    Example:

    >>> vit = VideoViT(input_shape=(4, 16, 16, 1), tubelet=(2, 8, 8), hidden_dim=16,
    ...                num_layers=1, num_heads=2)
    >>> vit.output_shape, vit.grid_size, vit.num_patches
    ((None, 16), (2, 2, 2), 8)
    """

    def __init__(
        self,
        input_shape=(16, 64, 64, 1),
        tubelet=(2, 8, 8),
        hidden_dim=192,
        num_layers=12,
        num_heads=3,
        mlp_dim=None,
        pooling="mean",
        position_embedding="sincos",
        dropout=0.0,
        **kwargs,
    ):
        input_shape = check_video_shape(input_shape)
        tubelet = check_tubelet(input_shape, tubelet)
        if pooling not in ("cls", "mean"):
            raise ValueError(f"`pooling` must be 'cls' or 'mean', got {pooling!r}.")
        if int(num_heads) < 1 or int(hidden_dim) % int(num_heads):
            raise ValueError(
                f"`num_heads` ({num_heads}) must divide `hidden_dim` ({hidden_dim})."
            )
        if position_embedding == "sincos" and int(hidden_dim) % 16:
            raise ValueError(
                f"`hidden_dim` must be divisible by 16 for position_embedding='sincos', got "
                f"{hidden_dim}."
            )
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {dropout!r}.")
        hidden_dim = int(hidden_dim)
        grid = tuple(size // step for size, step in zip(input_shape[:3], tubelet))
        mlp_dim = int(mlp_dim or 4 * hidden_dim)

        # === Layers ===
        rescale = keras.layers.Rescaling(1.0 / 255.0, name="rescale")
        tubelet_embedding = TubeletEmbedding(tubelet, hidden_dim, name="tubelet_embedding")
        position = PatchPositionEmbedding(grid, hidden_dim, position_embedding,
                                          name="position_embedding")
        class_token = ClassToken(hidden_dim, name="class_token") if pooling == "cls" else None
        blocks, norm = transformer_blocks(hidden_dim, num_layers, num_heads, mlp_dim, dropout)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="videos")
        x = rescale(ops.cast(inputs, "float32"))
        outputs = encode_tokens(position(tubelet_embedding(x)), class_token, blocks, norm, pooling)
        kwargs.setdefault("name", "video_vit")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # The same layer objects as the functional graph, for masked
        # autoencoders (see `embed_patches`, `encode_tokens`).
        self.rescale = rescale
        self.tubelet_embedding = tubelet_embedding
        self.position_embedding = position
        self.class_token = class_token
        self.blocks = blocks
        self.final_norm = norm

        # === Config ===
        self.video_shape = input_shape
        self.tubelet = tubelet
        self.hidden_dim = hidden_dim
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.mlp_dim = mlp_dim
        self.pooling = pooling
        self.position_embedding_kind = position_embedding
        self.dropout = float(dropout)
        self.grid_size = grid
        self.num_patches = grid[0] * grid[1] * grid[2]
        self.feature_dim = hidden_dim

    def __call__(self, inputs, *args, **kwargs):
        # Keras' own message for a wrong rank quotes a reshaped input; name
        # the clip layout instead.
        shape = getattr(inputs, "shape", None)
        if shape is not None and not isinstance(inputs, dict):
            check_videos(inputs, name="inputs", allow_unknown_rank=True)
            expected, got = self.video_shape, tuple(shape)[1:]
            if any(g is not None and g != e for g, e in zip(got, expected)):
                raise ValueError(
                    f"{type(self).__name__} {self.name!r} takes clips of shape {expected} "
                    f"(frames, height, width, channels), got a batch of shape {tuple(shape)}."
                )
        return super().__call__(inputs, *args, **kwargs)

    def embed_patches(self, videos, training=False):
        """Rescale, embed the tubelets and add position embeddings: (N, P, D)."""
        x = self.rescale(ops.cast(videos, "float32"))
        return self.position_embedding(self.tubelet_embedding(x))

    def encode_tokens(self, tokens, training=False):
        """Class token (if any), transformer blocks and final norm: the
        per-token features (N, P(+1), D)."""
        x = tokens
        if self.class_token is not None:
            x = self.class_token(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.final_norm(x)

    def pool(self, sequence):
        """The feature vector of an encoded sequence."""
        if self.pooling == "cls":
            return sequence[:, 0]
        return ops.mean(sequence, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_shape": list(self.video_shape),
            "tubelet": list(self.tubelet),
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "pooling": self.pooling,
            "position_embedding": self.position_embedding_kind,
            "dropout": self.dropout,
        })
        return config
