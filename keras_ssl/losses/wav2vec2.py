"""wav2vec 2.0's objectives: masked-step contrast and codebook diversity."""

import tensorflow as tf


def masked_step_contrast(context, targets, masked, temperature=0.1):
    """Contrastive loss of wav2vec 2.0 at the masked steps.

    For each masked step t of series n, the context vector c_{n,t} must
    pick its own quantized target q_{n,t} among the targets of every masked
    step of the same series (the distractors); scores are cosine
    similarities divided by `temperature` (paper: 0.1). The paper samples
    100 distractors from the masked steps; short series have fewer, so all
    are used.

    Args:
        context: (N, T, D) context-network outputs.
        targets: (N, T, D) quantized targets.
        masked: (N, T) bool, the masked steps.

    Returns:
        `(loss, accuracy)`: per masked step, each (M,) for the M masked
        steps of the batch.
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    context = tf.math.l2_normalize(tf.cast(context, "float32"), axis=-1)
    targets = tf.math.l2_normalize(tf.cast(targets, "float32"), axis=-1)
    logits = tf.matmul(context, targets, transpose_b=True) / temperature  # (N, T, T)
    candidates = tf.cast(masked, "bool")[:, None, :]
    logits = tf.where(candidates, logits, tf.cast(-1e9, logits.dtype))
    steps = tf.shape(logits)[1]
    labels = tf.broadcast_to(tf.range(steps)[None, :], tf.shape(logits)[:2])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type="int32"), labels),
                      "float32")
    return tf.boolean_mask(loss, masked), tf.boolean_mask(correct, masked)


def codebook_diversity(probabilities, valid=None):
    """wav2vec 2.0's diversity loss and the codebook perplexity.

    `probabilities` (..., G, V) are the quantizer's softmax choices; their
    mean over the valid positions gives p̄_g per group, whose entropy
    should be high so that all entries are used. Loss: (G V - sum_g
    exp(H(p̄_g))) / (G V), in [0, 1); perplexity: sum_g exp(H(p̄_g)),
    between G (collapsed) and G V (uniform).
    """
    probabilities = tf.cast(probabilities, "float32")
    groups, entries = probabilities.shape[-2], probabilities.shape[-1]
    flat = tf.reshape(probabilities, [-1, groups, entries])
    if valid is not None:
        flat = tf.boolean_mask(flat, tf.reshape(tf.cast(valid, "bool"), [-1]))
    mean = tf.reduce_mean(flat, axis=0)
    entropy = -tf.reduce_sum(mean * tf.math.log(mean + 1e-7), axis=-1)
    perplexity = tf.reduce_sum(tf.exp(entropy))
    total = float(groups * entries)
    return (total - perplexity) / total, perplexity
