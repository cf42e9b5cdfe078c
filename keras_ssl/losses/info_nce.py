"""InfoNCE with in-batch or queued negatives (MoCo v2 and v3)."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat


def info_nce(query, key, queue=None, temperature=0.2, gather_across_replicas=True):
    """InfoNCE loss per sample, and the top-1 accuracy of finding the key.

    Oord et al. 2018; as used by MoCo (He et al. 2020, "Momentum Contrast
    for Unsupervised Visual Representation Learning"; v2: Chen et al. 2020;
    v3: Chen, Xie and He 2021). `query[i]` and `key[i]` embed two views of
    sample i; both are L2-normalised here, so logits are cosine
    similarities divided by `temperature`.

    * With a `queue` (MoCo v2): the positive is `key[i]`, the negatives are
      the rows of `queue` (keys of earlier batches); `K + 1` logits a query.
    * Without (MoCo v3): the negatives are the other keys of the batch;
      under `tf.distribute`, with `gather_across_replicas=True`, the keys
      of the whole global batch.

    Args:
        query: (N, D) query embeddings (carry the gradient).
        key: (N, D) key embeddings (usually from a momentum encoder, with
            the gradient stopped by the caller).
        queue: optional (K, D) negatives; rows are normalised here too.
        temperature: positive float, or a scalar tensor (a learned
            temperature, as CLIP's: the gradient flows into it).
        gather_across_replicas: in-batch negatives from every replica.

    Returns:
        `(loss, accuracy)`, each of shape (N,).
    """
    if not tf.is_tensor(temperature) and temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    query = tf.math.l2_normalize(tf.cast(query, "float32"), axis=-1)
    key = tf.math.l2_normalize(tf.cast(key, "float32"), axis=-1)
    if queue is not None:
        queue = tf.math.l2_normalize(tf.cast(queue, "float32"), axis=-1)
        positive = tf.reduce_sum(query * key, axis=-1, keepdims=True)
        negative = tf.matmul(query, queue, transpose_b=True)
        logits = tf.concat([positive, negative], axis=1) / temperature
        labels = tf.zeros(tf.shape(query)[:1], "int32")
    else:
        if gather_across_replicas:
            keys, offset = cross_replica_concat(key)
        else:
            keys, offset = key, 0
        logits = tf.matmul(query, keys, transpose_b=True) / temperature
        labels = tf.range(tf.shape(query)[0]) + offset
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    correct = tf.equal(tf.argmax(logits, axis=1, output_type="int32"), labels)
    return loss, tf.cast(correct, "float32")
