"""DINO: cross-entropy between a centred, sharpened teacher and the student."""

import tensorflow as tf


def dino_loss(student_outputs, teacher_outputs, center, student_temperature=0.1,
              teacher_temperature=0.04):
    """DINO's loss (Caron et al. 2021, "Emerging Properties in
    Self-Supervised Vision Transformers"), a scalar.

    The teacher's outputs on the global crops, centred (minus `center`) and
    sharpened (divided by `teacher_temperature`), are the targets of the
    student's outputs on every other crop: for each teacher crop `t` and
    each student crop `s` that is not the same view, the cross-entropy
    `-sum softmax((t - center) / tau_t) * log_softmax(s / tau_s)`, averaged
    over samples and pairs. The student's first crops must be the same
    global crops as the teacher's, in the same order.

    Args:
        student_outputs: list of (N, K) logits, global crops first.
        teacher_outputs: list of (N, K) logits on the global crops (the
            gradient is stopped here).
        center: (K,) running mean of the teacher's outputs.
        student_temperature, teacher_temperature: positive floats (the
            teacher's may be a tensor, warmed up during training).
    """
    if len(teacher_outputs) < 1 or len(student_outputs) < 2:
        raise ValueError(
            "DINO needs at least 1 teacher and 2 student crops, got "
            f"{len(teacher_outputs)} and {len(student_outputs)}."
        )
    center = tf.cast(center, "float32")
    targets = [
        tf.stop_gradient(tf.nn.softmax(
            (tf.cast(t, "float32") - center) / teacher_temperature, axis=-1))
        for t in teacher_outputs
    ]
    log_probs = [
        tf.nn.log_softmax(tf.cast(s, "float32") / student_temperature, axis=-1)
        for s in student_outputs
    ]
    total, pairs = 0.0, 0
    for i, target in enumerate(targets):
        for j, log_prob in enumerate(log_probs):
            if i == j:
                continue
            total += tf.reduce_mean(-tf.reduce_sum(target * log_prob, axis=-1))
            pairs += 1
    return total / pairs
