"""Fine-tuning a pretrained encoder with a classification head via model.fit."""

import keras
import numpy as np

from keras_ssl.evaluation.probes import _check_pair
from keras_ssl.methods.ssl_method import encoder_feature_dim


def clone_encoder(encoder):
    """An independent copy of `encoder` (same architecture and weights)."""
    clone = keras.models.clone_model(encoder)
    clone.set_weights(encoder.get_weights())
    return clone


def fine_tune(
    encoder,
    train_data,
    test_data,
    num_classes=None,
    epochs=10,
    batch_size=128,
    learning_rate=1e-4,
    weight_decay=1e-4,
    augment=None,
    return_history=False,
    verbose="auto",
):
    """Train a copy of `encoder` plus a softmax head end to end with `fit`.

    The caller's encoder is not modified: a clone is trained. The default
    learning rate (1e-4, AdamW with cosine decay) is ten times lower than
    pretraining's, so the pretrained features are adapted rather than
    overwritten; use 1e-3 to train a randomly initialised encoder.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        train_data, test_data: `(x, y)` with integer labels.
        num_classes: default: 1 + the largest label.
        augment: optional layer applied to the images while training
            (e.g. `keras.layers.RandomFlip("horizontal")`).

    Returns:
        `(model, test_accuracy)` (plus the History with
        `return_history=True`); `model` maps raw images to probabilities.
    """
    encoder_feature_dim(encoder)
    x_train, y_train = _check_pair("train_data", train_data)
    x_test, y_test = _check_pair("test_data", test_data)
    num_classes = num_classes or int(max(y_train.max(), y_test.max())) + 1
    backbone = clone_encoder(encoder)
    backbone.trainable = True
    inputs = keras.Input(backbone.input_shape[1:], name="images")
    x = inputs
    if augment is not None:
        x = augment(x)
    features = backbone(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(features)
    model = keras.Model(inputs, outputs, name="fine_tuned")
    steps = max(1, int(np.ceil(len(x_train) / batch_size)) * int(epochs))
    model.compile(
        optimizer=keras.optimizers.AdamW(
            keras.optimizers.schedules.CosineDecay(learning_rate, steps),
            weight_decay=weight_decay,
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=int(epochs), verbose=verbose,
        shuffle=True,
    )
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    if return_history:
        return model, float(accuracy), history
    return model, float(accuracy)
