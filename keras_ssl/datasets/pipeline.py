"""Arrays to fast `tf.data` pipelines, and label subsets for few-label work."""

import numpy as np
import tensorflow as tf


def label_subset(x, y, fraction=None, num_samples=None, seed=0):
    """A class-stratified subset of (x, y), deterministic for a seed.

    Give `fraction` (e.g. 0.01: 1% of the labels, 600 Fashion-MNIST images,
    60 a class) or `num_samples`. Each class keeps its share, at least one
    image.

    Example:

    >>> import numpy as np
    >>> x, y = np.arange(1000), np.repeat(np.arange(10), 100)
    >>> xs, ys = label_subset(x, y, fraction=0.1, seed=0)
    >>> len(xs), np.bincount(ys).tolist()
    (100, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"`x` has {len(x)} samples but `y` has {len(y)} labels.")
    if len(y) == 0:
        raise ValueError("`x` is empty: expected at least one sample.")
    if (fraction is None) == (num_samples is None):
        raise ValueError("Pass exactly one of `fraction` and `num_samples`.")
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ValueError(f"`fraction` must lie in (0, 1], got {fraction!r}.")
        num_samples = int(round(fraction * len(y)))
    if not 1 <= int(num_samples) <= len(y):
        raise ValueError(
            f"`num_samples` must lie in [1, {len(y)}], got {num_samples!r}."
        )
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.round(counts / len(y) * int(num_samples)).astype(int))
    chosen = []
    for cls, k in zip(classes, quota):
        members = np.flatnonzero(y == cls)
        chosen.append(rng.choice(members, size=min(int(k), len(members)), replace=False))
    chosen = np.sort(np.concatenate(chosen))
    return x[chosen], y[chosen]


def make_dataset(
    x,
    y=None,
    batch_size=256,
    shuffle=True,
    cache=True,
    drop_remainder=False,
    map_fn=None,
    seed=None,
    repeat=False,
):
    """A fast `tf.data` pipeline over in-memory arrays.

    from_tensor_slices -> cache -> shuffle (reshuffled each epoch) -> batch
    -> map(map_fn, parallel) -> prefetch. `map_fn` runs on whole batches
    (batched augmentation is much faster than per image).

    Example:

    >>> import numpy as np
    >>> ds = make_dataset(np.zeros((10, 8, 8, 1), "uint8"), batch_size=4, drop_remainder=True)
    >>> [b.shape[0] for b in ds]
    [4, 4]
    """
    if len(x) == 0:
        raise ValueError("`x` is empty: expected at least one sample.")
    if y is not None and len(x) != len(y):
        raise ValueError(f"`x` has {len(x)} samples but `y` has {len(y)} labels.")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size!r}.")
    if drop_remainder and len(x) < batch_size:
        raise ValueError(
            f"`batch_size` {batch_size} is larger than the data ({len(x)} "
            "samples) with drop_remainder=True: no batch would be produced."
        )
    data = x if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(data)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(x), 60000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if map_fn is not None:
        ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
