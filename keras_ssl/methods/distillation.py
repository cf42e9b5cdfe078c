"""Self-supervised distillation of a pretrained encoder into a smaller one."""

import numbers
import threading

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.distribute import num_replicas
from keras_ssl.losses.distillation import FEATURE_LOSSES
from keras_ssl.losses.distillation import feature_distillation_loss
from keras_ssl.losses.distillation import seed_loss
from keras_ssl.losses.distillation import soft_target_loss
from keras_ssl.losses.negative_cosine import negative_cosine
from keras_ssl.methods.embedding_queue import add_embedding_queue
from keras_ssl.methods.embedding_queue import enqueue
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.methods.ssl_method import encoder_feature_dim
from keras_ssl.utils import check_choice
from keras_ssl.utils import check_images

MODES = ("feature", "similarity", "logits", "tinybert")
#: the keys of a batch whose teacher outputs were computed ahead of training
PRECOMPUTED_KEYS = ("images", "teacher_outputs")
#: the default augmentation: crops covering half to all of the image, flips
DEFAULT_CROP_SCALE = (0.5, 1.0)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` must be a number > 0, got {value!r}.")
    return float(value)


def _image_shape(model, argument):
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise ValueError(
            f"`{argument}` must take a single batch of images (N, H, W, C), got input "
            f"shape {shape!r}."
        )
    return tuple(shape[1:])


def _freeze(model):
    """Make every layer of `model` non-trainable (batch norm in inference
    mode, no trainable weights).

    Setting `model.trainable = False` alone is not enough for a model
    rebuilt from a config that already says `trainable: False` (a `.keras`
    file of a frozen teacher): its sub-layers come back trainable, and
    Keras skips the setter's propagation when the flag does not change.
    """
    model.trainable = False
    for layer in model._flatten_layers(include_self=False):
        layer.trainable = False


@keras.saving.register_keras_serializable(package="keras_ssl")
class Distillation(SSLMethod):
    """Self-supervised distillation: a small `student` encoder learns to
    reproduce a frozen, pretrained `teacher` on unlabeled images.

    The student is the method's `encoder`: `call` returns its features,
    and `model.encoder` is what `export_backbone`, the probes and
    fine-tuning use. A head on the student's features maps them to the
    teacher's output space and is trained with it. The teacher is frozen:
    `teacher.trainable` is set to False (on the model passed in), so its
    weights are not trained and its batch norm runs in inference mode; it
    is called with `training=False`, and its weights are left out of the
    non-finite-step guard (`unguarded_state`).

    Modes:

    * `"feature"`: the student's features, through a `ProjectionHead`
      (`projection_layers` Dense layers) to the teacher's feature size,
      regress the teacher's features: `feature_loss="cosine"` (1 - cosine
      similarity, the default) or `"mse"`.
    * `"similarity"`: SEED (Fang et al. 2021, "SEED: Self-supervised
      Distillation for Visual Representation"). Student embeddings (the
      same projection head) and teacher features are L2-normalised; a FIFO
      queue holds the teacher embeddings of the last `queue_size` images.
      The loss is the cross-entropy between the teacher's softmax
      similarity distribution over [own teacher embedding, queue]
      (temperature `teacher_temperature`) and the student's (temperature
      `student_temperature`); see `keras_ssl.losses.seed_loss`. The queue
      starts with random rows (as MoCo's and SEED's do) and is updated
      after each optimizer step with the teacher embeddings of the global
      batch.
    * `"logits"`: soft targets (Hinton et al. 2015, "Distilling the
      Knowledge in a Neural Network"), for a teacher with a classifier
      head: the teacher maps images to (N, K) logits, a Dense layer on the
      student's features to K logits, and the loss is
      `KL(softmax(teacher / T) || softmax(student / T)) * T^2` with
      `T = temperature`.
    * `"tinybert"`: for text, a pretrained BERT text method (e.g. a
      `MaskedLanguageModel`) as the teacher and a smaller
      `keras_hub.models.BertBackbone` as the student: returns a
      `keras_ssl.methods.TinyBERTDistillation` (TinyBERT's layer-by-layer
      distillation), which documents its own arguments.

    Augmentation: each image is augmented once, and teacher and student
    see the same view (the teacher's output on that view is the target).
    The default (`augmenter="auto"`) is geometric only: a
    `SimCLRAugmenter` with crops covering `DEFAULT_CROP_SCALE` (half to
    all) of the image and horizontal flips, no color jitter; the targets
    need no invariance, the views only widen the set of inputs on which
    the student matches the teacher. `augmenter=None` trains on the images
    as they are; any Keras layer mapping images to images of the encoder's
    input size can be given.

    With `augmenter=None`, the teacher's outputs do not change between
    epochs: `teacher_targets(x)` computes them once and returns a
    `tf.data.Dataset` of `{"images": ..., "teacher_outputs": ...}`
    batches that `fit` trains on without running the teacher (`fit` also
    takes such a dict of arrays). The loss is the same as with the
    teacher run in the step.

    Why `SSLMethod` and not `JointEmbeddingMethod`: distillation embeds
    one view per image, while the joint-embedding base is built around two
    or more views, a `MomentumTeacher` under the name `teacher` (updated
    after every step, part of its config and its schedule callback) and a
    collapse metric that a regression onto fixed targets does not need.
    Its helpers that fit (a projection head, the per-step values handed to
    `after_update`) are reused.

    Args:
        teacher: the pretrained `keras.Model`: images to (N, D) features
            (modes "feature" and "similarity") or to (N, K) logits
            ("logits"). Frozen by the method.
        student: the `keras.Model` to train, images to (N, d) features,
            with the teacher's input shape.
        mode: "feature", "similarity", "logits" or "tinybert" (text, see above).
        augmenter: "auto" (the default above), None (no augmentation), or a
            Keras layer.
        feature_loss: "cosine" or "mse" (mode "feature").
        projection_hidden_dim: hidden width of the projection head; default
            the teacher's feature size (modes "feature" and "similarity").
        projection_layers: Dense layers in the projection head; 1 for a
            linear map.
        queue_size: teacher embeddings in the queue (mode "similarity"),
            at least the global batch size. SEED's released code keeps
            65,536 on ImageNet; keep it below the number of training
            images, so that the queue does not hold the same image's
            earlier embedding.
        student_temperature: the student's similarity temperature (mode
            "similarity"). Default 0.2.
        teacher_temperature: the teacher's similarity temperature (mode
            "similarity"). Default 0.01: a sharp target, peaked on the
            image's own embedding and its nearest queue entries. (SEED's
            released code defaults to 0.07 for the student and 1e-4 for
            the teacher.)
        temperature: the soft-target temperature T (mode "logits").
            Default 4.
        synchronized: synchronise the projection head's batch norm across
            replicas under `tf.distribute`.
        seed: seed of the default augmenter, of the queue's initial values
            and of `teacher_targets`' shuffling.

    Metrics: `loss`; `cosine_similarity` between the projected student
    and the teacher features (mode "feature"), or `teacher_agreement`, how
    often the student's top candidate (mode "similarity") or class (mode
    "logits") is the teacher's.

    `compile(optimizer="auto")` uses AdamW (learning rate 1e-3, weight
    decay 1e-4), as the other methods do.

    Example:

    >>> import numpy as np, keras_ssl
    >>> teacher = keras_ssl.backbones.ConvNet(
    ...     input_shape=(16, 16, 1), filters=(16, 32), name="teacher")
    >>> student = keras_ssl.backbones.ConvNet(
    ...     input_shape=(16, 16, 1), filters=(8, 16), name="student")
    >>> model = keras_ssl.methods.Distillation(
    ...     teacher, student, mode="similarity", queue_size=64, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, epochs=1, verbose=0).history)
    ['loss', 'teacher_agreement']
    >>> tuple(model.predict(x[:2], verbose=0).shape)  # the student's features
    (2, 16)
    >>> model.encoder is student, model.teacher.trainable
    (True, False)
    """

    # The projection head and the values a step hands to `after_update`
    # work as in the joint-embedding methods.
    make_head = JointEmbeddingMethod.make_head
    set_pending = JointEmbeddingMethod.set_pending
    pop_pending = JointEmbeddingMethod.pop_pending

    def __new__(cls, *args, **kwargs):
        mode = kwargs.get("mode", args[2] if len(args) > 2 else None)
        if cls is Distillation and isinstance(mode, str) and mode == "tinybert":
            # Text distillation has its own class (other inputs, losses
            # and config).
            from keras_ssl.methods.tinybert_distillation import TinyBERTDistillation

            if len(args) > 3:
                raise TypeError(
                    "With mode=\"tinybert\", pass the arguments after `mode` by keyword.")
            kwargs.pop("mode", None)
            return TinyBERTDistillation(*args[:2], **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(
        self,
        teacher,
        student,
        mode="feature",
        augmenter="auto",
        feature_loss="cosine",
        projection_hidden_dim=None,
        projection_layers=2,
        queue_size=4096,
        student_temperature=0.2,
        teacher_temperature=0.01,
        temperature=4.0,
        synchronized=False,
        seed=None,
        **kwargs,
    ):
        check_choice("mode", mode, MODES)
        check_choice("feature_loss", feature_loss, FEATURE_LOSSES)
        if teacher is student:
            raise ValueError(
                "`teacher` and `student` are the same model; distillation trains a separate "
                "(usually smaller) `student` to reproduce a pretrained `teacher`."
            )
        student_dim = encoder_feature_dim(student, "student")
        teacher_dim = self._teacher_output_dim(teacher, mode)
        teacher_shape = _image_shape(teacher, "teacher")
        student_shape = _image_shape(student, "student")
        if any(t is not None and s is not None and t != s
               for t, s in zip(teacher_shape, student_shape)):
            raise ValueError(
                f"`student` must take the images the teacher takes: the teacher's input shape "
                f"is {teacher_shape}, the student's {student_shape}."
            )
        shared = {id(v) for v in teacher.weights} & {id(v) for v in student.weights}
        if shared:
            raise ValueError(
                f"`teacher` and `student` share {len(shared)} weight(s); freezing the teacher "
                "would freeze them in the student. Give the student its own layers."
            )
        student_temperature = _positive("student_temperature", student_temperature)
        teacher_temperature = _positive("teacher_temperature", teacher_temperature)
        temperature = _positive("temperature", temperature)
        if (isinstance(queue_size, bool) or not isinstance(queue_size, numbers.Integral)
                or queue_size < 1):
            raise ValueError(
                f"`queue_size` must be a positive integer (at least the global batch size), "
                f"got {queue_size!r}."
            )
        if (isinstance(projection_layers, bool)
                or not isinstance(projection_layers, numbers.Integral) or projection_layers < 1):
            raise ValueError(
                f"`projection_layers` must be an integer >= 1, got {projection_layers!r}."
            )
        if isinstance(augmenter, str) and augmenter == "auto":
            augmenter = self._default_augmenter(student_shape, seed)
        elif augmenter is not None and not isinstance(augmenter, keras.layers.Layer):
            raise TypeError(
                "`augmenter` must be \"auto\", None (no augmentation) or a Keras layer mapping "
                f"images to images, got {augmenter!r}."
            )
        super().__init__(student, **kwargs)

        # === Layers ===
        _freeze(teacher)
        self.teacher = teacher
        self.augmenter = augmenter
        self.synchronized = bool(synchronized)
        # Per thread, as in the joint-embedding methods: each replica's
        # step is traced in its own thread under MirroredStrategy.
        object.__setattr__(self, "_pending", threading.local())
        if mode == "logits":
            self.head = keras.layers.Dense(teacher_dim, name="head")
            self.head.build((None, student_dim))
        else:
            hidden = projection_hidden_dim or teacher_dim
            self.head = self.make_head("head", student_dim, teacher_dim, hidden,
                                       int(projection_layers))
        self.queue = None
        self.queue_pointer = None
        if mode == "similarity":
            add_embedding_queue(self, queue_size, teacher_dim, seed=seed)
        metric = "cosine_similarity" if mode == "feature" else "teacher_agreement"
        self.metric_tracker = keras.metrics.Mean(name=metric)

        # === Config ===
        self.teacher_dim = teacher_dim
        self.mode = mode
        self.feature_loss = feature_loss
        self.projection_hidden_dim = projection_hidden_dim
        self.projection_layers = int(projection_layers)
        self.queue_size = int(queue_size)
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.temperature = temperature
        self.seed = seed
        self.built = True

    @staticmethod
    def _teacher_output_dim(teacher, mode):
        if mode != "logits":
            return encoder_feature_dim(teacher, "teacher")
        try:
            return encoder_feature_dim(teacher, "teacher")
        except ValueError:
            shape = getattr(teacher, "output_shape", None)
            raise ValueError(
                "In mode=\"logits\", `teacher` must map images to class logits of shape "
                f"(batch, classes), got output shape {shape!r}. Use mode=\"feature\" or "
                "\"similarity\" for a teacher without a classifier head."
            ) from None

    @staticmethod
    def _default_augmenter(image_shape, seed):
        from keras_ssl.layers import SimCLRAugmenter

        height, width, channels = image_shape
        if height is None or width is None or channels not in (1, 3):
            raise ValueError(
                "The default `augmenter` (\"auto\") needs encoders for images of a fixed size "
                f"with 1 or 3 channels, got input shape {image_shape}. Pass augmenter=None "
                "or an augmentation layer."
            )
        return SimCLRAugmenter(
            image_size=(height, width), channels=channels, crop_scale=DEFAULT_CROP_SCALE,
            flip=True, jitter_rate=0.0, grayscale_rate=0.0, seed=seed,
            name="augmenter",
        )

    @property
    def student(self):
        """The student encoder (the same model as `encoder`)."""
        return self.encoder

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            inputs = inputs["images"]
        return self.encoder(inputs, training=training)

    def extra_metrics(self):
        return [self.metric_tracker]

    # Inputs -------------------------------------------------------------------

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(x, dict):
            return self.prepare_images(data), None
        if sorted(x) != sorted(PRECOMPUTED_KEYS):
            raise TypeError(
                "Distillation expects `x` to be images, or a dict with keys "
                f"{list(PRECOMPUTED_KEYS)} (from `teacher_targets`); got keys {sorted(x)}."
            )
        if self.augmenter is not None:
            raise ValueError(self._precomputed_message("Training on precomputed teacher outputs"))
        images = self.prepare_images(x["images"], argument='x["images"]')
        outputs = x["teacher_outputs"]
        shape = tuple(outputs.shape)
        if len(shape) != 2 or shape[-1] not in (None, self.teacher_dim):
            raise ValueError(
                f'`x["teacher_outputs"]` must have shape (batch, {self.teacher_dim}) (the '
                f"teacher's outputs), got shape {shape}."
            )
        dtype = tf.as_dtype(outputs.dtype)
        if not dtype.is_floating:
            raise TypeError(f'`x["teacher_outputs"]` must be float, got dtype {dtype.name}.')
        return images, tf.cast(outputs, "float32")

    def _precomputed_message(self, what):
        return (
            f"{what} needs augmenter=None: with augmentation the teacher must see the "
            "student's augmented view, so its outputs change at every step. Build the "
            "Distillation with augmenter=None."
        )

    def teacher_targets(self, x, batch_size=32, shuffle=True, seed=None):
        """Run the teacher once over `x` and return a dataset to `fit` on.

        The teacher's outputs are computed here, batch by batch, and kept
        in memory with the images; `fit` on the result skips the teacher's
        forward pass at every step. Needs `augmenter=None` (with
        augmentation the teacher's outputs change with each view).

        Args:
            x: images (N, H, W, C), uint8 or float in [0, 255] (a numpy
                array or tensor), or a `tf.data.Dataset` of image batches
                or `(images, labels)` batches (labels are dropped); the
                dataset is read once.
            batch_size: batch size of the teacher's pass and of the
                returned dataset.
            shuffle: reshuffle the images at every epoch.
            seed: shuffling seed; default the method's `seed`.

        Returns:
            A `tf.data.Dataset` of `{"images": (B, H, W, C) in x's dtype,
            "teacher_outputs": (B, D) float32}` batches.

        Example:

        >>> import numpy as np, keras_ssl
        >>> teacher = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(16,))
        >>> student = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
        >>> model = keras_ssl.methods.Distillation(teacher, student, augmenter=None)
        >>> x = np.zeros((10, 16, 16, 1), "uint8")
        >>> targets = model.teacher_targets(x, batch_size=4)
        >>> {k: tuple(v.shape) for k, v in next(iter(targets)).items()}
        {'images': (4, 16, 16, 1), 'teacher_outputs': (4, 16)}
        >>> model.compile(optimizer="auto")
        >>> sorted(model.fit(targets, epochs=1, verbose=0).history)
        ['cosine_similarity', 'loss']
        """
        if self.augmenter is not None:
            raise ValueError(self._precomputed_message("`teacher_targets`"))
        if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                or batch_size < 1):
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        forward = tf.function(
            lambda images: self.teacher(tf.cast(images, "float32"), training=False),
            reduce_retracing=True,
        )
        if isinstance(x, tf.data.Dataset):
            chunks = []
            for element in x:
                images = element[0] if isinstance(element, (tuple, list)) else element
                check_images(images, name="x (dataset batches)")
                chunks.append(images.numpy())
            if not chunks:
                raise ValueError("`x` is an empty dataset.")
            images = np.concatenate(chunks)
        else:
            check_images(x, name="x")
            images = x
        if len(images) == 0:
            raise ValueError("`x` is empty: expected at least one image.")
        outputs = np.concatenate([
            np.asarray(forward(tf.convert_to_tensor(images[i:i + batch_size])), "float32")
            for i in range(0, len(images), batch_size)
        ])
        dataset = tf.data.Dataset.from_tensor_slices(
            {"images": images, "teacher_outputs": outputs})
        if shuffle:
            dataset = dataset.shuffle(
                len(images), seed=self.seed if seed is None else seed,
                reshuffle_each_iteration=True,
            )
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    # Loss -----------------------------------------------------------------------

    def compute_ssl_loss(self, inputs, training=True):
        images, targets = inputs
        if self.queue is not None:
            # Before any forward pass, so that a refused batch leaves the
            # batch-norm statistics as they were.
            with tf.control_dependencies([self._check_queue_batch(images)]):
                images = tf.identity(images)
        if targets is None:
            if training and self.augmenter is not None:
                images = self.augmenter(images, training=True)
            targets = self.teacher(images, training=False)
        targets = tf.stop_gradient(tf.cast(targets, "float32"))
        outputs = self.head(self.encoder(images, training=training), training=training)
        if self.mode == "feature":
            loss = feature_distillation_loss(outputs, targets, self.feature_loss)
            self.metric_tracker.update_state(-negative_cosine(outputs, targets))
        elif self.mode == "similarity":
            loss, agreement = seed_loss(
                outputs, targets, self.queue, self.student_temperature,
                self.teacher_temperature,
            )
            self.metric_tracker.update_state(agreement)
            if training:
                self.set_pending("teacher_embeddings", targets)
        else:
            loss = soft_target_loss(outputs, targets, self.temperature)
            agreement = tf.equal(tf.argmax(outputs, axis=-1), tf.argmax(targets, axis=-1))
            self.metric_tracker.update_state(tf.cast(agreement, "float32"))
        return tf.reduce_mean(loss), {}

    # Queue (mode "similarity") ---------------------------------------------------

    def _queue_message(self, batch):
        return (
            f"`queue_size` ({self.queue_size}) must be at least the global batch size "
            f"({batch}): each batch of teacher embeddings is enqueued whole."
        )

    def check_fit_data(self, batch_size):
        super().check_fit_data(batch_size)
        if self.queue is not None and batch_size and batch_size > self.queue_size:
            raise ValueError(self._queue_message(batch_size))

    def _check_queue_batch(self, images):
        static = images.shape[0]
        if static is not None and static * num_replicas() > self.queue_size:
            raise ValueError(self._queue_message(static * num_replicas()))
        return tf.debugging.assert_less_equal(
            tf.shape(images)[0] * num_replicas(), self.queue_size,
            message=f"`queue_size` ({self.queue_size}) must be at least the global batch "
            "size: each batch of teacher embeddings is enqueued whole.",
        )

    def after_update(self):
        pending = self.pop_pending("teacher_embeddings")
        if self.queue is None or pending is None:
            return
        enqueue(self.queue, self.queue_pointer, pending, "Distillation")

    def unguarded_state(self):
        state = list(self.teacher.weights)
        if self.queue is not None:
            state.append(self.queue)
        return state

    # Serialization ----------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.pop("encoder", None)
        config.update({
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.encoder),
            "mode": self.mode,
            "augmenter": (None if self.augmenter is None
                          else keras.saving.serialize_keras_object(self.augmenter)),
            "feature_loss": self.feature_loss,
            "projection_hidden_dim": self.projection_hidden_dim,
            "projection_layers": self.projection_layers,
            "queue_size": self.queue_size,
            "student_temperature": self.student_temperature,
            "teacher_temperature": self.teacher_temperature,
            "temperature": self.temperature,
            "synchronized": self.synchronized,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        if config.get("augmenter") is not None:
            config["augmenter"] = keras.saving.deserialize_keras_object(config["augmenter"])
        return cls(**config)
