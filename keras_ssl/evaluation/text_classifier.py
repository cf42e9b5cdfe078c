"""Text classifiers on a pretrained text encoder, ready for `model.fit` on strings."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_ssl.methods.text_method import TextMethod
from keras_ssl.methods.text_method import as_strings
from keras_ssl.methods.text_method import StringInputs
from keras_ssl.layers.masked_pooling import masked_mean


def _copy_backbone(backbone):
    """A copy of a keras-hub backbone with the same weights, so fine-tuning
    leaves the pretrained model as it was."""
    copy = type(backbone).from_config(backbone.get_config())
    copy.set_weights(backbone.get_weights())
    return copy


def _check_method(method):
    if not isinstance(method, TextMethod):
        raise TypeError(
            "`method` must be a keras_ssl text method (MaskedLanguageModel, "
            "CausalLanguageModel, SimCSE; pretrained, or freshly built for a "
            f"random-initialisation baseline), got {type(method).__name__}."
        )


@keras.saving.register_keras_serializable(package="keras_ssl")
class TextClassifier(StringInputs, keras.Model):
    """A functional model on raw strings (built by `text_classifier`).

    `fit`, `evaluate` and `predict` also take Python lists and numpy arrays
    of `str` (fixed-width unicode or object), which Keras's data adapters
    refuse; they are turned into `tf.string` tensors first.

    `adversarial`: an attack on the token embeddings (`keras_ssl.adversarial.FGM`)
    used by `fit` (see `keras_ssl.adversarial.embedding_adversarial_step`);
    a training option, not saved with the model.
    """

    adversarial = None

    def train_step(self, data):
        if self.adversarial is None:
            return super().train_step(data)
        from keras_ssl.adversarial import embedding_adversarial_step

        return embedding_adversarial_step(self, data, self.adversarial)


def text_classifier(method, num_classes, freeze_backbone=False, learning_rate=None,
                    dropout=0.1, weight_decay=0.01, adversarial=None):
    """A compiled classifier on raw strings: texts -> class probabilities.

    Builds the functional model `strings -> tokenizer -> packer ([CLS]
    tokens [SEP] [PAD]...) -> transformer (a copy of the pretrained
    backbone) -> pooled features (the method's `pooling`: the mean over the
    real tokens, or BERT's [CLS] output) -> dropout -> softmax`, compiled
    with AdamW and sparse categorical cross-entropy (metric: accuracy), for
    `clf.fit(texts, labels)`: BERT's fine-tuning recipe (Devlin et al.
    2019) for every text method. The pretrained `method` is not modified.

    Texts may be a Python list, a numpy array of `str` (unicode or object
    dtype), a `tf.string` tensor or a `tf.data.Dataset` of `(texts, labels)`
    batches (see `as_text_dataset`).

    Args:
        method: a keras_ssl text method (`MaskedLanguageModel`,
            `CausalLanguageModel`, `SimCSE`): its tokenizer, sequence
            length, pooling and backbone are used.
        num_classes: number of classes, >= 2; labels are integers in
            [0, num_classes).
        freeze_backbone: train only the classification head on frozen
            features (a linear probe; the backbone runs in inference mode).
        learning_rate: AdamW learning rate. Default: 5e-5 when fine-tuning
            (BERT's range), 1e-3 with a frozen backbone.
        dropout: dropout rate before the classification layer.
        weight_decay: AdamW weight decay.
        adversarial: adversarial fine-tuning on the token embeddings, e.g.
            `keras_ssl.adversarial.FGM(epsilon=1.0)` (Miyato et al. 2017):
            each step adds the loss at embeddings moved along its gradient
            (each token's row by at most `epsilon`, L2). Needs a trainable
            backbone; one device.

    Returns:
        A compiled `TextClassifier` (a functional `keras.Model`).

    Example:

    >>> import keras_ssl, numpy as np
    >>> texts = ["good film", "bad film", "good plot", "bad plot"] * 4
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=30)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=8,
    ...                                     hidden_dim=16, intermediate_dim=16)
    >>> mlm = keras_ssl.methods.MaskedLanguageModel(bert, tok, sequence_length=8)
    >>> clf = text_classifier(mlm, num_classes=2)
    >>> _ = clf.fit(np.array(texts), np.array([1, 0, 1, 0] * 4), epochs=1, verbose=0)
    >>> clf.predict(texts[:3], verbose=0).shape
    (3, 2)
    """
    _check_method(method)
    from keras_ssl.adversarial import check_attack

    check_attack(adversarial)
    if adversarial is not None and adversarial.pixel_range is not None:
        raise ValueError(
            "`adversarial` on text attacks token embeddings, which have no pixel range: use "
            f"keras_ssl.adversarial.FGM (pixel_range=None), got {adversarial!r}.")
    if adversarial is not None and freeze_backbone:
        raise ValueError("`adversarial` perturbs the token embeddings of a fine-tuned backbone; "
                         "it cannot be combined with freeze_backbone=True.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
    if learning_rate is None:
        learning_rate = 1e-3 if freeze_backbone else 5e-5
    if not float(learning_rate) > 0:
        raise ValueError(f"`learning_rate` must be positive, got {learning_rate!r}.")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must lie in [0, 1), got {dropout!r}.")

    # === Layers ===
    backbone = _copy_backbone(method.backbone)
    backbone.trainable = not freeze_backbone
    if method.pooling == "mean" and isinstance(backbone.output, dict):
        # Only the token features are used: a model of the same layers
        # without BERT's [CLS] pooler, which would get no gradients.
        backbone = keras.Model(backbone.input, backbone.output["sequence_output"],
                               name=backbone.name)
    pad_id = method.special_token_ids["[PAD]"]
    packer = keras_hub.layers.StartEndPacker(
        sequence_length=method.sequence_length,
        start_value=method.special_token_ids["[CLS]"],
        end_value=method.special_token_ids["[SEP]"],
        pad_value=pad_id,
        name="packer",
    )
    head_dropout = keras.layers.Dropout(dropout, name="dropout")
    classifier = keras.layers.Dense(int(num_classes), activation="softmax", name="classifier")

    # === Functional Model ===
    texts = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = packer(method.tokenizer(texts))
    padding_mask = keras.ops.not_equal(token_ids, pad_id)
    features = {"token_ids": token_ids, "padding_mask": padding_mask}
    if isinstance(backbone.input, dict) and "segment_ids" in backbone.input:
        features["segment_ids"] = keras.ops.zeros_like(token_ids)
    # A frozen backbone also runs in inference mode (no dropout): a probe.
    outputs = backbone(features, training=False) if freeze_backbone else backbone(features)
    if not isinstance(outputs, dict):
        outputs = {"sequence_output": outputs}
    if method.pooling == "cls":
        pooled = outputs["pooled_output"]
    else:
        pooled = masked_mean(outputs["sequence_output"], padding_mask)
    probabilities = classifier(head_dropout(pooled))
    model = TextClassifier(texts, probabilities, name="text_classifier")
    model.adversarial = adversarial
    model.compile(
        optimizer=keras.optimizers.AdamW(float(learning_rate), weight_decay=weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def text_probe(method, num_classes, learning_rate=1e-3, dropout=0.0):
    """`text_classifier` with the backbone frozen: a linear probe on text.

    Only the softmax layer on the pooled embedding trains.

    Example:

    >>> import keras_ssl
    >>> tok = keras_ssl.text.train_wordpiece(["a b", "c d"], vocabulary_size=20)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=8,
    ...                                     hidden_dim=16, intermediate_dim=16)
    >>> mlm = keras_ssl.methods.MaskedLanguageModel(bert, tok, sequence_length=8)
    >>> len(text_probe(mlm, num_classes=3).trainable_weights)
    2
    """
    return text_classifier(
        method, num_classes, freeze_backbone=True, learning_rate=learning_rate, dropout=dropout
    )


def as_text_dataset(texts, labels=None, batch_size=32, shuffle=False, seed=0):
    """Strings (and labels) as a batched `tf.data.Dataset` for `fit`/`predict`.

    `texts` may be a Python list, a numpy array of `str` or a `tf.string`
    tensor.

    Example:

    >>> ds = as_text_dataset(["a", "b", "c"], [0, 1, 0], batch_size=2)
    >>> [x.shape[0] for x, _ in ds]
    [2, 1]
    """
    texts = as_strings(texts)
    data = texts if labels is None else (texts, tf.constant(np.asarray(labels)))
    if labels is not None and len(np.asarray(labels)) != texts.shape[0]:
        raise ValueError(
            f"`texts` ({texts.shape[0]}) and `labels` ({len(np.asarray(labels))}) differ in length."
        )
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        ds = ds.shuffle(texts.shape[0], seed=seed)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
