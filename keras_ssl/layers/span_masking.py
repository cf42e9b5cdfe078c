"""Random spans of time steps, masked per series (wav2vec 2.0)."""

import keras
from keras import ops


def span_mask(valid, mask_prob, mask_length, seed=None):
    """A random span mask (N, T) bool over the valid steps of `valid` (N, T).

    wav2vec 2.0's scheme (Baevski et al. 2020): each valid step starts a
    span with probability `mask_prob / mask_length` and a span covers
    `mask_length` steps, so about `mask_prob` of the steps are masked when
    spans do not overlap (fewer where they do, as in the paper). Spans stop
    at the end of the series. Every series with a valid step gets at least
    one masked step (a random one), so the loss always has a target.

    Written here because neither Keras nor keras-hub has 1D span masking
    (keras-hub's `MaskedLMMaskGenerator` masks token ids, not feature steps).

    Args:
        valid: (N, T) bool, the real (not padded) steps.
        mask_prob: in (0, 1].
        mask_length: span length in steps, >= 1.
        seed: a `keras.random.SeedGenerator`, an int or None.
    """
    if not 0.0 < float(mask_prob) <= 1.0:
        raise ValueError(f"`mask_prob` must lie in (0, 1], got {mask_prob!r}.")
    if int(mask_length) < 1:
        raise ValueError(f"`mask_length` must be >= 1, got {mask_length!r}.")
    valid = ops.cast(valid, "bool")
    noise = keras.random.uniform(ops.shape(valid), seed=seed)
    starts = ops.logical_and(noise < float(mask_prob) / int(mask_length), valid)
    # A step is masked when a span started at most mask_length - 1 steps before it.
    spans = ops.cast(starts, "float32")[..., None]
    spans = ops.pad(spans, [[0, 0], [int(mask_length) - 1, 0], [0, 0]])
    spans = ops.max_pool(spans, pool_size=int(mask_length), strides=1, padding="valid")
    masked = ops.logical_and(ops.squeeze(spans, -1) > 0, valid)
    # Series without a masked step: mask their valid step of largest noise.
    none = ops.logical_not(ops.any(masked, axis=1, keepdims=True))
    pick = ops.argmax(ops.where(valid, noise, -1.0), axis=1)
    forced = ops.one_hot(pick, ops.shape(valid)[1], dtype="bool")
    forced = ops.logical_and(ops.logical_and(forced, none), valid)
    return ops.logical_or(masked, forced)
