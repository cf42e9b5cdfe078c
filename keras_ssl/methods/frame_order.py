"""Frame order prediction: classify how the frames of a clip were shuffled."""

import itertools

import keras
from keras import ops

from keras_ssl.layers.random_frame_order import RandomFrameOrder
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.methods.ssl_method import VideoInputs

COMBINE = ("pairwise", "concat")


@keras.saving.register_keras_serializable(package="keras_ssl")
class FrameOrderPrediction(VideoInputs, SSLMethod):
    """Frame order prediction with an image encoder applied to every frame
    (Misra et al. 2016, "Shuffle and Learn"; Lee et al. 2017, "Unsupervised
    Representation Learning by Sorting Sequences").

    From each clip, `frames` frames are sampled in order (evenly spaced,
    random start) and shuffled (`layers.RandomFrameOrder`); the shared
    image `encoder` embeds every frame, and a head classifies which
    permutation was applied, with cross-entropy. Telling the order needs
    what moves and where, so the encoder learns objects and motion
    cues from single frames.

    Classes: by default Lee et al.'s, a permutation and its reverse being
    one class (`reverse_equivalent=True`: 12 classes for 4 frames), since
    forward and backward motion are equally plausible (a ball bouncing
    left looks like one bouncing right played backwards); or all
    `frames!` permutations (`reverse_equivalent=False`: 24 for 4 frames).

    Head: `combine="pairwise"` is Lee et al.'s order prediction network:
    the features of each pair of frames (i < j) are concatenated and go
    through one shared Dense-ReLU layer of `hidden_dim` units; the pair
    outputs are concatenated and a Dense layer gives the class logits.
    `combine="concat"` (Misra et al.) concatenates all frames' features
    before one Dense-ReLU layer.

    `call(videos)` (and `predict`) gives a clip's feature vector: the mean
    of the encoder's features over all of its frames, as the video
    modality's probes use it. The encoder stays a plain image encoder and
    exports as one.

    Args:
        encoder: a `keras.Model` mapping images (N, H, W, C) to (N, D)
            features (e.g. `backbones.ResNet18`).
        frames: frames sampled a clip (3 to 6; 2 to 6 with
            `reverse_equivalent=False`).
        frame_gap: frames between two sampled ones (None: clip length //
            `frames`).
        reverse_equivalent: a permutation and its reverse are one class.
        combine: "pairwise" or "concat".
        hidden_dim: width of the head's hidden layer.
        seed: seed of the sampling and shuffling.

    Metrics: `loss` (cross-entropy) and `order_accuracy`.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    >>> model = keras_ssl.methods.FrameOrderPrediction(encoder, frames=3, hidden_dim=16)
    >>> model.num_classes
    3
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (4, 6, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=4, epochs=1, verbose=0).history)
    ['loss', 'order_accuracy']
    >>> model.predict(x, verbose=0).shape
    (4, 8)
    """

    def __init__(self, encoder, frames=4, frame_gap=None, reverse_equivalent=True,
                 combine="pairwise", hidden_dim=256, seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        shape = tuple(encoder.input_shape[1:])
        if len(shape) != 3:
            raise ValueError(
                "FrameOrderPrediction needs an image encoder (images (N, H, W, C) -> (N, D)) "
                f"that it applies to every frame; got an encoder with input shape "
                f"{tuple(encoder.input_shape)}."
            )
        if combine not in COMBINE:
            raise ValueError(f"`combine` must be one of {COMBINE}, got {combine!r}.")
        if int(hidden_dim) < 1:
            raise ValueError(f"`hidden_dim` must be a positive integer, got {hidden_dim!r}.")

        # === Layers ===
        self.order = RandomFrameOrder(frames=frames, frame_gap=frame_gap,
                                      reverse_equivalent=reverse_equivalent, seed=seed,
                                      name="order")
        frames = self.order.frames
        self.pairs = list(itertools.combinations(range(frames), 2))
        groups, width = ((len(self.pairs), 2 * self.feature_dim) if combine == "pairwise"
                         else (1, frames * self.feature_dim))
        self.relation = keras.layers.Dense(int(hidden_dim), activation="relu", name="relation")
        self.relation.build((None, groups, width))
        self.classifier = keras.layers.Dense(self.order.num_classes, name="order_logits")
        self.classifier.build((None, groups * int(hidden_dim)))
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="order_accuracy")

        # === Config ===
        self.frames = frames
        self.frame_gap = self.order.frame_gap
        self.reverse_equivalent = self.order.reverse_equivalent
        self.combine = combine
        self.hidden_dim = int(hidden_dim)
        self.seed = seed
        self.num_classes = self.order.num_classes
        self.built = True

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def frame_features(self, videos, training=False):
        """The encoder's features of every frame: (N, T, H, W, C) -> (N, T, D)."""
        frames = videos.shape[1]
        images = ops.reshape(videos, (-1,) + tuple(videos.shape[2:]))
        features = self.encoder(images, training=training)
        return ops.reshape(features, (-1, frames, features.shape[-1]))

    def call(self, inputs, training=False):
        """Clip features: the mean of the frames' encoder features, (N, D)."""
        inputs = ops.convert_to_tensor(inputs)
        if len(inputs.shape) != 5:
            raise ValueError(
                f"{type(self).__name__} takes clips (batch, frames, height, width, channels), "
                f"got shape {tuple(inputs.shape)}."
            )
        return ops.mean(self.frame_features(inputs, training=training), axis=1)

    def classify(self, shuffled, training=False):
        """Permutation logits (N, classes) of shuffled frames (N, frames, H, W, C)."""
        features = self.frame_features(shuffled, training=training)
        if self.combine == "pairwise":
            groups = ops.stack(
                [ops.concatenate([features[:, i], features[:, j]], axis=-1)
                 for i, j in self.pairs], axis=1)
        else:
            groups = ops.reshape(features, (-1, 1, self.frames * features.shape[-1]))
        hidden = self.relation(groups)
        hidden = ops.reshape(hidden, (-1, hidden.shape[1] * hidden.shape[2]))
        return ops.cast(self.classifier(hidden), "float32")

    def check_clip_shape(self, shape):
        """Raise a clear error unless a batch of `shape` holds clips long
        enough for `frames` samples, of frames the encoder takes (unknown
        sizes pass)."""
        shape = tuple(shape)
        if shape[1] is not None:
            self.order.gap(int(shape[1]))
        expected, got = tuple(self.encoder.input_shape[1:]), shape[2:]
        if any(g is not None and g != e for g, e in zip(got, expected)):
            raise ValueError(
                f"FrameOrderPrediction's encoder takes frames of shape {expected}, got clips "
                f"of shape {shape[1:]}."
            )

    def compute_ssl_loss(self, videos, training=True):
        shuffled, labels = self.order(videos)
        logits = self.classify(shuffled, training=training)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        self.accuracy_tracker.update_state(labels, logits)
        return ops.mean(loss), {}

    def get_config(self):
        config = super().get_config()
        config.update({
            "frames": self.frames,
            "frame_gap": self.frame_gap,
            "reverse_equivalent": self.reverse_equivalent,
            "combine": self.combine,
            "hidden_dim": self.hidden_dim,
            "seed": self.seed,
        })
        return config
