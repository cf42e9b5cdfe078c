"""A product quantizer trained with the straight-through Gumbel-softmax."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ssl")
class GumbelVectorQuantizer(keras.layers.Layer):
    """wav2vec 2.0's quantizer (Baevski et al. 2020; Jang et al. 2017).

    Each input vector is split into `num_groups` choices; for each, a
    linear map gives logits over `codebook_size` entries, and the chosen
    entries (one learned vector of `code_dim / num_groups` per entry and
    group) are concatenated: `codebook_size ** num_groups` possible codes
    from `num_groups * codebook_size` vectors. In training the choice is a
    hard Gumbel-softmax sample at `temperature` with straight-through
    gradients; at inference the argmax.

    Written here because Keras and keras-hub have no Gumbel quantizer.

    Call: `quantizer(x, temperature=..., training=...)` with x (..., D)
    returns a dict: "quantized" (..., code_dim), "probabilities" (...,
    num_groups, codebook_size) (softmax of the logits without noise, for
    the diversity loss), "codes" (..., num_groups) int32.
    """

    def __init__(self, num_groups=2, codebook_size=64, code_dim=128, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_groups) < 1 or int(codebook_size) < 2:
            raise ValueError(
                f"`num_groups` must be >= 1 and `codebook_size` >= 2, got {num_groups!r} and "
                f"{codebook_size!r}."
            )
        if int(code_dim) % int(num_groups):
            raise ValueError(
                f"`code_dim` ({code_dim}) must be divisible by `num_groups` ({num_groups})."
            )
        self.num_groups = int(num_groups)
        self.codebook_size = int(codebook_size)
        self.code_dim = int(code_dim)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.to_logits = keras.layers.Dense(self.num_groups * self.codebook_size,
                                            name="logits")

    def build(self, input_shape):
        self.to_logits.build(input_shape)
        self.codevectors = self.add_weight(
            name="codevectors",
            shape=(self.num_groups, self.codebook_size, self.code_dim // self.num_groups),
            initializer="random_uniform",
        )

    def call(self, inputs, temperature=1.0, training=False):
        logits = self.to_logits(inputs)
        shape = ops.shape(logits)
        logits = ops.reshape(logits, (*shape[:-1], self.num_groups, self.codebook_size))
        probabilities = ops.softmax(ops.cast(logits, "float32"), axis=-1)
        if training:
            uniform = keras.random.uniform(ops.shape(logits), minval=1e-6, maxval=1.0 - 1e-6,
                                           seed=self.seed_generator)
            gumbel = -ops.log(-ops.log(uniform))
            soft = ops.softmax((ops.cast(logits, "float32") + gumbel) / temperature, axis=-1)
            codes = ops.argmax(soft, axis=-1)
            hard = ops.one_hot(codes, self.codebook_size, dtype=soft.dtype)
            # Straight-through: the forward pass uses the hard choice, the
            # backward pass the soft sample's gradient.
            weights = hard + soft - ops.stop_gradient(soft)
        else:
            codes = ops.argmax(logits, axis=-1)
            weights = ops.one_hot(codes, self.codebook_size, dtype="float32")
        # (..., G, V) x (G, V, d) -> (..., G, d)
        chosen = ops.einsum("...gv,gvd->...gd", weights, ops.cast(self.codevectors, "float32"))
        quantized = ops.reshape(chosen, (*shape[:-1], self.code_dim))
        return {"quantized": quantized, "probabilities": probabilities,
                "codes": ops.cast(codes, "int32")}

    def get_config(self):
        return {**super().get_config(), "num_groups": self.num_groups,
                "codebook_size": self.codebook_size, "code_dim": self.code_dim,
                "seed": self.seed}
