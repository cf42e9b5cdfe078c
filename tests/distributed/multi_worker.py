"""One worker of a 2-worker SimCLR run under MultiWorkerMirroredStrategy.

Usage: multi_worker.py PORT0 PORT1 TASK_INDEX OUT_FILE. Both workers train a
few steps on the same global batches (each gets its shard) and write a
checksum of their final weights to OUT_FILE; they must agree.
"""

import json
import os
import sys

port0, port1, index, out_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"localhost:{port0}", f"localhost:{port1}"]},
    "task": {"type": "worker", "index": index},
})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402
keras.config.disable_traceback_filtering()
import numpy as np  # noqa: E402

import keras_ssl  # noqa: E402


def main():
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras_ssl.methods.SimCLR(
            keras.Model(inputs, x),
            augmenter=keras.layers.GaussianNoise(0.0),
            projection_dim=4,
            synchronized=True,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(images).batch(16)
    history = model.fit(ds, epochs=2, verbose=0)
    weights = np.concatenate([w.numpy().ravel() for w in model.trainable_weights])
    with open(out_file, "w") as f:
        json.dump({
            "index": index,
            "replicas": strategy.num_replicas_in_sync,
            "loss": history.history["loss"],
            "weights_sum": float(weights.sum()),
            "weights": weights.tolist(),
        }, f)


if __name__ == "__main__":
    main()
