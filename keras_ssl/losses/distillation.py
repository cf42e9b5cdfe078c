"""Distillation objectives: feature regression, SEED, soft targets."""

import keras
import tensorflow as tf

from keras_ssl.losses.negative_cosine import negative_cosine

FEATURE_LOSSES = ("cosine", "mse")


def _check_temperature(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a number > 0, got {value!r}.")
    return float(value)


def feature_distillation_loss(student, teacher, loss="cosine"):
    """Per-sample regression of the teacher's features, shape (N,).

    * `loss="cosine"`: `1 - cos(student[i], teacher[i])` (0 when aligned,
      at most 2), insensitive to the scale of the teacher's features;
    * `loss="mse"`: the mean over dimensions of the squared difference.

    The gradient of `teacher` is stopped here.

    Args:
        student: (N, D) student outputs (projected to the teacher's size).
        teacher: (N, D) teacher features.
        loss: "cosine" or "mse".
    """
    if loss not in FEATURE_LOSSES:
        raise ValueError(
            f"Unknown feature_loss {loss!r}. Expected one of: "
            + ", ".join(repr(c) for c in FEATURE_LOSSES) + "."
        )
    student = tf.cast(student, "float32")
    teacher = tf.stop_gradient(tf.cast(teacher, "float32"))
    if loss == "cosine":
        return 1.0 + negative_cosine(student, teacher)
    return tf.reduce_mean(tf.square(student - teacher), axis=-1)


def seed_loss(student_embeddings, teacher_embeddings, queue, student_temperature=0.2,
              teacher_temperature=0.01):
    """SEED's loss per sample, and whether student and teacher agree.

    Fang et al. 2021, "SEED: Self-supervised Distillation for Visual
    Representation". Every embedding and queue row is L2-normalised here.
    For sample i, the candidates are the queue's rows (teacher embeddings
    of earlier batches) and the teacher's own embedding `t[i]`; the
    teacher's similarity distribution over them,
    `softmax([t[i] . t[i], t[i] . queue] / teacher_temperature)`, is the
    target of the student's, `softmax([s[i] . t[i], s[i] . queue] /
    student_temperature)`, through their cross-entropy.

    Args:
        student_embeddings: (N, D) student embeddings (carry the gradient).
        teacher_embeddings: (N, D) teacher embeddings (gradient stopped).
        queue: (K, D) teacher embeddings of earlier batches.
        student_temperature, teacher_temperature: positive floats.

    Returns:
        `(loss, agreement)`, each of shape (N,): the cross-entropy, and 1.0
        where the student's most similar candidate is the teacher's.
    """
    student_temperature = _check_temperature("student_temperature", student_temperature)
    teacher_temperature = _check_temperature("teacher_temperature", teacher_temperature)
    student = tf.math.l2_normalize(tf.cast(student_embeddings, "float32"), axis=-1)
    teacher = tf.math.l2_normalize(
        tf.stop_gradient(tf.cast(teacher_embeddings, "float32")), axis=-1)
    queue = tf.math.l2_normalize(tf.stop_gradient(tf.cast(queue, "float32")), axis=-1)

    def similarities(z):
        own = tf.reduce_sum(z * teacher, axis=-1, keepdims=True)
        return tf.concat([own, tf.matmul(z, queue, transpose_b=True)], axis=1)

    teacher_logits = similarities(teacher) / teacher_temperature
    student_logits = similarities(student) / student_temperature
    target = tf.nn.softmax(teacher_logits, axis=-1)
    loss = -tf.reduce_sum(target * tf.nn.log_softmax(student_logits, axis=-1), axis=-1)
    return loss, _agreement(student_logits, teacher_logits)


def soft_target_loss(student_logits, teacher_logits, temperature=4.0):
    """Hinton et al. 2015 ("Distilling the Knowledge in a Neural Network")
    soft-target loss per sample, shape (N,).

    `KL(softmax(teacher / T) || softmax(student / T)) * T^2`: the KL
    divergence between the softened class distributions, scaled by `T^2`
    so that gradient magnitudes do not depend on the temperature (section
    2 of the paper). The gradient of `teacher_logits` is stopped here.

    Args:
        student_logits: (N, K) student logits.
        teacher_logits: (N, K) teacher logits.
        temperature: positive float T.
    """
    temperature = _check_temperature("temperature", temperature)
    student = tf.cast(student_logits, "float32") / temperature
    teacher = tf.stop_gradient(tf.cast(teacher_logits, "float32")) / temperature
    log_target = tf.nn.log_softmax(teacher, axis=-1)
    kl = tf.reduce_sum(
        tf.exp(log_target) * (log_target - tf.nn.log_softmax(student, axis=-1)), axis=-1)
    return kl * temperature**2


def _agreement(student_logits, teacher_logits):
    """1.0 where both sets of logits rank the same candidate first."""
    same = tf.equal(tf.argmax(student_logits, axis=-1), tf.argmax(teacher_logits, axis=-1))
    return tf.cast(same, "float32")


@keras.saving.register_keras_serializable(package="keras_ssl")
class SoftTargetLoss(keras.losses.Loss):
    """Hinton et al.'s soft-target distillation loss as a Keras loss
    (see `soft_target_loss`): `y_true` holds the teacher's logits,
    `y_pred` the student's.

    Example:

    >>> import numpy as np
    >>> logits = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    >>> round(float(SoftTargetLoss(temperature=4.0)(logits, logits)), 4)
    0.0
    """

    def __init__(self, temperature=4.0, reduction="sum_over_batch_size",
                 name="soft_target", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.temperature = _check_temperature("temperature", temperature)

    def call(self, y_true, y_pred):
        return soft_target_loss(y_pred, y_true, self.temperature)

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config


def _token_weights(padding_mask, dtype="float32"):
    return tf.cast(tf.cast(padding_mask, "bool"), dtype)


def hidden_state_mse(student, teacher, padding_mask):
    """TinyBERT's embedding and hidden-state loss (Jiao et al. 2020,
    "TinyBERT: Distilling BERT for Natural Language Understanding",
    equations 8 and 9): the mean squared error between token features over
    the real tokens only, a scalar.

    The mean runs over every (real token, feature) pair of the batch, so
    each token counts the same whatever the length of its sequence;
    positions where `padding_mask` is False do not count. The gradient of
    `teacher` is stopped here.

    Args:
        student: (N, L, D) student features (mapped to the teacher's size).
        teacher: (N, L, D) teacher features.
        padding_mask: (N, L), True (or 1) at the real tokens.

    Example:

    >>> import numpy as np
    >>> s, t = np.zeros((1, 3, 2), "float32"), np.ones((1, 3, 2), "float32")
    >>> t[0, 2] = 100.0  # a padded position: ignored
    >>> float(hidden_state_mse(s, t, [[True, True, False]]))
    1.0
    """
    student = tf.cast(student, "float32")
    teacher = tf.stop_gradient(tf.cast(teacher, "float32"))
    weights = _token_weights(padding_mask)
    squared = tf.reduce_mean(tf.square(student - teacher), axis=-1)
    return tf.reduce_sum(squared * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def attention_mse(student, teacher, padding_mask):
    """TinyBERT's attention loss (Jiao et al. 2020, equation 7): the mean
    squared error between attention maps over the pairs of real tokens, a
    scalar.

    The mean runs over heads and over the (query, key) pairs whose query
    and key are both real tokens. TinyBERT (and
    `keras_ssl.methods.TinyBERTDistillation`) passes the attention logits
    before the softmax, unmasked: the masked pairs do not count here. The
    gradient of `teacher` is stopped here.

    Args:
        student: (N, heads, L, L) student attention logits (or maps).
        teacher: (N, heads, L, L) teacher attention logits, as many heads.
        padding_mask: (N, L), True (or 1) at the real tokens.

    Example:

    >>> import numpy as np
    >>> a = np.full((1, 2, 2, 2), 0.5, "float32")
    >>> b = a.copy(); b[:, :, 1, :] = 0.0  # the padded query's row: ignored
    >>> float(attention_mse(a, b, [[True, False]]))
    0.0
    """
    student = tf.cast(student, "float32")
    teacher = tf.stop_gradient(tf.cast(teacher, "float32"))
    weights = _token_weights(padding_mask)
    pairs = weights[:, None, :, None] * weights[:, None, None, :]
    heads = tf.cast(tf.shape(student)[1], "float32")
    total = tf.reduce_sum(tf.square(student - teacher) * pairs)
    return total / tf.maximum(tf.reduce_sum(pairs) * heads, 1.0)
