"""Cross-replica helpers for losses and training state under `tf.distribute`.

Batch statistics (Barlow Twins' cross-correlation, VICReg's variance and
covariance, DINO's center), contrastive negatives and MoCo's queue must see
the global batch, not one replica's share; and state that is not trained by
the optimizer (a momentum teacher, a queue, a center) must be assigned the
same value on every replica. Outside a multi-replica context every helper
reduces to the plain single-device operation.
"""

import tensorflow as tf


def num_replicas():
    """Replicas of the current strategy (1 outside `tf.distribute`)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def cross_replica_concat(tensor):
    """Concatenate `tensor` over the replicas of the current strategy.

    Returns `(gathered, offset)`: the tensor of all replicas stacked along
    axis 0 in replica order, and the row at which this replica's own rows
    begin. Outside a multi-replica context it returns `(tensor, 0)`.

    Written by hand rather than with `ReplicaContext.all_gather` because the
    gradient must flow back to every replica's own rows: the tensor is
    scattered into a zero tensor at this replica's slot and summed across
    replicas, as the official SimCLR TF2 code does. A loss computed by each
    replica on the gathered tensor (and divided by the replica count, as
    `PretrainingModel.train_step` does) then has the gradient of the same
    loss on one device.
    """
    context = _replica_context()
    if context is None:
        return tensor, 0
    count = context.num_replicas_in_sync
    replica_id = context.replica_id_in_sync_group
    local_batch = tf.shape(tensor)[0]
    scattered = tf.scatter_nd(
        indices=[[replica_id]],
        updates=tensor[None],
        shape=tf.concat([[count], tf.shape(tensor)], axis=0),
    )
    gathered = context.all_reduce(tf.distribute.ReduceOp.SUM, scattered)
    gathered = tf.reshape(gathered, tf.concat([[-1], tf.shape(tensor)[1:]], axis=0))
    return gathered, replica_id * local_batch


def cross_replica_mean(tensor):
    """Mean of `tensor` over replicas (the tensor itself on one device).

    For statistics that carry no gradient, e.g. the batch mean of DINO's
    teacher outputs: the mean of per-replica batch means equals the global
    batch mean when every replica holds as many samples.
    """
    context = _replica_context()
    if context is None:
        return tensor
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, tensor)


def assign_variables(variables, values):
    """Assign `values` to `variables` on every replica.

    `values` must be equal on all replicas (computed from gathered or
    all-reduced tensors, or from mirrored variables). Works from a replica
    context (inside `train_step` under `tf.distribute`) through
    `merge_call`, the way Keras's TensorFlow optimizer applies its updates,
    and on a single device as plain assignments. Returns the assign ops'
    group.
    """
    variables = [getattr(v, "value", v) for v in variables]
    values = list(values)
    if len(variables) != len(values):
        raise ValueError(
            f"Got {len(variables)} variables and {len(values)} values to assign."
        )
    if not variables:
        return tf.no_op()

    def assign(strategy, variables, values):
        updates = [
            strategy.extended.update(
                variable, lambda v, x: v.assign(tf.cast(x, v.dtype)), args=(value,),
                group=False,
            )
            for variable, value in zip(variables, values)
        ]
        return tf.group(tf.nest.flatten(updates))

    strategy = tf.distribute.get_strategy()
    return tf.__internal__.distribute.interim.maybe_merge_call(
        assign, strategy, variables, values
    )
