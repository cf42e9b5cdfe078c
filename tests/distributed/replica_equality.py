"""One step of a method on 2 replicas equals the same step on 1 device.

Run as a script (it must configure TensorFlow's logical CPU devices before
anything else touches TensorFlow): `replica_equality.py [METHOD]` prints a
JSON line with the largest differences in loss, in updated weights and in
the state the step writes besides the weights (teacher, queue, center).
METHOD is a class in `keras_ssl.methods` (default SimCLR). The views are
made once, before the step, so both runs see the same images.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ssl  # noqa: E402

METHOD_KWARGS = {
    "SimCLR": {"projection_dim": 4, "temperature": 0.5},
    "MoCo": {"projection_dim": 4, "queue_size": 32, "momentum": 0.9},
    "BYOL": {"projection_dim": 4, "projection_hidden_dim": 8, "momentum": 0.9,
             "momentum_schedule": "constant"},
    "SimSiam": {"projection_dim": 8},
    "BarlowTwins": {"projection_dim": 8},
    "VICReg": {"projection_dim": 8},
    "DINO": {"output_dim": 16, "hidden_dim": 8, "bottleneck_dim": 4, "momentum": 0.9,
             "momentum_schedule": "constant"},
}

# Methods whose loss uses the global batch: with gather_across_replicas=False
# each replica's loss sees its own half only, and the loss must differ.
GATHERING = ("SimCLR", "BarlowTwins", "VICReg", "CLIP")
# CLIP trains on image-caption pairs: 16 captions of the batch's images.
CAPTIONS = [f"a {c} {s}" for c in ("red", "green", "blue", "gray")
            for s in ("cat", "dog", "bird", "fish")]


def _tokenizer():
    # Made once, outside any strategy scope, as a user trains a vocabulary
    # before building the model.
    global TOKENIZER
    if TOKENIZER is None:
        TOKENIZER = keras_ssl.text.train_wordpiece(CAPTIONS, vocabulary_size=60)
    return TOKENIZER


TOKENIZER = None


def build(name, gather):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization(synchronized=True)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    encoder = keras.Model(inputs, x)
    if name == "Distillation":
        keras.utils.set_random_seed(1)
        t_inputs = keras.Input((8, 8, 1))
        t = keras.layers.Conv2D(6, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(t_inputs))
        teacher = keras.Model(t_inputs, keras.layers.GlobalAveragePooling2D()(t))
        keras.utils.set_random_seed(0)
        model = keras_ssl.methods.Distillation(teacher=teacher, student=encoder, mode="similarity",
                                               augmenter=None, queue_size=32, synchronized=True)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        return model
    if name == "AdversarialSimCLR":
        # The attack is instance-wise: each replica attacks its own images
        # against its own part of the batch, so the step differs from one
        # device's; it must run (under the strategy's replica context).
        model = keras_ssl.methods.SimCLR(
            encoder, projection_dim=4, synchronized=True, seed=0,
            augmenter=keras.layers.Identity(), gather_across_replicas=gather,
            adversarial=keras_ssl.adversarial.PGD(0.05, steps=2, random_start=False))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        return model
    if name == "CLIP":
        tokenizer = _tokenizer()
        text = keras_ssl.backbones.BertTiny(
            tokenizer.vocabulary_size(), max_sequence_length=8, hidden_dim=8,
            intermediate_dim=16, num_heads=1, num_layers=1, dropout=0.0)
        model = keras_ssl.methods.CLIP(encoder, text, tokenizer, sequence_length=8,
                                       embedding_dim=4, augmenter=keras.layers.Identity(),
                                       gather_across_replicas=gather)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        return model
    kwargs = dict(METHOD_KWARGS[name], synchronized=True, seed=0)
    if name == "DINO":
        kwargs["augmenter"] = keras_ssl.layers.MultiCrop(8, 4, local_crops=2, channels=1,
                                                         seed=0)
    else:
        kwargs["augmenter"] = keras.layers.Identity()
    if name in GATHERING:
        kwargs["gather_across_replicas"] = gather
    model = getattr(keras_ssl.methods, name)(encoder, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    return model


def state(model):
    """Values of the non-trainable variables the step writes besides batch norm."""
    names = ("queue", "queue_pointer", "center")
    written = [v for v in model.non_trainable_variables if v.name in names]
    if getattr(model, "teacher", None) is not None:
        written += model.teacher.weights  # a momentum teacher, or a frozen one
    return [(v.path.split("/", 1)[-1], v.numpy().copy()) for v in written]


def one_step(model, batch):
    """One `fit` step on `batch`: `(views,)` of a view method, or
    `(images, captions)` of CLIP."""
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(16)  # the whole global batch
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    after = [w.numpy() for w in model.trainable_weights]
    return history.history["loss"][0], [a - b for a, b in zip(after, before)], state(model)


def make_views(name, images):
    if name == "DINO":
        crops = keras_ssl.layers.MultiCrop(8, 4, local_crops=2, channels=1, seed=0)
        return tuple(v.numpy() for v in crops(images))
    rng = np.random.default_rng(1)
    other = np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype("float32")
    return (images, other)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "SimCLR"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 1)).astype("float32")
    if name == "CLIP":
        batch = (images, tf.constant(CAPTIONS))
    elif name == "Distillation":
        batch = (images,)
    else:
        batch = (make_views(name, images),)
    single_loss, single_update, single_state = one_step(build(name, True), batch)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build(name, True)
    multi_loss, multi_update, multi_state = one_step(model, batch)
    result = {
        "method": name,
        "replicas": strategy.num_replicas_in_sync,
        "single_loss": float(single_loss),
        "multi_loss": float(multi_loss),
        "max_update_diff": max(float(np.max(np.abs(a - b)))
                               for a, b in zip(single_update, multi_update)),
        "max_update": max(float(np.max(np.abs(a))) for a in single_update),
        "state": [k for k, _ in single_state],
        "max_state_diff": max([float(np.max(np.abs(a - b)))
                               for (_, a), (_, b) in zip(single_state, multi_state)] or [0.0]),
    }
    if name in GATHERING:
        with strategy.scope():
            local = build(name, False)
        result["local_statistics_loss"] = float(one_step(local, batch)[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
