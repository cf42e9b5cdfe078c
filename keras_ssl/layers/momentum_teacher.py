"""A momentum (EMA) teacher: a copy of student layers that follows them slowly."""

import math

import keras
import tensorflow as tf

from keras_ssl.distribute import assign_variables


def check_momentum(value, name="momentum"):
    """Raise a ValueError naming `name` unless 0 <= value <= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must lie in [0, 1], got {value!r}.")
    return float(value)


def cosine_momentum(base, step, total_steps):
    """BYOL's schedule: `1 - (1 - base) * (cos(pi * step / total) + 1) / 2`,
    from `base` at step 0 to 1.0 at `total_steps` (constant `base` when
    `total_steps` <= 0, i.e. unknown)."""
    step = tf.cast(step, "float32")
    total = tf.cast(total_steps, "float32")
    progress = tf.clip_by_value(step / tf.maximum(total, 1.0), 0.0, 1.0)
    ramp = 1.0 - (1.0 - base) * (tf.cos(math.pi * progress) + 1.0) / 2.0
    return tf.where(total > 0, ramp, tf.constant(base, "float32"))


def copy_layer(layer, name=None):
    """A new layer of the same class, configuration and weights as `layer`."""
    config = keras.saving.serialize_keras_object(layer)
    if name is not None:
        config["config"]["name"] = name
    clone = keras.saving.deserialize_keras_object(config)
    if not clone.built:
        clone.build(layer.input_shape if isinstance(layer, keras.Model) else None)
    clone.set_weights(layer.get_weights())
    return clone


@keras.saving.register_keras_serializable(package="keras_ssl")
class MomentumTeacher(keras.layers.Layer):
    """The momentum teacher of MoCo, BYOL and DINO: copies of the student's
    layers, applied in sequence, never trained by the optimizer.

    `MomentumTeacher.from_student([encoder, head])` copies the layers and
    their weights. After each optimizer step the method calls
    `update(student_layers, momentum)`: every teacher weight becomes
    `momentum * teacher + (1 - momentum) * student` (He et al. 2020; Grill
    et al. 2020; Caron et al. 2021). The weights are variables of the model
    (saved in `.keras` files and checkpoints, restored by
    `BackupAndRestore`), marked non-trainable so no optimizer sees them,
    while the sub-layers stay in training mode: batch normalisation in
    the teacher uses batch statistics, as in the papers' code. Batch-norm
    moving statistics are the teacher's own (updated by its forward passes),
    not averaged from the student.

    `call(x, training)` returns the last layer's output with the gradient
    stopped.

    Args:
        layers: the teacher's layers (copies of the student's), applied in
            order.

    Example:

    >>> import numpy as np, keras
    >>> student = keras.layers.Dense(2)
    >>> student.build((None, 3))
    >>> teacher = MomentumTeacher.from_student([student])
    >>> x = np.ones((1, 3), "float32")
    >>> bool(np.allclose(teacher(x), student(x)))
    True
    >>> len(teacher.trainable_weights), len(teacher.non_trainable_weights)
    (0, 2)
    """

    def __init__(self, layers, **kwargs):
        super().__init__(**kwargs)
        if not layers:
            raise ValueError("`layers` must name at least one layer to copy.")
        self.teacher_layers = list(layers)
        self._freeze()

    @classmethod
    def from_student(cls, student_layers, name="teacher"):
        copies = [copy_layer(layer, name=f"{name}_{layer.name}") for layer in student_layers]
        teacher = cls(copies, name=name)
        teacher.build(None)
        return teacher

    def _freeze(self):
        for layer in self.teacher_layers:
            for variable in layer.weights:
                variable.trainable = False

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # Sub-layers keep their own flag (batch norm stays in training mode);
        # the variables stay out of every optimizer.
        keras.layers.Layer.trainable.fset(self, value)
        if hasattr(self, "teacher_layers"):
            self._freeze()

    def build(self, input_shape=None):
        for layer in self.teacher_layers:
            if not layer.built:
                raise ValueError(
                    f"The teacher's layer {layer.name!r} is not built; build the "
                    "student's layers before copying them."
                )
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.teacher_layers:
            x = layer(x, training=training)
        return tf.nest.map_structure(tf.stop_gradient, x)

    def parameter_pairs(self, student_layers):
        """`(teacher, student)` variable pairs of the student's trainable weights."""
        if len(student_layers) != len(self.teacher_layers):
            raise ValueError(
                f"The teacher has {len(self.teacher_layers)} layers, got "
                f"{len(student_layers)} student layers."
            )
        pairs = []
        for teacher, student in zip(self.teacher_layers, student_layers):
            if len(teacher.weights) != len(student.weights):
                raise ValueError(
                    f"Teacher layer {teacher.name!r} has {len(teacher.weights)} "
                    f"weights, student layer {student.name!r} {len(student.weights)}."
                )
            for t, s in zip(teacher.weights, student.weights):
                if s.trainable:
                    pairs.append((t, s))
        return pairs

    def update(self, student_layers, momentum):
        """Move every teacher weight towards the student's: an EMA step."""
        pairs = self.parameter_pairs(student_layers)
        momentum = tf.cast(momentum, "float32")
        values = [
            tf.cast(momentum * tf.cast(t, "float32") + (1.0 - momentum) * tf.cast(s, "float32"),
                    t.dtype)
            for t, s in pairs
        ]
        return assign_variables([t for t, _ in pairs], values)

    def get_config(self):
        config = super().get_config()
        config["layers"] = [keras.saving.serialize_keras_object(layer)
                            for layer in self.teacher_layers]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [keras.saving.deserialize_keras_object(layer)
                            for layer in config["layers"]]
        return cls(**config)
