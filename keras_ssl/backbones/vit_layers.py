"""Building blocks of the ViT backbones: patch and tubelet embeddings, 2-D
and 3-D position embeddings, class token."""

import keras
import keras_hub
import numpy as np
from keras import ops


def _sincos_1d(positions, dim):
    """Sine-cosine features (N, dim) of integer `positions` at geometric
    frequencies (Vaswani et al. 2017): half sines, half cosines."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype="float64") / (dim / 2.0))
    angles = np.outer(np.asarray(positions).ravel(), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_position_embedding_2d(grid_h, grid_w, dim):
    """Fixed 2-D sine-cosine position embedding (MAE, He et al. 2021).

    Half of the channels encode the row, half the column, each with 1-D
    sine-cosine features at geometric frequencies. keras-hub's
    `SinePositionEncoding` is 1-D only, hence this function.
    Returns a (grid_h * grid_w, dim) float32 array.
    """
    if dim % 4:
        raise ValueError(
            f"The sine-cosine position embedding needs hidden_dim divisible by 4, got {dim}."
        )
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    emb = np.concatenate([_sincos_1d(rows, dim // 2), _sincos_1d(cols, dim // 2)], axis=1)
    return emb.astype("float32")


def sincos_position_embedding_3d(grid_t, grid_h, grid_w, dim):
    """Fixed 3-D sine-cosine position embedding of a (time, row, column) grid.

    The layout of the video masked autoencoders of Feichtenhofer et al.
    2022 ("Masked Autoencoders As Spatiotemporal Learners"): three quarters
    of the channels hold the 2-D (row, column) embedding of
    `sincos_position_embedding_2d`, the last quarter the 1-D embedding of
    the time index. Tokens are in time-major order (all positions of the
    first time slice, then the next). Returns a (grid_t * grid_h * grid_w,
    dim) float32 array; `dim` must be divisible by 16.
    """
    if dim % 16:
        raise ValueError(
            "The 3-D sine-cosine position embedding needs hidden_dim divisible by 16, got "
            f"{dim}."
        )
    spatial = sincos_position_embedding_2d(grid_h, grid_w, dim // 4 * 3)
    temporal = _sincos_1d(np.arange(grid_t), dim // 4).astype("float32")
    spatial = np.tile(spatial[None], (grid_t, 1, 1))
    temporal = np.repeat(temporal[:, None], grid_h * grid_w, axis=1)
    return np.concatenate([spatial, temporal], axis=-1).reshape(-1, dim)


@keras.saving.register_keras_serializable(package="keras_ssl")
class PatchEmbedding(keras.layers.Layer):
    """Non-overlapping patches -> linear embeddings: (N, H, W, C) -> (N, P, D).

    A Conv2D whose kernel and stride equal the patch size (Dosovitskiy et
    al. 2021), flattened to a token sequence in row-major patch order.
    """

    def __init__(self, patch_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.hidden_dim = int(hidden_dim)
        self.projection = keras.layers.Conv2D(
            self.hidden_dim, self.patch_size, strides=self.patch_size,
            padding="valid", name="projection",
        )

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.built = True

    def call(self, images):
        x = self.projection(images)
        return ops.reshape(x, (-1, x.shape[1] * x.shape[2], self.hidden_dim))

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        return (input_shape[0], (input_shape[1] // p) * (input_shape[2] // p), self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "hidden_dim": self.hidden_dim})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class TubeletEmbedding(keras.layers.Layer):
    """Non-overlapping tubelets of a video -> linear embeddings:
    (N, T, H, W, C) -> (N, P, D).

    The video counterpart of `PatchEmbedding` (ViViT, Arnab et al. 2021;
    VideoMAE, Tong et al. 2022): a Conv3D whose kernel and stride equal the
    tubelet size (t, h, w), flattened to a token sequence in time-major
    order (the tubelets of the first t frames row by row, then the next).

    Args:
        tubelet: (t, h, w), frames x rows x columns of one tubelet.
        hidden_dim: token width D.
    """

    def __init__(self, tubelet, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.tubelet = tuple(int(s) for s in tubelet)
        self.hidden_dim = int(hidden_dim)
        self.projection = keras.layers.Conv3D(
            self.hidden_dim, self.tubelet, strides=self.tubelet, padding="valid",
            name="projection", dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.built = True

    def call(self, videos):
        x = self.projection(videos)
        return ops.reshape(x, (-1, x.shape[1] * x.shape[2] * x.shape[3], self.hidden_dim))

    def compute_output_shape(self, input_shape):
        t, h, w = self.tubelet
        count = (input_shape[1] // t) * (input_shape[2] // h) * (input_shape[3] // w)
        return (input_shape[0], count, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"tubelet": list(self.tubelet), "hidden_dim": self.hidden_dim})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class PatchPositionEmbedding(keras.layers.Layer):
    """Adds a position embedding to patch tokens: learned or sine-cosine.

    `grid_size` is the token grid: (rows, columns) for image patches, or
    (time, rows, columns) for the tubelets of a video (tokens in time-major
    order); "sincos" is then `sincos_position_embedding_2d` or `_3d`.

    Also exposes `embeddings()` so a masked autoencoder's decoder or a class
    token can reuse the table.
    """

    def __init__(self, grid_size, hidden_dim, kind="learned", **kwargs):
        super().__init__(**kwargs)
        if kind not in ("learned", "sincos"):
            raise ValueError(
                f"`position_embedding` must be 'learned' or 'sincos', got {kind!r}."
            )
        self.grid_size = tuple(int(g) for g in grid_size)
        if len(self.grid_size) not in (2, 3) or min(self.grid_size) < 1:
            raise ValueError(
                "`grid_size` must be (rows, columns) or (time, rows, columns) of positive "
                f"sizes, got {grid_size!r}."
            )
        self.hidden_dim = int(hidden_dim)
        self.kind = kind

    def build(self, input_shape):
        num = int(np.prod(self.grid_size))
        if self.kind == "learned":
            self.table = self.add_weight(
                shape=(num, self.hidden_dim), name="table",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
        else:
            table = (sincos_position_embedding_2d if len(self.grid_size) == 2
                     else sincos_position_embedding_3d)
            values = table(*self.grid_size, self.hidden_dim)
            self.table = self.add_weight(
                shape=(num, self.hidden_dim), name="table", trainable=False,
                initializer=keras.initializers.Constant(values),
            )
        self.built = True

    def embeddings(self):
        return ops.convert_to_tensor(self.table)

    def call(self, tokens):
        return tokens + ops.cast(self.table, tokens.dtype)[None]

    def get_config(self):
        config = super().get_config()
        config.update(
            {"grid_size": list(self.grid_size), "hidden_dim": self.hidden_dim, "kind": self.kind}
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class ClassToken(keras.layers.Layer):
    """Prepends a learned [CLS] token to a token sequence: (N, T, D) -> (N, T+1, D)."""

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(1, 1, self.hidden_dim), name="token",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.built = True

    def call(self, tokens):
        batch = ops.shape(tokens)[0]
        token = ops.broadcast_to(ops.cast(self.token, tokens.dtype), (batch, 1, self.hidden_dim))
        return ops.concatenate([token, tokens], axis=1)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], t, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim})
        return config


def transformer_blocks(hidden_dim, num_layers, num_heads, mlp_dim, dropout):
    """The pre-norm transformer blocks (keras-hub's `TransformerEncoder`)
    and the final layer norm of the ViTs; names `block_i`, `final_norm`."""
    blocks = [
        keras_hub.layers.TransformerEncoder(
            intermediate_dim=int(mlp_dim),
            num_heads=int(num_heads),
            dropout=float(dropout),
            activation="gelu",
            layer_norm_epsilon=1e-6,
            normalize_first=True,
            name=f"block_{i}",
        )
        for i in range(int(num_layers))
    ]
    return blocks, keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")


def encode_tokens(tokens, class_token, blocks, norm, pooling):
    """Embedded patch (or tubelet) tokens -> the pooled features: the class
    token's output (`pooling="cls"`) or the mean over every token."""
    x = tokens if class_token is None else class_token(tokens)
    for block in blocks:
        x = block(x)
    x = norm(x)
    return x[:, 0] if pooling == "cls" else ops.mean(x, axis=1)
