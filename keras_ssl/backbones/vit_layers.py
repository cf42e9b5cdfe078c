"""Building blocks of the ViT backbone: patch embedding, 2-D position
embedding, class token."""

import keras
import numpy as np
from keras import ops


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

    def one_axis(positions, half):
        omega = 1.0 / 10000 ** (np.arange(half // 2, dtype="float64") / (half / 2.0))
        angles = np.outer(positions.ravel(), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    emb = np.concatenate([one_axis(rows, dim // 2), one_axis(cols, dim // 2)], axis=1)
    return emb.astype("float32")


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
class PatchPositionEmbedding(keras.layers.Layer):
    """Adds a position embedding to patch tokens: learned or 2-D sine-cosine.

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
        self.hidden_dim = int(hidden_dim)
        self.kind = kind

    def build(self, input_shape):
        num = self.grid_size[0] * self.grid_size[1]
        if self.kind == "learned":
            self.table = self.add_weight(
                shape=(num, self.hidden_dim), name="table",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
        else:
            values = sincos_position_embedding_2d(*self.grid_size, self.hidden_dim)
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
