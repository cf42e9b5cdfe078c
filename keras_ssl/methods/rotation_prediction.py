"""Rotation prediction: classify by how much an image was rotated."""

import keras
from keras import ops

from keras_ssl.layers.random_rotation90 import RandomRotation90
from keras_ssl.methods.ssl_method import SSLMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class RotationPrediction(SSLMethod):
    """Rotation prediction (Gidaris et al. 2018, "Unsupervised Representation
    Learning by Predicting Image Rotations").

    Each image is rotated by 0, 90, 180 and 270 degrees (`mode="all"`, the
    paper's choice: a batch of N images trains on 4N) or by one random
    multiple of 90 degrees (`mode="random"`), and a head on the encoder's
    features classifies the rotation. Recognising the rotation of an object
    requires recognising the object.

    Args:
        encoder: a `keras.Model` mapping square images to (N, D) features.
        mode: "all" or "random".
        hidden_dim: width of the head's hidden layer; 0 for a linear head.
        seed: seed of the random rotations (`mode="random"`).

    Metrics: `loss` (cross-entropy) and `rotation_accuracy`.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.RotationPrediction(encoder)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (16, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=8, epochs=1, verbose=0).history)
    ['loss', 'rotation_accuracy']
    """

    def __init__(self, encoder, mode="all", hidden_dim=256, seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        shape = tuple(encoder.input_shape[1:])
        if len(shape) != 3 or shape[0] != shape[1]:
            raise ValueError(
                "Rotation prediction needs an encoder for square images (height == "
                f"width), got input shape {shape}."
            )
        # === Layers ===
        self.rotate = RandomRotation90(mode=mode, seed=seed, name="rotate")
        head = []
        if int(hidden_dim) > 0:
            head += [
                keras.layers.Dense(int(hidden_dim), use_bias=False, name="head_dense"),
                keras.layers.BatchNormalization(name="head_bn"),
                keras.layers.ReLU(name="head_relu"),
            ]
        head.append(keras.layers.Dense(4, name="rotation_logits"))
        self.head = keras.Sequential(head, name="rotation_head")
        self.head.build((None, self.feature_dim))
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="rotation_accuracy")

        # === Config ===
        self.mode = mode
        self.hidden_dim = int(hidden_dim)
        self.seed = seed
        self.built = True

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def compute_ssl_loss(self, images, training=True):
        rotated, labels = self.rotate(images)
        logits = self.head(self.encoder(rotated, training=training), training=training)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        self.accuracy_tracker.update_state(labels, logits)
        return ops.mean(loss), {}

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "hidden_dim": self.hidden_dim, "seed": self.seed})
        return config
