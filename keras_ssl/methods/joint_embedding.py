"""The base of joint-embedding methods: views, a collapse metric, a momentum teacher."""

import threading

import keras
import tensorflow as tf

from keras_ssl import adversarial as adversarial_lib
from keras_ssl.layers.momentum_teacher import MomentumTeacher
from keras_ssl.layers.momentum_teacher import check_momentum
from keras_ssl.layers.momentum_teacher import cosine_momentum
from keras_ssl.layers.projection_head import ProjectionHead
from keras_ssl.methods.ssl_method import SSLMethod

MOMENTUM_SCHEDULES = ("cosine", "constant")


def embedding_std(embeddings):
    """Mean over dimensions of the per-dimension standard deviation of the
    L2-normalised embeddings over the batch.

    About `1 / sqrt(D)` for embeddings spread over the sphere and 0 when
    every sample maps to the same point (complete collapse): the collapse
    indicator of the SimSiam paper (Chen and He 2021, section 4.1).
    """
    z = tf.math.l2_normalize(tf.cast(embeddings, "float32"), axis=-1)
    return tf.reduce_mean(tf.math.reduce_std(z, axis=0))


class _ScheduleSteps(keras.callbacks.Callback):
    """Sets the length of a method's momentum schedule from `fit`'s epochs
    and steps: the optimizer steps done so far plus those this `fit` will
    run, so a resumed run (`BackupAndRestore`) keeps the same schedule.
    Leaves it alone when the method was given `schedule_steps`, and sets 0
    (constant momentum) when the number of steps is unknown."""

    def on_train_begin(self, logs=None):
        model = self.model
        if model.schedule_steps_arg is not None:
            model.schedule_steps.assign(int(model.schedule_steps_arg))
            return
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if not epochs or not steps:
            model.schedule_steps.assign(0)
            return
        initial = getattr(model, "_initial_epoch", None) or getattr(
            model, "_fit_initial_epoch", 0)
        done = int(model.optimizer.iterations.numpy())
        model.schedule_steps.assign(done + (int(epochs) - int(initial)) * int(steps))


class JointEmbeddingMethod(SSLMethod):
    """Base class of the methods that embed several views of each image
    and compare the embeddings: SimCLR, MoCo, BYOL, SimSiam, Barlow Twins,
    VICReg, DINO.

    It supplies, once for all of them:

    * views: `fit` takes images (augmented in the train step by
      `augmenter`: a `SimCLRAugmenter`, or a `MultiCrop` for multi-crop
      methods) or ready-made views (`x` a tuple of view batches, e.g. from
      `augment_dataset`, which moves augmentation into `tf.data`);
    * a batch-size check (`min_batch_size`) with a clear error;
    * the `embedding_std` metric: the per-dimension standard deviation of
      the L2-normalised embeddings (about `1/sqrt(D)` when healthy, 0 when
      collapsed); `keras_ssl.evaluation.CollapseMonitor` stops a run on it;
    * `synchronized=True`: batch norm in the heads synchronised across
      replicas under `tf.distribute` (pass it to the backbone too);
    * `adversarial=` (methods with `supports_adversarial`): an attack
      from `keras_ssl.adversarial` makes, in each step, an adversarial
      version of the first view that maximises the method's loss against
      the second (instance-wise attacks: Kim et al. 2020, RoCL; Jiang et
      al. 2020, ACL); it joins the views as one more view of each image;
    * a momentum teacher (`add_teacher`): a `MomentumTeacher` copy of
      student layers, updated after every optimizer step with a cosine
      momentum ramp to 1.0 over the `fit` call's steps (or
      `schedule_steps`).

    Subclasses implement `compute_views_loss(views, training)` returning
    `(loss, logs, embeddings)` and set `embedding_dim`, the size of those
    embeddings.
    """

    min_batch_size = 2
    batch_items = "images"
    # Whether the method compares more than two views (a MultiCrop with
    # local crops); the others reject such an augmenter.
    multi_crop = False

    #: whether the method takes `adversarial=` (it implements
    #: `attack_target` and `attack_loss`)
    supports_adversarial = False

    def __init__(self, encoder, augmenter=None, synchronized=False, seed=None, adversarial=None,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        self.adversarial = adversarial_lib.get(adversarial)
        if self.adversarial is not None and not self.supports_adversarial:
            raise ValueError(
                f"`adversarial` is not supported by {type(self).__name__}: adversarial "
                "self-supervision attacks a contrastive loss; use SimCLR or MoCo.")
        self.synchronized = bool(synchronized)
        if augmenter is None:
            augmenter = self.default_augmenter(encoder, seed)
        self.augmenter = augmenter
        if self.num_views > 2 and not self.multi_crop:
            raise ValueError(
                f"{type(self).__name__} compares two views, but `augmenter` makes "
                f"{self.num_views} (a MultiCrop with local crops). Use local_crops=0, or "
                "SimCLR, BYOL or DINO, which train on multi-crop views."
            )
        self.seed = seed
        self.embedding_std_tracker = keras.metrics.Mean(name="embedding_std")
        self.embedding_dim = None
        self.teacher = None
        self.schedule_steps = None
        self.schedule_steps_arg = None
        self._student_layers = []
        # Tensors a step hands from the loss to `after_update` (keys to
        # enqueue, a batch center). Per thread: MirroredStrategy traces each
        # replica's step in its own thread, and a replica must use its own.
        object.__setattr__(self, "_pending", threading.local())

    def call(self, inputs, training=False):
        # A tuple of views (as `fit` takes them) embeds its first view.
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[0]
        return self.encoder(inputs, training=training)

    def default_augmenter(self, encoder, seed):
        from keras_ssl.layers import SimCLRAugmenter

        return SimCLRAugmenter.for_input_shape(tuple(encoder.input_shape[1:]), seed=seed)

    @property
    def num_views(self):
        return getattr(self.augmenter, "num_crops", 2)

    # Metrics ------------------------------------------------------------------

    def extra_metrics(self):
        return list(self.method_metrics()) + [self.embedding_std_tracker]

    def method_metrics(self):
        """The method's own metric trackers (besides loss and embedding_std)."""
        return []

    # Views --------------------------------------------------------------------

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        name = type(self).__name__
        if isinstance(x, (tuple, list)):
            if len(x) != self.num_views:
                raise ValueError(
                    f"{name} expects `x` to be a batch of images or a tuple of "
                    f"{self.num_views} batches of augmented views; got {len(x)} tensors."
                )
            views = tuple(
                self.prepare_images(v, argument=f"x[{i}] (view {i})") for i, v in enumerate(x)
            )
            if views[0].shape[1:] != views[1].shape[1:]:
                raise ValueError(
                    "The first two views must have the same image shape, got "
                    f"{tuple(views[0].shape)} and {tuple(views[1].shape)}."
                )
            return views
        return self.prepare_images(data)

    def make_views(self, images):
        """The augmented views of a batch of images (a tuple)."""
        views = self.augmenter(images, training=True)
        if isinstance(views, (tuple, list)):
            return tuple(views)
        return (views, self.augmenter(images, training=True))

    def augment_dataset(self, dataset, num_parallel_calls=tf.data.AUTOTUNE):
        """Move augmentation from the train step into the `tf.data` pipeline.

        Maps the model's augmenter over a batched `dataset` (elements:
        images, or `(images, labels)`; labels are dropped) and returns a
        dataset of `(views,)` batches that `fit` trains on without
        augmenting again. The views are made by `tf.data`'s threads while
        the previous step runs.

        Example:

        >>> import numpy as np, tensorflow as tf, keras_ssl
        >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
        >>> model = keras_ssl.methods.SimCLR(encoder, projection_dim=8, seed=0)
        >>> x = np.zeros((8, 16, 16, 1), "uint8")
        >>> views = model.augment_dataset(tf.data.Dataset.from_tensor_slices(x).batch(4))
        >>> [tuple(v.shape) for v in next(iter(views))[0]]
        [(4, 16, 16, 1), (4, 16, 16, 1)]
        """
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(
                "`dataset` must be a batched tf.data.Dataset of images, got "
                f"{type(dataset).__name__}."
            )
        spec = dataset.element_spec
        if isinstance(spec, (tuple, list)):
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 4:
            raise ValueError(
                "`dataset` must yield batches of images of shape (N, H, W, C) "
                f"(batch it first), got elements {dataset.element_spec}."
            )

        def views(*element):
            images = self.prepare_images(element[0], argument="dataset images")
            return (self.make_views(images),)

        return dataset.map(views, num_parallel_calls=num_parallel_calls).prefetch(
            tf.data.AUTOTUNE
        )

    def compute_ssl_loss(self, inputs, training=True):
        views = inputs if isinstance(inputs, tuple) else None
        images = views[0] if views is not None else inputs
        with tf.control_dependencies([self.check_batch(images)]):
            if views is None:
                views = self.make_views(tf.identity(images))
            else:
                views = tuple(tf.identity(v) for v in views)
        if self.adversarial is not None and training:
            views = views + (self.adversarial_view(views),)
        loss, logs, embeddings = self.compute_views_loss(views, training)
        self.embedding_std_tracker.update_state(embedding_std(embeddings))
        return loss, logs

    def compute_views_loss(self, views, training):
        """Return `(loss, logs, embeddings)` for a tuple of view batches."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_views_loss().")

    def adversarial_view(self, views):
        """The first view attacked by `adversarial` to increase
        `attack_loss` against `attack_target(views)`.

        The attack runs the student in training mode, as the step that
        follows; on a single device the batch-norm statistics its forward
        passes moved are put back afterwards, so they count each image once.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        state = self._guarded_state() if replicas == 1 else []
        saved = [tf.identity(v.value) for v in state]
        target = tf.stop_gradient(self.attack_target(views))
        adversarial = self.adversarial.perturb(
            lambda inputs: self.attack_loss(inputs, target), views[0])
        if not state:
            return adversarial
        with tf.control_dependencies([adversarial]):
            restores = [v.assign(value) for v, value in zip(state, saved)]
        with tf.control_dependencies(restores):
            return tf.identity(adversarial)

    def attack_target(self, views):
        """What the attacked view is compared with (e.g. the embeddings
        of the second view)."""
        raise NotImplementedError(f"{type(self).__name__} must implement attack_target().")

    def attack_loss(self, inputs, target):
        """The loss the attack increases, for images `inputs` against
        `attack_target`'s output (per sample or a scalar)."""
        raise NotImplementedError(f"{type(self).__name__} must implement attack_loss().")

    def set_pending(self, name, value):
        """Keep `value` (a tensor of this step) for `after_update`."""
        setattr(self._pending, name, value)

    def pop_pending(self, name):
        """The value `set_pending` kept in this step (and thread), or None."""
        value = getattr(self._pending, name, None)
        setattr(self._pending, name, None)
        return value

    def make_head(self, name, input_dim, output_dim, hidden_dim, num_layers, **kwargs):
        """A built `ProjectionHead` (batch norm synchronised as the method's)."""
        head = ProjectionHead(output_dim, hidden_dim, num_layers,
                              synchronized=self.synchronized, name=name, **kwargs)
        head.build((None, int(input_dim)))
        return head

    def fit_to_encoder(self, views):
        """Resize views to a fixed-size encoder's input, if it has one.

        Local crops of a `MultiCrop` are smaller than the encoder's input
        when the encoder was built for a fixed image size (every keras_ssl
        backbone built with `input_shape`): they are resized up, so they
        still show a small part of the image but cost as much as a global
        crop. An encoder built for a variable size takes them as they are.
        """
        size = tuple(self.encoder.input_shape[1:3])
        if None in size:
            return list(views)
        return [v if tuple(v.shape[1:3]) == size else tf.image.resize(v, size) for v in views]

    def view_pairs(self, count):
        """`(i, j)` pairs of multi-crop training: each global view `i`
        against every other view `j` (global views first in `views`)."""
        global_count = getattr(self.augmenter, "global_crops", 2)
        return [(i, j) for i in range(global_count) for j in range(count) if j != i]

    def encode(self, layers, images, training):
        """Apply `layers` (encoder first) in sequence."""
        x = images
        for layer in layers:
            x = layer(x, training=training)
        return x

    # Momentum teacher -------------------------------------------------------

    def add_teacher(self, student_layers, momentum, momentum_schedule="cosine",
                    schedule_steps=None):
        """Create the momentum teacher: copies of `student_layers`."""
        self.momentum = check_momentum(momentum)
        if momentum_schedule not in MOMENTUM_SCHEDULES:
            raise ValueError(
                f"`momentum_schedule` must be one of {MOMENTUM_SCHEDULES}, got "
                f"{momentum_schedule!r}."
            )
        if schedule_steps is not None and (isinstance(schedule_steps, bool)
                                           or int(schedule_steps) < 0):
            raise ValueError(
                f"`schedule_steps` must be a non-negative integer, got {schedule_steps!r}."
            )
        self.momentum_schedule = momentum_schedule
        self.schedule_steps_arg = None if schedule_steps is None else int(schedule_steps)
        self._student_layers = list(student_layers)
        self.teacher = MomentumTeacher.from_student(self._student_layers)
        self.schedule_steps = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False,
            name="schedule_steps",
        )
        if self.schedule_steps_arg is not None:
            self.schedule_steps.assign(self.schedule_steps_arg)

    def training_progress(self):
        """Fraction of the momentum schedule done (0 when unknown)."""
        steps = tf.cast(self.schedule_steps, "float32")
        done = tf.cast(self.optimizer.iterations, "float32")
        return tf.where(steps > 0, tf.clip_by_value(done / tf.maximum(steps, 1.0), 0.0, 1.0), 0.0)

    def current_momentum(self):
        """The teacher momentum at the current optimizer step."""
        if self.momentum_schedule == "constant":
            return tf.constant(self.momentum, "float32")
        return cosine_momentum(self.momentum, self.optimizer.iterations, self.schedule_steps)

    def after_update(self):
        if self.teacher is not None:
            self.teacher.update(self._student_layers, self.current_momentum())

    def unguarded_state(self):
        if self.teacher is None:
            return []
        return [t for t, _ in self.teacher.parameter_pairs(self._student_layers)]

    def fit_callbacks(self):
        callbacks = super().fit_callbacks()
        if self.teacher is not None:
            callbacks.append(_ScheduleSteps())
        return callbacks

    def teacher_config(self):
        if self.teacher is None:
            return {}
        return {
            "momentum": self.momentum,
            "momentum_schedule": self.momentum_schedule,
            "schedule_steps": self.schedule_steps_arg,
        }

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update({
            "augmenter": keras.saving.serialize_keras_object(self.augmenter),
            "synchronized": self.synchronized,
            "seed": self.seed,
            "adversarial": (keras.saving.serialize_keras_object(self.adversarial)
                            if self.adversarial is not None else None),
            **self.teacher_config(),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("augmenter") is not None:
            config["augmenter"] = keras.saving.deserialize_keras_object(config["augmenter"])
        return super().from_config(config)
