"""BERT masked language modeling on raw text, with keras-hub's BERT pieces."""

import math

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.methods.text_method import TextMethod
from keras_ssl.utils import check_fraction

REQUIRED_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedLanguageModel(TextMethod):
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
            included; at least 8 and at most the backbone's
            `max_sequence_length`.
        mask_rate: fraction of the tokens selected for prediction, in (0, 1).
        mask_token_rate: of the selected tokens, the fraction replaced by
            `[MASK]`.
        random_token_rate: of the selected tokens, the fraction replaced by
            a random token. `mask_token_rate + random_token_rate <= 1`; the
            remainder is left unchanged.
        pooling: how `call` and the exports pool the token features into
            one vector a text: `"mean"` over the real tokens (the default:
            masked-LM does not train BERT's pooler) or `"cls"`, the pooled
            `[CLS]` output.

    Metrics: `loss`, `masked_accuracy` (top-1 accuracy on the selected
    tokens) and `perplexity` (exp of the epoch's mean loss).

    `compile(optimizer="auto")` uses AdamW, learning rate 5e-4, weight decay
    0.01. `call(x)` (and `predict`) returns the pooled embedding, shape
    (N, hidden_dim). `fill_mask(texts)` predicts the tokens at `[MASK]`.
    Strings may be a `tf.data.Dataset` of string batches, a `tf.string`
    tensor, a Python list or a numpy array of `str`.

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

    backbone_types = (keras_hub.models.BertBackbone,)
    required_tokens = REQUIRED_TOKENS
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
        pooling="mean",
        **kwargs,
    ):
        mask_rate = check_fraction("mask_rate", mask_rate)
        mask_token_rate = check_fraction("mask_token_rate", mask_token_rate, False, False)
        random_token_rate = check_fraction("random_token_rate", random_token_rate, False, False)
        if mask_token_rate + random_token_rate > 1:
            raise ValueError(
                "`mask_token_rate` + `random_token_rate` must be at most 1, got "
                f"{mask_token_rate} + {random_token_rate}."
            )
        super().__init__(backbone, tokenizer, sequence_length, pooling=pooling, **kwargs)
        ids = self.special_token_ids

        # === Layers ===
        # The generator selects ceil(mask_rate * tokens) per sequence, at
        # most ceil(mask_rate * (sequence_length - 2)), so this length never
        # truncates a selection; unused slots have weight 0.
        self.mask_selection_length = max(1, math.ceil(self.sequence_length * mask_rate))
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
            (None, self.sequence_length, backbone.hidden_dim), (None, self.mask_selection_length)
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")

        # === Config ===
        self.mask_rate = mask_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.built = True

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01 (BERT-style)."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        return [self.accuracy_tracker]

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
        outputs = self.backbone_outputs(masked["token_ids"], padding_mask, training=training)
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

    def fill_mask(self, texts, top_k=5):
        """The most likely tokens at each `[MASK]` of each text.

        Args:
            texts: strings with `[MASK]` written in them (e.g. `"the [MASK]
                is shining"`), in any string form `fit` takes.
            top_k: how many candidates to return at each mask.

        Returns:
            A list with one entry per text: for a text with one `[MASK]`, a
            list of `top_k` `(token, probability)` pairs, best first; for a
            text with several, a list of such lists, one per mask in order.

        Raises:
            ValueError: a text without `[MASK]` (or whose masks all fall
                beyond `sequence_length`), or a bad `top_k`.

        Example:

        >>> import keras_ssl
        >>> tok = keras_ssl.text.train_wordpiece(["the sun is shining"] * 4, vocabulary_size=40)
        >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
        ...                                     hidden_dim=16, intermediate_dim=32)
        >>> mlm = MaskedLanguageModel(bert, tok, sequence_length=16)
        >>> [len(c) for c in mlm.fill_mask(["the [MASK] is shining"], top_k=3)]
        [3]
        """
        token_ids, padding_mask, positions, top_k = self.masked_inputs(texts, top_k)
        sequence = self.backbone_outputs(token_ids, padding_mask)["sequence_output"]
        results = []
        for row, where in enumerate(positions):
            logits = self.mlm_head(sequence[row:row + 1], tf.constant(where[None], "int32"))
            results.append(self.top_tokens(logits[0], top_k))
        return results

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_rate": self.mask_rate,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        return config
