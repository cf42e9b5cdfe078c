"""Unsupervised SimCSE: contrastive sentence embeddings from dropout noise."""

import numbers

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.layers.word_augmentation import RandomWordDeletion
from keras_ssl.layers.word_augmentation import RandomWordReplacement
from keras_ssl.layers.word_augmentation import RandomWordSwap
from keras_ssl.losses.info_nce import info_nce
from keras_ssl.methods.text_method import TextMethod
from keras_ssl.methods.text_method import as_strings
from keras_ssl.utils import check_choice

AUGMENTS = (None, "eda")
# Rate of each word augmentation of `augment="eda"`: within the 0.05 to
# 0.1 that Wei and Zou 2019 recommend per operation.
EDA_RATE = 0.1


def whole_word_vocabulary(tokenizer):
    """The whole words of a WordPiece vocabulary, the replacement words of
    `augment="eda"`.

    Kept: the tokens that are neither special (`[PAD]`, `[CLS]`, ...) nor
    word pieces (`##ing`), hold at least one letter or digit (no lone
    punctuation) and have two characters or more (WordPiece keeps every
    single character of its alphabet as a token, which would mostly
    replace words by stray letters); single characters only when the
    vocabulary has no longer word.

    Example:

    >>> import keras_ssl
    >>> tok = keras_ssl.text.train_wordpiece(["the cat sat, the cat ran"] * 10,
    ...                                      vocabulary_size=60)
    >>> sorted(whole_word_vocabulary(tok))
    ['cat', 'ran', 'sat', 'the']
    """
    words = []
    for token in tokenizer.get_vocabulary():
        if token.startswith("##") or (token.startswith("[") and token.endswith("]")):
            continue
        if any(c.isalnum() for c in token) and len(token.split()) == 1:
            words.append(token)
    if not words:
        raise ValueError(
            "The tokenizer's vocabulary has no whole word (only special tokens, "
            "`##` pieces or punctuation): `augment='eda'` has no replacement words."
        )
    longer = [w for w in words if len(w) > 1]
    return longer or words


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCSE(TextMethod):
    """Unsupervised SimCSE (Gao, Yao and Chen 2021, "SimCSE: Simple
    Contrastive Learning of Sentence Embeddings").

    Every train step tokenizes the batch, packs each text as
    `[CLS] tokens [SEP] [PAD]...` and encodes the batch twice with dropout
    active (one forward pass over the batch stacked on itself, as the
    authors' code does): the two dropout masks make the two views of each
    sentence, the backbone's `dropout` being the only noise (0.1 in the
    paper). The loss is InfoNCE with in-batch negatives
    (`keras_ssl.losses.info_nce`): the first view of sentence `i` must pick
    the second view of `i` among the second views of the whole batch
    (cosine similarity / `temperature`). It is one-directional, as the
    paper's objective and its code are; under `tf.distribute` the negatives
    come from every replica.

    Pooling. The paper starts from a pretrained BERT and trains on the
    `[CLS]` feature followed by an MLP (dropped at test time for
    unsupervised SimCSE). The default here is `pooling="mean"`, the mean of
    the token features over the real tokens: from a randomly initialised
    BERT the pooled `[CLS]` embedding is nearly the same for every text,
    and the loss then stays at log(batch size), the chance level, for a
    while (about 60 steps at learning rate 3e-3 on the test suite's
    12-sentence corpus, hidden size 32, longer at 3e-4), whereas mean
    embeddings differ between texts from the start and learn from the
    first steps. `pooling="cls"` follows the paper, BERT's own pooler (a
    dense layer with tanh on `[CLS]`) playing the MLP, kept at inference so
    that training, `call`, the exports and `text_classifier` use one
    embedding; use it with a backbone first trained by
    `MaskedLanguageModel`.

    `augment="eda"` adds word-level noise to the dropout: before packing,
    each view's strings go through `RandomWordDeletion`,
    `RandomWordSwap` and `RandomWordReplacement` (rate 0.1 each; the
    replacement words are the tokenizer's whole words, see
    `whole_word_vocabulary`), drawn independently for the two views. The
    paper found discrete augmentations such as word deletion and synonym
    replacement worse than dropout alone on its STS benchmarks; this
    option is for experiments, e.g. a backbone without dropout. With it,
    `fit` needs strings (not token ids).

    Args:
        backbone: a `keras_hub.models.BertBackbone` with `dropout > 0`
            (e.g. `keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size())`,
            dropout 0.1) unless `augment="eda"`.
        tokenizer: a keras-hub tokenizer whose vocabulary has `[PAD]`,
            `[CLS]` and `[SEP]` (`keras_ssl.text.train_wordpiece`).
        sequence_length: tokens per packed sequence, `[CLS]` and `[SEP]`
            included; at least 8 and at most the backbone's
            `max_sequence_length`.
        temperature: softmax temperature of the InfoNCE loss, > 0 (the
            paper's 0.05).
        augment: `None` (dropout only, the paper's method) or `"eda"`.
        pooling: `"mean"` (the default) or `"cls"` (BERT's pooled `[CLS]`
            output, the paper's choice for a pretrained BERT).

    Metrics: `loss` and `contrastive_accuracy` (how often a sentence's first
    view has its own second view as the most similar second view of the
    batch). `evaluate` runs without dropout and augmentation, so its two
    views are identical and its loss measures how well the embeddings of a
    batch stay apart.

    `compile(optimizer="auto")` uses AdamW, learning rate 3e-4, weight
    decay 0.01: the paper fine-tunes pretrained BERTs at 1e-5 to 5e-5; the
    small BERTs here usually start from scratch or from a short masked-LM
    run, which takes a larger rate. `call(x)` (and `predict`) returns the
    pooled embedding (N, hidden_dim). Batches need at least 2 texts.

    Example:

    >>> import keras_ssl
    >>> texts = keras_ssl.datasets.load_text(["the cat sat", "a dog ran", "the sun rose",
    ...                                       "a bird sang"] * 2)
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=50)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                     hidden_dim=16, intermediate_dim=32)
    >>> simcse = SimCSE(bert, tok, sequence_length=16)
    >>> simcse.compile(optimizer="auto")
    >>> sorted(simcse.fit(texts.batch(4), epochs=1, verbose=0).history)
    ['contrastive_accuracy', 'loss']
    >>> simcse.predict(tf.constant(["the cat"]), verbose=0).shape
    (1, 16)
    """

    backbone_types = (keras_hub.models.BertBackbone,)
    min_batch_size = 2
    batch_items = "texts"

    def __init__(
        self,
        backbone,
        tokenizer,
        sequence_length=128,
        temperature=0.05,
        augment=None,
        pooling="mean",
        **kwargs,
    ):
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise TypeError(f"`temperature` must be a number, got {temperature!r}.")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        check_choice("augment", augment, AUGMENTS)
        if augment is None and getattr(backbone, "dropout", None) == 0:
            raise ValueError(
                "SimCSE's two views differ only by dropout, and the backbone's `dropout` is "
                "0: build it with dropout > 0 (the paper uses 0.1), or use augment='eda'."
            )
        super().__init__(backbone, tokenizer, sequence_length, pooling=pooling, **kwargs)

        # === Layers ===
        self.augmenters = []
        if augment == "eda":
            self.augmenters = [
                RandomWordDeletion(EDA_RATE, name="word_deletion"),
                RandomWordSwap(EDA_RATE, name="word_swap"),
                RandomWordReplacement(
                    whole_word_vocabulary(tokenizer), EDA_RATE, name="word_replacement"),
            ]
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")

        # === Config ===
        self.temperature = float(temperature)
        self.augment = augment
        self.built = True

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 3e-4, weight decay 0.01 (see the class docstring)."""
        return keras.optimizers.AdamW(learning_rate=3e-4, weight_decay=0.01)

    def extra_metrics(self):
        return [self.accuracy_tracker]

    # Inputs -----------------------------------------------------------------

    def prepare_inputs(self, data):
        """Packed `(token_ids, padding_mask)`; with `augment`, the strings
        themselves (each view is augmented, then packed, in the loss)."""
        if not self.augmenters:
            return super().prepare_inputs(data)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tf.Tensor, tf.RaggedTensor)) and x.dtype != tf.string:
            raise ValueError(
                f"SimCSE with augment={self.augment!r} changes words, so `x` must be strings, "
                f"got a tensor of dtype {x.dtype.name} (token ids?)."
            )
        return as_strings(x, "x")

    def augment_texts(self, texts, training=True):
        """`texts` through the word augmentations (identity without `augment`
        or with `training=False`)."""
        for layer in self.augmenters:
            texts = layer(texts, training=training)
        return texts

    # Pretext task -----------------------------------------------------------

    def view_embeddings(self, inputs, training=True):
        """The pooled embeddings of the two views of a batch, (N, H) each.

        `inputs` are packed `(token_ids, padding_mask)` (both views start
        from them) or strings (with `augment`, each view augmented apart).
        The two views run as one batch of 2N through the augmentations and
        the backbone: with `training=True` each row draws its own word noise
        and dropout masks.
        """
        if isinstance(inputs, (tuple, list)):
            token_ids, padding_mask = inputs
            batch = token_ids
        else:
            batch = as_strings(inputs, "inputs")
        with tf.control_dependencies([self.check_batch(batch)]):
            if isinstance(inputs, (tuple, list)):
                token_ids = tf.concat([token_ids, token_ids], axis=0)
                padding_mask = tf.concat([padding_mask, padding_mask], axis=0)
            else:
                doubled = tf.concat([batch, batch], axis=0)
                token_ids, padding_mask = self.pack(self.augment_texts(doubled, training))
        outputs = self.backbone_outputs(token_ids, padding_mask, training=training)
        embeddings = self.pool(outputs, padding_mask)
        if self.pooling == "mean":
            # The pooler is unused by mean pooling: a zero term gives it zero
            # gradients rather than none, which Keras would warn about.
            unused = 0.0 * tf.reduce_sum(tf.cast(outputs["pooled_output"], "float32"))
            embeddings = embeddings + tf.cast(unused, embeddings.dtype)
        return tf.split(embeddings, 2, axis=0)

    def compute_ssl_loss(self, inputs, training=True):
        first, second = self.view_embeddings(inputs, training=training)
        loss, accuracy = info_nce(first, second, temperature=self.temperature)
        self.accuracy_tracker.update_state(accuracy)
        return tf.reduce_mean(loss), {}

    # Inference --------------------------------------------------------------

    def fill_mask(self, texts, top_k=5):
        """Not available: SimCSE trains sentence embeddings and has no
        token-prediction head. Use `MaskedLanguageModel.fill_mask` (e.g. a
        masked-LM run on the same backbone before or after SimCSE)."""
        raise ValueError(
            "SimCSE has no token-prediction head, so it cannot fill [MASK] tokens; use "
            "keras_ssl.methods.MaskedLanguageModel (fill_mask) on the same backbone."
        )

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "augment": self.augment})
        return config
