"""A FIFO queue of embeddings kept as model state, shared by the methods
that compare a batch with earlier ones: MoCo's negatives (He et al. 2020)
and SEED's teacher embeddings (Fang et al. 2021)."""

import keras
import tensorflow as tf

from keras_ssl.distribute import assign_variables
from keras_ssl.distribute import cross_replica_concat


def add_embedding_queue(model, size, dim, seed=None):
    """Create `model.queue` (size x dim, random normal rows, as MoCo's
    starts) and `model.queue_pointer` (the next row to write) as
    non-trainable weights of `model`."""
    model.queue = model.add_weight(
        shape=(int(size), int(dim)),
        initializer=keras.initializers.RandomNormal(seed=seed),
        trainable=False,
        name="queue",
    )
    model.queue_pointer = model.add_weight(
        shape=(), dtype="int32", initializer="zeros", trainable=False, name="queue_pointer",
    )


def enqueue(queue, pointer, embeddings, owner):
    """Write the L2-normalised `embeddings` of the global batch (gathered
    from every replica, so every replica writes the same rows) over the
    oldest rows of `queue`, from `pointer` on, wrapping around. Called
    after the optimizer step. A global batch larger than the queue fails
    with an error naming `owner` (the method)."""
    keys, _ = cross_replica_concat(tf.math.l2_normalize(tf.cast(embeddings, "float32"), axis=-1))
    count = tf.shape(keys)[0]
    size = int(queue.shape[0])
    check = tf.debugging.assert_less_equal(
        count, size, message=f"{owner}: a global batch larger than `queue_size` ({size}).")
    with tf.control_dependencies([check]):
        rows = (pointer + tf.range(count)) % size
    updated = tf.tensor_scatter_nd_update(
        tf.convert_to_tensor(queue), rows[:, None], tf.cast(keys, queue.dtype))
    assign_variables([queue, pointer], [updated, (pointer + count) % size])
