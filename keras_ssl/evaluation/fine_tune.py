"""Fine-tuning a pretrained encoder with a classification head via model.fit."""

import keras
import numpy as np

from keras_ssl.evaluation.probes import _check_pair
from keras_ssl.methods.ssl_method import encoder_feature_dim


def clone_encoder(encoder):
    """An independent copy of `encoder` (same architecture and weights).

    keras_ssl backbones are rebuilt from their config, so the copy keeps
    its class (a ViT stays a ViT, which layer-wise decay needs);
    `clone_model` would return a plain functional model."""
    from keras_ssl.backbones.backbone import Backbone

    if isinstance(encoder, Backbone):
        clone = type(encoder).from_config(encoder.get_config())
    else:
        clone = keras.models.clone_model(encoder)
    clone.set_weights(encoder.get_weights())
    return clone


def _mixing_layer(mixup, cutmix, seed):
    """Keras' MixUp and/or CutMix on {"images", "labels"} batches.

    With both on, each batch gets one of them with probability 1/2 (the
    timm / DeiT recipe)."""
    import tensorflow as tf

    layers = []
    if mixup:
        layers.append(keras.layers.MixUp(alpha=float(mixup), seed=seed))
    if cutmix:
        layers.append(keras.layers.CutMix(factor=float(cutmix), seed=seed))
    if len(layers) == 1:
        return layers[0]
    mix, cut = layers

    def both(batch):
        return tf.cond(tf.random.uniform(()) < 0.5, lambda: mix(batch), lambda: cut(batch))

    return both


def _check_fine_tune_args(mixup, cutmix, label_smoothing, warmup_epochs, epochs):
    if not (isinstance(mixup, (int, float)) and mixup >= 0):
        raise ValueError(f"`mixup` must be a Beta-distribution alpha >= 0 (0: off), got {mixup!r}.")
    if not (isinstance(cutmix, (int, float)) and 0 <= cutmix <= 1):
        raise ValueError(f"`cutmix` must be a factor in [0, 1] (0: off), got {cutmix!r}.")
    if not (isinstance(label_smoothing, (int, float)) and 0 <= label_smoothing < 1):
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}.")
    if not (isinstance(warmup_epochs, (int, float)) and 0 <= warmup_epochs < max(int(epochs), 1)):
        raise ValueError(
            f"`warmup_epochs` must be >= 0 and below `epochs` ({epochs}), got {warmup_epochs!r}."
        )


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
    mixup=0.0,
    cutmix=0.0,
    label_smoothing=0.0,
    warmup_epochs=0,
    layer_decay=None,
    seed=None,
    adversarial=None,
):
    """Train a copy of `encoder` plus a softmax head end to end with `fit`.

    The caller's encoder is not modified: a clone is trained. The default
    learning rate (1e-4, AdamW with cosine decay) is ten times lower than
    pretraining's, so the pretrained features are adapted rather than
    overwritten; use 1e-3 to train a randomly initialised encoder. The
    defaults train plainly; the masked-image-modelling papers (BEiT, MAE)
    fine-tune with `mixup=0.8, cutmix=1.0, label_smoothing=0.1,
    warmup_epochs=5, layer_decay=0.75`.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        train_data, test_data: `(x, y)` with integer labels.
        num_classes: default: 1 + the largest label.
        augment: optional layer applied to the images while training
            (e.g. `keras.layers.RandomFlip("horizontal")`).
        mixup: alpha of the Beta distribution of `keras.layers.MixUp`'s
            mixing weight; 0 turns MixUp off.
        cutmix: `factor` of `keras.layers.CutMix` in [0, 1]; 0 turns it
            off. With both on, each batch gets one of the two.
        label_smoothing: of the cross-entropy, in [0, 1).
        warmup_epochs: the learning rate rises linearly from 0 over these
            epochs, then decays along a cosine.
        layer_decay: layer-wise learning-rate decay in (0, 1] for ViT and
            ResNet encoders (`keras_ssl.optimizers.layer_decay_multipliers`):
            the block `k` places from the top learns `layer_decay ** k`
            times slower. `None`: one learning rate.
        seed: seed of MixUp / CutMix.
        adversarial: an attack from `keras_ssl.adversarial` (e.g.
            `PGD(epsilon=0.1, steps=5)`): adversarial fine-tuning (Madry et
            al. 2018), each batch replaced by its adversarial examples
            against the classifier's loss (`adversarial.AdversarialTraining`).
            Costs about `steps + 1` times a plain step.

    Returns:
        `(model, test_accuracy)` (plus the History with
        `return_history=True`); `model` maps raw images to probabilities.
    """
    import tensorflow as tf

    from keras_ssl import optimizers
    from keras_ssl.adversarial import AdversarialTraining
    from keras_ssl.adversarial import check_attack

    encoder_feature_dim(encoder)
    check_attack(adversarial)
    x_train, y_train = _check_pair("train_data", train_data)
    x_test, y_test = _check_pair("test_data", test_data)
    _check_fine_tune_args(mixup, cutmix, label_smoothing, warmup_epochs, epochs)
    num_classes = num_classes or int(max(y_train.max(), y_test.max())) + 1
    backbone = clone_encoder(encoder)
    backbone.trainable = True
    multipliers = (optimizers.layer_decay_multipliers(backbone, layer_decay)
                   if layer_decay is not None else {})
    inputs = keras.Input(backbone.input_shape[1:], name="images")
    x = inputs
    if augment is not None:
        x = augment(x)
    features = backbone(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(features)
    model = keras.Model(inputs, outputs, name="fine_tuned")
    # With an attack, `fit` trains a wrapper whose step attacks each batch;
    # `model` holds the weights either way.
    trained = model if adversarial is None else AdversarialTraining(model, adversarial)
    steps_per_epoch = max(1, int(np.ceil(len(x_train) / batch_size)))
    steps = steps_per_epoch * int(epochs)
    warmup_steps = int(round(float(warmup_epochs) * steps_per_epoch))
    if warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, steps - warmup_steps, warmup_target=learning_rate, warmup_steps=warmup_steps)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    trained.compile(
        optimizer=optimizers.ScaledAdamW(multipliers, learning_rate=schedule,
                                         weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(label_smoothing)),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    # Labels travel one-hot so that MixUp and CutMix can mix them.
    train = tf.data.Dataset.from_tensor_slices(
        (np.asarray(x_train, dtype="float32"), np.asarray(y_train, dtype="int64")))
    train = train.shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
    train = train.batch(batch_size).map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    if mixup or cutmix:
        mixing = _mixing_layer(mixup, cutmix, seed)

        def mix(x, y):
            batch = mixing({"images": x, "labels": y})
            return batch["images"], batch["labels"]

        train = train.map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    history = trained.fit(train.prefetch(tf.data.AUTOTUNE), epochs=int(epochs), verbose=verbose,
                        shuffle=False)  # shuffled above
    _, accuracy = trained.evaluate(
        np.asarray(x_test, dtype="float32"), keras.utils.to_categorical(y_test, num_classes),
        batch_size=256, verbose=0)
    if return_history:
        return model, float(accuracy), history
    return model, float(accuracy)
