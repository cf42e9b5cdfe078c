"""Small ALBERT backbones built from config (keras-hub's `AlbertBackbone`).

ALBERT (Lan et al. 2019, "ALBERT: A Lite BERT for Self-supervised Learning
of Language Representations") is BERT with two parameter savings: a
factorized token embedding (`embedding_dim`, smaller than `hidden_dim`,
projected up to the hidden size) and transformer layers shared across
depth (`num_layers` layers run through `num_groups` distinct groups).
The sizes here follow the compact BERTs in `bert.py`, so the two families
compare at equal depth and width. Built from config with fresh weights (no
preset download), for pretraining with `keras_ssl.methods.MaskedLanguageModel`
(with `sentence_task="sop"`, ALBERT's sentence-order prediction).
"""

import keras_hub

from keras_ssl.backbones.bert import _positive_int
from keras_ssl.backbones.bert import build_transformer

ALBERT_TINY = dict(num_layers=2, num_heads=2, hidden_dim=128, embedding_dim=64,
                   intermediate_dim=512, num_groups=1, num_inner_repetitions=1, dropout=0.1)
ALBERT_SMALL = dict(num_layers=4, num_heads=4, hidden_dim=256, embedding_dim=128,
                    intermediate_dim=1024, num_groups=1, num_inner_repetitions=1, dropout=0.1)
# Sizes ALBERT has and BERT lacks; build_transformer checks the shared ones.
_ALBERT_SIZES = ("embedding_dim", "num_groups", "num_inner_repetitions")


def _albert(defaults, vocabulary_size, max_sequence_length, overrides):
    overrides = dict(overrides)
    for name in _ALBERT_SIZES:
        if name in overrides:
            overrides[name] = _positive_int(name, overrides[name])
    return build_transformer(keras_hub.models.AlbertBackbone, defaults, vocabulary_size,
                             max_sequence_length, overrides,
                             extra=("num_segments", "dtype", "name"))


def AlbertTiny(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 2-layer ALBERT: hidden size 128, embedding size 64, 2 heads, feed-forward 512.

    The depth and width of `BertTiny` with ALBERT's factorized embedding
    (Lan et al. 2019); one layer group, so both layers share their weights.
    Returns a `keras_hub.models.AlbertBackbone` built from config, randomly
    initialised; its outputs are `sequence_output` and `pooled_output`.

    Args:
        vocabulary_size: size of the token vocabulary
            (`tokenizer.vocabulary_size()`).
        max_sequence_length: the longest sequence the position embedding
            covers.
        **kwargs: override any size: `num_layers`, `num_heads`,
            `hidden_dim`, `embedding_dim`, `intermediate_dim`, `num_groups`
            (`num_layers` must be a multiple of it), `num_inner_repetitions`,
            `dropout`, and `num_segments`, `dtype`, `name`.

    Example:

    >>> albert = AlbertTiny(vocabulary_size=100, max_sequence_length=16)
    >>> albert.hidden_dim, albert.embedding_dim, albert.num_layers
    (128, 64, 2)
    """
    return _albert(ALBERT_TINY, vocabulary_size, max_sequence_length, kwargs)


def AlbertSmall(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 4-layer ALBERT: hidden size 256, embedding size 128, 4 heads, feed-forward 1024.

    The sizes of `BertSmall` with ALBERT's factorized embedding and one
    shared layer group; built like `AlbertTiny`, which documents the
    arguments.

    Example:

    >>> albert = AlbertSmall(vocabulary_size=100, max_sequence_length=16)
    >>> albert.hidden_dim, albert.embedding_dim, albert.num_layers
    (256, 128, 4)
    """
    return _albert(ALBERT_SMALL, vocabulary_size, max_sequence_length, kwargs)
