"""Cross-modal retrieval metrics: recall@k."""

import numbers

import numpy as np


def _check_embeddings(name, value):
    value = np.asarray(value, dtype="float32")
    if value.ndim != 2:
        raise ValueError(f"`{name}` must be embeddings of shape (N, D), got shape {value.shape}.")
    if len(value) == 0:
        raise ValueError(f"`{name}` is empty: expected at least one embedding.")
    return value


def recall_at_k(queries, gallery, relevant, ks=(1, 5, 10)):
    """Recall@k of a search of `gallery` by `queries` (cosine similarity).

    The fraction of queries with at least one relevant gallery item among
    their `k` most similar ones: the retrieval measure of the CLIP paper
    (Radford et al. 2021) for image-text search.

    Args:
        queries: (Q, D) query embeddings (normalised here).
        gallery: (G, D) gallery embeddings of the same size D.
        relevant: (Q,) index of the one relevant gallery item of each
            query, or a (Q, G) boolean matrix when a query has several
            (e.g. every image of one caption).
        ks: the cut-offs, positive integers (capped at G).

    Returns:
        `{"recall@1": ..., "recall@5": ..., ...}` (floats in [0, 1]).

    Example:

    >>> import numpy as np
    >>> z = np.eye(3, dtype="float32")
    >>> recall_at_k(z, z[[1, 0, 2]], relevant=[1, 0, 2], ks=(1,))
    {'recall@1': 1.0}
    """
    queries = _check_embeddings("queries", queries)
    gallery = _check_embeddings("gallery", gallery)
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"`queries` and `gallery` must have the same embedding size, got "
            f"{queries.shape[1]} and {gallery.shape[1]}."
        )
    ks = (ks,) if isinstance(ks, numbers.Integral) else tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1
                     for k in ks):
        raise ValueError(f"`ks` must be positive integers, got {ks!r}.")
    relevant = np.asarray(relevant)
    q, g = len(queries), len(gallery)
    if relevant.ndim == 1:
        if len(relevant) != q:
            raise ValueError(f"`relevant` has {len(relevant)} entries for {q} queries.")
        if relevant.dtype.kind not in "iu" or relevant.min() < 0 or relevant.max() >= g:
            raise ValueError(f"`relevant` must hold gallery indices in [0, {g}).")
        matrix = np.zeros((q, g), bool)
        matrix[np.arange(q), relevant] = True
    elif relevant.shape == (q, g):
        matrix = relevant.astype(bool)
    else:
        raise ValueError(
            f"`relevant` must be indices of shape ({q},) or a boolean matrix of shape "
            f"({q}, {g}), got shape {relevant.shape}."
        )
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(queries @ gallery.T), axis=1, kind="stable")
    hits = np.take_along_axis(matrix, order, axis=1)
    return {f"recall@{k}": float(hits[:, :min(k, g)].any(axis=1).mean()) for k in ks}
