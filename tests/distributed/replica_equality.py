"""One SimCLR step on 2 replicas equals the same step on 1 device.

Run as a script (it must configure TensorFlow's logical CPU devices before
anything else touches TensorFlow): prints a JSON line with the largest
differences in loss and in updated weights.
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


def build(gather):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization(synchronized=True)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    encoder = keras.Model(inputs, x)
    model = keras_ssl.methods.SimCLR(
        encoder,
        augmenter=keras.layers.GaussianNoise(0.0),  # deterministic views
        projection_dim=4,
        temperature=0.5,
        gather_across_replicas=gather,
        synchronized=True,
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    return model


def one_step(model, images):
    ds = tf.data.Dataset.from_tensor_slices(images).batch(len(images))
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    after = [w.numpy() for w in model.trainable_weights]
    return history.history["loss"][0], [a - b for a, b in zip(after, before)]


def main():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 1)).astype("float32")
    single_loss, single_update = one_step(build(gather=True), images)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build(gather=True)
    multi_loss, multi_update = one_step(model, images)
    with strategy.scope():
        local = build(gather=False)
    local_loss, _ = one_step(local, images)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "single_loss": float(single_loss),
        "multi_loss": float(multi_loss),
        "local_negatives_loss": float(local_loss),
        "max_update_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single_update, multi_update)),
        "max_update": max(float(np.max(np.abs(a))) for a in single_update),
    }))


if __name__ == "__main__":
    main()
