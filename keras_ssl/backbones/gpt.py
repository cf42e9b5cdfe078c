"""Small GPT-2 style decoders built from config (keras-hub's `GPT2Backbone`).

Decoder-only transformers (Radford et al. 2019: pre-layer-norm blocks,
causal self-attention, learned positions, output projection tied to the
token embedding) at the sizes of the compact BERTs in `bert.py`, so a
causal and a masked language model of the same size can be compared. Built
from config with fresh weights (no preset download), for pretraining with
`keras_ssl.methods.CausalLanguageModel`.
"""

import keras_hub

from keras_ssl.backbones.bert import build_transformer

GPT_TINY = dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, dropout=0.1)
GPT_SMALL = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)


def GPTTiny(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 2-layer GPT-2 decoder: hidden size 128, 2 heads, feed-forward 512.

    Returns a `keras_hub.models.GPT2Backbone` built from config, randomly
    initialised; the sizes match `BertTiny`.

    Args:
        vocabulary_size: size of the token vocabulary
            (`tokenizer.vocabulary_size()`).
        max_sequence_length: the longest sequence the position embedding
            covers (prompt and generated tokens together).
        **kwargs: override any size: `num_layers`, `num_heads`,
            `hidden_dim`, `intermediate_dim`, `dropout`, and `dtype`, `name`.

    Example:

    >>> gpt = GPTTiny(vocabulary_size=100, max_sequence_length=16)
    >>> gpt.hidden_dim, gpt.num_layers
    (128, 2)
    """
    return build_transformer(keras_hub.models.GPT2Backbone, GPT_TINY, vocabulary_size,
                             max_sequence_length, kwargs)


def GPTSmall(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 4-layer GPT-2 decoder: hidden size 256, 4 heads, feed-forward 1024.

    Sizes of `BertSmall`; built like `GPTTiny`, which documents the arguments.

    Example:

    >>> gpt = GPTSmall(vocabulary_size=100, max_sequence_length=16)
    >>> gpt.hidden_dim, gpt.num_layers
    (256, 4)
    """
    return build_transformer(keras_hub.models.GPT2Backbone, GPT_SMALL, vocabulary_size,
                             max_sequence_length, kwargs)
