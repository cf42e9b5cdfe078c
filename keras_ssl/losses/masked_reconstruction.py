"""The reconstruction loss of masked autoencoders (MAE, VideoMAE)."""

from keras import ops


def normalized_patch_targets(patches, epsilon=1e-6):
    """Each patch's pixels normalised by their own mean and variance.

    MAE's `norm_pix_loss` target (He et al. 2021), also VideoMAE's (Tong
    et al. 2022, there per tubelet): `(x - mean) / sqrt(var + epsilon)`
    over the last axis of (..., pixels) patches.
    """
    patches = ops.cast(patches, "float32")
    mean = ops.mean(patches, axis=-1, keepdims=True)
    var = ops.var(patches, axis=-1, keepdims=True)
    return (patches - mean) / ops.sqrt(var + epsilon)


def masked_reconstruction(predictions, targets, mask):
    """Mean squared error over the hidden patches only.

    Args:
        predictions: (N, P, K) predicted patches.
        targets: (N, P, K) target patches (pixels, or normalised pixels).
        mask: (N, P), 1 for hidden patches, 0 for visible ones.

    Returns the scalar `sum_{n,p} mask * mean_k (pred - target)^2 /
    sum mask` (0 when nothing is hidden), in float32.

    Example:

    >>> import numpy as np
    >>> pred, target = np.zeros((1, 2, 3), "float32"), np.ones((1, 2, 3), "float32")
    >>> float(masked_reconstruction(pred, target, np.array([[1.0, 0.0]])))
    1.0
    """
    per_patch = ops.mean(
        ops.square(ops.cast(predictions, "float32") - ops.cast(targets, "float32")), axis=-1)
    mask = ops.cast(mask, "float32")
    return ops.sum(per_patch * mask) / ops.maximum(ops.sum(mask), 1.0)
