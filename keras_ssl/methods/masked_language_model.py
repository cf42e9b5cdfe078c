"""BERT masked language modeling on raw text, with keras-hub's BERT pieces."""

import math

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.methods.ssl_method import PretrainingModel
from keras_ssl.utils import check_fraction

REQUIRED_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


def special_token_ids(tokenizer, tokens=REQUIRED_TOKENS):
    """Ids of BERT's special tokens in `tokenizer`'s vocabulary; error if missing."""
    vocabulary = tokenizer.get_vocabulary()
    if vocabulary is None:
        raise ValueError("`tokenizer` has no vocabulary.")
    missing = [t for t in tokens if t not in vocabulary]
    if missing:
        raise ValueError(
            f"The tokenizer's vocabulary has no {', '.join(missing)} token(s); "
            f"MaskedLanguageModel needs {list(tokens)}. Train it with "
            "keras_ssl.text.train_wordpiece (its default reserved_tokens have them)."
        )
    return {t: int(tokenizer.token_to_id(t)) for t in tokens}


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedLanguageModel(PretrainingModel):
    """BERT masked language modeling (Devlin et al. 2019, "BERT: Pre-training
    of Deep Bidirectional Transformers for Language Understanding").

    `fit` takes raw strings (a `tf.data.Dataset` of string batches, or a
    `tf.string` tensor) or integer token ids; labels are ignored. Every
    train step tokenizes the batch (keras-hub `WordPieceTokenizer`), packs
    each sequence as `[CLS] tokens [SEP] [PAD]...` truncated to
    `sequence_length` (`StartEndPacker`) and draws a fresh mask
    (`MaskedLMMaskGenerator`, dynamic masking): `ceil(mask_rate * n)` of
    the `n` non-special tokens of each sequence are selected at random
    (`[CLS]`, `[SEP]` and `[PAD]` never are); of those, `mask_token_rate` become
    `[MASK]`, `random_token_rate` a random token and the rest stay
    unchanged. A `MaskedLMHead` whose output projection is tied to the token
    embedding predicts the original tokens; the loss is the sparse
    categorical cross-entropy over the selected positions only (the
    generator's mask weights are the sample weights).

    Token ids given to `fit` or `call` are the tokenizer's output, ragged or
    padded with `[PAD]`, and are packed the same way; a dense batch of width
    `sequence_length` whose rows all start with `[CLS]` is taken as already
    packed.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (e.g.
            `keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size())`).
        tokenizer: a keras-hub tokenizer whose vocabulary has `[PAD]`,
            `[CLS]`, `[SEP]` and `[MASK]` (`keras_ssl.text.train_wordpiece`).
        sequence_length: tokens per packed sequence, `[CLS]` and `[SEP]`
            included; at most the backbone's `max_sequence_length`.
        mask_rate: fraction of the tokens selected for prediction, in (0, 1).
        mask_token_rate: of the selected tokens, the fraction replaced by
            `[MASK]`.
        random_token_rate: of the selected tokens, the fraction replaced by
            a random token. `mask_token_rate + random_token_rate <= 1`; the
            remainder is left unchanged.

    Metrics: `loss`, `masked_accuracy` (top-1 accuracy on the selected
    tokens) and `perplexity` (exp of the epoch's mean loss).

    `compile(optimizer="auto")` uses AdamW, learning rate 5e-4, weight decay
    0.01. `call(x)` (and `predict`) returns the pooled `[CLS]` embedding,
    shape (N, hidden_dim).

    Example:

    >>> import keras_ssl
    >>> texts = keras_ssl.datasets.load_text(["the cat sat on the mat"] * 8)
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=50)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                     hidden_dim=16, intermediate_dim=32)
    >>> mlm = MaskedLanguageModel(bert, tok, sequence_length=16)
    >>> mlm.compile(optimizer="auto")
    >>> sorted(mlm.fit(texts.batch(4), epochs=1, verbose=0).history)
    ['loss', 'masked_accuracy', 'perplexity']
    >>> mlm.predict(tf.constant(["the cat"]), verbose=0).shape
    (1, 16)
    """

    jit_unsupported_reason = (
        "its train step tokenizes and masks text with TensorFlow Text and "
        "ragged-tensor ops, which XLA cannot compile."
    )

    def __init__(
        self,
        backbone,
        tokenizer,
        sequence_length=128,
        mask_rate=0.15,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        **kwargs,
    ):
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise TypeError(
                "`backbone` must be a keras_hub.models.BertBackbone (e.g. "
                f"keras_ssl.backbones.BertTiny), got {type(backbone).__name__}."
            )
        if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
            raise TypeError(
                "`tokenizer` must be a keras_hub tokenizer (e.g. from "
                f"keras_ssl.text.train_wordpiece), got {type(tokenizer).__name__}."
            )
        mask_rate = check_fraction("mask_rate", mask_rate)
        mask_token_rate = check_fraction("mask_token_rate", mask_token_rate, False, False)
        random_token_rate = check_fraction("random_token_rate", random_token_rate, False, False)
        if mask_token_rate + random_token_rate > 1:
            raise ValueError(
                "`mask_token_rate` + `random_token_rate` must be at most 1, got "
                f"{mask_token_rate} + {random_token_rate}."
            )
        if isinstance(sequence_length, bool) or int(sequence_length) != sequence_length:
            raise TypeError(f"`sequence_length` must be an integer, got {sequence_length!r}.")
        sequence_length = int(sequence_length)
        if sequence_length > backbone.max_sequence_length:
            raise ValueError(
                f"`sequence_length` ({sequence_length}) is larger than the backbone's "
                f"`max_sequence_length` ({backbone.max_sequence_length}): build the "
                "backbone with a longer max_sequence_length or use a shorter sequence."
            )
        if sequence_length < 3:
            raise ValueError(
                f"`sequence_length` must be at least 3 ([CLS], a token, [SEP]), got "
                f"{sequence_length}."
            )
        if tokenizer.vocabulary_size() != backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer's vocabulary ({tokenizer.vocabulary_size()} tokens) and the "
                f"backbone's `vocabulary_size` ({backbone.vocabulary_size}) differ: build "
                "the backbone with vocabulary_size=tokenizer.vocabulary_size()."
            )
        ids = special_token_ids(tokenizer)
        super().__init__(**kwargs)
        # Tokenization and masking run inside `train_step` with TensorFlow
        # Text and ragged ops, which have no XLA kernels (Keras's
        # `jit_compile="auto"` reads this flag).
        self.supports_jit = False

        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=ids["[CLS]"],
            end_value=ids["[SEP]"],
            pad_value=ids["[PAD]"],
            return_padding_mask=True,
            name="packer",
        )
        # The generator selects ceil(mask_rate * tokens) per sequence, at
        # most ceil(mask_rate * (sequence_length - 2)), so this length never
        # truncates a selection; unused slots have weight 0.
        self.mask_selection_length = max(1, math.ceil(sequence_length * mask_rate))
        self.masker = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size=backbone.vocabulary_size,
            mask_selection_rate=mask_rate,
            mask_token_id=ids["[MASK]"],
            mask_selection_length=self.mask_selection_length,
            unselectable_token_ids=[ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]],
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
            name="masker",
        )
        self.mlm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size,
            token_embedding=backbone.token_embedding,
            intermediate_activation="gelu",
            name="mlm_head",
        )
        self.mlm_head.build(
            (None, sequence_length, backbone.hidden_dim), (None, self.mask_selection_length)
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")

        # === Config ===
        self.sequence_length = sequence_length
        self.mask_rate = mask_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.special_token_ids = ids
        self.built = True

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01 (BERT-style)."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        return [self.accuracy_tracker]

    # Inputs -----------------------------------------------------------------

    def pack(self, inputs):
        """Strings or token ids -> `(token_ids, padding_mask)`, each (N, L).

        Strings (shape (N,) or (N, 1)) are tokenized; token ids (ragged, or
        dense padded with `[PAD]`) are used as they are. Both are packed as
        `[CLS] tokens [SEP] [PAD]...`, truncated to `sequence_length`.
        """
        if isinstance(inputs, dict):
            raise TypeError(
                f"{type(self).__name__} expects a batch of strings or token ids, got a dict."
            )
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(inputs)
        pad_id = self.special_token_ids["[PAD]"]
        if inputs.dtype == tf.string:
            if inputs.shape.rank == 2 and inputs.shape[-1] == 1:
                inputs = tf.squeeze(inputs, -1)
            if inputs.shape.rank != 1:
                raise ValueError(
                    f"{type(self).__name__} expects a batch of strings of shape (N,), got "
                    f"shape {inputs.shape}."
                )
            token_ids, padding_mask = self.packer(self.tokenizer(inputs))
        elif inputs.dtype.is_integer:
            if inputs.shape.rank != 2:
                raise ValueError(
                    f"{type(self).__name__} expects token ids of shape (N, tokens), got "
                    f"shape {inputs.shape}."
                )
            inputs = tf.cast(inputs, "int32")
            if isinstance(inputs, tf.RaggedTensor):
                token_ids, padding_mask = self.packer(inputs)
            else:
                token_ids, padding_mask = self._pack_dense(inputs, pad_id)
        else:
            raise TypeError(
                f"{type(self).__name__} expects strings or integer token ids, got dtype "
                f"{inputs.dtype.name}."
            )
        token_ids = tf.cast(token_ids, "int32")
        token_ids = tf.ensure_shape(token_ids, [None, self.sequence_length])
        return token_ids, tf.cast(padding_mask, "bool")

    def _pack_dense(self, inputs, pad_id):
        unpacked = tf.RaggedTensor.from_tensor(inputs, padding=pad_id)
        if inputs.shape[-1] != self.sequence_length:
            return self.packer(unpacked)
        # Already packed when every row starts with [CLS]: used as it is.
        already = tf.reduce_all(inputs[:, 0] == self.special_token_ids["[CLS]"])
        return tf.cond(
            already,
            lambda: (inputs, inputs != pad_id),
            lambda: tuple(self.packer(unpacked)),
        )

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.pack(x)

    # Pretext task -----------------------------------------------------------

    def mask(self, token_ids):
        """Draw a BERT mask for packed `token_ids`; keras-hub's generator output.

        Returns a dict with `token_ids` (corrupted input), `mask_positions`,
        `mask_ids` (the original tokens there) and `mask_weights` (1 for a
        selected position, 0 for padding slots), the last three of shape
        (N, mask_selection_length).
        """
        if tf.executing_eagerly():
            # keras-hub layers called eagerly take a pure-Python path whose
            # sampling differs (a coin flip per token); training runs in a
            # tf.function, on TensorFlow Text's path. Eager calls use that
            # one too, so `mask` shows what `fit` does.
            if getattr(self, "_graph_masker", None) is None:
                self._graph_masker = tf.function(self.masker, autograph=False)
            return self._graph_masker(tf.convert_to_tensor(token_ids))
        return self.masker(token_ids)

    def compute_ssl_loss(self, inputs, training=True):
        token_ids, padding_mask = inputs
        masked = self.mask(token_ids)
        outputs = self.backbone(
            {
                "token_ids": masked["token_ids"],
                "segment_ids": tf.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=training,
        )
        logits = self.mlm_head(outputs["sequence_output"], masked["mask_positions"])
        logits = tf.cast(logits, "float32")
        weights = tf.cast(masked["mask_weights"], "float32")
        per_token = keras.losses.sparse_categorical_crossentropy(
            masked["mask_ids"], logits, from_logits=True
        )
        loss = tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        # The pooler ([CLS] dense + tanh) is trained by BERT's next-sentence
        # task, not by masked-LM: a zero term gives it zero gradients rather
        # than none, which Keras would warn about at every `fit`.
        loss = loss + 0.0 * tf.reduce_sum(tf.cast(outputs["pooled_output"], "float32"))
        self.accuracy_tracker.update_state(masked["mask_ids"], logits, sample_weight=weights)
        return loss, {}

    def compile_logs(self, logs):
        logs = dict(logs or {})
        logs["perplexity"] = tf.exp(self.loss_tracker.result())
        return super().compile_logs(logs)

    # Inference --------------------------------------------------------------

    def encode(self, inputs, training=False):
        """The backbone's outputs for strings or token ids.

        Returns `{"pooled_output": (N, H), "sequence_output": (N, L, H)}`.
        """
        token_ids, padding_mask = self.pack(inputs)
        return self.backbone(
            {
                "token_ids": token_ids,
                "segment_ids": tf.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=training,
        )

    def call(self, inputs, training=False):
        """Pooled `[CLS]` embeddings of strings or token ids: (N, hidden_dim)."""
        return self.encode(inputs, training=training)["pooled_output"]

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        tokenizer = keras.saving.serialize_keras_object(self.tokenizer)
        # keras-hub tokenizers keep their vocabulary out of the config and
        # restore it from the file's assets, which load only after every
        # constructor has run; this constructor needs the special token ids,
        # so the vocabulary also goes into the tokenizer's config.
        tokenizer["config"]["vocabulary"] = list(self.tokenizer.get_vocabulary())
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "tokenizer": tokenizer,
                "sequence_length": self.sequence_length,
                "mask_rate": self.mask_rate,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
