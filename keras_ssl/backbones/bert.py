"""Small BERT backbones built from config (keras-hub's `BertBackbone`).

The sizes are those of the compact BERTs of Turc et al. 2019, "Well-Read
Students Learn Better": BERT-Tiny (2 layers, hidden 128) and BERT-Mini
(4 layers, hidden 256, here `BertSmall`). The backbones are built from
config with fresh weights (no preset download), for pretraining with
`keras_ssl.methods.MaskedLanguageModel`.
"""

import keras_hub
import numpy as np

BERT_TINY = dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, dropout=0.1)
BERT_SMALL = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def build_transformer(backbone_class, defaults, vocabulary_size, max_sequence_length,
                      overrides, extra=("dtype", "name")):
    """A keras-hub transformer backbone from `defaults` updated by `overrides`,
    with every size checked (shared by the BERT and GPT builders)."""
    config = dict(defaults)
    unknown = sorted(set(overrides) - set(config) - set(extra))
    if unknown:
        raise TypeError(
            f"Unknown {backbone_class.__name__} argument(s) {unknown}; expected any of "
            f"{sorted(set(config) | set(extra))}."
        )
    config.update(overrides)
    for name in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim"):
        config[name] = _positive_int(name, config[name])
    if config["hidden_dim"] % config["num_heads"]:
        raise ValueError(
            f"`hidden_dim` ({config['hidden_dim']}) must be divisible by `num_heads` "
            f"({config['num_heads']})."
        )
    if not 0 <= config["dropout"] < 1:
        raise ValueError(f"`dropout` must lie in [0, 1), got {config['dropout']!r}.")
    return backbone_class(
        vocabulary_size=_positive_int("vocabulary_size", vocabulary_size),
        max_sequence_length=_positive_int("max_sequence_length", max_sequence_length),
        **config,
    )


def _bert(defaults, vocabulary_size, max_sequence_length, overrides):
    return build_transformer(keras_hub.models.BertBackbone, defaults, vocabulary_size,
                             max_sequence_length, overrides,
                             extra=("num_segments", "dtype", "name"))


def BertTiny(vocabulary_size, max_sequence_length=128, **kwargs):
    """BERT-Tiny: 2 layers, hidden size 128, 2 heads, feed-forward 512.

    Sizes of Turc et al. 2019 ("Well-Read Students Learn Better"); the
    architecture is BERT's (Devlin et al. 2019). Returns a
    `keras_hub.models.BertBackbone` built from config, randomly initialised.

    Args:
        vocabulary_size: size of the token vocabulary
            (`tokenizer.vocabulary_size()`).
        max_sequence_length: the longest sequence the position embedding
            covers.
        **kwargs: override any size: `num_layers`, `num_heads`,
            `hidden_dim`, `intermediate_dim`, `dropout`, and `num_segments`,
            `dtype`, `name`.

    Example:

    >>> bert = BertTiny(vocabulary_size=100, max_sequence_length=16)
    >>> bert.hidden_dim, bert.num_layers
    (128, 2)
    """
    return _bert(BERT_TINY, vocabulary_size, max_sequence_length, kwargs)


def BertSmall(vocabulary_size, max_sequence_length=128, **kwargs):
    """BERT-Mini sizes: 4 layers, hidden size 256, 4 heads, feed-forward 1024.

    Sizes of Turc et al. 2019; built from config like `BertTiny`, which
    documents the arguments.

    Example:

    >>> bert = BertSmall(vocabulary_size=100, max_sequence_length=16)
    >>> bert.hidden_dim, bert.num_layers
    (256, 4)
    """
    return _bert(BERT_SMALL, vocabulary_size, max_sequence_length, kwargs)
