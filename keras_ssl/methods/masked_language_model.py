"""BERT masked language modeling on raw text, with keras-hub's BERT pieces,
optionally with a sentence-pair task: ALBERT's sentence-order prediction or
BERT's next-sentence prediction."""

import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_ssl.methods.text_method import TextMethod
from keras_ssl.utils import check_choice
from keras_ssl.utils import check_fraction

REQUIRED_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
SENTENCE_TASKS = (None, "sop", "nsp")


def word_starts(tokenizer):
    """A bool per token id: whether the token can begin a word (False for
    WordPiece "##" continuations and SentencePiece pieces without the
    word-start mark; True for every token of other tokenizers)."""
    vocabulary = tokenizer.get_vocabulary()
    if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        return np.array([not t.startswith("##") for t in vocabulary])
    if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        return np.array([t.startswith("\u2581") for t in vocabulary])
    return np.ones(len(vocabulary), bool)


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

    With a `sentence_task`, every train (and evaluation) step turns each
    text of the batch into a pair of consecutive segments (`sentence_pairs`):
    its first `sequence_length - 3` tokens are cut into A and B at a random
    word boundary (uniform over the starts of its words but the first;
    never inside a word, whose continuation pieces would give the order
    away), then

    * `"sop"`, ALBERT's sentence-order prediction (Lan et al. 2019,
      "ALBERT: A Lite BERT for Self-supervised Learning of Language
      Representations"): with probability 0.5, A and B swap places;
    * `"nsp"`, BERT's next-sentence prediction (Devlin et al. 2019): with
      probability 0.5, B is replaced by the B of another text of the batch
      (a random other row; a batch of one text is never replaced).

    The label is 0 for A followed by its own B and 1 for a swapped (SOP) or
    replaced (NSP) pair, the convention of the original implementations.
    The pair is packed as `[CLS] A [SEP] B [SEP] [PAD]...` with segment ids
    0 for `[CLS] A [SEP]` and 1 for `B [SEP]` (keras-hub
    `MultiSegmentPacker`; a replaced B that makes the pair too long is
    truncated round-robin, so both segments keep tokens), masked as above
    (neither `[SEP]` is ever selected), and encoded with its segment ids; a
    2-way `Dense` head on the pooled `[CLS]` output predicts the label. The
    loss is the masked-LM loss plus the sentence loss, the mean
    cross-entropy over the pairs of the batch. A text of fewer than 2
    words cannot be cut: its pair (`[CLS] text [SEP] [SEP]`) still feeds
    the masked-LM loss but has weight 0 in the sentence loss and accuracy,
    like an NSP pair whose borrowed B comes from such a text.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (e.g.
            `keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size())`) or
            `keras_hub.models.AlbertBackbone`
            (`keras_ssl.backbones.AlbertTiny`).
        tokenizer: a keras-hub tokenizer whose vocabulary has `[PAD]`,
            `[CLS]`, `[SEP]` and `[MASK]` (`keras_ssl.text.train_wordpiece`
            or `keras_ssl.text.train_sentencepiece`).
        sequence_length: tokens per packed sequence, `[CLS]` and `[SEP]`
            included; at least 8 and at most the backbone's
            `max_sequence_length`.
        mask_rate: fraction of the tokens selected for prediction, in (0, 1).
        mask_token_rate: of the selected tokens, the fraction replaced by
            `[MASK]`.
        random_token_rate: of the selected tokens, the fraction replaced by
            a random token. `mask_token_rate + random_token_rate <= 1`; the
            remainder is left unchanged.
        pooling: how `call`, the exports and `text_classifier` pool the
            token features into one vector a text: `"cls"`, BERT's pooled
            `[CLS]` output (the default, BERT's fine-tuning recipe; masked-LM
            alone leaves the pooler at its initialisation, fine-tuning
            trains it; a `sentence_task` trains it), or `"mean"` over the
            real tokens.
        sentence_task: `None` (masked-LM only), `"sop"` (sentence-order
            prediction) or `"nsp"` (next-sentence prediction), see above.

    Metrics: `loss`, `masked_accuracy` (top-1 accuracy on the selected
    tokens) and `perplexity` (exp of the epoch's mean loss, which with a
    sentence task includes the sentence loss); with a sentence task also
    `sentence_accuracy` (the head's accuracy on the weighted pairs).

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

    ALBERT with sentence-order prediction:

    >>> albert = keras_ssl.backbones.AlbertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                         hidden_dim=16, embedding_dim=8,
    ...                                         intermediate_dim=32)
    >>> sop = MaskedLanguageModel(albert, tok, sequence_length=16, sentence_task="sop")
    >>> [metric.name for metric in sop.metrics]
    ['loss', 'masked_accuracy', 'sentence_accuracy']
    >>> pairs = sop.sentence_pairs(["the cat sat on the mat"])
    >>> sorted(pairs), tuple(pairs["segment_ids"].shape)
    (['padding_mask', 'segment_ids', 'sentence_labels', 'sentence_weights', 'token_ids'], (1, 16))
    """

    backbone_types = (keras_hub.models.BertBackbone, keras_hub.models.AlbertBackbone)
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
        pooling="cls",
        sentence_task=None,
        **kwargs,
    ):
        check_choice("sentence_task", sentence_task, SENTENCE_TASKS)
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
        if sentence_task is not None:
            self.pair_packer = keras_hub.layers.MultiSegmentPacker(
                sequence_length=self.sequence_length,
                start_value=ids["[CLS]"],
                end_value=ids["[SEP]"],
                pad_value=ids["[PAD]"],
                truncate="round_robin",
                name="pair_packer",
            )
            self.sentence_head = keras.layers.Dense(2, name="sentence_head")
            self.sentence_head.build((None, backbone.hidden_dim))
            self.pair_seed_generator = keras.random.SeedGenerator(name="pair_seed_generator")
            # Pairs are cut between words, never inside one: a segment that
            # starts with a word's continuation would give its order away.
            self._word_starts = tf.constant(word_starts(tokenizer))
            self.sentence_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
                name="sentence_accuracy")

        # === Config ===
        self.mask_rate = mask_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.sentence_task = sentence_task
        self.built = True

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01 (BERT-style)."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        if self.sentence_task is None:
            return [self.accuracy_tracker]
        return [self.accuracy_tracker, self.sentence_accuracy_tracker]

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

    def sentence_pairs(self, inputs):
        """Segment pairs of the sentence task for a batch of texts (see the
        class docstring); fresh random cuts, swaps or partners at each call.

        Args:
            inputs: strings or token ids, in any form `fit` takes.

        Returns:
            A dict of `token_ids`, `padding_mask` and `segment_ids`, each
            (N, sequence_length): `[CLS] A [SEP] B [SEP] [PAD]...`, segment
            id 1 on `B [SEP]`; `sentence_labels` (N,), 0 for A followed by
            its own B, 1 for a swapped or replaced pair; and
            `sentence_weights` (N,), 0 for a pair that cannot count (a text
            of fewer than 2 words).
        """
        if self.sentence_task is None:
            raise ValueError(
                "`sentence_pairs` needs a sentence task: build the model with "
                "sentence_task='sop' or 'nsp'."
            )
        token_ids, _ = self.pack(inputs)
        if tf.executing_eagerly():
            # As in `mask`: keras-hub's packer takes a pure-Python path when
            # called eagerly; `fit` runs the TensorFlow one.
            if getattr(self, "_graph_pairer", None) is None:
                self._graph_pairer = tf.function(self._pairs, autograph=False)
            return self._graph_pairer(token_ids)
        return self._pairs(token_ids)

    def _pairs(self, token_ids):
        ids = self.special_token_ids
        special = [ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]]
        keep = tf.reduce_all(token_ids[..., None] != tf.constant(special, "int32"), axis=-1)
        # The first tokens of each text that fit beside [CLS] and two [SEP].
        tokens = tf.ragged.boolean_mask(token_ids, keep)[:, : self.sequence_length - 3]
        lengths = tokens.row_lengths()
        batch = tf.shape(lengths)[0]
        draws = keras.random.uniform((3, batch), seed=self.pair_seed_generator)
        # Cut points: the starts of each text's words but the first.
        flat = tokens.flat_values
        rows = tokens.value_rowids()
        position = tf.range(tf.size(flat, out_type="int64")) - tf.gather(tokens.row_starts(), rows)
        candidate = tf.logical_and(tf.gather(self._word_starts, flat), position > 0)
        counts = tf.math.unsorted_segment_sum(tf.cast(candidate, "int64"), rows, batch)
        splittable = counts > 0
        pick = tf.minimum(tf.cast(draws[0] * tf.cast(counts, "float32"), "int64"),
                          tf.maximum(counts - 1, 0))
        # Rank of each candidate within its text, to find the picked one.
        before = tf.cumsum(tf.cast(candidate, "int64"), exclusive=True)
        first_of_row = tf.concat([before, tf.reduce_sum(tf.cast(candidate, "int64"))[None]], 0)
        rank = before - tf.gather(tf.gather(first_of_row, tokens.row_starts()), rows)
        chosen = tf.logical_and(candidate, tf.equal(rank, tf.gather(pick, rows)))
        cut = tf.math.unsorted_segment_max(tf.where(chosen, position, 0), rows, batch)
        cut = tf.where(splittable, cut, lengths)
        in_a = tokens.with_flat_values(position < tf.gather(cut, rows))
        first = tf.ragged.boolean_mask(tokens, in_a)
        second = tf.ragged.boolean_mask(tokens, tf.logical_not(in_a))
        index = tf.range(batch)
        coin = draws[1] < 0.5
        if self.sentence_task == "sop":
            changed = tf.logical_and(coin, splittable)
            both = tf.concat([first, second], axis=0)
            first, second = (
                tf.gather(both, tf.where(changed, index + batch, index)),
                tf.gather(both, tf.where(changed, index, index + batch)),
            )
            weights = splittable
        else:
            changed = tf.logical_and(coin, batch > 1)
            offset = 1 + tf.cast(draws[2] * tf.cast(batch - 1, "float32"), "int32")
            partner = tf.where(changed, (index + tf.minimum(offset, batch - 1)) % batch, index)
            second = tf.gather(second, partner)
            weights = tf.logical_and(splittable, tf.gather(splittable, partner))
        token_ids, segment_ids = self.pair_packer((first, second))
        token_ids = tf.ensure_shape(tf.cast(token_ids, "int32"), [None, self.sequence_length])
        segment_ids = tf.ensure_shape(tf.cast(segment_ids, "int32"),
                                      [None, self.sequence_length])
        return {
            "token_ids": token_ids,
            "padding_mask": token_ids != ids["[PAD]"],
            "segment_ids": segment_ids,
            "sentence_labels": tf.cast(changed, "int32"),
            "sentence_weights": tf.cast(weights, "float32"),
        }

    def prepare_inputs(self, data):
        if self.sentence_task is None:
            return super().prepare_inputs(data)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.sentence_pairs(x)

    def compute_ssl_loss(self, inputs, training=True):
        if isinstance(inputs, dict):
            token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
            segment_ids = inputs["segment_ids"]
        else:
            (token_ids, padding_mask), segment_ids = inputs, None
        masked = self.mask(token_ids)
        outputs = self.backbone_outputs(
            masked["token_ids"], padding_mask, segment_ids, training=training)
        logits = self.mlm_head(outputs["sequence_output"], masked["mask_positions"])
        logits = tf.cast(logits, "float32")
        weights = tf.cast(masked["mask_weights"], "float32")
        per_token = keras.losses.sparse_categorical_crossentropy(
            masked["mask_ids"], logits, from_logits=True
        )
        loss = tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        self.accuracy_tracker.update_state(masked["mask_ids"], logits, sample_weight=weights)
        if self.sentence_task is None:
            # The pooler ([CLS] dense + tanh) is trained by a sentence task,
            # not by masked-LM.
            return self.idle_pooler(loss, outputs), {}
        sentence_logits = tf.cast(
            self.sentence_head(outputs["pooled_output"], training=training), "float32")
        labels, pair_weights = inputs["sentence_labels"], inputs["sentence_weights"]
        per_pair = keras.losses.sparse_categorical_crossentropy(
            labels, sentence_logits, from_logits=True)
        loss = loss + tf.reduce_sum(per_pair * pair_weights) / tf.maximum(
            tf.reduce_sum(pair_weights), 1.0)
        self.sentence_accuracy_tracker.update_state(
            labels, sentence_logits, sample_weight=pair_weights)
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
                "sentence_task": self.sentence_task,
            }
        )
        return config
