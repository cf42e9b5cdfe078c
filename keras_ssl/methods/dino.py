"""DINO: self-distillation with no labels, multi-crop and a centred teacher."""

import keras
import tensorflow as tf

from keras_ssl.distribute import assign_variables
from keras_ssl.distribute import cross_replica_mean
from keras_ssl.layers.dino_head import DINOHead
from keras_ssl.layers.momentum_teacher import check_momentum
from keras_ssl.layers.multi_crop import MultiCrop
from keras_ssl.losses.dino import dino_loss
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class DINO(JointEmbeddingMethod):
    """DINO pretraining (Caron et al. 2021, "Emerging Properties in
    Self-Supervised Vision Transformers").

    A student (encoder and `DINOHead`) sees every crop of a `MultiCrop`:
    2 global crops and `local_crops` small ones; a teacher, the momentum
    copy of the student (`MomentumTeacher`), sees the global crops only.
    The student's softmax over `output_dim` prototypes is trained to match
    the teacher's on the other crops (`losses.dino_loss`). Two things keep
    the teacher from collapsing: centering (a running mean of its outputs,
    over the global batch, is subtracted) and sharpening (a low teacher
    temperature, warmed up from `warmup_teacher_temperature` to
    `teacher_temperature` over the first `warmup_fraction` of training).

    Encoders with a fixed input size (every keras_ssl backbone built with
    `input_shape`) get the local crops resized up to that size
    (`fit_to_encoder`).

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        augmenter: a `MultiCrop`; default `MultiCrop.for_input_shape(
            ..., local_crops=local_crops)`.
        output_dim: number of prototypes K (65536 in the paper).
        hidden_dim: hidden width of the head's MLP; default 4 x the
            encoder's feature size (2048 in the paper).
        bottleneck_dim: the head's normalised embedding (256).
        local_crops: number of local crops when the default augmenter is
            built (the paper: 6 to 10).
        momentum: base teacher momentum (0.996), cosine-ramped to 1.0.
        momentum_schedule: "cosine" or "constant".
        student_temperature: 0.1.
        teacher_temperature: final teacher temperature (0.04 to 0.07).
        warmup_teacher_temperature: initial teacher temperature (0.04).
        warmup_fraction: share of the schedule spent warming up (the paper:
            30 of 100-300 epochs).
        center_momentum: momentum of the running center (0.9).
        schedule_steps: length of the schedules in optimizer steps;
            default the steps of the current `fit` call.
        seed: seed of the default augmenter.

    The defaults follow the paper's long ImageNet runs. Short runs need a
    faster teacher and fewer prototypes: on the 1,437 digits of the demo
    (100 epochs, 1,100 steps of 128 images, ResNet-18 at width 0.25),
    the defaults' loss stayed near log(4096) (the teacher barely moved),
    while `momentum=0.99, output_dim=1024, local_crops=2` learned (linear
    probe with 10% of the labels 0.847 against 0.744 for the random
    encoder) and `momentum=0.9` (constant) collapsed (`embedding_std`
    0.002; `evaluation.CollapseMonitor` stops such a run).

    `export_backbone(model.encoder, ...)` exports the student; the paper
    evaluates the teacher, `model.teacher.teacher_layers[0]` (`keras-ssl
    export --teacher`).

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.DINO(encoder, output_dim=64, local_crops=2, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> sorted(model.fit(x, batch_size=16, verbose=0).history)
    ['embedding_std', 'loss', 'teacher_temperature']
    """

    multi_crop = True

    def __init__(
        self,
        encoder,
        augmenter=None,
        output_dim=4096,
        hidden_dim=None,
        bottleneck_dim=256,
        local_crops=6,
        momentum=0.996,
        momentum_schedule="cosine",
        student_temperature=0.1,
        teacher_temperature=0.04,
        warmup_teacher_temperature=0.04,
        warmup_fraction=0.3,
        center_momentum=0.9,
        schedule_steps=None,
        seed=None,
        **kwargs,
    ):
        if augmenter is None:
            augmenter = MultiCrop.for_input_shape(
                tuple(encoder.input_shape[1:]), local_crops=local_crops, seed=seed
            )
        if not isinstance(augmenter, MultiCrop):
            raise TypeError(
                "DINO's `augmenter` must be a keras_ssl.layers.MultiCrop (global "
                f"crops for the teacher, local ones for the student), got "
                f"{type(augmenter).__name__}."
            )
        if augmenter.global_crops < 2:
            raise ValueError(
                f"DINO needs at least 2 global crops, got `global_crops`="
                f"{augmenter.global_crops}."
            )
        for name, value in (("student_temperature", student_temperature),
                            ("teacher_temperature", teacher_temperature),
                            ("warmup_teacher_temperature", warmup_teacher_temperature)):
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value!r}.")
        if not 0.0 <= warmup_fraction <= 1.0:
            raise ValueError(f"`warmup_fraction` must lie in [0, 1], got {warmup_fraction!r}.")
        super().__init__(encoder, augmenter=augmenter, seed=seed, **kwargs)
        # === Layers ===
        self.head = DINOHead(output_dim=output_dim,
                             hidden_dim=hidden_dim or 4 * self.feature_dim,
                             bottleneck_dim=bottleneck_dim, name="head")
        self.head.build((None, self.feature_dim))
        self.add_teacher([self.encoder, self.head], momentum, momentum_schedule,
                         schedule_steps)
        self.center = self.add_weight(shape=(int(output_dim),), initializer="zeros",
                                      trainable=False, name="center")
        self.embedding_dim = int(bottleneck_dim)
        self.temperature_tracker = keras.metrics.Mean(name="teacher_temperature")

        # === Config ===
        self.output_dim = int(output_dim)
        self.hidden_dim = hidden_dim
        self.bottleneck_dim = int(bottleneck_dim)
        self.local_crops = int(local_crops)
        self.student_temperature = float(student_temperature)
        self.teacher_temperature = float(teacher_temperature)
        self.warmup_teacher_temperature = float(warmup_teacher_temperature)
        self.warmup_fraction = float(warmup_fraction)
        self.center_momentum = check_momentum(center_momentum, "center_momentum")
        self.built = True

    def method_metrics(self):
        return [self.temperature_tracker]

    def current_teacher_temperature(self):
        """Linear warm-up over `warmup_fraction` of the schedule."""
        start, end = self.warmup_teacher_temperature, self.teacher_temperature
        if self.warmup_fraction == 0 or start == end:
            return tf.constant(end, "float32")
        ramp = tf.minimum(self.training_progress() / self.warmup_fraction, 1.0)
        return start + (end - start) * ramp

    def _student(self, views, training):
        """Student embeddings and logits of every crop, global crops first.
        Crops of one size go through the network as one batch."""
        global_count = self.augmenter.global_crops
        groups = [views[:global_count], views[global_count:]]
        embeddings, logits = [], []
        for group in groups:
            if not group:
                continue
            features = self.encoder(tf.concat(self.fit_to_encoder(group), axis=0),
                                    training=training)
            embedded = self.head.embed(features, training=training)
            embeddings.append(embedded)
            logits.extend(tf.split(self.head.logits(embedded), len(group), axis=0))
        return embeddings[0], logits

    def compute_views_loss(self, views, training):
        global_count = self.augmenter.global_crops
        embeddings, student_logits = self._student(list(views), training)
        teacher_input = tf.concat(self.fit_to_encoder(list(views[:global_count])), axis=0)
        teacher_logits = self.teacher(teacher_input, training=training)
        temperature = self.current_teacher_temperature()
        self.temperature_tracker.update_state(temperature)
        loss = dino_loss(
            student_logits,
            tf.split(teacher_logits, global_count, axis=0),
            tf.convert_to_tensor(self.center),
            self.student_temperature,
            temperature,
        )
        self.set_pending("center", tf.reduce_mean(tf.cast(teacher_logits, "float32"), axis=0))
        first = tf.shape(views[0])[0]
        return loss, {}, embeddings[:first]

    def after_update(self):
        super().after_update()
        pending = self.pop_pending("center")
        if pending is None:
            return
        batch_center = cross_replica_mean(pending)
        m = self.center_momentum
        center = m * tf.convert_to_tensor(self.center) + (1.0 - m) * batch_center
        assign_variables([self.center], [center])

    def unguarded_state(self):
        return super().unguarded_state() + [self.center]

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_dim": self.output_dim,
            "hidden_dim": self.hidden_dim,
            "bottleneck_dim": self.bottleneck_dim,
            "local_crops": self.local_crops,
            "student_temperature": self.student_temperature,
            "teacher_temperature": self.teacher_temperature,
            "warmup_teacher_temperature": self.warmup_teacher_temperature,
            "warmup_fraction": self.warmup_fraction,
            "center_momentum": self.center_momentum,
        })
        return config
