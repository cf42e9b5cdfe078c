"""Text classifiers on a pretrained BERT, ready for `model.fit` on strings."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf


def _copy_backbone(backbone):
    """A copy of a BertBackbone with the same weights, so fine-tuning leaves
    the pretrained model as it was."""
    copy = keras_hub.models.BertBackbone.from_config(backbone.get_config())
    copy.set_weights(backbone.get_weights())
    return copy


def _check_mlm(mlm):
    from keras_ssl.methods.masked_language_model import MaskedLanguageModel

    if not isinstance(mlm, MaskedLanguageModel):
        raise TypeError(
            "`mlm` must be a keras_ssl.methods.MaskedLanguageModel (pretrained, or "
            f"freshly built for a random-initialisation baseline), got {type(mlm).__name__}."
        )


def text_classifier(mlm, num_classes, freeze_backbone=False, learning_rate=None,
                    dropout=0.1, weight_decay=0.01):
    """A compiled classifier on raw strings: texts -> class probabilities.

    Builds the functional model `strings -> WordPiece tokenizer -> packer
    ([CLS] tokens [SEP] [PAD]...) -> BERT (a copy of the pretrained
    backbone) -> pooled [CLS] output -> dropout -> softmax`, compiled with
    AdamW and sparse categorical cross-entropy (metric: accuracy), for
    `clf.fit(texts, labels)`. This is BERT's fine-tuning recipe (Devlin et
    al. 2019). The pretrained `mlm` is not modified.

    Texts may be a `tf.string` tensor, a `tf.data.Dataset` of
    `(texts, labels)` batches (see `as_text_dataset`), or a numpy array of
    dtype object (`np.array(texts, dtype=object)`, as returned by
    `keras_ssl.datasets.load_sms_spam`). Keras itself refuses plain Python
    lists of strings and numpy's fixed-width unicode arrays.

    Args:
        mlm: a `keras_ssl.methods.MaskedLanguageModel` (its tokenizer,
            sequence length and backbone are used).
        num_classes: number of classes, >= 2; labels are integers in
            [0, num_classes).
        freeze_backbone: train only the classification head on frozen
            features (a linear probe; the backbone runs in inference mode).
        learning_rate: AdamW learning rate. Default: 5e-5 when fine-tuning
            (BERT's range), 1e-3 with a frozen backbone.
        dropout: dropout rate before the classification layer.
        weight_decay: AdamW weight decay.

    Example:

    >>> import keras_ssl, numpy as np
    >>> texts = ["good film", "bad film", "good plot", "bad plot"] * 4
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=30)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=8,
    ...                                     hidden_dim=16, intermediate_dim=16)
    >>> mlm = keras_ssl.methods.MaskedLanguageModel(bert, tok, sequence_length=8)
    >>> clf = text_classifier(mlm, num_classes=2)
    >>> x, y = np.array(texts, dtype=object), np.array([1, 0, 1, 0] * 4)
    >>> _ = clf.fit(x, y, epochs=1, verbose=0)
    >>> clf.predict(x[:3], verbose=0).shape
    (3, 2)
    """
    _check_mlm(mlm)
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
    backbone = _copy_backbone(mlm.backbone)
    backbone.trainable = not freeze_backbone
    pad_id = mlm.special_token_ids["[PAD]"]
    packer = keras_hub.layers.StartEndPacker(
        sequence_length=mlm.sequence_length,
        start_value=mlm.special_token_ids["[CLS]"],
        end_value=mlm.special_token_ids["[SEP]"],
        pad_value=pad_id,
        name="packer",
    )
    head_dropout = keras.layers.Dropout(dropout, name="dropout")
    classifier = keras.layers.Dense(int(num_classes), activation="softmax", name="classifier")

    # === Functional Model ===
    texts = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = packer(mlm.tokenizer(texts))
    features = {
        "token_ids": token_ids,
        "segment_ids": keras.ops.zeros_like(token_ids),
        "padding_mask": keras.ops.not_equal(token_ids, pad_id),
    }
    # A frozen backbone also runs in inference mode (no dropout): a probe.
    outputs = backbone(features, training=False) if freeze_backbone else backbone(features)
    probabilities = classifier(head_dropout(outputs["pooled_output"]))
    model = keras.Model(texts, probabilities, name="text_classifier")
    model.compile(
        optimizer=keras.optimizers.AdamW(float(learning_rate), weight_decay=weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def text_probe(mlm, num_classes, learning_rate=1e-3, dropout=0.0):
    """`text_classifier` with the backbone frozen: a linear probe on text.

    Only the softmax layer on the pooled `[CLS]` embedding trains.

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
        mlm, num_classes, freeze_backbone=True, learning_rate=learning_rate, dropout=dropout
    )


def as_text_dataset(texts, labels=None, batch_size=32, shuffle=False, seed=0):
    """Strings (and labels) as a batched `tf.data.Dataset` for `fit`/`predict`.

    Accepts Python lists of strings, which `fit` does not take directly.

    Example:

    >>> ds = as_text_dataset(["a", "b", "c"], [0, 1, 0], batch_size=2)
    >>> [x.shape[0] for x, _ in ds]
    [2, 1]
    """
    texts = tf.constant([t for t in texts], dtype=tf.string)
    data = texts if labels is None else (texts, tf.constant(np.asarray(labels)))
    if labels is not None and len(np.asarray(labels)) != texts.shape[0]:
        raise ValueError(
            f"`texts` ({texts.shape[0]}) and `labels` ({len(np.asarray(labels))}) differ in length."
        )
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        ds = ds.shuffle(texts.shape[0], seed=seed)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
