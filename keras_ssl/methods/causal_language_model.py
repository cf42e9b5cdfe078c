"""GPT-style causal language modeling on raw text, with keras-hub's GPT-2 pieces."""

import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_ssl.methods.text_method import TextMethod
from keras_ssl.methods.text_method import as_strings

SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam", "contrastive")


@keras.saving.register_keras_serializable(package="keras_ssl")
class CausalLanguageModel(TextMethod):
    """Causal (next-token) language modeling: GPT (Radford et al. 2018,
    "Improving Language Understanding by Generative Pre-Training"; 2019,
    "Language Models are Unsupervised Multitask Learners").

    Every train step tokenizes the batch, packs each text as
    `[CLS] tokens [SEP] [PAD]...` (`[CLS]` starts a text, `[SEP]` ends it)
    and trains a decoder-only transformer to predict each token from the
    ones before it: the cross-entropy of the logits at position `t` against
    the token at `t + 1`, averaged over the real (non-padding) targets. The
    output projection is tied to the token embedding
    (`keras_hub.models.GPT2CausalLM` on the given backbone).

    Args:
        backbone: a `keras_hub.models.GPT2Backbone` (e.g.
            `keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size())`).
        tokenizer: a keras-hub tokenizer whose vocabulary has `[PAD]`,
            `[CLS]` and `[SEP]` (`keras_ssl.text.train_wordpiece`).
        sequence_length: tokens per packed training sequence, `[CLS]` and
            `[SEP]` included; at least 8 and at most the backbone's
            `max_sequence_length`.
        pooling: `"mean"`, the only choice: the mean of the token features
            over the real tokens is the text's embedding.

    Metrics: `loss`, `next_token_accuracy` and `perplexity` (exp of the
    epoch's mean loss). `perplexity(texts)` gives the exact token-weighted
    perplexity of held-out text, `generate(prompts)` continues prompts with
    a keras-hub sampler and a key/value cache, and `fill_mask(texts)`
    predicts a `[MASK]` from the text on its left.

    `compile(optimizer="auto")` uses AdamW, learning rate 5e-4, weight
    decay 0.01. `call(texts)` (and `predict`) returns the pooled embedding
    (N, hidden_dim).

    Example:

    >>> import keras_ssl
    >>> texts = keras_ssl.datasets.load_text(["to be or not to be"] * 8)
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=40)
    >>> gpt = keras_ssl.backbones.GPTTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                   hidden_dim=16, intermediate_dim=32)
    >>> clm = CausalLanguageModel(gpt, tok, sequence_length=16)
    >>> clm.compile(optimizer="auto")
    >>> sorted(clm.fit(texts.batch(4), epochs=1, verbose=0).history)
    ['loss', 'next_token_accuracy', 'perplexity']
    >>> len(clm.generate(["to be"], max_length=8, sampler="greedy"))
    1
    """

    backbone_types = (keras_hub.models.GPT2Backbone,)

    def __init__(self, backbone, tokenizer, sequence_length=128, pooling="mean", **kwargs):
        if pooling != "mean":
            raise ValueError(
                f"`pooling` of CausalLanguageModel must be 'mean' (a GPT-2 backbone has no "
                f"pooled output), got {pooling!r}."
            )
        super().__init__(backbone, tokenizer, sequence_length, pooling=pooling, **kwargs)

        # === Layers ===
        # keras-hub's task supplies the tied output projection, the cached
        # decoding step and the samplers; no preprocessor: this model
        # tokenizes and packs itself.
        self.lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="next_token_accuracy")
        self.built = True

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        return [self.accuracy_tracker]

    # Pretext task -----------------------------------------------------------

    def token_losses(self, token_ids, padding_mask, training=False):
        """Next-token cross-entropy per position and its weights, (N, L - 1)
        each (weight 1 where the target is a real token), and the logits."""
        logits = self.lm({"token_ids": token_ids, "padding_mask": padding_mask},
                         training=training)
        logits = tf.cast(logits[:, :-1], "float32")
        targets = token_ids[:, 1:]
        weights = tf.cast(padding_mask[:, 1:], "float32")
        per_token = keras.losses.sparse_categorical_crossentropy(
            targets, logits, from_logits=True)
        return per_token, weights, logits, targets

    def compute_ssl_loss(self, inputs, training=True):
        token_ids, padding_mask = inputs
        per_token, weights, logits, targets = self.token_losses(
            token_ids, padding_mask, training=training)
        loss = tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        self.accuracy_tracker.update_state(targets, logits, sample_weight=weights)
        return loss, {}

    def compile_logs(self, logs):
        logs = dict(logs or {})
        logs["perplexity"] = tf.exp(self.loss_tracker.result())
        return super().compile_logs(logs)

    # Inference --------------------------------------------------------------

    def perplexity(self, texts, batch_size=64):
        """Perplexity of `texts`: exp of the mean next-token cross-entropy
        over all their real tokens (`[SEP]` included, `[CLS]` not predicted).

        Texts longer than `sequence_length` are truncated as in training.

        Example:

        >>> import keras_ssl
        >>> tok = keras_ssl.text.train_wordpiece(["a b c"] * 4, vocabulary_size=20)
        >>> gpt = keras_ssl.backbones.GPTTiny(tok.vocabulary_size(), max_sequence_length=8,
        ...                                   hidden_dim=8, intermediate_dim=8)
        >>> CausalLanguageModel(gpt, tok, sequence_length=8).perplexity(["a b"]) > 1
        True
        """
        texts = as_strings(texts)
        if int(texts.shape[0]) == 0:
            raise ValueError("`texts` is empty: no text to measure the perplexity of.")

        @tf.function(reduce_retracing=True)
        def totals(batch):
            token_ids, padding_mask = self.pack(batch)
            per_token, weights, _, _ = self.token_losses(token_ids, padding_mask)
            return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)

        loss_sum, count = 0.0, 0.0
        for start in range(0, int(texts.shape[0]), int(batch_size)):
            batch_loss, batch_count = totals(texts[start:start + int(batch_size)])
            loss_sum += float(batch_loss)
            count += float(batch_count)
        return math.exp(loss_sum / max(count, 1.0))

    def generate(self, prompts, max_length=64, sampler="top_k", strip_prompt=False):
        """Continue each prompt until `[SEP]` or `max_length` tokens.

        Generation runs keras-hub's cached decoding (`GPT2CausalLM`) with a
        keras-hub sampler.

        Args:
            prompts: strings, in any form `fit` takes (a list, a numpy array
                of `str`, a `tf.string` tensor).
            max_length: the most tokens of a prompt and its continuation
                together, `[CLS]` included; at most the backbone's
                `max_sequence_length`.
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, `"random"`, `"beam"`,
                `"contrastive"`, or a `keras_hub.samplers.Sampler` (e.g.
                `TopKSampler(k=10, seed=0)` for a fixed draw).
            strip_prompt: return only the continuation.

        Returns:
            A list of strings, one per prompt (WordPiece detokenized: lower
            case when the tokenizer lowercases).

        Raises:
            ValueError: a prompt of `max_length` tokens or more (no room to
                generate), a `max_length` beyond the backbone, or an
                unknown sampler.
        """
        prompts = as_strings(prompts, "prompts")
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise TypeError(f"`max_length` must be an integer, got {max_length!r}.")
        if not 2 <= max_length <= self.backbone.max_sequence_length:
            raise ValueError(
                f"`max_length` must lie in [2, {self.backbone.max_sequence_length}] (the "
                f"backbone's max_sequence_length), got {max_length}."
            )
        if isinstance(sampler, str):
            if sampler not in SAMPLERS:
                raise ValueError(f"Unknown `sampler` {sampler!r}; expected one of {SAMPLERS} "
                                 "or a keras_hub.samplers.Sampler.")
        elif not isinstance(sampler, keras_hub.samplers.Sampler):
            raise TypeError(f"`sampler` must be a name or a keras_hub.samplers.Sampler, got "
                            f"{type(sampler).__name__}.")
        ids = self.special_token_ids
        tokens = self.tokenizer(prompts)
        if not isinstance(tokens, tf.RaggedTensor):  # keras-hub's eager path gives lists
            tokens = tf.ragged.constant(tokens, dtype="int32", ragged_rank=1)
        lengths = tokens.row_lengths().numpy() + 1  # with [CLS]
        too_long = np.flatnonzero(lengths >= max_length)
        if too_long.size:
            row = int(too_long[0])
            raise ValueError(
                f"`prompts`[{row}] is {lengths[row]} tokens with [CLS], which leaves no room "
                f"to generate within `max_length` ({max_length}): shorten the prompt or "
                "raise max_length."
            )
        packer = keras_hub.layers.StartEndPacker(
            sequence_length=int(max_length), start_value=ids["[CLS]"],
            pad_value=ids["[PAD]"], return_padding_mask=True)
        token_ids, padding_mask = packer(tokens)
        self.lm.compile(sampler=sampler)
        outputs = self.lm.generate(
            {"token_ids": tf.cast(token_ids, "int32"), "padding_mask": padding_mask},
            stop_token_ids=[ids["[SEP]"]],
        )
        specials = set(ids.values())
        texts = []
        for row, (row_ids, row_mask) in enumerate(
                zip(np.asarray(outputs["token_ids"]), np.asarray(outputs["padding_mask"]))):
            start = int(lengths[row]) if strip_prompt else 1
            kept = [int(t) for t, m in zip(row_ids[start:], row_mask[start:])
                    if m and int(t) not in specials]
            if not kept:
                texts.append("")
                continue
            text = self.tokenizer.detokenize(tf.constant([kept], "int32"))
            text = text[0] if isinstance(text, (list, tuple)) else text.numpy()[0]
            texts.append(text.decode("utf-8") if isinstance(text, bytes) else str(text))
        return texts

    def fill_mask(self, texts, top_k=5):
        """The most likely tokens at each `[MASK]`, from the text on its left.

        A causal model sees only the left context: the candidates at a mask
        are its next-token prediction after the tokens before it. With
        several masks, each earlier mask is filled with its best candidate
        before the next is predicted. The return value has
        `MaskedLanguageModel.fill_mask`'s form: per text, a list of `top_k`
        `(token, probability)` pairs, best first (a list of lists for
        several masks).
        """
        token_ids, padding_mask, positions, top_k = self.masked_inputs(texts, top_k)
        token_ids = token_ids.numpy()
        results = []
        for row, where in enumerate(positions):
            ids = token_ids[row:row + 1].copy()
            candidates = []
            for position in where:
                logits = self.lm({"token_ids": tf.constant(ids),
                                  "padding_mask": padding_mask[row:row + 1]})
                top = self.top_tokens(logits[0, position - 1:position], top_k)
                candidates.append(top)
                ids[0, position] = self.tokenizer.token_to_id(top[0][0])
            results.append(candidates[0] if len(candidates) == 1 else candidates)
        return results
