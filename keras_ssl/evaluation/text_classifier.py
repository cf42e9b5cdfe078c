"""Text classifiers on a pretrained BERT backbone, for model.fit on strings."""

import keras
import keras_hub
import tensorflow as tf


def _clone_backbone(backbone):
    clone = keras_hub.models.BertBackbone.from_config(backbone.get_config())
    clone.set_weights(backbone.get_weights())
    return clone


def text_classifier(mlm, num_classes, freeze_backbone=False, learning_rate=None,
                    dropout=0.1, weight_decay=0.01):
    """A compiled classifier: raw strings -> class probabilities.

    Builds `strings -> tokenizer -> packer -> BERT (a copy of the
    pretrained backbone) -> pooled output -> dropout -> softmax`, compiled
    with AdamW and sparse categorical cross-entropy, ready for
    `clf.fit(texts, labels)`. The pretrained model is not modified.

    `texts` may be a `tf.string` tensor, a `tf.data.Dataset`, or a numpy
    array of dtype object (`np.array(texts, dtype=object)`); Keras does not
    accept numpy's fixed-width unicode arrays or plain lists of strings.

    Args:
        mlm: a trained `keras_ssl.methods.MaskedLanguageModel`.
        num_classes: number of classes (>= 2).
        freeze_backbone: train only the head (a frozen-feature probe).
        learning_rate: default 5e-5 fine-tuning, 1e-3 with a frozen backbone.
    """
    if int(num_classes) < 2:
        raise ValueError(f"`num_classes` must be >= 2, got {num_classes!r}.")
    backbone = _clone_backbone(mlm.backbone)
    backbone.trainable = not freeze_backbone
    if learning_rate is None:
        learning_rate = 1e-3 if freeze_backbone else 5e-5
    pad_id = mlm.special_token_ids["[PAD]"]
    packer = keras_hub.layers.StartEndPacker(
        sequence_length=mlm.sequence_length,
        start_value=mlm.special_token_ids["[CLS]"],
        end_value=mlm.special_token_ids["[SEP]"],
        pad_value=pad_id,
    )
    tokenizer = mlm.tokenizer

    inputs = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = packer(tokenizer(inputs))
    outputs = backbone(
        {
            "token_ids": token_ids,
            "segment_ids": keras.ops.zeros_like(token_ids),
            "padding_mask": keras.ops.not_equal(token_ids, pad_id),
        }
    )
    x = keras.layers.Dropout(dropout)(outputs["pooled_output"])
    probabilities = keras.layers.Dense(int(num_classes), activation="softmax",
                                       name="classifier")(x)
    model = keras.Model(inputs, probabilities, name="text_classifier")
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def text_probe(mlm, num_classes, learning_rate=1e-3):
    """`text_classifier` with the backbone frozen: a linear probe on text."""
    return text_classifier(mlm, num_classes, freeze_backbone=True, learning_rate=learning_rate)


def as_text_dataset(texts, labels=None, batch_size=32, shuffle=False, seed=0):
    """Strings (and labels) to a batched `tf.data.Dataset` for `fit`."""
    texts = tf.constant(list(texts))
    data = texts if labels is None else (texts, tf.constant(list(labels)))
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        ds = ds.shuffle(len(texts), seed=seed)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
